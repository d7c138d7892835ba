"""Daily settlement: due commissions settled per second by siyu's set-based job against a bare
SQL baseline writing the same rows, in the same run on the same database.

Fixture (bulk SQL, ``INSERT … SELECT`` over a generated series, not timed): N due commissions
(L1, 270 分 each, 1,000 promoters), each on its own order line (4 lines per received order), each
with the estimate already posted as it would have been at order time (one
``commission.estimated`` transaction with three entries: merchant_payable, platform_revenue,
promoter_pending), plus N/20 commissions that must *not* settle (half not due yet, half with an
open after-sale). Half the promoters have no ``promoter_available`` account yet, so the job also
creates accounts.

siyu: ``siyu.commissions.service.settle_due(session, now)`` — the function the daily job
``commissions.settle_due`` runs: find the promoters due, get-or-create their pending/available
accounts, then the repository's set-based statements (mark the due rows settled, one
``commission.settled`` transaction per commission under ``commission:settle:{id}``, both legs).

Baseline: the same rows as bare SQL, knowing what siyu has to find out: one UPDATE marking the
same commissions, then three INSERT … SELECT (the transactions, the missing accounts, the
entries) that find this run's rows by ``settled_at`` — no idempotency checks.

Rounds alternate (baseline, siyu, baseline, siyu, …), each in its own database transaction that
is rolled back, so every round sees the same data; the time runs until just before the commit.
The ratio compares the best round of each (a shared machine only ever takes speed away). Last,
siyu settles for real (committed), and the result is checked: N settle transactions, every
transaction balanced, the promoters' available balances equal the due amounts, and a second
run settles nothing.

    .venv/bin/python bench/settlement.py            # 1,000,000 due commissions, 2 rounds each
    .venv/bin/python bench/settlement.py --quick    # 50,000, 3 rounds each (< 1 minute)
    .venv/bin/python bench/settlement.py --postgres postgresql+psycopg://…/db --reset-postgres

SQLite in a temporary directory always (unless ``--no-sqlite``); PostgreSQL too when
``--postgres URL`` or ``SIYU_DATABASE_URL`` names one (it must be empty, or pass
``--reset-postgres`` to drop its public schema). Ends with
``settlement: ratio=<siyu records/s ÷ baseline records/s> target>=0.5 PASS|MISS`` (the lowest
ratio over the databases measured; each database's own line is printed before it).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import _common

TARGET = 0.5
AMOUNT_FEN = 270  # 5990 × 5 % = 300 (pool); take 10 % → 270 to L1
POOL_FEN = 300
PROMOTERS = 1_000
LINES_PER_ORDER = 4


def numbers(dialect: str) -> str:
    """A derived table ``n(i)`` of 1..:hi."""
    if dialect == "postgresql":
        return "(SELECT generate_series(1, :hi) AS i) AS n"
    return (
        "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :hi) "
        "SELECT i FROM s) AS n"
    )


def load_fixture(database: Any, world: _common.World, due: int, now: datetime) -> dict[str, int]:
    """Bulk SQL; returns the counts it wrote."""
    from sqlalchemy import bindparam, text

    from siyu.db import unit_of_work
    from siyu.ledger import rules as ledger_rules
    from siyu.ledger.repository import LedgerRepository
    from siyu.models import LedgerAccountKind, LedgerOwnerType
    from siyu.models.base import UTCDateTime

    engine = database.engine
    dialect = engine.dialect.name
    extra = due // 20
    lines = due + extra
    orders = (lines + LINES_PER_ORDER - 1) // LINES_PER_ORDER
    p0, product0 = world.promoter_ids[0], world.product_ids[0]
    assert world.promoter_ids == list(range(p0, p0 + len(world.promoter_ids)))
    assert world.product_ids == list(range(product0, product0 + len(world.product_ids)))

    from siyu.consumers import service as consumers

    with unit_of_work() as session:
        consumer_id = consumers.find_or_create(
            session, consumers.ConsumerIdentity(phone="13800000000", nickname="基准买家")
        ).id
        ledger = LedgerRepository(session)
        ledger.get_or_create_account(ledger_rules.merchant_payable(world.merchant_id))
        ledger.get_or_create_account(ledger_rules.platform_revenue())
        for index, promoter_id in enumerate(world.promoter_ids):
            kinds = [LedgerAccountKind.PROMOTER_PENDING]
            if index % 2 == 0:
                kinds.append(LedgerAccountKind.PROMOTER_AVAILABLE)
            for kind in kinds:
                ledger.get_or_create_account(
                    ledger_rules.AccountKey(kind, LedgerOwnerType.PROMOTER, promoter_id)
                )

    paid_at, received_at = now - timedelta(days=9), now - timedelta(days=8)
    due_at, later = now - timedelta(hours=1), now + timedelta(days=3)
    promoter = f"(:p0 + (n.i % {len(world.promoter_ids)}))"
    statements = [
        f"""INSERT INTO sales_order (id, order_no, source, external_order_id, consumer_id, status,
            items_fen, coupon_discount_fen, freight_fen, paid_fen, region, paid_at, received_at,
            created_at, updated_at)
        SELECT n.i, 'B' || CAST(n.i AS VARCHAR(20)), 'webhook',
            'bench-' || CAST(n.i AS VARCHAR(20)), :consumer, 'received', 23960, 0, 0, 23960, '',
            :paid_at, :received_at, :paid_at, :received_at
        FROM {numbers(dialect)}""",
        f"""INSERT INTO order_line (id, order_id, product_id, merchant_id, title, quantity,
            unit_price_fen, coupon_discount_fen, virtual_asset_fen, paid_fen, refunded_fen,
            open_aftersales, attribution_source, l1_promoter_id, l2_active, commission_rate_bp,
            platform_take_bp, l2_share_bp, self_purchase, self_purchase_commission, hold_days,
            created_at, updated_at)
        SELECT n.i, (n.i - 1) / {LINES_PER_ORDER} + 1, :product0 + (n.i % :products), :merchant,
            'bench', 1, 5990, 0, 0, 5990, 0,
            CASE WHEN n.i > :due AND n.i % 2 = 0 THEN 1 ELSE 0 END, 'binding', {promoter},
            false, 500, 1000, 0, false, false, 7, :paid_at, :received_at
        FROM {numbers(dialect)}""",
        f"""INSERT INTO commission (id, order_line_id, promoter_id, merchant_id, level, state,
            amount_fen, settles_at, created_at, updated_at)
        SELECT n.i, n.i, {promoter}, :merchant, 1, 'pending', {AMOUNT_FEN},
            CASE WHEN n.i > :due AND n.i % 2 = 1 THEN :later ELSE :due_at END,
            :paid_at, :received_at
        FROM {numbers(dialect)}""",
        f"""INSERT INTO ledger_transaction (id, kind, correlation_key, idempotency_key, memo,
            created_at)
        SELECT n.i, 'commission.estimated', 'order_line:' || CAST(n.i AS VARCHAR(20)),
            'commission:estimate:line:' || CAST(n.i AS VARCHAR(20)), '', :paid_at
        FROM {numbers(dialect)}""",
        f"""INSERT INTO ledger_entry (transaction_id, account_id, amount_fen, created_at)
        SELECT n.i, a.id, -{POOL_FEN}, :paid_at FROM {numbers(dialect)}
        JOIN ledger_account a ON a.kind = 'merchant_payable' AND a.owner_type = 'merchant'
                              AND a.owner_id = :merchant""",
        f"""INSERT INTO ledger_entry (transaction_id, account_id, amount_fen, created_at)
        SELECT n.i, a.id, {POOL_FEN - AMOUNT_FEN}, :paid_at FROM {numbers(dialect)}
        JOIN ledger_account a ON a.kind = 'platform_revenue' AND a.owner_type = 'platform'""",
        f"""INSERT INTO ledger_entry (transaction_id, account_id, amount_fen, created_at)
        SELECT n.i, a.id, {AMOUNT_FEN}, :paid_at FROM {numbers(dialect)}
        JOIN ledger_account a ON a.kind = 'promoter_pending' AND a.owner_type = 'promoter'
                              AND a.owner_id = {promoter}""",
    ]
    parameters = {
        "hi": lines,
        "due": due,
        "consumer": consumer_id,
        "merchant": world.merchant_id,
        "product0": product0,
        "products": len(world.product_ids),
        "p0": p0,
        "paid_at": paid_at,
        "received_at": received_at,
        "due_at": due_at,
        "later": later,
    }
    times = ("paid_at", "received_at", "due_at", "later")
    with engine.begin() as connection:
        for index, sql in enumerate(statements):
            hi = orders if index == 0 else lines
            statement = text(sql).bindparams(
                *(bindparam(name, type_=UTCDateTime()) for name in times if f":{name}" in sql)
            )
            used = {name: value for name, value in parameters.items() if f":{name}" in sql}
            connection.execute(statement, {**used, "hi": hi})
        if dialect == "postgresql":
            for table in ("sales_order", "order_line", "commission", "ledger_transaction"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            connection.execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
    return {"orders": orders, "lines": lines, "not_due": extra}


# ---- the two contenders ------------------------------------------------------------------------

BASELINE = [
    """UPDATE commission SET state = 'settled', settled_at = :now, updated_at = :now
    WHERE state = 'pending' AND settles_at <= :now AND amount_fen > 0
      AND EXISTS (SELECT 1 FROM order_line l
                  WHERE l.id = commission.order_line_id AND l.open_aftersales = 0)""",
    """INSERT INTO ledger_transaction
        (kind, correlation_key, idempotency_key, memo, actor_user_id, created_at)
    SELECT 'commission.settled', 'order_line:' || CAST(c.order_line_id AS VARCHAR(20)),
           'commission:settle:' || CAST(c.id AS VARCHAR(20)), '', NULL, :now
    FROM commission c WHERE c.state = 'settled' AND c.settled_at = :now""",
    """INSERT INTO ledger_account (kind, owner_type, owner_id, created_at)
    SELECT k.kind, 'promoter', p.promoter_id, :now
    FROM (SELECT DISTINCT promoter_id FROM commission
          WHERE state = 'settled' AND settled_at = :now) AS p
    CROSS JOIN (SELECT 'promoter_pending' AS kind UNION ALL SELECT 'promoter_available') AS k
    WHERE NOT EXISTS (SELECT 1 FROM ledger_account a WHERE a.kind = k.kind
                      AND a.owner_type = 'promoter' AND a.owner_id = p.promoter_id)""",
    """INSERT INTO ledger_entry (transaction_id, account_id, amount_fen, created_at)
    SELECT t.id, a.id, CASE WHEN a.kind = 'promoter_pending' THEN -c.amount_fen
                            ELSE c.amount_fen END, :now
    FROM commission c
    JOIN ledger_transaction t
      ON t.idempotency_key = 'commission:settle:' || CAST(c.id AS VARCHAR(20))
    JOIN ledger_account a ON a.owner_type = 'promoter' AND a.owner_id = c.promoter_id
                         AND a.kind IN ('promoter_pending', 'promoter_available')
    WHERE c.state = 'settled' AND c.settled_at = :now""",
]


def run_baseline(database: Any, now: datetime) -> tuple[float, int]:
    from sqlalchemy import bindparam, text

    from siyu.models.base import UTCDateTime

    statements = [text(sql).bindparams(bindparam("now", type_=UTCDateTime())) for sql in BASELINE]
    with database.engine.connect() as connection:
        transaction = connection.begin()
        started = time.perf_counter()
        count = int(connection.execute(statements[0], {"now": now}).rowcount)
        for statement in statements[1:]:
            connection.execute(statement, {"now": now})
        elapsed = time.perf_counter() - started
        transaction.rollback()
    return elapsed, count


def run_siyu(database: Any, now: datetime, commit: bool = False) -> tuple[float, float, int]:
    """Seconds until just before the commit, seconds including it, commissions settled."""
    from siyu.commissions import service

    with database.sessions() as session:
        started = time.perf_counter()
        count = service.settle_due(session, now)
        elapsed = time.perf_counter() - started
        if commit:
            session.commit()
        else:
            session.rollback()
        total = time.perf_counter() - started
    return elapsed, total, count


def check(database: Any, due: int, now: datetime) -> str:
    from sqlalchemy import func, select

    from siyu.commissions import service
    from siyu.ledger import service as ledger
    from siyu.models import LedgerAccount, LedgerAccountKind, LedgerEntry, LedgerTransaction

    with database.sessions() as session:
        settled = session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == "commission.settled")
        )
        available = session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerAccount.kind == LedgerAccountKind.PROMOTER_AVAILABLE)
        )
        unbalanced = len(ledger.check_balanced(session))
        again = service.settle_due(session, now)
        session.rollback()
    ok = settled == due and available == due * AMOUNT_FEN and unbalanced == 0 and again == 0
    return (
        f"check: settle transactions={settled:,} (want {due:,}), available={available:,} fen "
        f"(want {due * AMOUNT_FEN:,}), unbalanced transactions={unbalanced}, second run "
        f"settled {again} → {'OK' if ok else 'WRONG'}"
    )


def measure(label: str, url: str, args: argparse.Namespace, tmp: Path) -> float:
    from siyu.kit.time import utc_now

    database = _common.prepare_database(url, tmp, args.reset_postgres)
    world = _common.seed_world(products=20, promoters=PROMOTERS)
    now = utc_now()
    started = time.perf_counter()
    counts = load_fixture(database, world, args.due, now)
    print(
        f"[{label}] fixture: {args.due:,} due commissions + {counts['not_due']:,} not due, "
        f"{counts['lines']:,} order lines in {counts['orders']:,} orders, "
        f"{counts['lines']:,} estimate transactions ({3 * counts['lines']:,} entries), "
        f"{PROMOTERS:,} promoters; bulk SQL in {time.perf_counter() - started:.1f} s"
    )
    siyu_times: list[float] = []
    base_times: list[float] = []
    for _round in range(args.rounds):
        elapsed, count = run_baseline(database, now)
        assert count == args.due, (count, args.due)
        base_times.append(elapsed)
        elapsed, _total, count = run_siyu(database, now)
        assert count == args.due, (count, args.due)
        siyu_times.append(elapsed)
    print(
        f"[{label}] baseline rounds (s): {', '.join(f'{t:.2f}' for t in base_times)}; "
        f"siyu rounds (s): {', '.join(f'{t:.2f}' for t in siyu_times)}"
    )
    elapsed, total, count = run_siyu(database, now, commit=True)
    print(
        f"[{label}] siyu committed run: {count:,} settled in {elapsed:.2f} s "
        f"({total:.2f} s with the commit)"
    )
    print(f"[{label}] {check(database, args.due, now)}")
    base_rate = args.due / min(base_times)
    siyu_rate = args.due / min(siyu_times)
    ratio = siyu_rate / base_rate
    print(
        f"[{label}] best rounds: baseline {base_rate:,.0f} records/s, siyu {siyu_rate:,.0f} "
        f"records/s"
    )
    print(f"[{label}] {_common.verdict('settlement', ratio, TARGET)}")
    database.dispose()
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="CI-sized run, under a minute")
    parser.add_argument("--due", type=int, default=None, help="due commissions")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of each contender")
    _common.add_database_arguments(parser)
    args = parser.parse_args()
    args.due = args.due or (50_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or (3 if args.quick else 2)
    ratios = []
    with tempfile.TemporaryDirectory(prefix="siyu-bench-settlement-") as tmp:
        for label, url in _common.backends(args, Path(tmp)):
            ratios.append(measure(label, url, args, Path(tmp)))
    print(_common.verdict("settlement", min(ratios), TARGET))


if __name__ == "__main__":
    main()
