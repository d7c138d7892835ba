"""The sales dashboard (``analytics.dashboard.sales``) against hand-written SQL aggregates.

Bulk-loads (Core ``executemany``) N orders of one line each over the last 30 days, spread over
the four order channels (a broadcast link, a promoter link, bindings, natural), 5 % of them
cancelled and 10 % partly refunded; one ``commission.estimated`` ledger transaction (two legs)
per attributed line; N contacts with first contacts in every consumer channel and real district
codes. siyu's side runs the whole service (three grouped queries, the channel rules, tiers,
distinct orders per channel). The baseline is three hand-written SQL statements for the same
headline figures: GMV and orders per Shanghai day, new consumers per day (first confirmed
contact), commission cost per merchant from the ledger. Each figure is the median of warm runs.

    .venv/bin/python bench/dashboards.py            # 20k, 200k orders
    .venv/bin/python bench/dashboards.py --quick    # 5k, 20k (< 1 minute)
    .venv/bin/python bench/dashboards.py --postgres URL [--reset-postgres]

Ends with ``dashboards: ratio=<siyu ÷ hand-written at the largest size> target<=3 PASS|MISS``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from _common import add_database_arguments, backends, prepare_database, seed_world  # noqa: E402

TARGET_RATIO = 3.0
DISTRICTS = ("360702", "330106", "360781", "110105", "")  # tier 3, new tier 1, tier 6, tier 1, —


def load(size: int) -> None:
    from sqlalchemy import insert

    from siyu.db import unit_of_work
    from siyu.kit.time import utc_now
    from siyu.ledger import rules as ledger_rules
    from siyu.ledger import service as ledger
    from siyu.models import (
        Consumer,
        Contact,
        LinkPosition,
        LinkTargetKind,
        Order,
        OrderLine,
        TrackedLink,
    )
    from siyu.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
    from siyu.models.orders import AttributionSource, OrderSource, OrderStatus
    from siyu.models.pool import ContactSourceKind, ContactState
    from siyu.pool.schemas import AccountCreate
    from siyu.pool.service import create_account

    world = seed_world(products=2, promoters=4)
    now = utc_now()
    with unit_of_work() as session:
        links = []
        for sub_id in ("群发#1", "朋友圈"):
            link = TrackedLink(
                promoter_id=world.promoter_ids[0],
                target_kind=LinkTargetKind.PRODUCT,
                product_id=world.product_ids[0],
                position=LinkPosition.GROUP,
                sub_id=sub_id,
                short_code=f"bench{len(links)}",
                expires_at=now + timedelta(days=60),
            )
            session.add(link)
            session.flush()
            links.append(link.id)
        account = create_account(
            session, None, AccountCreate(name="基准号", kind="personal_assisted")
        )
        # Make sure the merchant's and promoters' ledger accounts exist, then find their ids.
        ledger.post(
            session,
            "bench.open",
            "bench:open",
            "bench",
            [
                (ledger_rules.merchant_payable(world.merchant_id), -1),
                (ledger_rules.promoter_pending(world.promoter_ids[0]), 1),
            ],
        )
        session.flush()
        accounts = {(row.kind, row.owner_id): row.id for row in session.query(LedgerAccount).all()}
        merchant_account = accounts[("merchant_payable", world.merchant_id)]
        promoter_account = accounts[("promoter_pending", world.promoter_ids[0])]
        account_id = account.id
    step = timedelta(days=30) / size
    consumers, orders, lines, contacts, transactions, entries = [], [], [], [], [], []
    kinds = list(ContactSourceKind)
    for n in range(size):
        consumers.append({"id": n + 1, "nickname": f"c{n}", "union_id": f"bench-{n}"})
        paid_at = now - step * n
        channel = n % 4
        cancelled = n % 20 == 0
        orders.append(
            {
                "id": n + 1,
                "order_no": f"BENCH{n:09d}",
                "source": OrderSource.IMPORT,
                "external_order_id": f"b{n}",
                "consumer_id": n + 1,
                "status": OrderStatus.CANCELLED if cancelled else OrderStatus.PAID,
                "items_fen": 5000,
                "paid_fen": 5000,
                "paid_at": paid_at,
            }
        )
        lines.append(
            {
                "id": n + 1,
                "order_id": n + 1,
                "product_id": world.product_ids[n % 2],
                "merchant_id": world.merchant_id,
                "title": "基准商品",
                "quantity": 1,
                "unit_price_fen": 5000,
                "paid_fen": 5000,
                "refunded_fen": 1000 if n % 10 == 3 else 0,
                "attribution_source": (
                    AttributionSource.CLICK
                    if channel < 2
                    else AttributionSource.BINDING
                    if channel == 2
                    else AttributionSource.NONE
                ),
                "link_id": links[channel] if channel < 2 else None,
                "l1_promoter_id": world.promoter_ids[0] if channel < 3 else None,
            }
        )
        if channel < 3:
            transactions.append(
                {
                    "id": len(transactions) + 10,
                    "kind": "commission.estimated",
                    "correlation_key": f"order_line:{n + 1}",
                    "idempotency_key": f"bench:{n}",
                    "created_at": paid_at,
                }
            )
            tx = transactions[-1]["id"]
            entries += [
                {"transaction_id": tx, "account_id": merchant_account, "amount_fen": -250},
                {"transaction_id": tx, "account_id": promoter_account, "amount_fen": 250},
            ]
        contacts.append(
            {
                "consumer_id": n + 1,
                "account_id": account_id,
                "source_kind": kinds[n % len(kinds)],
                "state": ContactState.CONFIRMED,
                "district_code": DISTRICTS[n % len(DISTRICTS)],
                "added_at": paid_at,
                "confirmed_at": paid_at,
            }
        )
    with unit_of_work() as session:
        for model, rows in (
            (Consumer, consumers),
            (Order, orders),
            (OrderLine, lines),
            (Contact, contacts),
            (LedgerTransaction, transactions),
            (LedgerEntry, entries),
        ):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start : start + 5000])


def baseline_sql(dialect: str) -> list[str]:
    day = (
        "date({col}, '+8 hours')"
        if dialect == "sqlite"
        else "(timezone('Asia/Shanghai', {col}))::date"
    )
    return [
        f"""SELECT {day.format(col="o.paid_at")} AS d, sum(l.paid_fen - l.refunded_fen),
                   count(DISTINCT o.id)
            FROM order_line l JOIN sales_order o ON o.id = l.order_id
            WHERE o.status <> 'cancelled' AND o.paid_at >= :start AND o.paid_at < :end
            GROUP BY d""",
        f"""SELECT {day.format(col="f.confirmed_at")} AS d, count(*) FROM (
              SELECT confirmed_at, row_number() OVER (
                PARTITION BY consumer_id ORDER BY confirmed_at, id) AS r
              FROM contact WHERE confirmed_at IS NOT NULL) f
            WHERE f.r = 1 AND f.confirmed_at >= :start AND f.confirmed_at < :end GROUP BY d""",
        """SELECT a.owner_id, -sum(e.amount_fen) FROM ledger_entry e
            JOIN ledger_transaction t ON t.id = e.transaction_id
            JOIN ledger_account a ON a.id = e.account_id
            WHERE t.kind LIKE 'commission.%' AND a.kind = 'merchant_payable'
              AND t.correlation_key IN (
                SELECT 'order_line:' || CAST(l.id AS VARCHAR) FROM order_line l
                JOIN sales_order o ON o.id = l.order_id
                WHERE o.paid_at >= :start AND o.paid_at < :end)
            GROUP BY a.owner_id""",
    ]


def median_seconds(action: Callable[[], Any], runs: int) -> float:
    action()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(label: str, url: str, size: int, tmp: Path, reset: bool) -> float:
    from sqlalchemy import text

    from siyu.analytics import dashboard
    from siyu.analytics.dashboard_repository import utc_bounds
    from siyu.auth.principal import Principal
    from siyu.db import unit_of_work
    from siyu.models import Role

    prepare_database(url, tmp, reset)
    started = time.perf_counter()
    load(size)
    print(f"{label} {size:>7} orders: loaded in {time.perf_counter() - started:.1f} s")
    staff = Principal(user_id=0, username="bench", display_name="bench", role=Role.OPERATOR)
    wanted = dashboard.filters(staff)
    start, end = utc_bounds(wanted.days)
    runs = 5
    with unit_of_work() as session:
        board = dashboard.sales(session, staff, wanted)
        siyu = median_seconds(lambda: dashboard.sales(session, staff, wanted), runs)
        statements = [text(sql) for sql in baseline_sql(session.get_bind().dialect.name)]

        def hand_written() -> None:
            for statement in statements:
                session.execute(statement, {"start": start, "end": end}).all()

        baseline = median_seconds(hand_written, runs)
    ratio = siyu / baseline
    print(
        f"{label} {size:>7} orders: GMV ¥{board.total.gmv_fen / 100:,.2f}, "
        f"{board.total.orders} orders, {board.total.new_consumers} new consumers; "
        f"siyu {siyu * 1000:.1f} ms, hand-written SQL {baseline * 1000:.1f} ms, "
        f"ratio {ratio:.2f}"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    add_database_arguments(parser)
    args = parser.parse_args()
    sizes = [5_000, 20_000] if args.quick else [20_000, 200_000]
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for label, url in backends(args, tmp):
            for size in sizes:
                sub = tmp / f"{label}-{size}"
                sub.mkdir()
                if url.startswith("sqlite"):
                    url = f"sqlite:///{sub / 'siyu.db'}"
                ratio = measure(label, url, size, sub, args.reset_postgres or size != sizes[0])
                if size == sizes[-1]:
                    worst = max(worst, ratio)
    verdict = "PASS" if worst <= TARGET_RATIO else "MISS"
    print(f"dashboards: ratio={worst:.2f} target<={TARGET_RATIO:g} {verdict}")


if __name__ == "__main__":
    main()
