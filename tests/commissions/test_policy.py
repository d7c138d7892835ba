"""Commission policy: product.md §3 defaults, validation, and the two-level hard cap."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.commissions.rules import (
    ALLOWED_HOLD_DAYS,
    MAX_LEVELS,
    CommissionLevelsExceeded,
    CommissionPolicy,
    CommissionPolicyInvalid,
    check_hold_days,
    check_levels,
)
from siyu.errors import RateInvalid, ValidationFailed
from siyu.models.promoters import BindingMode


class TestDefaults:
    def test_defaults_are_product_md(self) -> None:
        policy = CommissionPolicy()
        assert policy.platform_take_bp == 1000
        assert policy.l2_share_bp == 1000
        assert policy.self_purchase_commission is False
        assert policy.hold_days == 7
        assert policy.attribution_window_days == 15
        assert policy.binding_mode == BindingMode.FIRST_BIND_WINS
        assert policy.max_levels == 2

    def test_fraud_defaults(self) -> None:
        policy = CommissionPolicy()
        assert policy.velocity_max_orders == 30
        assert policy.velocity_window_minutes == 60
        assert policy.shared_network_window_hours == 24

    def test_max_levels_constant_is_two(self) -> None:
        assert MAX_LEVELS == 2

    def test_policy_is_frozen(self) -> None:
        policy = CommissionPolicy()
        with pytest.raises(AttributeError):
            policy.hold_days = 14  # type: ignore[misc]


class TestHoldDays:
    @pytest.mark.parametrize("days", [0, 7, 14, 30, 60, 90])
    def test_allowed(self, days: int) -> None:
        assert check_hold_days(days) == days
        assert CommissionPolicy(hold_days=days).hold_days == days

    def test_allowed_set_is_exactly_product_md(self) -> None:
        assert ALLOWED_HOLD_DAYS == (0, 7, 14, 30, 60, 90)

    @pytest.mark.parametrize("days", [-7, 1, 3, 8, 15, 45, 91, 365, True, 7.0, "7", None])
    def test_refused(self, days: Any) -> None:
        with pytest.raises(CommissionPolicyInvalid) as raised:
            CommissionPolicy(hold_days=days)
        assert raised.value.status == 422
        assert "0/7/14/30/60/90" in raised.value.zh


class TestLevels:
    @pytest.mark.parametrize("levels", [1, 2])
    def test_one_or_two(self, levels: int) -> None:
        assert check_levels(levels) == levels
        assert CommissionPolicy(max_levels=levels).max_levels == levels

    @pytest.mark.parametrize("levels", [3, 4, 10])
    def test_three_or_more_refused_with_the_pyramid_reason(self, levels: int) -> None:
        with pytest.raises(CommissionLevelsExceeded) as raised:
            CommissionPolicy(max_levels=levels)
        assert raised.value.status == 422
        assert raised.value.code == "commission_levels_exceeded"
        assert "禁止传销条例" in raised.value.zh
        assert "pyramid" in raised.value.en

    @pytest.mark.parametrize("levels", [0, -1, True, 2.0, "2"])
    def test_nonsense_refused(self, levels: Any) -> None:
        with pytest.raises(CommissionPolicyInvalid):
            CommissionPolicy(max_levels=levels)


class TestOtherFields:
    @pytest.mark.parametrize("field", ["platform_take_bp", "l2_share_bp"])
    @pytest.mark.parametrize("value", [-1, 10001, True, 10.0])
    def test_rates_must_be_basis_points(self, field: str, value: Any) -> None:
        with pytest.raises(RateInvalid):
            CommissionPolicy(**dict[str, Any]({field: value}))

    @pytest.mark.parametrize("field", ["platform_take_bp", "l2_share_bp"])
    @pytest.mark.parametrize("value", [0, 10000])
    def test_rate_bounds_accepted(self, field: str, value: int) -> None:
        assert getattr(CommissionPolicy(**dict[str, Any]({field: value})), field) == value

    @pytest.mark.parametrize("days", [1, 15, 90])
    def test_attribution_window_accepted(self, days: int) -> None:
        assert CommissionPolicy(attribution_window_days=days).attribution_window_days == days

    @pytest.mark.parametrize("days", [0, -1, 91, True, "15"])
    def test_attribution_window_refused(self, days: Any) -> None:
        with pytest.raises(CommissionPolicyInvalid):
            CommissionPolicy(attribution_window_days=days)

    @pytest.mark.parametrize("mode", list(BindingMode))
    def test_binding_modes_accepted(self, mode: BindingMode) -> None:
        assert CommissionPolicy(binding_mode=mode).binding_mode == mode

    def test_unknown_binding_mode_refused(self) -> None:
        with pytest.raises(CommissionPolicyInvalid):
            CommissionPolicy(binding_mode="latest")  # type: ignore[arg-type]

    @pytest.mark.parametrize("value", [0, "yes", None])
    def test_self_purchase_flag_must_be_bool(self, value: Any) -> None:
        with pytest.raises(CommissionPolicyInvalid):
            CommissionPolicy(self_purchase_commission=value)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("velocity_max_orders", 0),
            ("velocity_window_minutes", 0),
            ("velocity_window_minutes", 10081),
            ("shared_network_window_hours", 0),
            ("shared_network_window_hours", 721),
        ],
    )
    def test_fraud_thresholds_refused(self, field: str, value: int) -> None:
        with pytest.raises(CommissionPolicyInvalid):
            CommissionPolicy(**dict[str, Any]({field: value}))

    def test_errors_are_validation_failures(self) -> None:
        assert issubclass(CommissionPolicyInvalid, ValidationFailed)
        assert issubclass(CommissionLevelsExceeded, ValidationFailed)
