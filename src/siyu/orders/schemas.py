"""Order inputs (the draft every entry point builds) and the JSON shapes of the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, Field

from siyu.models import (
    AfterSaleKind,
    AfterSaleStatus,
    AttributionSource,
    OrderEventType,
    OrderSource,
    OrderStatus,
)


@dataclass(frozen=True)
class DraftLine:
    product_id: int
    quantity: int
    unit_price_fen: int | None = None
    """External orders only: what the external shop charged; H5 always uses the promo price."""
    external_line_id: str | None = None


@dataclass(frozen=True)
class OrderDraft:
    lines: tuple[DraftLine, ...]
    phone: str | None = None
    union_id: str | None = None
    nickname: str = ""
    source: OrderSource = OrderSource.H5
    external_order_id: str | None = None
    merchant_id: int | None = None
    """External orders: the merchant whose approved products the lines may reference."""
    coupon_batch_id: int | None = None
    freight_fen: int = 0
    click_token: str | None = None
    buyer_ip_hash: str | None = None
    buyer_device_hash: str | None = None
    address_hash: str | None = None
    region: str = ""
    paid_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


# --- webhook payload (docs/orders-webhook.md) ---------------------------------------------------


class WebhookBuyer(BaseModel):
    phone: str | None = None
    union_id: str | None = Field(default=None, max_length=64)
    nickname: str = Field(default="", max_length=64)


class WebhookLine(BaseModel):
    line_id: str = Field(min_length=1, max_length=64)
    product_id: int
    quantity: int = Field(ge=1)
    unit_price_fen: int = Field(ge=0)


class WebhookOrder(BaseModel):
    order_id: str = Field(min_length=1, max_length=64)
    merchant_id: int
    buyer: WebhookBuyer
    lines: list[WebhookLine] = Field(min_length=1, max_length=200)
    freight_fen: int = Field(default=0, ge=0)
    click_token: str | None = Field(default=None, max_length=64)
    paid_at: datetime | None = None
    ip_hash: str | None = Field(default=None, max_length=64)
    device_hash: str | None = Field(default=None, max_length=64)
    address_hash: str | None = Field(default=None, max_length=64)
    region: str = Field(default="", max_length=64)


class WebhookOrderEvent(BaseModel):
    """An event about an order that came in through the webhook (docs/orders-webhook.md)."""

    event_id: str = Field(min_length=1, max_length=80)
    type: OrderEventType
    order_id: str = Field(min_length=1, max_length=64)
    merchant_id: int
    line_id: str | None = Field(default=None, min_length=1, max_length=64)
    after_sale_id: str | None = Field(default=None, min_length=1, max_length=64)
    amount_fen: int | None = Field(default=None, ge=1)
    kind: AfterSaleKind = AfterSaleKind.REFUND
    reason: str = Field(default="", max_length=500)


# --- API out ------------------------------------------------------------------------------------


class OrderLineOut(BaseModel):
    id: int
    product_id: int
    merchant_id: int
    title: str
    quantity: int
    unit_price_fen: int
    coupon_discount_fen: int
    paid_fen: int
    refunded_fen: int
    open_aftersales: int
    attribution_source: AttributionSource
    link_id: int | None
    l1_promoter_id: int | None
    l2_promoter_id: int | None
    commission_rate_bp: int
    fixed_commission_fen: int | None
    platform_take_bp: int
    l2_share_bp: int


class OrderOut(BaseModel):
    id: int
    order_no: str
    source: OrderSource
    external_order_id: str | None
    status: OrderStatus
    buyer_phone_masked: str
    items_fen: int
    coupon_discount_fen: int
    freight_fen: int
    paid_fen: int
    paid_at: datetime
    lines: list[OrderLineOut]


class AfterSaleIn(BaseModel):
    line_id: int
    amount_fen: int = Field(ge=1)
    kind: AfterSaleKind = AfterSaleKind.REFUND
    reason: str = Field(default="", max_length=500)


class AfterSaleDecision(BaseModel):
    approve: bool
    reason: str = Field(default="", max_length=500)


class AfterSaleOut(BaseModel):
    id: int
    order_line_id: int
    kind: AfterSaleKind
    status: AfterSaleStatus
    amount_fen: int
    reason: str
    decision_reason: str | None


class OrderEventOut(BaseModel):
    event_id: str
    type: OrderEventType
    outcome: str
    duplicate: bool
    order: OrderOut
