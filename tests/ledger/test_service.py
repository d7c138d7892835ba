from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select, text, update

from siyu.db import Database
from siyu.kit.pagination import PageRequest
from siyu.ledger import rules, service
from siyu.ledger.rules import (
    LedgerAccountKeyInvalid,
    LedgerAmountInvalid,
    LedgerKeyInvalid,
    LedgerPostingEmpty,
    LedgerPostingUnbalanced,
    Leg,
)
from siyu.ledger.schemas import LedgerAccountOut, LedgerEntryOut, LedgerTransactionOut
from siyu.ledger.service import (
    IdempotencyKeyConflict,
    InsufficientBalance,
    LedgerAccountNotFound,
)
from siyu.models import (
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerOwnerType,
    LedgerRowImmutable,
    LedgerTransaction,
    Role,
)
from tests.ledger.conftest import (
    MERCHANT_ID,
    OTHER_PROMOTER_ID,
    PROMOTER_ID,
    Act,
    Counts,
    counts,
    principal,
)

MERCHANT = rules.merchant_payable(MERCHANT_ID)
REVENUE = rules.platform_revenue()
PENDING = rules.promoter_pending(PROMOTER_ID)
AVAILABLE = rules.promoter_available(PROMOTER_ID)
WITHDRAWING = rules.promoter_withdrawing(PROMOTER_ID)
CLEARING = rules.payout_clearing()
OTHER_AVAILABLE = rules.promoter_available(OTHER_PROMOTER_ID)

# JD's vector: 54.00 paid × 5% = 270 fen pool; 10% take = 27 to the platform, 243 to L1.
ESTIMATE = rules.split(MERCHANT, {PENDING: 243, REVENUE: 27})


def estimate(act: Act, key: str = "commission.estimated:line:1", **kwargs: Any) -> int:
    transaction = act(
        service.post, "commission.estimated", key, "order_line:1", ESTIMATE, "预估佣金", **kwargs
    )
    return int(transaction.id)


def settle(act: Act, amount: int = 243, key: str = "commission.settled:line:1") -> int:
    legs = rules.transfer(PENDING, AVAILABLE, amount)
    return int(act(service.post, "commission.settled", key, "order_line:1", legs).id)


def balances(act: Act, *keys: rules.AccountKey) -> list[int]:
    return [act(service.balance, key) for key in keys]


class TestPost:
    def test_a_balanced_posting_writes_one_transaction_and_its_entries(
        self, act: Act, database: Database
    ) -> None:
        transaction_id = estimate(act)
        with database.sessions() as session:
            transaction = session.get(LedgerTransaction, transaction_id)
            assert transaction is not None
            assert (transaction.kind, transaction.correlation_key, transaction.memo) == (
                "commission.estimated",
                "order_line:1",
                "预估佣金",
            )
            assert transaction.idempotency_key == "commission.estimated:line:1"
            assert transaction.created_at.tzinfo is not None
            assert service.legs_of(session, transaction) == [
                Leg(MERCHANT, -270),
                Leg(PENDING, 243),
                Leg(REVENUE, 27),
            ]
            assert all(entry.created_at == transaction.created_at for entry in transaction.entries)
        assert counts(database) == Counts(accounts=3, transactions=1, entries=3)

    def test_accounts_are_created_once_and_reused(self, act: Act, database: Database) -> None:
        estimate(act)
        settle(act)
        assert counts(database) == Counts(accounts=4, transactions=2, entries=5)

    def test_balances_derive_from_entries(self, act: Act) -> None:
        estimate(act)
        settle(act, 200)
        assert balances(act, MERCHANT, REVENUE, PENDING, AVAILABLE) == [-270, 27, 43, 200]
        assert act(service.trial_balance) == 0
        assert act(service.check_balanced) == []

    def test_balances_may_go_negative_without_a_floor(self, act: Act) -> None:
        # A refund after settlement: the reversal is appended and nets against future earnings.
        estimate(act)
        settle(act)
        act(
            service.post,
            "commission.reversed",
            "commission.reversed:line:1",
            "order_line:1",
            rules.transfer(AVAILABLE, MERCHANT, 500),
        )
        assert balances(act, AVAILABLE, MERCHANT) == [-257, 230]

    def test_the_actor_is_recorded(self, act: Act, admin: Any, database: Database) -> None:
        transaction_id = estimate(act, actor_user_id=admin.user_id)
        with database.sessions() as session:
            transaction = session.get(LedgerTransaction, transaction_id)
            assert transaction is not None
            assert transaction.actor_user_id == admin.user_id


