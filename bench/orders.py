"""Orders per second through the signed order webhook against a raw insert of the same rows, in
the same run on the same database.

siyu: ``POST /api/v1/webhooks/orders`` on siyu's ASGI app (``create_app``), driven by an
``httpx.AsyncClient`` over ``httpx.ASGITransport`` in this process, one order at a time. The
full production path: the route reads the raw body, checks the HMAC signature and its
timestamp, parses the payload, and in the request's one database transaction places the order
(idempotency lookup on the external order id, stock, consumer find-or-create and lock, last-click
attribution from the click token, binding, the frozen commission snapshot on each line), then the
commission hook (fraud signals, commission records, one balanced ledger movement per line) and
the commit; the answer is the order as JSON. Why ASGITransport and not uvicorn + a socket
client: the request still goes through everything siyu runs (FastAPI, the middleware stack, the
session dependency and its commit, the thread pool the route hands the database work to), but
no socket and no load generator compete with the server for the machine's two CPUs, so the
figure is siyu's work (+ httpx's client side, ~0.1 ms an order, counted against siyu); the
redirect benchmark is the one that measures the HTTP server. Also printed, not in the ratio:
``orders.webhook.receive`` — what the route calls — in a unit of work, to show the HTTP cost.

Baseline: the same rows written by hand-written SQLAlchemy Core in one transaction per order —
the order, its lines (with the same attribution and snapshot values), the commission records,
one ledger transaction per line and its entries — with the values known in advance (accounts,
amounts and the consumer looked up once, before the timing). siyu does more in its transaction
than the baseline writes (the stock UPDATE, the consumer lookup/lock, the click lookups, the
fraud checks' reads, the idempotency lookups): that is the cost being measured.

Each order: 2 lines of different products (59.90 元, 5 %), a click token of a click one hour
before ``paid_at`` (so last-click attribution applies), a buyer from a pool of 300 (150 with
``--quick``); half the promoters have an inviter (an L2 share). ``paid_at`` advances 1 s per
order over 300 promoters (150) so no promoter nears the velocity fraud rule (30 orders an hour).
The warm-up gives every buyer and every promoter a first order (consumers and ledger accounts
exist, as in steady trading).

Rounds alternate (baseline, siyu, service); the ratio compares each contender's best round (a
shared machine only ever takes speed away). Afterwards: every order and commission is counted,
every ledger transaction balances, the trial balance is 0, and every siyu line is attributed.

    .venv/bin/python bench/orders.py            # 4 rounds of 200 orders per contender
    .venv/bin/python bench/orders.py --quick    # 3 rounds of 80, 150 promoters and buyers
    .venv/bin/python bench/orders.py --postgres postgresql+psycopg://…/db --reset-postgres

SQLite in a temporary directory always (unless ``--no-sqlite``); PostgreSQL too when
``--postgres URL`` or ``SIYU_DATABASE_URL`` names one (it must be empty, or pass
``--reset-postgres`` to drop its public schema). Ends with
``orders: ratio=<siyu orders/s ÷ baseline orders/s> target>=0.3 PASS|MISS`` (the lowest ratio
over the databases measured; each database's own line is printed before it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import _common

TARGET = 0.3
# Promoters and buyers (as many of each); --quick halves them so its warm-up is shorter.
POPULATION = 300
LINES = 2
PRICE_FEN = 5990


@dataclass
class Fixture:
    world: _common.World
    # Per order number i: the click (token, id, link id, promoter id) it carries.
    clicks: list[tuple[str, int, int, int]]
    start: datetime
    buyer_phones: list[str]

    def paid_at(self, number: int) -> datetime:
        return self.start + timedelta(seconds=number)


def load_fixture(orders: int, population: int = POPULATION) -> Fixture:
    from sqlalchemy import select

    from siyu.db import unit_of_work
    from siyu.kit.time import utc_now
    from siyu.links import service as links_service
    from siyu.links.repository import ClickRepository
    from siyu.links.schemas import LinkCreate
    from siyu.models import Click, LinkPosition

    world = _common.seed_world(products=20, promoters=population)
    now = utc_now()
    start = now - timedelta(seconds=orders + 60)
    with unit_of_work() as session:
        links = [
            links_service.create_link(
                session,
                None,
                LinkCreate(product_id=world.product_ids[0], position=LinkPosition.GROUP),
                promoter_id=promoter_id,
            )
            for promoter_id in world.promoter_ids
        ]
        link_of = [(link.id, link.promoter_id) for link in links]
    rows = []
    for number in range(orders):
        link_id, promoter_id = link_of[number % len(link_of)]
        rows.append(
            {
                "token": os.urandom(16).hex(),
                "link_id": link_id,
                "promoter_id": promoter_id,
                "clicked_at": start + timedelta(seconds=number) - timedelta(hours=1),
                "ip_hash": "",
                "user_agent": "bench",
                "consumer_id": None,
            }
        )
    with unit_of_work() as session:
        ClickRepository(session).insert_many(rows)
    with unit_of_work() as session:
        ids = dict(session.execute(select(Click.token, Click.id)).all())
    clicks = [(row["token"], ids[row["token"]], row["link_id"], row["promoter_id"]) for row in rows]
    phones = [f"137{index:08d}" for index in range(population)]
    return Fixture(world, clicks, start, phones)


def payload(fixture: Fixture, number: int, prefix: str) -> bytes:
    world = fixture.world
    products = world.product_ids
    return json.dumps(
        {
            "order_id": f"{prefix}-{number}",
            "merchant_id": world.merchant_id,
            "buyer": {
                "phone": fixture.buyer_phones[number % len(fixture.buyer_phones)],
                "nickname": "买家",
            },
            "lines": [
                {
                    "line_id": str(index + 1),
                    "product_id": products[(number + index) % len(products)],
                    "quantity": 1,
                    "unit_price_fen": PRICE_FEN,
                }
                for index in range(LINES)
            ],
            "freight_fen": 0,
            "click_token": fixture.clicks[number][0],
            "paid_at": fixture.paid_at(number).isoformat(),
            "region": "广东省深圳市",
        },
        ensure_ascii=False,
    ).encode()


# ---- siyu through the ASGI app -----------------------------------------------------------------


class WebhookClient:
    """One event loop and one httpx client over ASGITransport for the whole run."""

    def __init__(self) -> None:
        import httpx

        from siyu.app import create_app
        from siyu.config import current_settings

        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(current_settings(), run_jobs=False)),
            base_url="http://siyu.bench",
        )

    def post_all(self, bodies: list[bytes]) -> float:
        from siyu.orders import rules

        async def run() -> float:
            started = time.perf_counter()
            for body in bodies:
                signature = rules.sign(_common.WEBHOOK_SECRET, int(time.time()), body)
                response = await self.client.post(
                    "/api/v1/webhooks/orders",
                    content=body,
                    headers={"content-type": "application/json", rules.SIGNATURE_HEADER: signature},
                )
                if response.status_code != 200:
                    raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
            return time.perf_counter() - started

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def run_service(bodies: list[bytes]) -> float:
    from siyu.db import unit_of_work
    from siyu.orders import rules, webhook

    started = time.perf_counter()
    for body in bodies:
        now = int(time.time())
        signature = rules.sign(_common.WEBHOOK_SECRET, now, body)
        with unit_of_work() as session:
            webhook.receive(session, body, signature, now)
    return time.perf_counter() - started


# ---- the baseline: the same rows, hand-written Core ----------------------------------------------


@dataclass
class Template:
    """What siyu wrote for one line of an order of a promoter with / without an inviter."""

    commissions: list[tuple[int, int, int]]  # (level, promoter_id offset: 0 L1 / 1 L2, amount)
    entries: list[tuple[str, int]]  # (account role, amount): merchant, platform, l1, l2
    snapshot: dict[str, Any]


def templates(fixture: Fixture) -> dict[bool, Template]:
    """Read back a warm-up order of each kind, so the baseline writes exactly siyu's values."""
    from sqlalchemy import select

    from siyu.db import unit_of_work
    from siyu.models import (
        Commission,
        LedgerAccount,
        LedgerEntry,
        LedgerOwnerType,
        LedgerTransaction,
        OrderLine,
    )

    result: dict[bool, Template] = {}
    with unit_of_work() as session:
        for line in session.scalars(select(OrderLine).order_by(OrderLine.id)):
            has_l2 = line.l2_promoter_id is not None
            if has_l2 in result or line.l1_promoter_id is None:
                continue
            commissions = [
                (c.level, 0 if c.level == 1 else 1, c.amount_fen)
                for c in session.scalars(
                    select(Commission)
                    .where(Commission.order_line_id == line.id)
                    .order_by(Commission.level)
                )
            ]
            entries = []
            for account, amount in session.execute(
                select(LedgerAccount, LedgerEntry.amount_fen)
                .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
                .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
                .where(LedgerTransaction.correlation_key == f"order_line:{line.id}")
                .order_by(LedgerEntry.id)
            ).all():
                if account.owner_type == LedgerOwnerType.MERCHANT:
                    role = "merchant"
                elif account.owner_type == LedgerOwnerType.PLATFORM:
                    role = "platform"
                else:
                    role = "l1" if account.owner_id == line.l1_promoter_id else "l2"
                entries.append((role, amount))
            snapshot = {
                name: getattr(line, name)
                for name in (
                    "commission_rate_bp",
                    "platform_take_bp",
                    "l2_share_bp",
                    "l2_active",
                    "self_purchase",
                    "self_purchase_commission",
                    "hold_days",
                )
            }
            result[has_l2] = Template(commissions, entries, snapshot)
            if len(result) == 2:
                break
    assert len(result) == 2, "the warm-up placed no order of each kind"
    return result


