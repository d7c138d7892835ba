from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum


class MerchantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Merchant(IdMixin, TimestampMixin, Base):
    __tablename__ = "merchant"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone_encrypted: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[MerchantStatus] = mapped_column(
        str_enum(MerchantStatus, 16), default=MerchantStatus.ACTIVE
    )


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


REVIEW_STATUS_LABELS = {
    ReviewStatus.PENDING: "待审核",
    ReviewStatus.APPROVED: "已入池",
    ReviewStatus.REJECTED: "已驳回",
}


class Product(IdMixin, TimestampMixin, Base):
    """One sellable item (one SKU). All money is integer fen, all rates basis points."""

    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("list_price_fen >= 0", name="list_price_non_negative"),
        CheckConstraint("promo_price_fen >= 0", name="promo_price_non_negative"),
        CheckConstraint("promo_price_fen <= list_price_fen", name="promo_not_above_list"),
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint(
            "commission_rate_bp >= 0 AND commission_rate_bp <= 10000", name="commission_rate_range"
        ),
        CheckConstraint(
            "platform_take_bp >= 0 AND platform_take_bp <= 10000", name="platform_take_range"
        ),
        CheckConstraint(
            "fixed_commission_fen IS NULL OR fixed_commission_fen >= 0",
            name="fixed_commission_non_negative",
        ),
        Index("ix_product_pool", "review_status", "on_shelf", "rank_weight"),
    )

    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchant.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32))
    product_line: Mapped[str] = mapped_column(String(32), default="")
    image_url: Mapped[str] = mapped_column(String(500), default="")
    list_price_fen: Mapped[int] = mapped_column(BigInteger, doc="划线价, fen")
    promo_price_fen: Mapped[int] = mapped_column(BigInteger, doc="promotion price, fen")
    stock: Mapped[int] = mapped_column(BigInteger)
    commission_rate_bp: Mapped[int] = mapped_column(doc="merchant-funded commission, bp of paid")
    fixed_commission_fen: Mapped[int | None] = mapped_column(
        BigInteger, doc="optional fixed commission per unit, fen; replaces the rate when set"
    )
    review_status: Mapped[ReviewStatus] = mapped_column(
        str_enum(ReviewStatus, 16), default=ReviewStatus.PENDING
    )
    review_reason: Mapped[str | None] = mapped_column(String(500))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    platform_take_bp: Mapped[int] = mapped_column(doc="platform's cut of the commission pool, bp")
    rank_weight: Mapped[int] = mapped_column(default=0)
    on_shelf: Mapped[bool] = mapped_column(Boolean, default=False)

    merchant: Mapped[Merchant] = relationship(lazy="joined")


class CouponBatch(IdMixin, TimestampMixin, Base):
    __tablename__ = "coupon_batch"
    __table_args__ = (
        CheckConstraint("face_value_fen > 0", name="face_value_positive"),
        CheckConstraint("threshold_fen >= face_value_fen", name="threshold_not_below_face"),
        CheckConstraint("total_quantity > 0", name="total_quantity_positive"),
        CheckConstraint(
            "issued_quantity >= 0 AND issued_quantity <= total_quantity", name="issued_in_range"
        ),
        CheckConstraint("per_user_limit > 0", name="per_user_limit_positive"),
        CheckConstraint("valid_until > valid_from", name="validity_window_ordered"),
    )

    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchant.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("product.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    face_value_fen: Mapped[int] = mapped_column(BigInteger, doc="discount, fen")
    threshold_fen: Mapped[int] = mapped_column(BigInteger, doc="minimum order amount, fen")
    total_quantity: Mapped[int] = mapped_column(BigInteger)
    issued_quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    per_user_limit: Mapped[int] = mapped_column(default=1)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    merchant: Mapped[Merchant] = relationship(lazy="joined")
    product: Mapped[Product | None] = relationship(lazy="joined")
