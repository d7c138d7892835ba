"""Channel-code routing throughput: siyu's full scan path against a bare conditional UPDATE.

siyu: ``siyu.pool.service.scan`` — find or create the consumer, lock it, check for an existing
contact, read the candidate accounts (1,000 accounts, least-loaded with a random tie-break),
the pure routing decision, the conditional UPDATE that reserves a friend seat and one of today's
adds, the pending contact and the scan row; one transaction per scan, committed.

Baseline, same database, same run: ``UPDATE bench_slot SET used = used + 1 WHERE id = :id AND
used < cap RETURNING id`` on a random one of 1,000 rows, one transaction per UPDATE — the
cheapest correct reservation there is.

Both run with 16 concurrent threads (scanners) for the same duration, alternating rounds
(baseline, siyu, baseline, siyu, …); each side's best round counts (other work on a shared
machine only ever takes throughput away). Then a tight phase checks overfill: 20 accounts with
5 adds left each, 16 scanners, 200 scans -> exactly 100 routed, and no account above any cap.

    .venv/bin/python bench/routing.py --quick                 # SQLite, < 1 minute
    .venv/bin/python bench/routing.py --postgres postgresql+psycopg://…/db   # or SIYU_DATABASE_URL

Ends with ``routing: ratio=<siyu decisions/s ÷ baseline updates/s> target>=0.3 PASS|MISS``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TARGET_RATIO = 0.3
SCANNERS = int(os.environ.get("BENCH_SCANNERS", "16"))
ACCOUNTS = 1000


def setup(url: str, data_dir: Path) -> Any:
    from cryptography.fernet import Fernet
    from huey import MemoryHuey
    from sqlalchemy import create_engine, text

    from siyu.config import Settings, configure
    from siyu.db import configure_database
    from siyu.jobs import configure_queue
    from siyu.migrations import upgrade_database

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    configure(
        Settings(
            environment="test",
            data_dir=data_dir,
            database_url=url,
            secret_key="bench",
            encryption_key=Fernet.generate_key().decode(),
            jobs_backend="memory",
        )
    )
    upgrade_database(url)
    database = configure_database(url)
    configure_queue(MemoryHuey(name="bench", immediate=False))
    return database


def seed(database: Any, accounts: int) -> str:
    from sqlalchemy import insert, text

    from siyu.models import AccountKind, AccountStatus, OperatorAccount
    from siyu.pool import service
    from siyu.pool.schemas import CodeCreate

    with database.sessions() as session:
        session.execute(
            insert(OperatorAccount),
            [
                {
                    "name": f"活动推广员-{number:04d}",
                    "kind": AccountKind.PERSONAL_ASSISTED,
                    "channel_backend": "simulator",
                    "max_friends": 10_000,
                    "passive_adds_per_day": 500,
                    "active_adds_per_day": 20,
                    "friends_used": 0,
                    "passive_adds_today": 0,
                    "active_adds_today": 0,
                    "status": AccountStatus.ACTIVE,
                    "product_lines": [],
                    "restriction_flags": [],
                    "working_from_minute": 0,
                    "working_until_minute": 1440,
                    "weight": 1,
                    "recent_failures": 0,
                    "province_code": "",
                    "city_code": "",
                    "district_code": "",
                    "status_reason": "",
                }
                for number in range(accounts)
            ],
        )
        code = service.create_code(session, None, CodeCreate(name="bench"))
        session.execute(
            text("CREATE TABLE bench_slot (id INTEGER PRIMARY KEY, used INTEGER, cap INTEGER)")
        )
        session.execute(
            text("INSERT INTO bench_slot (id, used, cap) VALUES (:id, 0, 1000000000)"),
            [{"id": number + 1} for number in range(accounts)],
        )
        session.commit()
        return code.code


def _retrying(database: Any, work: Any) -> Any:
    for _attempt in range(50):
        try:
            with database.sessions() as session:
                result = work(session)
                session.commit()
                return result
        except Exception as error:
            message = str(error).lower()
            if "deadlock" not in message and "locked" not in message:
                raise
    raise RuntimeError("gave up after 50 retries")


def run_threads(target: Any, seconds: float) -> int:
    stop = time.perf_counter() + seconds
    counts = [0] * SCANNERS
    barrier = threading.Barrier(SCANNERS)

    def worker(index: int) -> None:
        barrier.wait()
        while time.perf_counter() < stop:
            target(index, counts[index])
            counts[index] += 1

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(SCANNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def baseline_round(database: Any, accounts: int, seconds: float) -> float:
    from sqlalchemy import text

    statement = text(
        "UPDATE bench_slot SET used = used + 1 WHERE id = :id AND used < cap RETURNING id"
    )

    def one(index: int, count: int) -> None:
        slot = random.randint(1, accounts)
        _retrying(database, lambda session: session.execute(statement, {"id": slot}).scalar())

    started = time.perf_counter()
    done = run_threads(one, seconds)
    return done / (time.perf_counter() - started)


def siyu_round(database: Any, code: str, seconds: float, round_number: int) -> float:
    from siyu.consumers.service import ConsumerIdentity
    from siyu.pool import service

    def one(index: int, count: int) -> None:
        identity = ConsumerIdentity(union_id=f"r{round_number}-t{index}-{count}")
        _retrying(database, lambda session: service.scan(session, code, identity).outcome)

    started = time.perf_counter()
    done = run_threads(one, seconds)
    return done / (time.perf_counter() - started)


def overfills(database: Any) -> int:
    from sqlalchemy import func, or_, select

    from siyu.models import OperatorAccount as A

    with database.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(A)
                .where(
                    or_(
                        A.friends_used > A.max_friends,
                        A.passive_adds_today > A.passive_adds_per_day,
                    )
                )
            )
            or 0
        )


def tight_phase(database: Any) -> tuple[int, int, int]:
    """20 accounts, 5 adds left each, 200 concurrent scans: (routed, full, overfilled)."""
    from sqlalchemy import update

    from siyu.consumers.service import ConsumerIdentity
    from siyu.models import OperatorAccount, ScanOutcome
    from siyu.pool import service
    from siyu.pool.schemas import CodeCreate

    with database.sessions() as session:
        session.execute(
            update(OperatorAccount)
            .where(OperatorAccount.id <= 20)
            .values(max_friends=OperatorAccount.friends_used + 5)
        )
        code = service.create_code(
            session, None, CodeCreate(name="tight", rule={"account_ids": list(range(1, 21))})
        ).code
        session.commit()
    outcomes: list[str] = []
    lock = threading.Lock()
    numbers = iter(range(200))
    barrier = threading.Barrier(SCANNERS)

    def worker() -> None:
        barrier.wait()
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            identity = ConsumerIdentity(union_id=f"tight-{number}")
            outcome = _retrying(
                database, lambda s, who=identity: service.scan(s, code, who).outcome
            )
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(SCANNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (
        outcomes.count(ScanOutcome.ROUTED),
        outcomes.count(ScanOutcome.FULL),
        overfills(database),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 4 s (< 1 minute)")
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (else SIYU_DATABASE_URL)")
    parser.add_argument("--accounts", type=int, default=ACCOUNTS)
    args = parser.parse_args()
    url = args.postgres or os.environ.get("SIYU_DATABASE_URL")
    rounds, seconds = (3, 4.0) if args.quick else (5, 10.0)
    with tempfile.TemporaryDirectory(prefix="siyu-bench-routing-") as directory:
        data_dir = Path(directory)
        if not url:
            url = f"sqlite:///{data_dir / 'bench.db'}"
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        database = setup(url, data_dir)
        code = seed(database, args.accounts)
        print(f"routing: {backend}, {args.accounts} accounts, {SCANNERS} concurrent scanners")
        print(f"         {rounds} alternating rounds of {seconds:.0f} s per side")
        siyu_rates: list[float] = []
        base_rates: list[float] = []
        # Warm-up (connections, caches, query plans).
        baseline_round(database, args.accounts, 1.0)
        siyu_round(database, code, 1.0, -1)
        for number in range(rounds):
            base_rates.append(baseline_round(database, args.accounts, seconds))
            siyu_rates.append(siyu_round(database, code, seconds, number))
            print(
                f"  round {number + 1}: baseline {base_rates[-1]:8.0f} updates/s   "
                f"siyu {siyu_rates[-1]:8.0f} decisions/s"
            )
        best_base, best_siyu = max(base_rates), max(siyu_rates)
        overfilled = overfills(database)
        routed, full, tight_overfilled = tight_phase(database)
        database.dispose()
    ratio = best_siyu / best_base if best_base else 0.0
    print(f"best: baseline {best_base:.0f} updates/s, siyu {best_siyu:.0f} decisions/s")
    print(f"overfilled accounts after the rounds: {overfilled}")
    print(
        f"tight phase (20 accounts x 5 seats, 200 scans): routed {routed} (expect 100), "
        f"full {full}, overfilled accounts {tight_overfilled}"
    )
    total_overfills = overfilled + tight_overfilled + (0 if routed == 100 else abs(routed - 100))
    print(f"overfills: {total_overfills}")
    verdict = "PASS" if ratio >= TARGET_RATIO and total_overfills == 0 else "MISS"
    print(f"routing: ratio={ratio:.2f} target>={TARGET_RATIO} {verdict}")


if __name__ == "__main__":
    main()
