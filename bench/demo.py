"""The market simulation: simulated consumer-days per second through siyu's real services.

siyu's side is ``siyu.market.simulate`` with the generic market actors
(``siyu.market.actors.market_actors``) on an empty migrated platform (an admin; the set-up lists
the minimal catalog): every scan, add, click, order, shipment, refund, broadcast send, opt-out,
courier task, settlement and withdrawal goes through the pool, links, orders, outreach,
commissions and withdrawals services, one unit of work per simulated day.

The baseline is the market's draws alone for the same consumer-days (``draw_days``: the same
NumPy vectors, no services, every scan counted as a friend). The issue sets no target yet: the
figure to watch is ratio = services time ÷ draws time (how much the real code paths cost over
deciding what happens), printed with consumer-days/s, actions/s and the time per action kind.

    .venv/bin/python bench/demo.py                 # 3,000 consumers × 14 days
    .venv/bin/python bench/demo.py --quick         # 1,000 consumers × 14 days (< 1 minute)
    .venv/bin/python bench/demo.py --postgres URL  # also PostgreSQL (an empty database)

Ends with ``demo: ratio=<services ÷ draws> target>0 PASS``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import _common  # noqa: E402

# Counts that are one service action each (the stats keys of the market actors).
ACTIONS = (
    "scans",
    "adds",
    "group_joins",
    "clicks",
    "broadcast_clicks",
    "orders",
    "broadcast_sent",
    "opt_outs",
    "deletes",
    "received",
    "cancelled",
    "after_sales",
    "courier_adds",
    "withdrawals",
)
# Time per action kind (MarketState.seconds) → the count it is divided by.
PER_KIND = {
    "scan": "scans",
    "add": "adds",
    "group_join": "group_joins",
    "click": "clicks",
    "order": "orders",
    "broadcast": "broadcast_sent",
    "opt_out": "opt_outs",
    "fulfilment": "received",
    "courier": "courier_adds",
    "payout": "withdrawals",
}


def run_services(label: str, url: str, tmp: Path, args: argparse.Namespace) -> tuple[float, int]:
    from huey import MemoryHuey

    from siyu.auth.principal import Principal
    from siyu.auth.schemas import UserCreate
    from siyu.auth.service import create_user
    from siyu.db import unit_of_work
    from siyu.demo.market import market_start
    from siyu.jobs import configure_queue
    from siyu.market.actors import deterministic_routing, market_actors, state_of
    from siyu.market.generator import MarketConfig, generate
    from siyu.market.simulation import World, simulate
    from siyu.models import Role

    database = _common.prepare_database(url, tmp / label, args.reset_postgres)
    configure_queue(MemoryHuey(name=f"bench-demo-{label}"))
    try:
        with unit_of_work() as session:
            admin = Principal.of(
                create_user(
                    session,
                    None,
                    UserCreate(
                        username="admin", display_name="管理员", password="x" * 12, role=Role.ADMIN
                    ),
                )
            )
        market = generate(MarketConfig(consumers=args.consumers, seed=args.seed))
        world = World(market, admin, args.seed, market_start(days=args.days), args.days)
        actors = market_actors()
        started = time.perf_counter()
        with deterministic_routing():
            simulate(world, actors)
        elapsed = time.perf_counter() - started
    finally:
        database.dispose()
    stats = world.stats
    state = state_of(actors)
    actions = sum(stats[key] for key in ACTIONS)
    consumer_days = args.consumers * args.days
    print(
        f"{label}: {elapsed:.1f} s, {consumer_days / elapsed:,.0f} consumer-days/s, "
        f"{actions:,} actions ({actions / elapsed:,.1f}/s)"
    )
    print("  " + ", ".join(f"{key} {stats[key]:,}" for key in ACTIONS))
    for kind, seconds in sorted(state.seconds.items(), key=lambda item: -item[1]):
        count = stats[PER_KIND[kind]] if kind in PER_KIND else 0
        each = f", {1000 * seconds / count:.1f} ms each ({PER_KIND[kind]})" if count else ""
        print(f"  {kind:<11} {seconds:6.2f} s{each}")
    return elapsed, actions


def run_draws(args: argparse.Namespace) -> float:
    from datetime import UTC, datetime

    from siyu.auth.principal import Principal
    from siyu.market.actors import draw_days
    from siyu.market.generator import MarketConfig, generate
    from siyu.market.simulation import World
    from siyu.models import Role

    market = generate(MarketConfig(consumers=args.consumers, seed=args.seed))
    nobody = Principal(user_id=0, username="bench", display_name="bench", role=Role.ADMIN)
    world = World(market, nobody, args.seed, datetime(2026, 1, 1, tzinfo=UTC), args.days)
    best = float("inf")
    counts = None
    for _ in range(args.rounds):
        started = time.perf_counter()
        counts = draw_days(world, args.seed)
        best = min(best, time.perf_counter() - started)
    assert counts is not None
    print(
        f"draws alone (NumPy, best of {args.rounds}): {1000 * best:.1f} ms, "
        f"{args.consumers * args.days / best:,.0f} consumer-days/s; "
        + ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items()))
    )
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 consumers")
    parser.add_argument("--consumers", type=int, help="override the market size")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=20191111)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the draws baseline")
    _common.add_database_arguments(parser)
    args = parser.parse_args()
    args.consumers = args.consumers or (1_000 if args.quick else 3_000)
    print(f"demo: {args.consumers:,} consumers × {args.days} days through the services")

    draws = run_draws(args)
    ratios = []
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for label, url in _common.backends(args, tmp):
            elapsed, _actions = run_services(label, url, tmp, args)
            ratios.append(elapsed / draws)
            print(f"  ratio {label}: services ÷ draws = {elapsed / draws:,.0f}")
    ratio = max(ratios)
    # No target yet (issue 7: "a figure to watch"): any measured ratio passes.
    print(f"demo: ratio={ratio:.0f} target>0 {'PASS' if ratio > 0 else 'MISS'}")


if __name__ == "__main__":
    main()