class TestRefusedPostings:
    @pytest.mark.parametrize(
        ("legs", "error"),
        [
            ([(AVAILABLE, 100), (WITHDRAWING, -99)], LedgerPostingUnbalanced),
            ([(AVAILABLE, 1.5), (WITHDRAWING, -1.5)], LedgerAmountInvalid),
            ([(AVAILABLE, 0), (WITHDRAWING, 0)], LedgerAmountInvalid),
            ([(AVAILABLE, True), (WITHDRAWING, -1)], LedgerAmountInvalid),
            ([], LedgerPostingEmpty),
            ([(AVAILABLE, 5)], LedgerPostingEmpty),
            ([(rules.AccountKey(*REVENUE[:2], 3), 5), (AVAILABLE, -5)], LedgerAccountKeyInvalid),
        ],
    )
    def test_invalid_legs_write_nothing(
        self, act: Act, database: Database, legs: list[Any], error: type[Exception]
    ) -> None:
        estimate(act)
        before = counts(database)
        with pytest.raises(error):
            act(service.post, "test.invalid", "invalid:1", "test:1", legs)
        assert counts(database) == before
        assert balances(act, AVAILABLE, WITHDRAWING) == [0, 0]

    @pytest.mark.parametrize(
        ("kind", "idempotency_key", "correlation_key"),
        [("", "k", "c"), ("k", "", "c"), ("k", "k", " "), ("k", "x" * 201, "c")],
    )
    def test_invalid_keys_write_nothing(
        self, act: Act, database: Database, kind: str, idempotency_key: str, correlation_key: str
    ) -> None:
        with pytest.raises(LedgerKeyInvalid):
            act(service.post, kind, idempotency_key, correlation_key, ESTIMATE)
        assert counts(database) == Counts(0, 0, 0)


class TestIdempotency:
    def test_a_replay_returns_the_first_transaction_and_writes_nothing(
        self, act: Act, database: Database
    ) -> None:
        first = estimate(act)
        before = counts(database)
        assert estimate(act) == first
        assert counts(database) == before
        assert balances(act, PENDING, REVENUE, MERCHANT) == [243, 27, -270]

    def test_a_replay_with_the_legs_in_another_order_is_the_same_posting(
        self, act: Act, database: Database
    ) -> None:
        first = estimate(act)
        replay = act(
            service.post,
            "commission.estimated",
            "commission.estimated:line:1",
            "order_line:1",
            list(reversed(ESTIMATE)),
            "memo is not part of the posting",
        )
        assert replay.id == first
        assert counts(database) == Counts(3, 1, 3)

    def test_a_replay_inside_the_same_unit_of_work_is_one_effect(
        self, database: Database, act: Act
    ) -> None:
        with database.sessions() as session:
            legs = rules.transfer(AVAILABLE, WITHDRAWING, 10)
            first = service.post(session, "withdrawal.requested", "w:1", "withdrawal:1", legs)
            second = service.post(session, "withdrawal.requested", "w:1", "withdrawal:1", legs)
            session.commit()
            assert first is second
        assert counts(database) == Counts(2, 1, 2)
        assert balances(act, AVAILABLE, WITHDRAWING) == [-10, 10]

    @pytest.mark.parametrize(
        ("kind", "correlation_key", "legs"),
        [
            ("commission.estimated", "order_line:1", rules.split(MERCHANT, {PENDING: 244})),
            ("commission.estimated", "order_line:1", rules.split(MERCHANT, {PENDING: 270})),
            (
                "commission.estimated",
                "order_line:1",
                rules.split(MERCHANT, {OTHER_AVAILABLE: 243, REVENUE: 27}),
            ),
            ("commission.estimated", "order_line:2", ESTIMATE),
            ("commission.settled", "order_line:1", ESTIMATE),
            ("commission.estimated", "order_line:1", [*ESTIMATE, *ESTIMATE]),
        ],
    )
    def test_the_same_key_with_another_posting_is_refused(
        self, act: Act, database: Database, kind: str, correlation_key: str, legs: list[Leg]
    ) -> None:
        estimate(act)
        before = counts(database)
        with pytest.raises(IdempotencyKeyConflict) as raised:
            act(service.post, kind, "commission.estimated:line:1", correlation_key, legs)
        assert raised.value.status == 409
        assert raised.value.code == "idempotency_key_conflict"
        assert counts(database) == before
        assert balances(act, PENDING, REVENUE, MERCHANT, OTHER_AVAILABLE) == [243, 27, -270, 0]


