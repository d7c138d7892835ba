"""Console forecast pages: the "预测" form of a campaign, a saved forecast's bands (ECharts,
P10–P90 band + median per day, with tables of the same figures and CSV export), its warnings,
and the forecast-vs-actual section once the campaign has data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from siyu.analytics import campaigns as campaign_analytics
from siyu.analytics.routes import csv_response
from siyu.errors import AppError, PermissionDenied
from siyu.forecasts import rules
from siyu.forecasts import service as forecasts
from siyu.kit.time import ensure_aware, to_shanghai
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, render

router = APIRouter(include_in_schema=False)

FORM_FIELDS = ("reach", "days", "runs", "seed", "market_size")
# The band charts on the result page (the tables list every metric).
CHARTS = ("adds", "participants", "verified", "rewards")


class FormProblem(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _int(values: dict[str, Any], name: str, label: str) -> int | None:
    raw = str(values.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise FormProblem(f"{label}必须是整数，您输入的是“{raw[:20]}”。") from None


def _params(values: dict[str, Any]) -> forecasts.ForecastParams:
    labels = {
        "reach": "曝光人数",
        "days": "预测天数",
        "runs": "模拟次数",
        "seed": "随机种子",
        "market_size": "市场人数",
    }
    numbers = {name: _int(values, name, labels[name]) for name in FORM_FIELDS}
    defaults = forecasts.ForecastParams()
    return forecasts.ForecastParams(
        reach=numbers["reach"] if numbers["reach"] is not None else defaults.reach,
        days=numbers["days"],
        runs=numbers["runs"] if numbers["runs"] is not None else defaults.runs,
        seed=numbers["seed"] if numbers["seed"] is not None else defaults.seed,
        market_size=(
            numbers["market_size"] if numbers["market_size"] is not None else defaults.market_size
        ),
        reach_is_total=values.get("reach_is_total") == "1",
    )


def _form(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    campaign_id: int,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    campaign = campaign_analytics.get_campaign(session, user, campaign_id)
    return render(
        request,
        "console/forecast_form.html",
        {
            "campaign": campaign,
            "values": values,
            "error": error,
            "default_days": forecasts.campaign_days(campaign),
            "saved": forecasts.list_forecasts(session, user, campaign.id),
        },
        status_code=status_code,
        user=user,
    )


@router.get("/console/forecasts")
def forecasts_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    if not user.is_platform and user.merchant_id is None:
        raise PermissionDenied()
    visible = campaign_analytics.list_campaigns(session, user)
    names = {campaign.id: campaign.name for campaign in visible}
    saved = [f for f in forecasts.list_forecasts(session, user) if f.campaign_id in names]
    return render(
        request,
        "console/forecasts.html",
        {
            "campaigns": visible,
            "forecasts": saved,
            "names": names,
        },
        user=user,
    )


@router.get("/console/campaigns/{campaign_id}/forecast")
def forecast_form(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    defaults = forecasts.ForecastParams()
    values = {
        "reach": defaults.reach,
        "runs": defaults.runs,
        "seed": defaults.seed,
        "market_size": defaults.market_size,
    }
    return _form(request, user, session, campaign_id, values)


@router.post("/console/campaigns/{campaign_id}/forecast", dependencies=[CsrfChecked])
async def forecast_create(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    values = dict(await request.form())
    try:
        forecast = forecasts.create_forecast(session, user, campaign_id, _params(values))
    except FormProblem as problem:
        return _form(request, user, session, campaign_id, values, problem.message, 422)
    except AppError as error:
        session.rollback()
        if error.status == 404:
            raise
        return _form(request, user, session, campaign_id, values, error.zh, error.status)
    return RedirectResponse(f"/console/forecasts/{forecast.id}", status_code=303)


def _band_chart(
    results: dict[str, Any], metric: str, actual: list[int | None] | None
) -> dict[str, Any]:
    days = results["days"]
    series = [
        {"name": "P10", "data": [d[metric][0] for d in days]},
        {"name": "P90", "data": [d[metric][2] for d in days]},
        {"name": "中位数", "data": [d[metric][1] for d in days]},
    ]
    if actual is not None:
        series.append({"name": "实际", "data": actual})
    return {
        "id": f"chart-{metric}",
        "title": f"{rules.METRIC_LABELS[metric]}（累计）",
        "categories": [f"第 {d['day'] + 1} 天" for d in days],
        "series": series,
    }


@router.get("/console/forecasts/{forecast_id}")
def forecast_page(
    request: Request, forecast_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    comparison = forecasts.forecast_vs_actual(session, user, forecast_id)
    forecast = comparison.forecast
    results: dict[str, Any] = forecast.results
    first = to_shanghai(ensure_aware(forecast.starts_at)).date()
    actual_by_day = {d.day: {row.metric: row.actual for row in d.rows} for d in comparison.days}

    def actual_of(metric: str) -> list[int | None] | None:
        if not comparison.has_data:
            return None
        return [actual_by_day.get(int(d["day"]), {}).get(metric) for d in results["days"]]

    return render(
        request,
        "console/forecast_detail.html",
        {
            "forecast": forecast,
            "campaign": comparison.campaign,
            "comparison": comparison,
            "results": results,
            "dates": [first + timedelta(days=int(d["day"])) for d in results["days"]],
            "band_charts": [_band_chart(results, metric, actual_of(metric)) for metric in CHARTS],
            "labels": rules.METRIC_LABELS,
            "day_metrics": rules.DAY_METRICS,
            "format_value": rules.format_value,
            "warnings": forecasts.warning_texts(forecast),
        },
        user=user,
    )


@router.get("/console/forecasts/{forecast_id}/{table}.csv")
def forecast_csv(forecast_id: int, table: str, user: ConsoleUser, session: DbSession) -> Response:
    if table not in forecasts.TABLES:
        raise forecasts.ForecastTableUnknown(table=table[:40])
    comparison = forecasts.forecast_vs_actual(session, user, forecast_id)
    return csv_response(
        forecasts.export_csv(comparison, table), f"forecast-{forecast_id}-{table}.csv"
    )
