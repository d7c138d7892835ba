"""JSON API under /api/v1/analytics: a campaign's live funnel, K-factor and costs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from siyu.analytics import campaigns
from siyu.analytics.schemas import FunnelOut
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/analytics", tags=["analytics"])


@router.get("/campaigns/{campaign_id}/funnel", response_model=FunnelOut)
def campaign_funnel(campaign_id: int, user: ApiUser, session: DbSession) -> FunnelOut:
    return FunnelOut.of(campaigns.campaign_funnel(session, user, campaign_id))


@router.get("/campaigns/{campaign_id}/{table}.csv", response_class=Response)
def campaign_csv(campaign_id: int, table: str, user: ApiUser, session: DbSession) -> Response:
    """``funnel``, ``districts`` or ``accounts`` as CSV (UTF-8 with BOM, for Excel)."""
    if table not in campaigns.TABLES:
        raise campaigns.AnalyticsTableUnknown(table=table[:40])
    funnel = campaigns.campaign_funnel(session, user, campaign_id)
    return csv_response(campaigns.export_csv(funnel, table), f"campaign-{campaign_id}-{table}.csv")


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
