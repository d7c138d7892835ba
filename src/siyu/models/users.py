from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum
from siyu.models.catalog import Merchant
from siyu.models.promoters import Promoter


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    MERCHANT = "merchant"
    PROMOTER = "promoter"


ROLE_LABELS = {
    Role.ADMIN: "平台管理员",
    Role.OPERATOR: "运营",
    Role.MERCHANT: "商家",
    Role.PROMOTER: "推手",
}


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "user"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, 16))
    merchant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("merchant.id"), index=True)
    promoter_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("promoter.id"), unique=True, index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change or deactivation: invalidates every session cookie at once.
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    merchant: Mapped[Merchant | None] = relationship(lazy="joined")
    promoter: Mapped[Promoter | None] = relationship(lazy="joined")


class ApiToken(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_token"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # Only a SHA-256 of the token is stored; the prefix lets people tell tokens apart.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")
