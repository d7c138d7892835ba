from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.kit.money import MAX_FEN
from siyu.ledger import rules
from siyu.ledger.rules import (
    AccountKey,
    LedgerAccountKeyInvalid,
    LedgerAmountInvalid,
    LedgerKeyInvalid,
    LedgerPostingEmpty,
    LedgerPostingUnbalanced,
    Leg,
)
from siyu.models import PLATFORM_OWNER_ID, LedgerAccountKind, LedgerOwnerType

MERCHANT = rules.merchant_payable(11)
REVENUE = rules.platform_revenue()
PENDING = rules.promoter_pending(21)
AVAILABLE = rules.promoter_available(21)
WITHDRAWING = rules.promoter_withdrawing(21)
OTHER_AVAILABLE = rules.promoter_available(22)

NOT_INTEGERS: list[Any] = [1.0, 59.9, True, False, "100", None, Decimal(100)]

accounts = st.sampled_from([MERCHANT, REVENUE, PENDING, AVAILABLE, WITHDRAWING, OTHER_AVAILABLE])
amounts = st.integers(-(10**9), 10**9).filter(lambda value: value != 0)


class TestAccountKeys:
    def test_helpers_name_the_expected_accounts(self) -> None:
        assert MERCHANT == (LedgerAccountKind.MERCHANT_PAYABLE, LedgerOwnerType.MERCHANT, 11)
        assert REVENUE == (LedgerAccountKind.PLATFORM_REVENUE, LedgerOwnerType.PLATFORM, 0)
        assert rules.payout_clearing() == (
            LedgerAccountKind.PAYOUT_CLEARING,
            LedgerOwnerType.PLATFORM,
            PLATFORM_OWNER_ID,
        )
        assert PENDING == (LedgerAccountKind.PROMOTER_PENDING, LedgerOwnerType.PROMOTER, 21)
        assert AVAILABLE.kind == LedgerAccountKind.PROMOTER_AVAILABLE
        assert WITHDRAWING.kind == LedgerAccountKind.PROMOTER_WITHDRAWING
        assert rules.promoter_on_hold(21).kind == LedgerAccountKind.PROMOTER_ON_HOLD

    def test_every_kind_has_exactly_one_owner_type(self) -> None:
        assert set(rules.OWNER_TYPE_OF_KIND) == set(LedgerAccountKind)
        listed = [kind for owner in LedgerOwnerType for kind in rules.kinds_of_owner(owner)]
        assert sorted(listed) == sorted(LedgerAccountKind)

    @pytest.mark.parametrize("kind", list(LedgerAccountKind))
    @pytest.mark.parametrize("owner_type", list(LedgerOwnerType))
    def test_kind_and_owner_type_must_match(
        self, kind: LedgerAccountKind, owner_type: LedgerOwnerType
    ) -> None:
        owner_id = PLATFORM_OWNER_ID if owner_type == LedgerOwnerType.PLATFORM else 5
        key = AccountKey(kind, owner_type, owner_id)
        if rules.OWNER_TYPE_OF_KIND[kind] == owner_type:
            assert rules.check_account_key(key) == key
        else:
            with pytest.raises(LedgerAccountKeyInvalid):
                rules.check_account_key(key)

    def test_plain_strings_are_read_as_enums(self) -> None:
        key = rules.check_account_key(("promoter_available", "promoter", 3))
        assert key == AVAILABLE._replace(owner_id=3)
        assert isinstance(key.kind, LedgerAccountKind)
        assert isinstance(key.owner_type, LedgerOwnerType)

    @pytest.mark.parametrize(
        "key",
        [
            ("promoter_available", "promoter", 0),
            ("promoter_available", "promoter", -1),
            ("promoter_available", "promoter", True),
            ("promoter_available", "promoter", 1.0),
            ("merchant_payable", "merchant", "11"),
            ("platform_revenue", "platform", 1),
            ("platform_revenue", "platform", None),
            ("no_such_kind", "promoter", 1),
            ("promoter_available", "nobody", 1),
            ("promoter_available", "promoter"),
            "promoter_available",
            None,
        ],
    )
    def test_invalid_keys_are_refused(self, key: Any) -> None:
        with pytest.raises(LedgerAccountKeyInvalid):
            rules.check_account_key(key)

    def test_promoter_account_refuses_a_merchant_kind(self) -> None:
        with pytest.raises(LedgerAccountKeyInvalid):
            rules.promoter_account(LedgerAccountKind.MERCHANT_PAYABLE, 21)


