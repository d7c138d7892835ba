"""Line base (paid net of coupons, virtual assets; minus refunds) and coupon allocation."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.commissions.rules import (
    CouponExceedsLines,
    LineAmountsInvalid,
    LineQuantityInvalid,
    RefundExceedsPaid,
    allocate_coupon,
    line_base_fen,
    line_paid_fen,
)
from siyu.errors import MoneyInvalid


class TestLineBase:
    @pytest.mark.parametrize(
        ("unit", "quantity", "coupon", "virtual", "refunded", "expected"),
        [
            (5400, 1, 0, 0, 0, 5400),  # JD's vector line
            (2990, 3, 500, 0, 0, 8470),  # 8970 − 500
            (1000, 1, 300, 100, 0, 600),  # points (virtual assets) are not paid money
            (1000, 2, 300, 100, 600, 1000),  # 2000 − 300 − 100 − 600
            (1000, 1, 1000, 0, 0, 0),  # fully covered by a coupon
            (1000, 1, 600, 400, 0, 0),  # coupon + points cover it exactly
            (5400, 1, 0, 0, 5400, 0),  # fully refunded
            (0, 5, 0, 0, 0, 0),  # a free gift line
            (1, 1, 0, 0, 1, 0),
        ],
    )
    def test_base(
        self, unit: int, quantity: int, coupon: int, virtual: int, refunded: int, expected: int
    ) -> None:
        base = line_base_fen(
            unit_price_fen=unit,
            quantity=quantity,
            coupon_discount_fen=coupon,
            virtual_asset_fen=virtual,
            refunded_fen=refunded,
        )
        assert base == expected

    def test_paid_is_base_before_refunds(self) -> None:
        paid = line_paid_fen(
            unit_price_fen=1000, quantity=2, coupon_discount_fen=300, virtual_asset_fen=100
        )
        assert paid == 1600

    @pytest.mark.parametrize(("coupon", "virtual"), [(1001, 0), (0, 1001), (600, 401)])
    def test_deductions_above_the_line_refused(self, coupon: int, virtual: int) -> None:
        with pytest.raises(LineAmountsInvalid) as raised:
            line_paid_fen(
                unit_price_fen=1000,
                quantity=1,
                coupon_discount_fen=coupon,
                virtual_asset_fen=virtual,
            )
        assert "10.00" in raised.value.zh

    def test_refund_above_paid_refused(self) -> None:
        with pytest.raises(RefundExceedsPaid) as raised:
            line_base_fen(
                unit_price_fen=1000, quantity=1, coupon_discount_fen=100, refunded_fen=901
            )
        assert "9.00" in raised.value.zh

    @pytest.mark.parametrize("quantity", [0, -1, True, 1.0, 10**9 + 1])
    def test_quantity_refused(self, quantity: Any) -> None:
        with pytest.raises(LineQuantityInvalid):
            line_base_fen(unit_price_fen=100, quantity=quantity)

    @pytest.mark.parametrize(
        "field", ["unit_price_fen", "coupon_discount_fen", "virtual_asset_fen", "refunded_fen"]
    )
    @pytest.mark.parametrize("value", [-1, 1.5, True, "100"])
    def test_money_must_be_non_negative_int(self, field: str, value: Any) -> None:
        arguments: dict[str, Any] = {"unit_price_fen": 1000, "quantity": 1, field: value}
        with pytest.raises(MoneyInvalid):
            line_base_fen(**arguments)


class TestCouponAllocation:
    @pytest.mark.parametrize(
        ("coupon", "lines", "expected"),
        [
            (0, [100, 200], (0, 0)),
            (0, [], ()),
            (100, [100], (100,)),
            (300, [100, 200], (100, 200)),  # exact pro rata
            # 1000 over (6000, 2999, 1001): 600, 299.9, 100.1 → B gets the odd fen.
            (1000, [6000, 2999, 1001], (600, 300, 100)),
            # Equal remainders: the later line wins the tie.
            (100, [100, 100, 100], (33, 33, 34)),
            (2, [100, 100, 100], (0, 1, 1)),
            (1, [50, 50], (0, 1)),
            # 10 over (1, 1, 1, 997): 0.01, 0.01, 0.01, 9.97 → 9 + leftover 1 to the last.
            (10, [1, 1, 1, 997], (0, 0, 0, 10)),
            # Zero-amount lines never get any of the coupon.
            (50, [0, 100, 0], (0, 50, 0)),
            (300, [300, 0], (300, 0)),
            # Coupon equal to the order: each line exactly its amount.
            (450, [100, 150, 200], (100, 150, 200)),
            # 1 fen over three lines of 1: remainder 1/3 each, last line.
            (1, [1, 1, 1], (0, 0, 1)),
            # 3 over (5, 3): 1.875, 1.125 → 1, 1; leftover 1 → line 0 (remainder .875).
            (3, [5, 3], (2, 1)),
        ],
    )
    def test_table(self, coupon: int, lines: list[int], expected: tuple[int, ...]) -> None:
        assert allocate_coupon(coupon, lines) == expected

    @pytest.mark.parametrize(("coupon", "lines"), [(301, [100, 200]), (1, []), (1, [0, 0])])
    def test_coupon_above_lines_refused(self, coupon: int, lines: list[int]) -> None:
        with pytest.raises(CouponExceedsLines):
            allocate_coupon(coupon, lines)

    @pytest.mark.parametrize(("coupon", "lines"), [(-1, [100]), (10, [100, -5]), (1.0, [100])])
    def test_bad_money_refused(self, coupon: Any, lines: list[Any]) -> None:
        with pytest.raises(MoneyInvalid):
            allocate_coupon(coupon, lines)

    @given(data=st.data(), lines=st.lists(st.integers(0, 10**8), min_size=1, max_size=12))
    def test_allocations_are_exact_bounded_and_near_pro_rata(
        self, data: st.DataObject, lines: list[int]
    ) -> None:
        total = sum(lines)
        coupon = data.draw(st.integers(0, total))
        shares = allocate_coupon(coupon, lines)
        assert sum(shares) == coupon
        for share, amount in zip(shares, lines, strict=True):
            assert 0 <= share <= amount
            if total:
                exact = Fraction(coupon * amount, total)
                assert abs(share - exact) < 1
        assert allocate_coupon(coupon, lines) == shares  # deterministic

    @given(lines=st.lists(st.integers(1, 10**6), min_size=1, max_size=8), data=st.data())
    def test_larger_lines_never_get_less(self, lines: list[int], data: st.DataObject) -> None:
        coupon = data.draw(st.integers(0, sum(lines)))
        shares = allocate_coupon(coupon, lines)
        for i in range(len(lines)):
            for j in range(len(lines)):
                if lines[i] > lines[j]:
                    assert shares[i] >= shares[j]