class TestFloors:
    def test_a_withdrawal_within_the_balance_is_posted(self, act: Act) -> None:
        estimate(act)
        settle(act)
        act(
            service.post,
            "withdrawal.requested",
            "withdrawal:1",
            "withdrawal:1",
            rules.transfer(AVAILABLE, WITHDRAWING, 243),
            floors={AVAILABLE: 0},
        )
        assert balances(act, AVAILABLE, WITHDRAWING) == [0, 243]

    def test_a_withdrawal_beyond_the_balance_writes_nothing(
        self, act: Act, database: Database
    ) -> None:
        estimate(act)
        settle(act)
        before = counts(database)
        with pytest.raises(InsufficientBalance) as raised:
            act(
                service.post,
                "withdrawal.requested",
                "withdrawal:1",
                "withdrawal:1",
                rules.transfer(AVAILABLE, WITHDRAWING, 244),
                floors={AVAILABLE: 0},
            )
        assert raised.value.status == 409
        assert raised.value.params["balance_fen"] == 243
        assert raised.value.params["required_fen"] == 244
        assert "2.43" in raised.value.zh
        assert counts(database) == before

    def test_a_floor_above_zero_keeps_a_reserve(self, act: Act) -> None:
        estimate(act)
        settle(act)
        with pytest.raises(InsufficientBalance):
            act(
                service.post,
                "withdrawal.requested",
                "withdrawal:1",
                "withdrawal:1",
                rules.transfer(AVAILABLE, WITHDRAWING, 200),
                floors={AVAILABLE: 100},
            )
        assert balances(act, AVAILABLE) == [243]

    def test_a_replay_of_a_guarded_posting_is_not_checked_again(self, act: Act) -> None:
        estimate(act)
        settle(act)
        legs = rules.transfer(AVAILABLE, WITHDRAWING, 243)
        first = act(service.post, "w", "w:1", "w:1", legs, floors={AVAILABLE: 0})
        replay = act(service.post, "w", "w:1", "w:1", legs, floors={AVAILABLE: 0})
        assert replay.id == first.id
        assert balances(act, AVAILABLE, WITHDRAWING) == [0, 243]

    def test_require_balance_at_least(self, act: Act) -> None:
        assert act(service.require_balance_at_least, AVAILABLE, 0) == 0
        with pytest.raises(InsufficientBalance):
            act(service.require_balance_at_least, AVAILABLE, 1)
        estimate(act)
        settle(act)
        assert act(service.require_balance_at_least, AVAILABLE, 243) == 243
        with pytest.raises(InsufficientBalance):
            act(service.require_balance_at_least, AVAILABLE, 244)