class TestCheckPosting:
    def test_balanced_legs_are_returned_as_legs_in_order(self) -> None:
        legs = rules.check_posting([(MERCHANT, -100), (REVENUE, 10), (PENDING, 90)])
        assert legs == (Leg(MERCHANT, -100), Leg(REVENUE, 10), Leg(PENDING, 90))
        assert all(isinstance(leg, Leg) for leg in legs)

    def test_two_legs_on_one_account_are_allowed(self) -> None:
        assert rules.check_posting([(PENDING, -5), (PENDING, 5)]) == (
            Leg(PENDING, -5),
            Leg(PENDING, 5),
        )

    @pytest.mark.parametrize("legs", [[], [(PENDING, 5)]])
    def test_fewer_than_two_legs_are_refused(self, legs: list[Any]) -> None:
        with pytest.raises(LedgerPostingEmpty):
            rules.check_posting(legs)

    @pytest.mark.parametrize("amount", NOT_INTEGERS)
    def test_non_integer_amounts_are_refused(self, amount: Any) -> None:
        with pytest.raises(LedgerAmountInvalid):
            rules.check_posting([(PENDING, amount), (AVAILABLE, -1)])

    def test_a_zero_leg_is_refused_even_when_balanced(self) -> None:
        with pytest.raises(LedgerAmountInvalid):
            rules.check_posting([(PENDING, 0), (AVAILABLE, 5), (REVENUE, -5)])

    @pytest.mark.parametrize("amount", [MAX_FEN + 1, -MAX_FEN - 1])
    def test_amounts_beyond_the_sanity_bound_are_refused(self, amount: int) -> None:
        with pytest.raises(LedgerAmountInvalid):
            rules.check_posting([(PENDING, amount), (AVAILABLE, -amount)])

    def test_the_sanity_bound_itself_is_allowed(self) -> None:
        assert rules.check_posting([(PENDING, MAX_FEN), (AVAILABLE, -MAX_FEN)])[0].amount_fen == (
            MAX_FEN
        )

    @pytest.mark.parametrize(
        ("legs", "total"),
        [
            ([(PENDING, 100), (AVAILABLE, -99)], 1),
            ([(PENDING, -100), (AVAILABLE, 99)], -1),
            ([(MERCHANT, -243), (REVENUE, 27), (PENDING, 215)], -1),
            ([(PENDING, 1), (PENDING, 1)], 2),
        ],
    )
    def test_unbalanced_legs_are_refused_with_their_total(
        self, legs: list[Any], total: int
    ) -> None:
        with pytest.raises(LedgerPostingUnbalanced) as raised:
            rules.check_posting(legs)
        assert raised.value.params["total"] == total

    @pytest.mark.parametrize("leg", [(PENDING, 5, "extra"), (PENDING,), "leg", None])
    def test_malformed_legs_are_refused(self, leg: Any) -> None:
        with pytest.raises(LedgerAmountInvalid):
            rules.check_posting([leg, (AVAILABLE, -5)])

    def test_a_bad_account_is_refused(self) -> None:
        platform_with_an_owner: Any = ("platform_revenue", "platform", 7)
        with pytest.raises(LedgerAccountKeyInvalid):
            rules.check_posting([(platform_with_an_owner, 5), (AVAILABLE, -5)])

    @given(st.lists(st.tuples(accounts, amounts), min_size=1, max_size=8), accounts)
    def test_any_legs_closed_by_their_negated_sum_are_accepted(
        self, legs: list[tuple[AccountKey, int]], closing: AccountKey
    ) -> None:
        total = sum(amount for _account, amount in legs)
        posting = legs if total == 0 else [*legs, (closing, -total)]
        if len(posting) < 2:
            return
        checked = rules.check_posting(posting)
        assert sum(leg.amount_fen for leg in checked) == 0
        assert [tuple(leg) for leg in checked] == [tuple(leg) for leg in posting]

    @given(st.lists(st.tuples(accounts, amounts), min_size=2, max_size=8))
    def test_any_legs_with_a_non_zero_sum_are_refused(
        self, legs: list[tuple[AccountKey, int]]
    ) -> None:
        total = sum(amount for _account, amount in legs)
        if total == 0:
            return
        with pytest.raises(LedgerPostingUnbalanced) as raised:
            rules.check_posting(legs)
        assert raised.value.params["total"] == total


