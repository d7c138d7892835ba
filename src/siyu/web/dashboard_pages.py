"""Console analytics dashboards (数据): sales by channel with city tiers and merchants'
commission cost, the promoter leaderboard, repurchase cohorts and the account fleet's health,
each with ECharts charts, a table per chart and CSV/XLSX export of every table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from siyu.analytics import dashboard
from siyu.analytics import dashboard_rules as rules
from siyu.analytics.routes import export_response
from siyu.analytics.rules import Ratio
from siyu.auth.principal import Principal
from siyu.errors import ValidationFailed
from siyu.models.pool import ACCOUNT_KIND_LABELS, ACCOUNT_STATUS_LABELS
from siyu.web.deps import ConsoleUser, DbSession, render

router = APIRouter(include_in_schema=False)

# The leaderboard and merchant charts show the biggest rows; the tables list every row.
CHART_ROWS = 15


def _yuan(fen: int) -> float:
    """Chart values only (display): money stays integer fen everywhere else."""
    return fen / 100


def _filters(
    request: Request, user: Principal, with_channel: bool = False
) -> tuple[dashboard.Filters, str | None]:
    """The filters of the query string; on a bad value the defaults and the Chinese message."""
    query = request.query_params
    merchant = (query.get("merchant_id") or "").strip()
    try:
        merchant_id = int(merchant) if merchant else None
    except ValueError:
        merchant_id = None
    try:
        return (
            dashboard.filters(
                user,
                query.get("start"),
                query.get("end"),
                merchant_id,
                query.get("channel") if with_channel else None,
            ),
            None,
        )
    except ValidationFailed as error:
        return dashboard.filters(user, None, None, merchant_id, None), error.zh


def _context(
    session: Session, user: Principal, wanted: dashboard.Filters, error: str | None, board: str
) -> dict[str, Any]:
    query = {"start": wanted.days.start.isoformat(), "end": wanted.days.end.isoformat()}
    if wanted.merchant_id is not None and user.is_platform:
        query["merchant_id"] = str(wanted.merchant_id)
    if wanted.channel is not None:
        query["channel"] = wanted.channel.value
    return {
        "filters": wanted,
        "error": error,
        "board": board,
        "query": "&".join(f"{key}={value}" for key, value in query.items()),
        "merchants": dashboard.merchant_choices(session, user),
        "tables": dashboard.TABLES[board],
    }


@router.get("/console/analytics/sales")
def sales_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    wanted, error = _filters(request, user, with_channel=True)
    board = dashboard.sales(session, user, wanted)
    day_labels = [row.day.strftime("%m-%d") for row in board.days]
    order_channels = [row for row in board.channels if row.channel in rules.ORDER_CHANNELS]
    consumer_channels = [row for row in board.channels if row.channel in rules.CONSUMER_CHANNELS]
    merchants = board.merchants[:CHART_ROWS]
    tiers = list(board.tiers.counts.items()) if board.tiers else []
    context = _context(session, user, wanted, error, "sales")
    context.update(
        {
            "sales": board,
            "channel_labels": rules.CHANNEL_LABELS,
            "order_channels": order_channels,
            "consumer_channels": consumer_channels,
            "gmv_chart": {
                "categories": day_labels,
                "series": [
                    {
                        "name": row.label,
                        "data": [_yuan(day.by_channel[row.channel].gmv_fen) for day in board.days],
                    }
                    for row in order_channels
                ],
            },
            "orders_chart": {
                "categories": day_labels,
                "series": [
                    {
                        "name": row.label,
                        "data": [day.by_channel[row.channel].orders for day in board.days],
                    }
                    for row in order_channels
                ],
            },
            "consumers_chart": {
                "categories": day_labels,
                "series": [
                    {
                        "name": row.label,
                        "data": [day.by_channel[row.channel].new_consumers for day in board.days],
                    }
                    for row in consumer_channels
                ],
            },
            "tier_percent": {
                label: Ratio(count, board.tiers.total).percent()
                for label, count in board.tiers.counts.items()
            }
            if board.tiers
            else {},
            # The pie leaves out empty tiers (their labels would crowd it); the table has all.
            "tier_chart": {
                "categories": [label for label, n in tiers if n],
                "series": [{"name": "新增顾客", "data": [n for _, n in tiers if n]}],
            },
            "merchant_chart": {
                "categories": [row.name for row in merchants],
                "series": [
                    {"name": "GMV（元）", "data": [_yuan(row.gmv_fen) for row in merchants]},
                    {
                        "name": "佣金成本（元）",
                        "data": [_yuan(row.commission_fen) for row in merchants],
                    },
                ],
            },
        }
    )
    return render(request, "console/analytics_sales.html", context, user=user)


@router.get("/console/analytics/promoters")
def promoters_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    wanted, error = _filters(request, user)
    board = dashboard.promoters(session, user, wanted)
    top = board.rows[:CHART_ROWS]
    context = _context(session, user, wanted, error, "promoters")
    context.update(
        {
            "leaderboard": board,
            "chart": {
                "categories": [row.name for row in top],
                "series": [
                    {"name": "个人GMV（元）", "data": [_yuan(row.own.gmv_fen) for row in top]},
                    {"name": "团队GMV（元）", "data": [_yuan(row.team.gmv_fen) for row in top]},
                ],
            },
        }
    )
    return render(request, "console/analytics_promoters.html", context, user=user)


@router.get("/console/analytics/cohorts")
def cohorts_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    wanted, error = _filters(request, user)
    board = dashboard.cohorts(session, user, wanted)
    context = _context(session, user, wanted, error, "cohorts")
    weeks = range(1, board.weeks + 1)
    first_orders = sum(cohort.consumers for cohort in board.cohorts)
    context.update(
        {
            "cohort_board": board,
            "cohort_rows": [
                (cohort, [_cohort_cell(n, cohort.consumers) for n in cohort.returned])
                for cohort in board.cohorts
            ],
            "weeks": list(weeks),
            "first_orders": first_orders,
            "chart": {
                "categories": [f"第{k}周" for k in weeks],
                "series": [
                    {
                        "name": "复购人数（全部分群）",
                        "data": [
                            sum(cohort.returned[k - 1] for cohort in board.cohorts) for k in weeks
                        ],
                    }
                ],
            },
        }
    )
    return render(request, "console/analytics_cohorts.html", context, user=user)


def _cohort_cell(returned: int, size: int) -> tuple[int, str, str]:
    """(count, percent, background opacity): the darker the cell, the more came back."""
    ratio = Ratio(returned, size)
    hundredths = ratio.hundredths() or 0  # x100 of the ratio: 0..100
    shade = f"0.{8 + hundredths * 72 // 100:02d}" if returned else "0"
    return returned, ratio.percent(), shade


@router.get("/console/analytics/fleet")
def fleet_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    board = dashboard.fleet(session, user)
    statuses = [status for status, count in board.by_status.items() if count]
    top = board.accounts[:CHART_ROWS]
    return render(
        request,
        "console/analytics_fleet.html",
        {
            "fleet": board,
            "kinds": ACCOUNT_KIND_LABELS,
            "statuses": ACCOUNT_STATUS_LABELS,
            "status_chart": {
                "categories": [ACCOUNT_STATUS_LABELS[status] for status in statuses],
                "series": [{"name": "运营号", "data": [board.by_status[s] for s in statuses]}],
            },
            "fill_chart": {
                "categories": [row.name for row in top],
                "series": [
                    {"name": "好友数", "data": [row.friends for row in top]},
                    {"name": "剩余好友位", "data": [row.free for row in top]},
                ],
            },
            "board": "fleet",
            "tables": dashboard.TABLES["fleet"],
            "query": "",
        },
        user=user,
    )


@router.get("/console/analytics/export/{board}/{table}.{fmt}")
def export(
    request: Request, board: str, table: str, fmt: str, user: ConsoleUser, session: DbSession
) -> Response:
    query = request.query_params
    merchant = (query.get("merchant_id") or "").strip()
    return export_response(
        session,
        user,
        board,
        table,
        fmt,
        query.get("start"),
        query.get("end"),
        int(merchant) if merchant.isdigit() else None,
        query.get("channel"),
    )
