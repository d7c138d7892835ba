"""Money is integer fen, rates integer basis points, one rounding rule (floor toward zero)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.errors import MoneyInvalid, RateInvalid
from siyu.kit.money import (
    BP_DENOMINATOR,
    MAX_FEN,
    apply_bp,
    check_bp,
    check_fen,
    format_percent,
    format_yuan,
    parse_percent,
    parse_yuan,
)

fen = st.integers(min_value=0, max_value=MAX_FEN)
rates = st.integers(min_value=0, max_value=BP_DENOMINATOR)


class TestApplyBp:
    def test_jd_test_vector(self) -> None:
        # 54.00 yuan × 5% commission = 2.70; × 90% after the platform's 10% take = 2.43.
        pool = apply_bp(5400, 500)
        assert pool == 270
        assert apply_bp(pool, 9000) == 243

    @pytest.mark.parametrize(
        ("base", "rate", "expected"),
        [
            (0, 500, 0),
            (100, 0, 0),
            (100, 10_000, 100),
            (1, 9_999, 0),  # under 1 fen: no record
            (199, 50, 0),
            (200, 50, 1),
            (12_345, 333, 411),  # 411.0885 -> 411
            (99_999, 1, 9),
        ],
    )
    def test_floors(self, base: int, rate: int, expected: int) -> None:
        assert apply_bp(base, rate) == expected

    @pytest.mark.parametrize(("base", "expected"), [(-1, 0), (-199, 0), (-200, -1), (-5400, -27)])
    def test_negative_base_floors_toward_zero(self, base: int, expected: int) -> None:
        assert apply_bp(base, 50) == expected

    @given(fen, rates)
    def test_is_the_exact_floor(self, base: int, rate: int) -> None:
        result = apply_bp(base, rate)
        assert result == int(Fraction(base * rate, BP_DENOMINATOR))
        assert result * BP_DENOMINATOR <= base * rate < (result + 1) * BP_DENOMINATOR

    @given(fen, rates)
    def test_reversal_mirrors_the_original(self, base: int, rate: int) -> None:
        assert apply_bp(-base, rate) == -apply_bp(base, rate)

    @given(fen, rates)
    def test_never_exceeds_the_base(self, base: int, rate: int) -> None:
        assert 0 <= apply_bp(base, rate) <= base

    @given(fen, rates, rates)
    def test_monotonic_in_the_rate(self, base: int, first: int, second: int) -> None:
        low, high = sorted((first, second))
        assert apply_bp(base, low) <= apply_bp(base, high)

    @given(fen, rates)
    def test_a_split_and_its_remainder_add_up(self, base: int, rate: int) -> None:
        share = apply_bp(base, rate)
        assert share + (base - share) == base
        assert base - share >= apply_bp(base, BP_DENOMINATOR - rate)

    @pytest.mark.parametrize(
        ("base", "rate"),
        [(54.0, 500), (5400, 5.0), (True, 500), (5400, False), (Decimal(5400), 500), ("5400", 500)],
    )
    def test_refuses_anything_but_int(self, base: object, rate: object) -> None:
        with pytest.raises(TypeError):
            apply_bp(base, rate)  # type: ignore[arg-type]


class TestCheckFen:
    @pytest.mark.parametrize("value", [0, 1, 5400, MAX_FEN])
    def test_accepts_non_negative_int(self, value: int) -> None:
        assert check_fen(value, "price", "价格") == value

    @pytest.mark.parametrize(
        "value", [-1, MAX_FEN + 1, 1.0, 0.5, 12.34, True, False, None, "100", Decimal("1")]
    )
    def test_refuses(self, value: object) -> None:
        with pytest.raises(MoneyInvalid) as caught:
            check_fen(value, "price", "价格")
        assert caught.value.status == 422
        assert caught.value.code == "money_invalid"
        assert caught.value.zh.startswith("价格必须是不小于 0 的金额")


class TestCheckBp:
    @pytest.mark.parametrize("value", [0, 1, 500, BP_DENOMINATOR])
    def test_accepts_zero_to_ten_thousand(self, value: int) -> None:
        assert check_bp(value, "rate", "佣金比例") == value

    @pytest.mark.parametrize("value", [-1, BP_DENOMINATOR + 1, 5.0, True, None, "500"])
    def test_refuses(self, value: object) -> None:
        with pytest.raises(RateInvalid) as caught:
            check_bp(value, "rate", "佣金比例")
        assert caught.value.code == "rate_invalid"
        assert "佣金比例必须在 0% 到 100% 之间" in caught.value.zh


class TestParseYuan:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("0", 0),
            ("0.01", 1),
            ("0.1", 10),
            ("12", 1200),
            ("12.5", 1250),
            ("12.50", 1250),
            (" 12.50 ", 1250),
            ("¥12.50", 1250),
            ("￥12.50", 1250),
            ("1,234.56", 123456),
            ("100000000000", MAX_FEN),
        ],
    )
    def test_parses(self, text: str, expected: int) -> None:
        assert parse_yuan(text, "price", "价格") == expected

    @pytest.mark.parametrize(
        "text",
        [
            "",
            " ",
            "12.345",
            "0.001",
            "-1",
            "-0.01",
            "+1",
            "1e3",
            "1E3",
            ".5",
            "5.",
            "abc",
            "1 2",
            "NaN",
            "inf",
            "100000000000.01",
        ],
    )
    def test_refuses(self, text: str) -> None:
        with pytest.raises(MoneyInvalid):
            parse_yuan(text, "price", "价格")

    @pytest.mark.parametrize(
        "text",
        [
            "12.345",
            "-1",
            "100000000000.01",
        ],
    )
    def test_error_quotes_what_was_typed(self, text: str) -> None:
        with pytest.raises(MoneyInvalid) as caught:
            parse_yuan(text, "price", "价格")
        assert caught.value.zh.endswith(f"您输入的是“{text}”。")

    @given(fen)
    def test_round_trips_with_format_yuan(self, value: int) -> None:
        assert parse_yuan(format_yuan(value), "price", "价格") == value


class TestParsePercent:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("0", 0),
            ("5", 500),
            ("5.5", 550),
            ("5.25%", 525),
            (" 5.25 % ", 525),
            ("0.01", 1),
            ("100", 10_000),
        ],
    )
    def test_parses(self, text: str, expected: int) -> None:
        assert parse_percent(text, "rate", "佣金比例") == expected

    @pytest.mark.parametrize("text", ["", "-1", "5.555", "100.01", "101", "1e2", "abc", "%"])
    def test_refuses(self, text: str) -> None:
        with pytest.raises(RateInvalid):
            parse_percent(text, "rate", "佣金比例")

    @pytest.mark.parametrize(
        "text",
        ["5.555", "100.01"],
    )
    def test_error_quotes_what_was_typed(self, text: str) -> None:
        with pytest.raises(RateInvalid) as caught:
            parse_percent(text, "rate", "佣金比例")
        assert caught.value.zh.endswith(f"您输入的是“{text}”。")

    @given(rates)
    def test_round_trips_with_format_percent(self, value: int) -> None:
        assert parse_percent(format_percent(value), "rate", "佣金比例") == value


class TestFormat:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (0, "0.00"),
            (1, "0.01"),
            (1250, "12.50"),
            (123_456_789, "1,234,567.89"),
            (-5, "-0.05"),
            (-243, "-2.43"),
        ],
    )
    def test_format_yuan(self, value: int, expected: str) -> None:
        assert format_yuan(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (0, "0%"),
            (5, "0.05%"),
            (50, "0.5%"),
            (500, "5%"),
            (550, "5.5%"),
            (525, "5.25%"),
            (10_000, "100%"),
        ],
    )
    def test_format_percent(self, value: int, expected: str) -> None:
        assert format_percent(value) == expected