class TestTransfer:
    def test_a_transfer_is_minus_then_plus(self) -> None:
        assert rules.transfer(AVAILABLE, WITHDRAWING, 1000) == [
            Leg(AVAILABLE, -1000),
            Leg(WITHDRAWING, 1000),
        ]

    @pytest.mark.parametrize("amount", [0, -1, *NOT_INTEGERS])
    def test_only_positive_integer_amounts_move(self, amount: Any) -> None:
        with pytest.raises(LedgerAmountInvalid):
            rules.transfer(AVAILABLE, WITHDRAWING, amount)

    @given(accounts, accounts, st.integers(1, MAX_FEN))
    def test_a_transfer_always_balances(
        self, source: AccountKey, destination: AccountKey, amount: int
    ) -> None:
        legs = rules.check_posting(rules.transfer(source, destination, amount))
        net = rules.net_by_account(legs)
        if source == destination:
            assert net == {source: 0}
        else:
            assert net == {source: -amount, destination: amount}


class TestSplit:
    def test_jd_vector_pool_split_between_platform_and_promoter(self) -> None:
        # 54.00 × 5% = 2.70 pool; 90% of it (2.43) to the promoter, the take (0.27) to the platform.
        assert rules.split(MERCHANT, {PENDING: 243, REVENUE: 27}) == [
            Leg(MERCHANT, -270),
            Leg(PENDING, 243),
            Leg(REVENUE, 27),
        ]

    def test_zero_shares_are_dropped(self) -> None:
        assert rules.split(MERCHANT, {PENDING: 0, REVENUE: 27}) == [
            Leg(MERCHANT, -27),
            Leg(REVENUE, 27),
        ]

    def test_all_zero_shares_make_no_legs(self) -> None:
        assert rules.split(MERCHANT, {PENDING: 0, REVENUE: 0}) == []

    @pytest.mark.parametrize("share", [-1, 1.5, True, None])
    def test_negative_or_non_integer_shares_are_refused(self, share: Any) -> None:
        with pytest.raises(LedgerAmountInvalid):
            rules.split(MERCHANT, {PENDING: 5, REVENUE: share})

    @given(st.dictionaries(accounts, st.integers(0, 10**9), max_size=6))
    def test_a_split_balances_and_gives_each_its_share(self, shares: dict[AccountKey, int]) -> None:
        source = rules.merchant_payable(99)
        legs = rules.split(source, shares)
        if sum(shares.values()) == 0:
            assert legs == []
            return
        net = rules.net_by_account(rules.check_posting(legs))
        assert net[source] == -sum(shares.values())
        for destination, share in shares.items():
            assert net.get(destination, 0) == share


class TestComparing:
    def test_net_by_account_adds_legs_per_account(self) -> None:
        legs = [Leg(PENDING, 5), Leg(PENDING, 7), Leg(AVAILABLE, -12)]
        assert rules.net_by_account(legs) == {PENDING: 12, AVAILABLE: -12}

    def test_same_legs_ignores_order(self) -> None:
        first = [Leg(PENDING, 5), Leg(AVAILABLE, -5)]
        assert rules.same_legs(first, list(reversed(first)))

    def test_same_legs_counts_repeats(self) -> None:
        once = [Leg(PENDING, 5), Leg(AVAILABLE, -5), Leg(PENDING, 5), Leg(AVAILABLE, -5)]
        assert not rules.same_legs(once, [Leg(PENDING, 10), Leg(AVAILABLE, -10)])
        assert not rules.same_legs(once[:2], once)

    def test_same_legs_sees_a_different_account_or_amount(self) -> None:
        legs = [Leg(PENDING, 5), Leg(AVAILABLE, -5)]
        assert not rules.same_legs(legs, [Leg(PENDING, 5), Leg(OTHER_AVAILABLE, -5)])
        assert not rules.same_legs(legs, [Leg(PENDING, 6), Leg(AVAILABLE, -6)])


class TestKeys:
    @pytest.mark.parametrize("value", ["k", "order_line:123", "x" * rules.KEY_MAX_LENGTH])
    def test_keys_up_to_the_limit_are_accepted(self, value: str) -> None:
        assert rules.check_key(value, "idempotency_key") == value

    @pytest.mark.parametrize("value", ["", "   ", "x" * (rules.KEY_MAX_LENGTH + 1), None, 123])
    def test_empty_long_or_non_text_keys_are_refused(self, value: Any) -> None:
        with pytest.raises(LedgerKeyInvalid):
            rules.check_key(value, "idempotency_key")

    def test_memo_may_be_empty_but_not_too_long(self) -> None:
        assert rules.check_memo("") == ""
        assert rules.check_memo("佣金预估") == "佣金预估"
        with pytest.raises(LedgerKeyInvalid):
            rules.check_memo("长" * (rules.MEMO_MAX_LENGTH + 1))
        with pytest.raises(LedgerKeyInvalid):
            rules.check_memo(None)
