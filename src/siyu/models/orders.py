"""Orders (from the H5 checkout, the signed webhook or a CSV import), their lines, after-sales
and coupon grants. Money is integer fen.

Each order line carries a frozen snapshot of who is attributed and at which rates, taken when the
order is created (product.md §3): later changes to a product's rate, a promoter's team or the
platform's policy never change the commission of an existing line.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from siyu.models.base import Base, BigId, IdMixin, TimestampMixin, UTCDateTime, str_enum


class OrderSource(enum.StrEnum):
    H5 = "h5"
    WEBHOOK = "webhook"
    IMPORT = "import"


class OrderStatus(enum.StrEnum):
    PAID = "paid"
    SHIPPED = "shipped"
    RECEIVED = "received"
    CANCELLED = "cancelled"


ORDER_STATUS_LABELS = {
    OrderStatus.PAID: "已支付",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.RECEIVED: "已收货",
    OrderStatus.CANCELLED: "已取消",
}


class AttributionSource(enum.StrEnum):
    CLICK = "click"
    BINDING = "binding"
    NONE = "none"


class Order(IdMixin, TimestampMixin, Base):
    __tablename__ = "sales_order"
    __table_args__ = (
        CheckConstraint("items_fen >= 0", name="items_non_negative"),
        CheckConstraint("coupon_discount_fen >= 0", name="coupon_non_negative"),
        CheckConstraint("freight_fen >= 0", name="freight_non_negative"),
        CheckConstraint("paid_fen >= 0", name="paid_non_negative"),
        Index("uq_order_source_external", "source", "external_order_id", unique=True),
    )

    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[OrderSource] = mapped_column(str_enum(OrderSource, 16))
    external_order_id: Mapped[str | None] = mapped_column(String(64))
    consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus, 16), index=True)
    items_fen: Mapped[int] = mapped_column(BigInteger, doc="sum of unit price × quantity, fen")
    coupon_discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    freight_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, doc="what the buyer paid, fen")
    coupon_grant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("coupon_grant.id"))
    click_token: Mapped[str | None] = mapped_column(String(64))
    # Fraud signals: keyed hashes only, never the raw IP, device id or address.
    buyer_ip_hash: Mapped[str | None] = mapped_column(String(64))
    buyer_device_hash: Mapped[str | None] = mapped_column(String(64))
    address_hash: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64), default="")
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    auto_confirm_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", lazy="selectin"
    )


class OrderLine(IdMixin, TimestampMixin, Base):
    __tablename__ = "order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_fen >= 0", name="unit_price_non_negative"),
        CheckConstraint("coupon_discount_fen >= 0", name="coupon_non_negative"),
        CheckConstraint("virtual_asset_fen >= 0", name="virtual_asset_non_negative"),
        CheckConstraint("paid_fen >= 0", name="paid_non_negative"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= paid_fen", name="refund_in_range"),
        CheckConstraint("open_aftersales >= 0", name="open_aftersales_non_negative"),
    )

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("sales_order.id"), index=True)
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("product.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchant.id"), index=True)
    # "webhook:<external order id>:<external line id>": one line per external line, ever.
    external_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    quantity: Mapped[int] = mapped_column()
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    coupon_discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    virtual_asset_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, doc="line amount net of coupons, fen")
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    open_aftersales: Mapped[int] = mapped_column(default=0)

    # Frozen attribution and rates (the commission snapshot).
    attribution_source: Mapped[AttributionSource] = mapped_column(
        str_enum(AttributionSource, 16), default=AttributionSource.NONE
    )
    click_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("click.id"))
    link_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tracked_link.id"), index=True)
    l1_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"), index=True)
    l2_promoter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promoter.id"))
    l2_active: Mapped[bool] = mapped_column(Boolean, default=False)
    commission_rate_bp: Mapped[int] = mapped_column(default=0)
    fixed_commission_fen: Mapped[int | None] = mapped_column(BigInteger)
    platform_take_bp: Mapped[int] = mapped_column(default=0)
    l2_share_bp: Mapped[int] = mapped_column(default=0)
    self_purchase: Mapped[bool] = mapped_column(Boolean, default=False)
    self_purchase_commission: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_days: Mapped[int] = mapped_column(default=7)

    order: Mapped[Order] = relationship(back_populates="lines")


class AfterSaleKind(enum.StrEnum):
    REFUND = "refund"  # 仅退款
    RETURN = "return"  # 退货退款


class AfterSaleStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # refund made (refund) / return accepted and refunded (return)
    REJECTED = "rejected"


AFTERSALE_STATUS_LABELS = {
    AfterSaleStatus.REQUESTED: "处理中",
    AfterSaleStatus.APPROVED: "已退款",
    AfterSaleStatus.REJECTED: "已拒绝",
}


class AfterSale(IdMixin, TimestampMixin, Base):
    __tablename__ = "after_sale"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_line.id"), index=True)
    kind: Mapped[AfterSaleKind] = mapped_column(str_enum(AfterSaleKind, 16))
    status: Mapped[AfterSaleStatus] = mapped_column(str_enum(AfterSaleStatus, 16))
    amount_fen: Mapped[int] = mapped_column(BigInteger, doc="refund requested, fen")
    reason: Mapped[str] = mapped_column(String(500), default="")
    external_id: Mapped[str | None] = mapped_column(String(160), unique=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    decision_reason: Mapped[str | None] = mapped_column(String(500))


class CouponGrantStatus(enum.StrEnum):
    ISSUED = "issued"
    USED = "used"
    RELEASED = "released"  # order cancelled before use counted


class CouponGrant(IdMixin, TimestampMixin, Base):
    """One coupon from a batch held by one consumer (counts against the batch and the limit)."""

    __tablename__ = "coupon_grant"

    coupon_batch_id: Mapped[int] = mapped_column(BigId, ForeignKey("coupon_batch.id"), index=True)
    consumer_id: Mapped[int] = mapped_column(BigId, ForeignKey("consumer.id"), index=True)
    status: Mapped[CouponGrantStatus] = mapped_column(str_enum(CouponGrantStatus, 16))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OrderEventType(enum.StrEnum):
    """What an external shop reports about an order it sent through the webhook."""

    SHIPPED = "shipped"
    RECEIVED = "received"
    CANCELLED = "cancelled"
    AFTER_SALE_OPENED = "after_sale_opened"
    AFTER_SALE_APPROVED = "after_sale_approved"
    AFTER_SALE_REJECTED = "after_sale_rejected"
    REFUNDED = "refunded"  # a refund completed without a prior request


class OrderEvent(IdMixin, TimestampMixin, Base):
    """Inbox of external order events, one row per event id ever accepted (de-duplication).

    The row is written in the same transaction as the event's effect, so an event either had its
    one effect and is here, or had none and is not.
    """

    __tablename__ = "order_event"
    __table_args__ = (Index("uq_order_event_source_event", "source", "event_id", unique=True),)

    source: Mapped[OrderSource] = mapped_column(str_enum(OrderSource, 16))
    event_id: Mapped[str] = mapped_column(String(80))
    type: Mapped[OrderEventType] = mapped_column(str_enum(OrderEventType, 32))
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("sales_order.id"), index=True)
    after_sale_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("after_sale.id"))
    outcome: Mapped[str] = mapped_column(String(16), doc="applied | already (no change needed)")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
