"""Pure analytics arithmetic: ratios, K-factor, cost per contact, step conversion."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.analytics import rules


class TestRatio:
    @pytest.mark.parametrize(
        ("numerator", "denominator", "decimal", "percent"),
        [
            (3, 4, "0.75", "75.0%"),
            (2, 3, "0.67", "66.7%"),
            (1, 3, "0.33", "33.3%"),
            (1, 8, "0.13", "12.5%"),  # half up
            (5, 4, "1.25", "125.0%"),
            (0, 7, "0.00", "0.0%"),
            (1, 200, "0.01", "0.5%"),
            (1, 2000, "0.00", "0.1%"),
        ],
    )
    def test_rounding(self, numerator: int, denominator: int, decimal: str, percent: str) -> None:
        ratio = rules.Ratio(numerator, denominator)
        assert (ratio.decimal(), ratio.percent()) == (decimal, percent)

    def test_undefined(self) -> None:
        ratio = rules.Ratio(3, 0)
        assert (ratio.defined, ratio.decimal(), ratio.percent(), ratio.hundredths()) == (
            False,
            None,
            "—",
            None,
        )

    @given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=10**9))
    def test_hundredths_is_half_up_of_the_exact_value(
        self, numerator: int, denominator: int
    ) -> None:
        exact = Fraction(100 * numerator, denominator)
        value = rules.Ratio(numerator, denominator).hundredths()
        assert value is not None
        assert exact - Fraction(1, 2) < value <= exact + Fraction(1, 2)


class TestKFactor:
    def test_is_the_product_of_its_factors(self) -> None:
        k = rules.KFactor(participants=4, invites=5, verified=3)
        assert k.invites_per_participant == rules.Ratio(5, 4)
        assert k.invite_conversion == rules.Ratio(3, 5)
        assert k.k == rules.Ratio(3, 4)

    @given(st.integers(1, 10**6), st.integers(1, 10**6), st.data())
    def test_product_identity(self, participants: int, invites: int, data: st.DataObject) -> None:
        verified = data.draw(st.integers(0, invites))
        k = rules.KFactor(participants, invites, verified)
        product = Fraction(invites, participants) * Fraction(verified, invites)
        assert product == Fraction(k.k.numerator, k.k.denominator)

    def test_no_participants(self) -> None:
        assert rules.KFactor(0, 0, 0).k.decimal() is None


class TestCost:
    @pytest.mark.parametrize(
        ("cost", "contacts", "expected"),
        [(7000, 7, 1000), (1000, 3, 333), (2000, 3, 667), (1, 2, 1), (0, 5, 0), (5, 0, None)],
    )
    def test_cost_per_contact(self, cost: int, contacts: int, expected: int | None) -> None:
        assert rules.cost_per_contact_fen(cost, contacts) == expected


class TestSteps:
    def test_each_over_the_previous(self) -> None:
        assert rules.step_conversion([8, 4, 0, 0]) == [
            rules.Ratio(8, 8),
            rules.Ratio(4, 8),
            rules.Ratio(0, 4),
            rules.Ratio(0, 0),
        ]

    def test_empty(self) -> None:
        assert rules.step_conversion([]) == []
