"""JSON API under /api/v1/forecasts: run and save a campaign forecast, read it, compare it
with what the campaign did."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.forecasts import service
from siyu.forecasts.schemas import ForecastIn, ForecastOut, ForecastVsActualOut
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/forecasts", tags=["forecasts"])


@router.post("", response_model=ForecastOut, status_code=201)
def create_forecast(data: ForecastIn, user: ApiUser, session: DbSession) -> ForecastOut:
    return ForecastOut.of(service.create_forecast(session, user, data.campaign_id, data.params()))


@router.get("", response_model=list[ForecastOut])
def list_forecasts(
    user: ApiUser, session: DbSession, campaign_id: int | None = None
) -> list[ForecastOut]:
    return [ForecastOut.of(f) for f in service.list_forecasts(session, user, campaign_id)]


@router.get("/{forecast_id}", response_model=ForecastOut)
def get_forecast(forecast_id: int, user: ApiUser, session: DbSession) -> ForecastOut:
    return ForecastOut.of(service.get_forecast(session, user, forecast_id))


@router.get("/{forecast_id}/actual", response_model=ForecastVsActualOut)
def forecast_vs_actual(forecast_id: int, user: ApiUser, session: DbSession) -> ForecastVsActualOut:
    return ForecastVsActualOut.of(service.forecast_vs_actual(session, user, forecast_id))
