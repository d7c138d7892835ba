"""JSON API under /api/v1/analytics: a campaign's live funnel, K-factor and costs; the
dashboards (sales by channel, promoters, cohorts, fleet) with CSV/XLSX export of every table."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from siyu.analytics import campaigns, dashboard
from siyu.analytics.schemas import CohortsOut, FleetOut, FunnelOut, PromotersOut, SalesOut
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


def _filters(
    user: ApiUser,
    start: str | None,
    end: str | None,
    merchant_id: int | None,
    channel: str | None,
) -> dashboard.Filters:
    return dashboard.filters(user, start, end, merchant_id, channel)


@router.get("/dashboards/sales", response_model=SalesOut)
def sales_board(
    user: ApiUser,
    session: DbSession,
    start: str | None = None,
    end: str | None = None,
    merchant_id: int | None = None,
    channel: str | None = None,
) -> SalesOut:
    wanted = _filters(user, start, end, merchant_id, channel)
    return SalesOut.of(dashboard.sales(session, user, wanted))


@router.get("/dashboards/promoters", response_model=PromotersOut)
def promoters_board(
    user: ApiUser,
    session: DbSession,
    start: str | None = None,
    end: str | None = None,
    merchant_id: int | None = None,
) -> PromotersOut:
    wanted = _filters(user, start, end, merchant_id, None)
    return PromotersOut.of(dashboard.promoters(session, user, wanted))


@router.get("/dashboards/cohorts", response_model=CohortsOut)
def cohorts_board(
    user: ApiUser,
    session: DbSession,
    start: str | None = None,
    end: str | None = None,
    merchant_id: int | None = None,
) -> CohortsOut:
    wanted = _filters(user, start, end, merchant_id, None)
    return CohortsOut.of(dashboard.cohorts(session, user, wanted))


@router.get("/dashboards/fleet", response_model=FleetOut)
def fleet_board(user: ApiUser, session: DbSession) -> FleetOut:
    return FleetOut.of(dashboard.fleet(session, user))


@router.get("/dashboards/{board}/{table}.{fmt}", response_class=Response)
def dashboard_export(
    board: str,
    table: str,
    fmt: str,
    user: ApiUser,
    session: DbSession,
    start: str | None = None,
    end: str | None = None,
    merchant_id: int | None = None,
    channel: str | None = None,
) -> Response:
    """Any dashboard table as CSV (UTF-8 with BOM) or XLSX, with the same filters."""
    return export_response(session, user, board, table, fmt, start, end, merchant_id, channel)


def export_response(
    session: DbSession,
    user: ApiUser,
    board: str,
    table: str,
    fmt: str,
    start: str | None,
    end: str | None,
    merchant_id: int | None,
    channel: str | None,
) -> Response:
    if table not in dashboard.tables_of(board) or fmt not in dashboard.FORMATS:
        raise dashboard.DashboardTableUnknown(table=f"{board}/{table}.{fmt}"[:40])
    wanted = dashboard.filters(user, start, end, merchant_id, channel)
    data = dashboard.board(session, user, board, wanted)
    content, media_type = dashboard.export(data, table, fmt)
    name = f"{board}-{table}-{wanted.days.start.isoformat()}-{wanted.days.end.isoformat()}.{fmt}"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