class TestAppendOnly:
    def test_updating_an_entry_is_refused(self, act: Act, database: Database) -> None:
        estimate(act)
        with database.sessions() as session:
            entry = session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).first()
            assert entry is not None
            entry.amount_fen = -1
            with pytest.raises(LedgerRowImmutable):
                session.flush()
        assert balances(act, MERCHANT) == [-270]

    def test_deleting_an_entry_is_refused(self, act: Act, database: Database) -> None:
        estimate(act)
        with database.sessions() as session:
            entry = session.scalars(select(LedgerEntry)).first()
            session.delete(entry)
            with pytest.raises(LedgerRowImmutable):
                session.flush()
        assert counts(database) == Counts(3, 1, 3)

    def test_updating_or_deleting_a_transaction_is_refused(
        self, act: Act, database: Database
    ) -> None:
        transaction_id = estimate(act)
        with database.sessions() as session:
            transaction = session.get(LedgerTransaction, transaction_id)
            assert transaction is not None
            transaction.memo = "changed"
            with pytest.raises(LedgerRowImmutable):
                session.flush()
        with database.sessions() as session:
            session.delete(session.get(LedgerTransaction, transaction_id))
            with pytest.raises(LedgerRowImmutable):
                session.flush()
        with database.sessions() as session:
            transaction = session.get(LedgerTransaction, transaction_id)
            assert transaction is not None
            assert transaction.memo == "预估佣金"

    def test_updating_an_account_is_refused(self, act: Act, database: Database) -> None:
        estimate(act)
        with database.sessions() as session:
            account = session.scalars(select(LedgerAccount)).first()
            assert account is not None
            account.owner_id = 999
            with pytest.raises(LedgerRowImmutable):
                session.flush()

    @pytest.mark.parametrize(
        "statement",
        [
            update(LedgerEntry).values(amount_fen=1),
            delete(LedgerEntry),
            update(LedgerTransaction).values(memo="x"),
            delete(LedgerAccount),
        ],
    )
    def test_bulk_updates_and_deletes_are_refused(
        self, act: Act, database: Database, statement: Any
    ) -> None:
        estimate(act)
        with database.sessions() as session, pytest.raises(LedgerRowImmutable):
            session.execute(statement)
        assert counts(database) == Counts(3, 1, 3)
        assert balances(act, MERCHANT, PENDING, REVENUE) == [-270, 243, 27]

    def test_appending_an_entry_to_an_old_transaction_is_refused(
        self, act: Act, database: Database
    ) -> None:
        transaction_id = estimate(act)
        with database.sessions() as session:
            transaction = session.get(LedgerTransaction, transaction_id)
            account = session.scalars(select(LedgerAccount)).first()
            session.add(LedgerEntry(transaction=transaction, account=account, amount_fen=5))
            with pytest.raises(LedgerRowImmutable):
                session.flush()
        assert counts(database) == Counts(3, 1, 3)

    def test_an_unbalanced_transaction_cannot_be_written_through_the_orm(
        self, act: Act, database: Database
    ) -> None:
        estimate(act)
        with database.sessions() as session:
            account = session.scalars(select(LedgerAccount)).first()
            session.add(
                LedgerTransaction(
                    kind="forged",
                    idempotency_key="forged",
                    correlation_key="forged",
                    entries=[LedgerEntry(account=account, amount_fen=5)],
                )
            )
            with pytest.raises(LedgerRowImmutable):
                session.flush()
        assert counts(database) == Counts(3, 1, 3)

    def test_check_balanced_finds_rows_written_around_the_orm(
        self, act: Act, database: Database
    ) -> None:
        transaction_id = estimate(act)
        with database.sessions() as session:
            account_id = session.scalars(select(LedgerAccount.id)).first()
            session.execute(
                text(
                    "INSERT INTO ledger_entry (transaction_id, account_id, amount_fen, created_at)"
                    " VALUES (:transaction_id, :account_id, 5, CURRENT_TIMESTAMP)"
                ),
                {"transaction_id": transaction_id, "account_id": account_id},
            )
            session.commit()
        found = act(service.check_balanced)
        assert [(row.transaction_id, row.total_fen, row.entry_count) for row in found] == [
            (transaction_id, 5, 4)
        ]
        assert act(service.trial_balance) == 5


