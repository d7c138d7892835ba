"""Console analytics pages: the campaigns list and one campaign's live funnel, K-factor and
costs, by district and by account, with ECharts charts and CSV export of each table."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from siyu.analytics import campaigns
from siyu.analytics.routes import csv_response
from siyu.errors import PermissionDenied
from siyu.kit.time import utc_now
from siyu.models.campaigns import CAMPAIGN_STATUS_LABELS
from siyu.web.deps import ConsoleUser, DbSession, render

router = APIRouter(include_in_schema=False)

# The bar charts show the biggest groups; the tables below them list every group.
CHART_GROUPS = 15
# The page re-reads its figures this often (htmx), so a running campaign's funnel stays live.
REFRESH_SECONDS = 30


@router.get("/console/analytics/campaigns")
def campaigns_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    if not user.is_platform and user.merchant_id is None:
        raise PermissionDenied()
    return render(
        request,
        "console/analytics_campaigns.html",
        {"campaigns": campaigns.list_campaigns(session, user), "statuses": CAMPAIGN_STATUS_LABELS},
        user=user,
    )


@router.get("/console/analytics/campaigns/{campaign_id}")
def campaign_page(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    funnel = campaigns.campaign_funnel(session, user, campaign_id)
    districts = funnel.districts[:CHART_GROUPS]
    accounts = funnel.accounts[:CHART_GROUPS]
    return render(
        request,
        "console/analytics_campaign.html",
        {
            "funnel": funnel,
            "campaign": funnel.campaign,
            "now": utc_now(),
            "refresh_seconds": REFRESH_SECONDS,
            "statuses": CAMPAIGN_STATUS_LABELS,
            "funnel_chart": {
                "categories": [step.label for step in funnel.steps],
                "series": [{"name": "人数", "data": [step.count for step in funnel.steps]}],
            },
            "district_chart": {
                "categories": [row.label for row in districts],
                "series": [
                    {"name": "参与人数", "data": [row.figures.participants for row in districts]},
                    {"name": "有效邀请", "data": [row.figures.verified for row in districts]},
                    {"name": "获得奖励", "data": [row.figures.rewarded for row in districts]},
                ],
            },
            "days_chart": {
                "categories": [row.day.strftime("%m-%d") for row in funnel.days],
                "series": [
                    {"name": label, "data": [row.counts[key] for row in funnel.days]}
                    for key, label in campaigns.DAILY_LABELS.items()
                ],
            },
            "daily_labels": campaigns.DAILY_LABELS,
            "account_chart": {
                "categories": [row.label for row in accounts],
                "series": [
                    {"name": "扫码人数", "data": [row.figures.scanners for row in accounts]},
                    {"name": "新增好友", "data": [row.figures.added for row in accounts]},
                    {"name": "参与人数", "data": [row.figures.participants for row in accounts]},
                ],
            },
        },
        user=user,
    )


@router.get("/console/analytics/campaigns/{campaign_id}/{table}.csv")
def campaign_csv(campaign_id: int, table: str, user: ConsoleUser, session: DbSession) -> Response:
    if table not in campaigns.TABLES:
        raise campaigns.AnalyticsTableUnknown(table=table[:40])
    funnel = campaigns.campaign_funnel(session, user, campaign_id)
    return csv_response(campaigns.export_csv(funnel, table), f"campaign-{campaign_id}-{table}.csv")