class Baseline:
    def __init__(self, database: Any, fixture: Fixture) -> None:
        from sqlalchemy import select

        from siyu.db import unit_of_work
        from siyu.ledger import rules as ledger_rules
        from siyu.ledger.repository import LedgerRepository
        from siyu.models import Consumer, LedgerAccountKind, LedgerOwnerType, Product, Promoter

        self.database = database
        self.fixture = fixture
        self.templates = templates(fixture)
        with unit_of_work() as session:
            ledger = LedgerRepository(session)
            self.merchant_account = ledger.get_or_create_account(
                ledger_rules.merchant_payable(fixture.world.merchant_id)
            ).id
            self.platform_account = ledger.get_or_create_account(ledger_rules.platform_revenue()).id
            self.pending_account = {}
            for promoter_id in fixture.world.promoter_ids:
                key = ledger_rules.AccountKey(
                    LedgerAccountKind.PROMOTER_PENDING,
                    LedgerOwnerType.PROMOTER,
                    promoter_id,
                )
                self.pending_account[promoter_id] = ledger.get_or_create_account(key).id
            self.inviter = dict(session.execute(select(Promoter.id, Promoter.inviter_id)).all())
            self.titles = dict(session.execute(select(Product.id, Product.title)).all())
            self.consumer_id = session.scalars(select(Consumer.id).order_by(Consumer.id)).first()

    def run(self, numbers: range) -> float:
        from sqlalchemy import insert

        from siyu.kit.time import utc_now
        from siyu.models import (
            Commission,
            LedgerEntry,
            LedgerTransaction,
            Order,
            OrderLine,
        )

        orders, lines = Order.__table__, OrderLine.__table__
        commissions = Commission.__table__
        transactions, entries = LedgerTransaction.__table__, LedgerEntry.__table__
        products = self.fixture.world.product_ids
        engine = self.database.engine
        started = time.perf_counter()
        for number in numbers:
            token, click_id, link_id, l1 = self.fixture.clicks[number]
            l2 = self.inviter[l1]
            template = self.templates[l2 is not None]
            paid_at = self.fixture.paid_at(number)
            now = utc_now()
            with engine.begin() as connection:
                order_id = connection.execute(
                    insert(orders).values(
                        order_no=f"R{number:014d}",
                        source="webhook",
                        external_order_id=f"raw-{number}",
                        consumer_id=self.consumer_id,
                        status="paid",
                        items_fen=PRICE_FEN * LINES,
                        coupon_discount_fen=0,
                        freight_fen=0,
                        paid_fen=PRICE_FEN * LINES,
                        click_token=token,
                        region="广东省深圳市",
                        paid_at=paid_at,
                        auto_confirm_at=paid_at + timedelta(days=10),
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]
                commission_rows = []
                entry_rows = []
                for index in range(LINES):
                    product_id = products[(number + index) % len(products)]
                    line_id = connection.execute(
                        insert(lines).values(
                            order_id=order_id,
                            product_id=product_id,
                            merchant_id=self.fixture.world.merchant_id,
                            external_key=f"webhook:raw-{number}:{index + 1}",
                            title=self.titles[product_id],
                            quantity=1,
                            unit_price_fen=PRICE_FEN,
                            coupon_discount_fen=0,
                            virtual_asset_fen=0,
                            paid_fen=PRICE_FEN,
                            refunded_fen=0,
                            open_aftersales=0,
                            attribution_source="click",
                            click_id=click_id,
                            link_id=link_id,
                            l1_promoter_id=l1,
                            l2_promoter_id=l2,
                            fixed_commission_fen=None,
                            created_at=now,
                            updated_at=now,
                            **template.snapshot,
                        )
                    ).inserted_primary_key[0]
                    for level, offset, amount in template.commissions:
                        commission_rows.append(
                            {
                                "order_line_id": line_id,
                                "promoter_id": l2 if offset else l1,
                                "merchant_id": self.fixture.world.merchant_id,
                                "level": level,
                                "state": "estimated",
                                "amount_fen": amount,
                                "created_at": now,
                                "updated_at": now,
                            }
                        )
                    transaction_id = connection.execute(
                        insert(transactions).values(
                            kind="commission.estimated",
                            correlation_key=f"order_line:{line_id}",
                            idempotency_key=f"commission:estimate:line:{line_id}",
                            memo="",
                            created_at=now,
                        )
                    ).inserted_primary_key[0]
                    accounts = {
                        "merchant": self.merchant_account,
                        "platform": self.platform_account,
                        "l1": self.pending_account[l1],
                        "l2": self.pending_account.get(l2 or 0),
                    }
                    for role, amount in template.entries:
                        entry_rows.append(
                            {
                                "transaction_id": transaction_id,
                                "account_id": accounts[role],
                                "amount_fen": amount,
                                "created_at": now,
                            }
                        )
                connection.execute(insert(commissions), commission_rows)
                connection.execute(insert(entries), entry_rows)
        return time.perf_counter() - started


# ---- the run -------------------------------------------------------------------------------------


def check(label: str, expected_orders: int, siyu_orders: int) -> None:
    from sqlalchemy import func, select

    from siyu.db import unit_of_work
    from siyu.ledger import service as ledger
    from siyu.models import AttributionSource, Commission, Order, OrderLine, OrderSource

    with unit_of_work() as session:
        orders = session.scalar(select(func.count()).select_from(Order))
        commissions = session.scalar(select(func.count()).select_from(Commission))
        unattributed = session.scalar(
            select(func.count())
            .select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.external_order_id.not_like("raw-%"),
                Order.source == OrderSource.WEBHOOK,
                OrderLine.attribution_source != AttributionSource.CLICK,
            )
        )
        unbalanced = len(ledger.check_balanced(session))
        trial = ledger.trial_balance(session)
    ok = orders == expected_orders and unattributed == 0 and unbalanced == 0 and trial == 0
    print(
        f"[{label}] check: orders={orders:,} (want {expected_orders:,}; siyu {siyu_orders:,}), "
        f"commission records={commissions:,}, siyu lines not click-attributed={unattributed}, "
        f"unbalanced transactions={unbalanced}, trial balance={trial} → "
        f"{'OK' if ok else 'WRONG'}"
    )