class TestReading:
    def test_balances_for_owner_lists_every_kind_of_that_owner(self, act: Act) -> None:
        estimate(act)
        settle(act, 200)
        assert act(service.balances_for_owner, None, LedgerOwnerType.PROMOTER, PROMOTER_ID) == {
            LedgerAccountKind.PROMOTER_PENDING: 43,
            LedgerAccountKind.PROMOTER_AVAILABLE: 200,
            LedgerAccountKind.PROMOTER_WITHDRAWING: 0,
            LedgerAccountKind.PROMOTER_ON_HOLD: 0,
        }
        assert act(service.balances_for_owner, None, LedgerOwnerType.MERCHANT, MERCHANT_ID) == {
            LedgerAccountKind.MERCHANT_PAYABLE: -270
        }
        assert act(service.balances_for_owner, None, LedgerOwnerType.PLATFORM, 0) == {
            LedgerAccountKind.PLATFORM_REVENUE: 27,
            LedgerAccountKind.PAYOUT_CLEARING: 0,
        }

    def test_entries_are_listed_newest_first_with_their_transaction(
        self, act: Act, database: Database
    ) -> None:
        estimate(act)
        for number in range(3):
            settle(act, 10 + number, key=f"settle:{number}")
        account = act(service.account_of, None, PENDING)
        page = act(service.entries_for_account, None, account.id, PageRequest(1, 2))
        assert page.total == 4
        assert [entry.amount_fen for entry in page.items] == [-12, -11]
        second = act(service.entries_for_account, None, account.id, PageRequest(2, 2))
        assert [entry.amount_fen for entry in second.items] == [-10, 243]
        out = LedgerEntryOut.of(second.items[1])
        assert (out.transaction_kind, out.correlation_key, out.amount_yuan) == (
            "commission.estimated",
            "order_line:1",
            "2.43",
        )

    def test_schemas_render_accounts_and_transactions(self, act: Act, database: Database) -> None:
        transaction_id = estimate(act)
        with database.sessions() as session:
            account = service.account_of(session, None, MERCHANT)
            out = LedgerAccountOut.of(account, service.balance(session, account))
            assert (out.kind_label, out.balance_fen, out.balance_yuan) == (
                "商家应付佣金",
                -270,
                "-2.70",
            )
            transaction = session.get(LedgerTransaction, transaction_id)
            assert transaction is not None
            legs = LedgerTransactionOut.of(transaction).legs
            assert [(leg.kind, leg.owner_id, leg.amount_fen) for leg in legs] == [
                (LedgerAccountKind.MERCHANT_PAYABLE, MERCHANT_ID, -270),
                (LedgerAccountKind.PROMOTER_PENDING, PROMOTER_ID, 243),
                (LedgerAccountKind.PLATFORM_REVENUE, 0, 27),
            ]


class TestAccess:
    @pytest.fixture
    def account_ids(self, act: Act) -> dict[str, int]:
        estimate(act)
        act(service.post, "t", "other:1", "other:1", rules.transfer(MERCHANT, OTHER_AVAILABLE, 5))
        return {
            name: act(service.account_of, None, key).id
            for name, key in {
                "merchant": MERCHANT,
                "revenue": REVENUE,
                "pending": PENDING,
                "other": OTHER_AVAILABLE,
            }.items()
        }

    @pytest.mark.parametrize(
        ("actor", "visible"),
        [
            (principal(Role.ADMIN), {"merchant", "revenue", "pending", "other"}),
            (principal(Role.OPERATOR), {"merchant", "revenue", "pending", "other"}),
            (principal(Role.PROMOTER, promoter_id=PROMOTER_ID), {"pending"}),
            (principal(Role.PROMOTER, promoter_id=OTHER_PROMOTER_ID), {"other"}),
            (principal(Role.MERCHANT, merchant_id=MERCHANT_ID), {"merchant"}),
            (principal(Role.MERCHANT, merchant_id=MERCHANT_ID + 1), set()),
            (principal(Role.PROMOTER), set()),
            (principal(Role.MERCHANT), set()),
        ],
    )
    def test_each_actor_sees_only_its_own_accounts(
        self, act: Act, account_ids: dict[str, int], actor: Any, visible: set[str]
    ) -> None:
        for name, account_id in account_ids.items():
            if name in visible:
                page = act(service.entries_for_account, actor, account_id, PageRequest())
                assert page.total >= 1
                assert act(service.get_account, actor, account_id).id == account_id
            else:
                with pytest.raises(LedgerAccountNotFound) as raised:
                    act(service.entries_for_account, actor, account_id, PageRequest())
                assert raised.value.status == 404

    def test_an_unknown_account_is_not_found(self, act: Act) -> None:
        with pytest.raises(LedgerAccountNotFound):
            act(service.entries_for_account, None, 12345, PageRequest())

    def test_owner_balances_follow_the_same_rules(self, act: Act) -> None:
        promoter = principal(Role.PROMOTER, promoter_id=PROMOTER_ID)
        estimate(act)
        balances_seen = act(
            service.balances_for_owner, promoter, LedgerOwnerType.PROMOTER, PROMOTER_ID
        )
        assert balances_seen[LedgerAccountKind.PROMOTER_PENDING] == 243
        for owner_type, owner_id in [
            (LedgerOwnerType.PROMOTER, OTHER_PROMOTER_ID),
            (LedgerOwnerType.MERCHANT, MERCHANT_ID),
            (LedgerOwnerType.PLATFORM, 0),
        ]:
            with pytest.raises(LedgerAccountNotFound):
                act(service.balances_for_owner, promoter, owner_type, owner_id)
        with pytest.raises(LedgerAccountNotFound):
            act(service.account_of, promoter, REVENUE)


