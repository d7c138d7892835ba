"""A hypothesis state machine against the real database: random transfers, splits, guarded
withdrawals, invalid postings and replays of old keys (same and conflicting), checked after every
step against a model of the expected balances.

Each run gets its own owners (fresh account keys), so runs share one database without seeing
each other's balances; the platform accounts are left out for the same reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from siyu.db import Database
from siyu.ledger import rules, service
from siyu.ledger.rules import AccountKey, LedgerPostingUnbalanced, Leg
from siyu.ledger.service import IdempotencyKeyConflict, InsufficientBalance
from siyu.models import LedgerAccount, LedgerEntry, LedgerTransaction

ACCOUNT_COUNT = 5
amounts = st.integers(min_value=1, max_value=10**7)
indexes = st.integers(min_value=0, max_value=ACCOUNT_COUNT - 1)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, database: Database, run: int) -> None:
        super().__init__()
        self.database = database
        self.correlation_key = f"run:{run}"
        base = run * 10
        self.accounts: list[AccountKey] = [
            rules.merchant_payable(base + 1),
            rules.promoter_pending(base + 1),
            rules.promoter_available(base + 1),
            rules.promoter_withdrawing(base + 1),
            rules.promoter_available(base + 2),
        ]
        self.expected: dict[AccountKey, int] = dict.fromkeys(self.accounts, 0)
        self.posted: dict[str, tuple[int, list[Leg]]] = {}
        self.entries: dict[int, tuple[AccountKey, int]] = {}
        self.counter = itertools.count()

    # --- helpers ------------------------------------------------------------------------------

    def unit_of_work(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.database.sessions() as session:
            result = call(session, *args, **kwargs)
            session.commit()
            return result

    def fresh_key(self) -> str:
        return f"{self.correlation_key}:{next(self.counter)}"

    def post(self, legs: list[Leg], floors: dict[AccountKey, int] | None = None) -> int:
        key = self.fresh_key()
        transaction_id = self.unit_of_work(self._post_and_record, key, legs, floors)
        self.posted[key] = (transaction_id, legs)
        for account, amount in rules.net_by_account(legs).items():
            self.expected[account] += amount
        return int(transaction_id)

    def _post_and_record(
        self, session: Any, key: str, legs: list[Leg], floors: dict[AccountKey, int] | None
    ) -> int:
        transaction = service.post(
            session, "test.stateful", key, self.correlation_key, legs, floors=floors
        )
        for entry in transaction.entries:
            self.entries[entry.id] = (
                AccountKey(entry.account.kind, entry.account.owner_type, entry.account.owner_id),
                entry.amount_fen,
            )
        return transaction.id

    # --- rules --------------------------------------------------------------------------------

    @rule(source=indexes, destination=indexes, amount=amounts)
    def transfer(self, source: int, destination: int, amount: int) -> None:
        self.post(rules.transfer(self.accounts[source], self.accounts[destination], amount))

    @rule(source=indexes, shares=st.dictionaries(indexes, st.integers(0, 10**6), min_size=1))
    def split(self, source: int, shares: dict[int, int]) -> None:
        legs = rules.split(
            self.accounts[source], {self.accounts[index]: share for index, share in shares.items()}
        )
        if legs:
            self.post(legs)

    @rule(source=indexes, destination=indexes, amount=amounts)
    def guarded_withdrawal(self, source: int, destination: int, amount: int) -> None:
        account = self.accounts[source]
        legs = rules.transfer(account, self.accounts[destination], amount)
        net = rules.net_by_account(legs)[account]
        if self.expected[account] + net >= 0:
            self.post(legs, floors={account: 0})
        else:
            with pytest.raises(InsufficientBalance):
                self.post(legs, floors={account: 0})

    @rule(source=indexes, destination=indexes, amount=amounts)
    def unbalanced_posting_is_refused(self, source: int, destination: int, amount: int) -> None:
        legs = [Leg(self.accounts[source], amount), Leg(self.accounts[destination], -amount - 1)]
        with pytest.raises(LedgerPostingUnbalanced):
            self.post(legs)

    @precondition(lambda self: bool(self.posted))
    @rule(data=st.data())
    def replay_an_old_key(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.posted)))
        transaction_id, legs = self.posted[key]
        shuffled = data.draw(st.permutations(legs))
        replayed = self.unit_of_work(
            service.post, "test.stateful", key, self.correlation_key, shuffled
        )
        assert replayed.id == transaction_id

    @precondition(lambda self: bool(self.posted))
    @rule(data=st.data(), extra=amounts)
    def conflicting_replay_is_refused(self, data: st.DataObject, extra: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.posted)))
        _transaction_id, legs = self.posted[key]
        changed = [*legs, *rules.transfer(self.accounts[0], self.accounts[1], extra)]
        with pytest.raises(IdempotencyKeyConflict):
            self.unit_of_work(service.post, "test.stateful", key, self.correlation_key, changed)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def the_ledger_agrees_with_the_model(self) -> None:
        with self.database.sessions() as session:
            assert service.trial_balance(session) == 0
            rows = session.execute(
                select(
                    LedgerEntry.id,
                    LedgerAccount.kind,
                    LedgerAccount.owner_type,
                    LedgerAccount.owner_id,
                    LedgerEntry.amount_fen,
                )
                .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
                .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
                .where(LedgerTransaction.correlation_key == self.correlation_key)
            ).all()
        # Exactly the entries written once per key, none changed, none added by a replay.
        stored = {row[0]: (AccountKey(row[1], row[2], row[3]), row[4]) for row in rows}
        assert stored == self.entries
        sums: dict[AccountKey, int] = dict.fromkeys(self.accounts, 0)
        for account, amount in stored.values():
            sums[account] += amount
        assert sums == self.expected

    def teardown(self) -> None:
        # The service's own views, once per run (they are what the checks above recompute).
        with self.database.sessions() as session:
            assert service.check_balanced(session) == []
            for account in self.accounts:
                assert service.balance(session, account) == self.expected[account]
            transactions = session.scalar(
                select(func.count(LedgerTransaction.id)).where(
                    LedgerTransaction.correlation_key == self.correlation_key
                )
            )
            assert transactions == len(self.posted)


def test_random_movements_keep_the_ledger_exact(database: Database) -> None:
    runs = itertools.count(1)
    run_state_machine_as_test(
        lambda: LedgerMachine(database, next(runs)),  # type: ignore[arg-type]  # a factory works
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