def measure(label: str, url: str, args: argparse.Namespace, tmp: Path) -> float:
    database = _common.prepare_database(url, tmp, args.reset_postgres)
    rounds, size, warmup = args.rounds, args.orders, args.population
    per_contender = rounds * size
    total = warmup + 3 * per_contender
    started = time.perf_counter()
    fixture = load_fixture(total, args.population)
    print(
        f"[{label}] fixture: {args.population:,} promoters with one link each, {total:,} clicks, "
        f"{len(fixture.world.product_ids)} products; in {time.perf_counter() - started:.1f} s"
    )
    client = WebhookClient()
    numbers = iter(range(total))

    def take(count: int) -> range:
        first = next(numbers)
        for _ in range(count - 1):
            next(numbers)
        return range(first, first + count)

    # Warm-up: every buyer's first order (creates the consumers), through the webhook.
    warm = take(warmup)
    seconds = client.post_all([payload(fixture, number, "wh") for number in warm])
    print(f"[{label}] warm-up: {warmup} webhook orders (one per buyer) in {seconds:.1f} s")
    baseline = Baseline(database, fixture)
    times: dict[str, list[float]] = {"baseline": [], "siyu": [], "service": []}
    for _round in range(rounds):
        times["baseline"].append(baseline.run(take(size)))
        bodies = [payload(fixture, number, "wh") for number in take(size)]
        times["siyu"].append(client.post_all(bodies))
        bodies = [payload(fixture, number, "svc") for number in take(size)]
        times["service"].append(run_service(bodies))
    client.close()
    rates = {name: [size / seconds for seconds in values] for name, values in times.items()}
    names = {
        "baseline": "raw insert (Core)",
        "siyu": "siyu webhook (ASGI)",
        "service": "webhook.receive",
    }
    for name, values in rates.items():
        print(
            f"[{label}] {names[name]:>20} rounds (orders/s): "
            + ", ".join(f"{value:,.0f}" for value in values)
            + f"  best {max(values):,.0f} ({1000 / max(values):.2f} ms an order)"
        )
    check(label, warmup + 3 * per_contender, warmup + 2 * per_contender)
    ratio = max(rates["siyu"]) / max(rates["baseline"])
    service = max(rates["service"]) / max(rates["baseline"])
    print(f"[{label}] service function / baseline: {service:.2f} (not the ratio)")
    print(f"[{label}] {_common.verdict('orders', ratio, TARGET)}")
    database.dispose()
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="CI-sized run, under a minute")
    parser.add_argument("--orders", type=int, default=None, help="orders per round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of each contender")
    _common.add_database_arguments(parser)
    args = parser.parse_args()
    args.orders = args.orders or (80 if args.quick else 200)
    args.population = POPULATION // 2 if args.quick else POPULATION
    args.rounds = args.rounds or (3 if args.quick else 4)
    ratios = []
    with tempfile.TemporaryDirectory(prefix="siyu-bench-orders-") as tmp:
        for label, url in _common.backends(args, Path(tmp)):
            ratios.append(measure(label, url, args, Path(tmp)))
    print(_common.verdict("orders", min(ratios), TARGET))


if __name__ == "__main__":
    main()