def withdrawal(number: int, amount: int) -> rules.Movement:
    return rules.movement(
        "withdrawal.requested",
        f"withdrawal:{number}",
        f"withdrawal:{number}",
        rules.transfer(AVAILABLE, WITHDRAWING, amount),
        floors={AVAILABLE: 0},
    )


class TestPostMany:
    def test_each_movement_becomes_one_transaction_in_order(
        self, act: Act, database: Database
    ) -> None:
        estimate(act)
        settle(act)
        transactions = act(service.post_many, [withdrawal(1, 100), withdrawal(2, 143)])
        assert [transaction.idempotency_key for transaction in transactions] == [
            "withdrawal:1",
            "withdrawal:2",
        ]
        assert balances(act, AVAILABLE, WITHDRAWING) == [0, 243]
        replayed = act(service.post_many, [withdrawal(1, 100), withdrawal(2, 143)])
        assert [row.id for row in replayed] == [row.id for row in transactions]
        assert counts(database).transactions == 4

    def test_a_key_repeated_in_one_batch_has_one_effect(self, act: Act, database: Database) -> None:
        estimate(act)
        settle(act)
        first, second = act(service.post_many, [withdrawal(1, 100), withdrawal(1, 100)])
        assert first.id == second.id
        assert balances(act, AVAILABLE, WITHDRAWING) == [143, 100]

    def test_floors_count_the_earlier_movements_of_the_batch(
        self, act: Act, database: Database
    ) -> None:
        estimate(act)
        settle(act)
        before = counts(database)
        with pytest.raises(InsufficientBalance) as raised:
            act(service.post_many, [withdrawal(1, 200), withdrawal(2, 100)])
        assert raised.value.params["balance_fen"] == 43
        assert counts(database) == before

    def test_a_conflicting_replay_is_refused_before_anything_is_written(
        self, act: Act, database: Database
    ) -> None:
        estimate(act)
        settle(act)
        before = counts(database)
        conflicting = rules.movement(
            "commission.settled",
            "commission.settled:line:1",
            "order_line:1",
            rules.transfer(PENDING, AVAILABLE, 1),
        )
        with database.sessions() as session:
            with pytest.raises(IdempotencyKeyConflict):
                service.post_many(session, [withdrawal(1, 100), conflicting])
            # Even a caller that commits anyway finds nothing written.
            session.commit()
        assert counts(database) == before

    def test_a_batch_is_validated_whole_before_anything_is_written(
        self, act: Act, database: Database
    ) -> None:
        unbalanced = rules.Movement("t", "t:1", "t:1", (Leg(PENDING, 5), Leg(AVAILABLE, -4)))
        with pytest.raises(LedgerPostingUnbalanced):
            act(service.post_many, [withdrawal(1, 1), unbalanced])
        assert counts(database) == Counts(0, 0, 0)
