"""API shapes of saved forecasts (money in 分, K in hundredths, bands as [p10, p50, p90])."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from siyu.forecasts import service
from siyu.models.forecasts import CampaignForecast


class ForecastIn(BaseModel):
    """Ranges are checked by the service (its errors carry a code and a Chinese message)."""

    campaign_id: int
    reach: int = service.DEFAULT_REACH
    reach_is_total: bool = False
    days: int | None = None
    runs: int = service.DEFAULT_RUNS
    seed: int = service.DEFAULT_SEED
    market_size: int = service.DEFAULT_MARKET_SIZE

    def params(self) -> service.ForecastParams:
        return service.ForecastParams(
            reach=self.reach,
            days=self.days,
            runs=self.runs,
            seed=self.seed,
            market_size=self.market_size,
            reach_is_total=self.reach_is_total,
        )


class ForecastOut(BaseModel):
    id: int
    campaign_id: int
    created_by_user_id: int | None
    created_at: datetime
    starts_at: datetime
    reach: int
    reach_is_total: bool
    days: int
    runs: int
    seed: int
    market_size: int
    draft: dict[str, Any]
    results: dict[str, Any]

    @classmethod
    def of(cls, forecast: CampaignForecast) -> ForecastOut:
        return cls(
            id=forecast.id,
            campaign_id=forecast.campaign_id,
            created_by_user_id=forecast.created_by_user_id,
            created_at=forecast.created_at,
            starts_at=forecast.starts_at,
            reach=forecast.reach,
            reach_is_total=forecast.reach_is_total,
            days=forecast.days,
            runs=forecast.runs,
            seed=forecast.seed,
            market_size=forecast.market_size,
            draft=forecast.draft,
            results=forecast.results,
        )


class ComparisonOut(BaseModel):
    metric: str
    forecast: list[int]
    actual: int
    inside: bool


class DayComparisonOut(BaseModel):
    day: int
    date: date
    rows: list[ComparisonOut]


class ForecastVsActualOut(BaseModel):
    forecast_id: int
    campaign_id: int
    has_data: bool
    days: list[DayComparisonOut]
    totals: list[ComparisonOut]

    @classmethod
    def of(cls, comparison: service.ForecastComparison) -> ForecastVsActualOut:
        def rows(items: list[Any]) -> list[ComparisonOut]:
            return [
                ComparisonOut(
                    metric=row.metric, forecast=row.forecast, actual=row.actual, inside=row.inside
                )
                for row in items
            ]

        return cls(
            forecast_id=comparison.forecast.id,
            campaign_id=comparison.campaign.id,
            has_data=comparison.has_data,
            days=[
                DayComparisonOut(day=d.day, date=d.date, rows=rows(d.rows)) for d in comparison.days
            ],
            totals=rows(comparison.totals),
        )
