"""Concurrent clients, each with its own session: one effect per key, no overdraft, no deadlock.

On PostgreSQL the threads really race (row locks, the unique index on the idempotency key); on
SQLite ``BEGIN IMMEDIATE`` makes them queue, and the same assertions must hold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from siyu.db import Database
from siyu.ledger import rules, service
from siyu.ledger.rules import AccountKey, Leg
from siyu.ledger.service import InsufficientBalance
from tests.ledger.conftest import Counts, counts

MERCHANT = rules.merchant_payable(11)
REVENUE = rules.platform_revenue()
AVAILABLE = rules.promoter_available(21)
WITHDRAWING = rules.promoter_withdrawing(21)


def client_count(database: Database) -> int:
    return 4 if database.url.startswith("sqlite") else 10


def race(database: Database, clients: int, work: Callable[[Any, int], Any]) -> list[Any]:
    """Run ``work(session, number)`` in ``clients`` threads released at once; commit each.

    Returns each client's result, or the exception it raised (after its rollback).
    """
    barrier = threading.Barrier(clients)

    def client(number: int) -> Any:
        with database.sessions() as session:
            barrier.wait(timeout=30)
            try:
                result = work(session, number)
                session.commit()
                return result
            except Exception as error:
                session.rollback()
                return error

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(client, range(clients)))


def post(
    session: Any,
    key: str,
    legs: list[Leg],
    floors: dict[AccountKey, int] | None = None,
) -> int:
    return service.post(session, "test.race", key, "race:1", legs, floors=floors).id


def balances(database: Database, *keys: AccountKey) -> list[int]:
    with database.sessions() as session:
        return [service.balance(session, key) for key in keys]


class TestSameKeyFromManyClients:
    def test_one_transaction_wins_and_every_client_gets_it(self, database: Database) -> None:
        clients = client_count(database)
        legs = rules.split(MERCHANT, {AVAILABLE: 243, REVENUE: 27})
        results = race(database, clients, lambda session, _n: post(session, "same-key", legs))
        assert all(isinstance(result, int) for result in results), results
        assert len(set(results)) == 1
        assert counts(database) == Counts(accounts=3, transactions=1, entries=3)
        assert balances(database, MERCHANT, AVAILABLE, REVENUE) == [-270, 243, 27]

    def test_guarded_replays_have_one_effect(self, database: Database) -> None:
        clients = client_count(database)
        with database.sessions() as session:
            post(session, "fund", rules.transfer(MERCHANT, AVAILABLE, 100))
            session.commit()
        legs = rules.transfer(AVAILABLE, WITHDRAWING, 100)
        results = race(
            database,
            clients,
            lambda session, _n: post(session, "withdraw", legs, floors={AVAILABLE: 0}),
        )
        assert all(isinstance(result, int) for result in results), results
        assert len(set(results)) == 1
        assert balances(database, AVAILABLE, WITHDRAWING) == [0, 100]

    def test_a_conflicting_key_in_the_race_writes_one_posting(self, database: Database) -> None:
        clients = client_count(database)

        def work(session: Any, number: int) -> int:
            # Half the clients send 5 fen, half 6 fen, under the same key: one posting wins.
            return post(session, "contested", rules.transfer(MERCHANT, AVAILABLE, 5 + number % 2))

        results = race(database, clients, work)
        winners = {result for result in results if isinstance(result, int)}
        refused = [result for result in results if not isinstance(result, int)]
        assert len(winners) == 1
        assert all(isinstance(error, service.IdempotencyKeyConflict) for error in refused)
        assert len(refused) == clients // 2
        assert counts(database).transactions == 1
        assert balances(database, AVAILABLE)[0] in (5, 6)


class TestManyKeysAtOnce:
    def test_first_use_of_new_accounts_creates_each_once(self, database: Database) -> None:
        clients = client_count(database)
        results = race(
            database,
            clients,
            lambda session, number: post(
                session, f"key:{number}", rules.transfer(MERCHANT, AVAILABLE, 10)
            ),
        )
        assert all(isinstance(result, int) for result in results), results
        assert counts(database) == Counts(accounts=2, transactions=clients, entries=2 * clients)
        assert balances(database, MERCHANT, AVAILABLE) == [-10 * clients, 10 * clients]

    def test_withdrawals_never_overdraw(self, database: Database) -> None:
        clients = client_count(database)
        with database.sessions() as session:
            post(session, "fund", rules.transfer(MERCHANT, AVAILABLE, 100))
            session.commit()
        results = race(
            database,
            clients,
            lambda session, number: post(
                session,
                f"withdraw:{number}",
                rules.transfer(AVAILABLE, WITHDRAWING, 30),
                floors={AVAILABLE: 0},
            ),
        )
        succeeded = [result for result in results if isinstance(result, int)]
        refused = [result for result in results if not isinstance(result, int)]
        assert len(succeeded) == 3
        assert all(isinstance(error, InsufficientBalance) for error in refused)
        assert balances(database, AVAILABLE, WITHDRAWING) == [10, 90]

    def test_crossing_single_movements_do_not_deadlock(self, database: Database) -> None:
        clients = client_count(database)
        accounts = fund_triangle(database)

        def work(session: Any, number: int) -> list[int]:
            # One movement per unit of work, around the triangle in both directions, guarded
            # (exclusive locks) and plain (shared locks) mixed.
            ids = []
            for step in range(6):
                source = accounts[(number + step) % 3]
                destination = accounts[(number + step + 1 + number % 2) % 3]
                floors = {source: 0} if step % 2 else None
                legs = rules.transfer(source, destination, 1 + step)
                ids.append(post(session, f"move:{number}:{step}", legs, floors))
                session.commit()
            return ids

        results = race(database, clients, work)
        assert all(isinstance(result, list) for result in results), results
        assert_triangle_intact(database, accounts, 3 + 6 * clients)

    def test_crossing_batches_do_not_deadlock(self, database: Database) -> None:
        clients = client_count(database)
        accounts = fund_triangle(database)

        def work(session: Any, number: int) -> list[int]:
            # Several movements in one unit of work: post_many takes every lock at once.
            movements = []
            for step in range(3):
                source = accounts[(number + step) % 3]
                destination = accounts[(number + step + 1 + number % 2) % 3]
                movements.append(
                    rules.movement(
                        "test.race",
                        f"move:{number}:{step}",
                        "race:1",
                        rules.transfer(source, destination, 1 + step),
                        floors={source: 0} if number % 2 else None,
                    )
                )
            return [transaction.id for transaction in service.post_many(session, movements)]

        results = race(database, clients, work)
        assert all(isinstance(result, list) for result in results), results
        assert_triangle_intact(database, accounts, 3 + 3 * clients)


def fund_triangle(database: Database) -> list[AccountKey]:
    accounts = [rules.promoter_available(number) for number in (31, 32, 33)]
    with database.sessions() as session:
        service.post_many(
            session,
            [
                rules.movement(
                    "test.fund",
                    f"fund:{account.owner_id}",
                    "race:1",
                    rules.transfer(MERCHANT, account, 1000),
                )
                for account in accounts
            ],
        )
        session.commit()
    return accounts


def assert_triangle_intact(
    database: Database, accounts: list[AccountKey], transactions: int
) -> None:
    assert counts(database).transactions == transactions
    assert sum(balances(database, *accounts)) == 3000
    with database.sessions() as session:
        assert service.trial_balance(session) == 0
        assert service.check_balanced(session) == []
