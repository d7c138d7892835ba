from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum


class PromoterKind(enum.StrEnum):
    STAFF = "staff"
    COURIER = "courier"
    GUIDE = "guide"
    INDIVIDUAL = "individual"
    MICRO_MERCHANT = "micro_merchant"


PROMOTER_KIND_LABELS = {
    PromoterKind.STAFF: "员工",
    PromoterKind.COURIER: "快递员",
    PromoterKind.GUIDE: "导购",
    PromoterKind.INDIVIDUAL: "个人推手",
    PromoterKind.MICRO_MERCHANT: "小微商户",
}


class PromoterStatus(enum.StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"


class BindingMode(enum.StrEnum):
    FIRST_BIND_WINS = "first_bind_wins"
    NEW_USERS_ONLY = "new_users_only"
    OVERRIDE = "override"


class PromoterGrade(IdMixin, TimestampMixin, Base):
    """A grade and its upgrade conditions, stored as data (editable by the platform)."""

    __tablename__ = "promoter_grade"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(unique=True, doc="0 = entry grade; higher is better")
    min_direct_recruits: Mapped[int] = mapped_column(default=0)
    min_team_size: Mapped[int] = mapped_column(default=0, doc="L1 + L2 promoters")
    min_gmv_fen: Mapped[int] = mapped_column(BigInteger, default=0, doc="attributed GMV, fen")


class Promoter(IdMixin, TimestampMixin, Base):
    __tablename__ = "promoter"

    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[PromoterKind] = mapped_column(str_enum(PromoterKind, 20))
    phone_encrypted: Mapped[str] = mapped_column(String(255))
    phone_index: Mapped[str] = mapped_column(String(64), unique=True)
    invite_code: Mapped[str] = mapped_column(String(16), unique=True)
    inviter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"), index=True)
    grade_id: Mapped[int] = mapped_column(BigId, ForeignKey("promoter_grade.id"))
    status: Mapped[PromoterStatus] = mapped_column(
        str_enum(PromoterStatus, 16), default=PromoterStatus.ACTIVE
    )
    frozen_reason: Mapped[str | None] = mapped_column(String(500))
    region: Mapped[str] = mapped_column(String(64), default="")

    grade: Mapped[PromoterGrade] = relationship(lazy="joined")
    inviter: Mapped[Promoter | None] = relationship(remote_side="Promoter.id", lazy="select")


class PromoterBinding(IdMixin, TimestampMixin, Base):
    """History of every (re)binding of a promoter to an inviter; never updated."""

    __tablename__ = "promoter_binding"

    promoter_id: Mapped[int] = mapped_column(BigId, ForeignKey("promoter.id"), index=True)
    inviter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    previous_inviter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    mode: Mapped[BindingMode] = mapped_column(str_enum(BindingMode, 20))
    source: Mapped[str] = mapped_column(String(32), doc="signup / rebind / admin")
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime())
