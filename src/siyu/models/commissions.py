"""Commission records per order line and level, fraud holds, withdrawals.

A ``Commission`` row is the current state of one promoter's share of one order line; the money
itself lives in the ledger (siyu.ledger), where every change is a new balanced transaction. The
row's ``amount_fen`` mirrors the ledger for listing and is re-checked against it in tests.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum


class CommissionState(enum.StrEnum):
    ESTIMATED = "estimated"
    PENDING = "pending"
    SETTLED = "settled"
    PAID_OUT = "paid_out"
    INVALID = "invalid"
    REVERSED = "reversed"
    ON_HOLD = "on_hold"


class Commission(IdMixin, TimestampMixin, Base):
    __tablename__ = "commission"
    __table_args__ = (
        UniqueConstraint("order_line_id", "level"),
        CheckConstraint("level IN (1, 2)", name="two_levels_only"),
        Index("ix_commission_due", "state", "settles_at"),
        Index("ix_commission_promoter_state", "promoter_id", "state"),
    )

    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_line.id"))
    promoter_id: Mapped[int] = mapped_column(BigId, ForeignKey("promoter.id"))
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchant.id"), index=True)
    level: Mapped[int] = mapped_column()
    state: Mapped[CommissionState] = mapped_column(str_enum(CommissionState, 16))
    amount_fen: Mapped[int] = mapped_column(BigInteger, doc="current share, fen")
    settles_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FraudHoldStatus(enum.StrEnum):
    OPEN = "open"
    RELEASED = "released"
    CONFIRMED = "confirmed"  # fraud: the commission becomes invalid


class FraudHold(IdMixin, TimestampMixin, Base):
    __tablename__ = "fraud_hold"

    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_line.id"), index=True)
    promoter_id: Mapped[int] = mapped_column(BigId, ForeignKey("promoter.id"), index=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[FraudHoldStatus] = mapped_column(str_enum(FraudHoldStatus, 16), index=True)
    decided_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WithdrawalStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # payout record created, awaiting transfer / export
    PAID = "paid"
    REJECTED = "rejected"  # re-credited
    FAILED = "failed"  # confirmed failure from the payout channel: re-credited


class Withdrawal(IdMixin, TimestampMixin, Base):
    __tablename__ = "withdrawal"
    __table_args__ = (CheckConstraint("amount_fen >= 1000", name="minimum_ten_yuan"),)

    promoter_id: Mapped[int] = mapped_column(BigId, ForeignKey("promoter.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[WithdrawalStatus] = mapped_column(str_enum(WithdrawalStatus, 16), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    # One bill number per withdrawal, never replaced before a confirmed failure.
    bill_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    payout_channel: Mapped[str] = mapped_column(String(16), default="manual")
    reviewed_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure_reason: Mapped[str | None] = mapped_column(String(500))


class NetworkSightingKind(enum.StrEnum):
    DEVICE = "device"
    IP = "ip"


class NetworkSighting(IdMixin, Base):
    """A promoter seen on a device or IP (keyed hashes only), for the shared-network fraud check:
    a buyer on the same device or IP within 24 h of the promoter holds the commission. At most
    one row per promoter, kind and value per hour (``commissions.note_promoter_seen``)."""

    __tablename__ = "network_sighting"
    __table_args__ = (Index("ix_network_sighting_promoter_seen", "promoter_id", "seen_at"),)

    promoter_id: Mapped[int] = mapped_column(BigId, ForeignKey("promoter.id"))
    kind: Mapped[NetworkSightingKind] = mapped_column(str_enum(NetworkSightingKind, 8))
    value_hash: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
