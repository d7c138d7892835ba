"""API shapes for merchants, products, the promotion pool and coupon batches.

Money is ``StrictInt`` fen and rates ``StrictInt`` basis points: a JSON float (``59.9``) or bool is
refused with 422 before any service code runs. Ranges and cross-field rules are checked in
``rules.py`` so that the console and the demo loader get the same errors as the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from siyu.catalog.rules import estimated_promoter_commission_fen
from siyu.models import MerchantStatus, Product, ReviewStatus

T = TypeVar("T")

_INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int


class MerchantCreate(BaseModel):
    model_config = _INPUT

    name: str = Field(max_length=200)
    contact_name: str = Field(default="", max_length=200)
    contact_phone: str | None = Field(
        default=None, max_length=32, description="Mainland mobile; stored encrypted."
    )


class MerchantUpdate(BaseModel):
    """Only the fields sent are changed; ``contact_phone`` "" or null removes the phone."""

    model_config = _INPUT

    name: str | None = Field(default=None, max_length=200)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=32)
    status: MerchantStatus | None = None


class MerchantOut(BaseModel):
    id: int
    name: str
    contact_name: str
    contact_phone_masked: str | None = Field(description="138****0000; never the full number")
    status: MerchantStatus
    created_at: datetime


class ProductCreate(BaseModel):
    model_config = _INPUT

    merchant_id: StrictInt | None = Field(
        default=None, description="Required for platform staff; a merchant user's own by default"
    )
    title: str = Field(max_length=500)
    description: str = Field(default="", max_length=20000)
    category: str = Field(max_length=200)
    product_line: str = Field(default="", max_length=200)
    image_url: str = Field(default="", max_length=2000)
    list_price_fen: StrictInt = Field(description="划线价, fen")
    promo_price_fen: StrictInt = Field(description="到手价, fen")
    stock: StrictInt
    commission_rate_bp: StrictInt = Field(description="merchant-funded, bp of the paid amount")
    fixed_commission_fen: StrictInt | None = Field(
        default=None, description="per unit, fen; replaces the rate when set"
    )


class ProductUpdate(BaseModel):
    """Only the fields sent are changed. Changing a price or commission of an approved product
    sends it back to review (off the shelf until approved again)."""

    model_config = _INPUT

    title: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=20000)
    category: str | None = Field(default=None, max_length=200)
    product_line: str | None = Field(default=None, max_length=200)
    image_url: str | None = Field(default=None, max_length=2000)
    list_price_fen: StrictInt | None = None
    promo_price_fen: StrictInt | None = None
    stock: StrictInt | None = None
    commission_rate_bp: StrictInt | None = None
    fixed_commission_fen: StrictInt | None = Field(default=None, description="null removes it")


class ProductOut(BaseModel):
    id: int
    merchant_id: int
    merchant_name: str
    title: str
    description: str
    category: str
    product_line: str
    image_url: str
    list_price_fen: int
    promo_price_fen: int
    stock: int
    commission_rate_bp: int
    fixed_commission_fen: int | None
    platform_take_bp: int
    estimated_promoter_commission_fen: int
    review_status: ReviewStatus
    review_reason: str | None
    reviewed_at: datetime | None
    rank_weight: int
    on_shelf: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            **_product_fields(product),
            platform_take_bp=product.platform_take_bp,
            review_status=product.review_status,
            review_reason=product.review_reason,
            reviewed_at=product.reviewed_at,
            on_shelf=product.on_shelf,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class PoolProductOut(BaseModel):
    """What a promoter sees of an approved, on-shelf product."""

    id: int
    merchant_id: int
    merchant_name: str
    title: str
    description: str
    category: str
    product_line: str
    image_url: str
    list_price_fen: int
    promo_price_fen: int
    stock: int
    commission_rate_bp: int
    fixed_commission_fen: int | None
    estimated_promoter_commission_fen: int
    rank_weight: int

    @classmethod
    def of(cls, product: Product) -> PoolProductOut:
        return cls(**_product_fields(product))


def _product_fields(product: Product) -> dict[str, object]:
    return {
        "id": product.id,
        "merchant_id": product.merchant_id,
        "merchant_name": product.merchant.name,
        "title": product.title,
        "description": product.description,
        "category": product.category,
        "product_line": product.product_line,
        "image_url": product.image_url,
        "list_price_fen": product.list_price_fen,
        "promo_price_fen": product.promo_price_fen,
        "stock": product.stock,
        "commission_rate_bp": product.commission_rate_bp,
        "fixed_commission_fen": product.fixed_commission_fen,
        "estimated_promoter_commission_fen": estimated_promoter_commission_fen(
            product.promo_price_fen,
            product.commission_rate_bp,
            product.fixed_commission_fen,
            product.platform_take_bp,
        ),
        "rank_weight": product.rank_weight,
    }


class ProductApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform_take_bp: StrictInt | None = Field(
        default=None, description="platform's cut of the commission; default from settings"
    )
    rank_weight: StrictInt = 0


class ProductReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=2000)


class ProductShelf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_shelf: StrictBool


class ProductRank(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank_weight: StrictInt


class CouponBatchCreate(BaseModel):
    model_config = _INPUT

    merchant_id: StrictInt | None = Field(
        default=None, description="Required for platform staff; a merchant user's own by default"
    )
    product_id: StrictInt | None = Field(default=None, description="limit to one product")
    name: str = Field(max_length=500)
    face_value_fen: StrictInt = Field(description="discount, fen")
    threshold_fen: StrictInt = Field(description="minimum order amount, fen (满X减Y: X)")
    total_quantity: StrictInt
    per_user_limit: StrictInt = 1
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    is_active: StrictBool = True


class CouponBatchUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: StrictBool


class CouponBatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    merchant_id: int
    product_id: int | None
    name: str
    face_value_fen: int
    threshold_fen: int
    total_quantity: int
    issued_quantity: int
    per_user_limit: int
    valid_from: datetime
    valid_until: datetime
    is_active: bool
    created_at: datetime


class ProductFilter(BaseModel):
    """Filters for product lists (API query string and console)."""

    status: ReviewStatus | None = None
    merchant_id: int | None = None
    q: str = ""
    on_shelf: bool | None = None
