"""Fraud signals: same person, shared device/IP within 24 h, velocity → reasons → hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.commissions.rules import (
    FRAUD_REASON_LABELS,
    CommissionPolicy,
    FraudIdentity,
    FraudReason,
    NetworkKind,
    NetworkSighting,
    fraud_reasons,
    hold_required,
)

ORDERED_AT = datetime(2026, 11, 11, 0, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
PROMOTER = FraudIdentity(user_id=7, phone_hash="p-7", address_hashes=frozenset({"a-home"}))
STRANGER = FraudIdentity(user_id=8, phone_hash="p-8", address_hashes=frozenset({"a-far"}))


def seen(kind: NetworkKind, value: str, ago: timedelta) -> NetworkSighting:
    return NetworkSighting(kind=kind, value_hash=value, seen_at=ORDERED_AT - ago)


def reasons(
    buyer: FraudIdentity = STRANGER,
    promoter: FraudIdentity = PROMOTER,
    buyer_sightings: tuple[NetworkSighting, ...] = (),
    promoter_sightings: tuple[NetworkSighting, ...] = (),
    order_times: tuple[datetime, ...] = (),
    policy: CommissionPolicy | None = None,
) -> tuple[FraudReason, ...]:
    return fraud_reasons(
        policy or CommissionPolicy(),
        ordered_at=ORDERED_AT,
        buyer=buyer,
        promoter=promoter,
        buyer_sightings=buyer_sightings,
        promoter_sightings=promoter_sightings,
        attributed_order_times=order_times,
    )


class TestIdentity:
    @pytest.mark.parametrize(
        ("buyer", "expected"),
        [
            (STRANGER, ()),
            (FraudIdentity(user_id=7), (FraudReason.BUYER_IS_PROMOTER,)),
            (FraudIdentity(phone_hash="p-7"), (FraudReason.SAME_PHONE,)),
            (
                FraudIdentity(address_hashes=frozenset({"a-x", "a-home"})),
                (FraudReason.SAME_ADDRESS,),
            ),
            (
                PROMOTER,
                (FraudReason.BUYER_IS_PROMOTER, FraudReason.SAME_PHONE, FraudReason.SAME_ADDRESS),
            ),
            # Unknown values never match each other.
            (FraudIdentity(), ()),
        ],
    )
    def test_table(self, buyer: FraudIdentity, expected: tuple[FraudReason, ...]) -> None:
        assert reasons(buyer=buyer) == expected

    def test_missing_values_on_both_sides_do_not_match(self) -> None:
        empty = FraudIdentity(user_id=None, phone_hash="", address_hashes=frozenset({""}))
        assert reasons(buyer=empty, promoter=empty) == ()

    def test_self_purchase_policy_skips_the_same_person_checks(self) -> None:
        policy = CommissionPolicy(self_purchase_commission=True)
        # 自购省钱 is allowed: the same user or phone is no fraud; a shared address still is.
        assert reasons(buyer=PROMOTER, policy=policy) == (FraudReason.SAME_ADDRESS,)


class TestSharedNetwork:
    @pytest.mark.parametrize(
        ("kind", "buyer_ago", "promoter_ago", "expected"),
        [
            (NetworkKind.DEVICE, HOUR, 2 * HOUR, (FraudReason.SHARED_DEVICE,)),
            (NetworkKind.IP, HOUR, 2 * HOUR, (FraudReason.SHARED_IP,)),
            (NetworkKind.DEVICE, 24 * HOUR, 24 * HOUR, (FraudReason.SHARED_DEVICE,)),  # inclusive
            (NetworkKind.DEVICE, 24 * HOUR + timedelta(seconds=1), HOUR, ()),
            (NetworkKind.IP, HOUR, 25 * HOUR, ()),
            (NetworkKind.IP, -HOUR, HOUR, ()),  # seen after the order: not evidence for it
            (NetworkKind.DEVICE, timedelta(0), timedelta(0), (FraudReason.SHARED_DEVICE,)),
        ],
    )
    def test_window(
        self,
        kind: NetworkKind,
        buyer_ago: timedelta,
        promoter_ago: timedelta,
        expected: tuple[FraudReason, ...],
    ) -> None:
        actual = reasons(
            buyer_sightings=(seen(kind, "h-1", buyer_ago),),
            promoter_sightings=(seen(kind, "h-1", promoter_ago),),
        )
        assert actual == expected

    def test_different_hashes_do_not_match(self) -> None:
        actual = reasons(
            buyer_sightings=(seen(NetworkKind.IP, "h-1", HOUR),),
            promoter_sightings=(seen(NetworkKind.IP, "h-2", HOUR),),
        )
        assert actual == ()

    def test_a_device_hash_never_matches_an_ip_hash(self) -> None:
        actual = reasons(
            buyer_sightings=(seen(NetworkKind.DEVICE, "h-1", HOUR),),
            promoter_sightings=(seen(NetworkKind.IP, "h-1", HOUR),),
        )
        assert actual == ()

    def test_empty_hash_never_matches(self) -> None:
        actual = reasons(
            buyer_sightings=(seen(NetworkKind.IP, "", HOUR),),
            promoter_sightings=(seen(NetworkKind.IP, "", HOUR),),
        )
        assert actual == ()

    def test_window_is_configurable(self) -> None:
        policy = CommissionPolicy(shared_network_window_hours=48)
        actual = reasons(
            buyer_sightings=(seen(NetworkKind.IP, "h-1", 30 * HOUR),),
            promoter_sightings=(seen(NetworkKind.IP, "h-1", 40 * HOUR),),
            policy=policy,
        )
        assert actual == (FraudReason.SHARED_IP,)


class TestVelocity:
    @pytest.mark.parametrize(
        ("count", "spacing", "expected"),
        [
            (30, timedelta(minutes=1), ()),  # exactly the threshold: not above it
            (31, timedelta(minutes=1), (FraudReason.VELOCITY,)),
            (31, timedelta(seconds=121), ()),  # the 31st is 60.5 minutes back: outside
            (100, timedelta(seconds=1), (FraudReason.VELOCITY,)),
            (0, timedelta(minutes=1), ()),
        ],
    )
    def test_threshold(
        self, count: int, spacing: timedelta, expected: tuple[FraudReason, ...]
    ) -> None:
        times = tuple(ORDERED_AT - index * spacing for index in range(count))
        assert reasons(order_times=times) == expected

    def test_window_boundary_is_inclusive_and_future_orders_ignored(self) -> None:
        policy = CommissionPolicy(velocity_max_orders=2, velocity_window_minutes=10)
        at_edge = (
            ORDERED_AT,
            ORDERED_AT - timedelta(minutes=5),
            ORDERED_AT - timedelta(minutes=10),  # exactly the window's start: counted
        )
        assert reasons(order_times=at_edge, policy=policy) == (FraudReason.VELOCITY,)
        later = (ORDERED_AT, ORDERED_AT - timedelta(minutes=5), ORDERED_AT + timedelta(minutes=1))
        assert reasons(order_times=later, policy=policy) == ()


class TestHold:
    def test_any_reason_holds(self) -> None:
        assert hold_required((FraudReason.VELOCITY,)) is True
        assert hold_required(()) is False

    def test_all_reasons_together_in_enum_order(self) -> None:
        actual = reasons(
            buyer=PROMOTER,
            buyer_sightings=(seen(NetworkKind.DEVICE, "d", HOUR), seen(NetworkKind.IP, "i", HOUR)),
            promoter_sightings=(
                seen(NetworkKind.DEVICE, "d", HOUR),
                seen(NetworkKind.IP, "i", HOUR),
            ),
            order_times=tuple(ORDERED_AT for _ in range(31)),
        )
        assert actual == tuple(FraudReason)

    def test_every_reason_has_a_chinese_label(self) -> None:
        assert set(FRAUD_REASON_LABELS) == set(FraudReason)
        assert all(label for label in FRAUD_REASON_LABELS.values())
