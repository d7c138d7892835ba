"""Catalog rules: pure checks on what merchants and reviewers submit. No I/O, no database.

The validation errors live here rather than at the top of ``service.py`` because these functions
raise them and the service imports this module (the other way round would be circular).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from PIL import Image, UnidentifiedImageError

from siyu.errors import ValidationFailed
from siyu.kit.money import apply_bp, check_bp, check_fen

TITLE_MAX_LENGTH: Final = 120
DESCRIPTION_MAX_LENGTH: Final = 5000
CATEGORY_MAX_LENGTH: Final = 32
IMAGE_URL_MAX_LENGTH: Final = 500
MERCHANT_NAME_MAX_LENGTH: Final = 100
CONTACT_NAME_MAX_LENGTH: Final = 50
COUPON_NAME_MAX_LENGTH: Final = 100
REASON_MAX_LENGTH: Final = 500
MAX_STOCK: Final = 10**9
MAX_QUANTITY: Final = 10**9
MAX_RANK_WEIGHT: Final = 1_000_000
IMAGE_FORMATS: Final = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
IMAGE_MAX_PIXELS: Final = 40_000_000

# Changing any of these on an approved product sends it back to review: they are what the
# platform agreed to promote (price shown to consumers, commission paid to promoters).
REVIEWED_FIELDS: Final = frozenset(
    {"list_price_fen", "promo_price_fen", "commission_rate_bp", "fixed_commission_fen"}
)


class TextRequired(ValidationFailed):
    code = "text_required"
    message_en = "{field} must not be empty."
    message_zh = "请填写{field_zh}。"


class TextTooLong(ValidationFailed):
    code = "text_too_long"
    message_en = "{field} must be at most {limit} characters."
    message_zh = "{field_zh}最多 {limit} 个字，请删减后再提交。"


class PromoPriceAboveList(ValidationFailed):
    code = "promo_price_above_list"
    message_en = "promo_price_fen ({promo}) must not exceed list_price_fen ({list_price})."
    message_zh = "到手价不能高于划线价，请调低到手价或调高划线价。"


class StockInvalid(ValidationFailed):
    code = "stock_invalid"
    message_en = "stock must be an integer between 0 and {limit}, got {value!r}."
    message_zh = "库存必须是 0 到 {limit} 之间的整数，您输入的是“{value}”。"


class FixedCommissionAbovePrice(ValidationFailed):
    code = "fixed_commission_above_price"
    message_en = "fixed_commission_fen ({fixed}) must not exceed promo_price_fen ({promo})."
    message_zh = "每件固定佣金不能高于到手价，请调低固定佣金。"


class ImageUrlInvalid(ValidationFailed):
    code = "image_url_invalid"
    message_en = "image_url must start with https://, http:// or /uploads/, got {value!r}."
    message_zh = "图片地址须以 https://、http:// 或 /uploads/ 开头，或直接上传图片。"


class ImageInvalid(ValidationFailed):
    code = "image_invalid"
    message_en = "The upload is not a JPEG, PNG, GIF or WebP image."
    message_zh = "上传的文件不是有效图片，请上传 JPG、PNG、GIF 或 WebP 格式的图片。"


class ImageTooLarge(ValidationFailed):
    code = "image_too_large"
    message_en = "The image is larger than {limit_mb} MB."
    message_zh = "图片超过 {limit_mb} MB，请压缩后再上传。"


class QuantityInvalid(ValidationFailed):
    code = "quantity_invalid"
    message_en = "{field} must be an integer between 1 and {limit}, got {value!r}."
    message_zh = "{field_zh}必须是 1 到 {limit} 之间的整数，您输入的是“{value}”。"


class CouponFaceValueZero(ValidationFailed):
    code = "coupon_face_value_zero"
    message_en = "face_value_fen must be greater than 0."
    message_zh = "券面额必须大于 0 元。"


class CouponThresholdBelowFace(ValidationFailed):
    code = "coupon_threshold_below_face"
    message_en = "threshold_fen ({threshold}) must be at least face_value_fen ({face})."
    message_zh = "使用门槛不能低于券面额（满X减Y 要求 X ≥ Y），请调高门槛或调低面额。"


class ValidityWindowInvalid(ValidationFailed):
    code = "validity_window_invalid"
    message_en = "valid_from and valid_until must include a time zone."
    message_zh = "请填写完整的生效时间和失效时间。"


class ValidityWindowReversed(ValidationFailed):
    code = "validity_window_reversed"
    message_en = "valid_until must be later than valid_from."
    message_zh = "失效时间必须晚于生效时间，请重新选择。"


class RankWeightInvalid(ValidationFailed):
    code = "rank_weight_invalid"
    message_en = "rank_weight must be an integer between 0 and {limit}, got {value!r}."
    message_zh = "排序权重必须是 0 到 {limit} 之间的整数，您输入的是“{value}”。"


@dataclass(frozen=True)
class ProductTerms:
    """The fields of a product that rules check together (after an edit is merged in)."""

    title: str
    category: str
    list_price_fen: int
    promo_price_fen: int
    stock: int
    commission_rate_bp: int
    fixed_commission_fen: int | None = None
    description: str = ""
    product_line: str = ""
    image_url: str = ""


@dataclass(frozen=True)
class CouponTerms:
    name: str
    face_value_fen: int
    threshold_fen: int
    total_quantity: int
    per_user_limit: int
    valid_from: datetime
    valid_until: datetime


def _as_int(value: object) -> int | None:
    """The value when it is a real int (bools and floats are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def check_text(value: str, field: str, field_zh: str, limit: int, *, required: bool = True) -> str:
    """Strip; refuse empty (when required) and over-long text. Returns the stripped text."""
    text = value.strip()
    if required and not text:
        raise TextRequired(field=field, field_zh=field_zh)
    if len(text) > limit:
        raise TextTooLong(field=field, field_zh=field_zh, limit=limit)
    return text


def check_prices(list_price_fen: object, promo_price_fen: object) -> tuple[int, int]:
    list_price = check_fen(list_price_fen, "list_price_fen", "划线价")
    promo = check_fen(promo_price_fen, "promo_price_fen", "到手价")
    if promo > list_price:
        raise PromoPriceAboveList(promo=promo, list_price=list_price)
    return list_price, promo


def check_stock(stock: object) -> int:
    number = _as_int(stock)
    if number is None or not 0 <= number <= MAX_STOCK:
        raise StockInvalid(value=stock, limit=MAX_STOCK)
    return number


def check_commission(
    commission_rate_bp: object, fixed_commission_fen: object, promo_price_fen: int
) -> tuple[int, int | None]:
    rate = check_bp(commission_rate_bp, "commission_rate_bp", "佣金比例")
    if fixed_commission_fen is None:
        return rate, None
    fixed = check_fen(fixed_commission_fen, "fixed_commission_fen", "每件固定佣金")
    if fixed > promo_price_fen:
        raise FixedCommissionAbovePrice(fixed=fixed, promo=promo_price_fen)
    return rate, fixed


def check_image_url(value: str) -> str:
    url = value.strip()
    if not url:
        return ""
    if len(url) > IMAGE_URL_MAX_LENGTH or not url.startswith(("https://", "http://", "/uploads/")):
        raise ImageUrlInvalid(value=url[:80])
    if any(character.isspace() for character in url) or "/../" in url:
        raise ImageUrlInvalid(value=url[:80])
    return url


def check_product(terms: ProductTerms) -> ProductTerms:
    """Every product rule at once; returns the normalised terms (stripped text)."""
    title = check_text(terms.title, "title", "商品标题", TITLE_MAX_LENGTH)
    category = check_text(terms.category, "category", "类目", CATEGORY_MAX_LENGTH)
    product_line = check_text(
        terms.product_line, "product_line", "产品线", CATEGORY_MAX_LENGTH, required=False
    )
    description = check_text(
        terms.description, "description", "商品描述", DESCRIPTION_MAX_LENGTH, required=False
    )
    list_price, promo = check_prices(terms.list_price_fen, terms.promo_price_fen)
    stock = check_stock(terms.stock)
    rate, fixed = check_commission(terms.commission_rate_bp, terms.fixed_commission_fen, promo)
    return ProductTerms(
        title=title,
        category=category,
        list_price_fen=list_price,
        promo_price_fen=promo,
        stock=stock,
        commission_rate_bp=rate,
        fixed_commission_fen=fixed,
        description=description,
        product_line=product_line,
        image_url=check_image_url(terms.image_url),
    )


def needs_review_again(current: Mapping[str, object], changes: Mapping[str, object]) -> bool:
    """True when an edit changes a reviewed field (price or commission) to a different value."""
    return any(
        field in changes and changes[field] != current.get(field) for field in REVIEWED_FIELDS
    )


def check_take_rate(platform_take_bp: object) -> int:
    return check_bp(platform_take_bp, "platform_take_bp", "平台提点")


def check_rank_weight(rank_weight: object) -> int:
    number = _as_int(rank_weight)
    if number is None or not 0 <= number <= MAX_RANK_WEIGHT:
        raise RankWeightInvalid(value=rank_weight, limit=MAX_RANK_WEIGHT)
    return number


def check_reason(reason: str) -> str:
    return check_text(reason, "reason", "驳回原因", REASON_MAX_LENGTH)


def check_quantity(value: object, field: str, field_zh: str) -> int:
    number = _as_int(value)
    if number is None or not 1 <= number <= MAX_QUANTITY:
        raise QuantityInvalid(field=field, field_zh=field_zh, value=value, limit=MAX_QUANTITY)
    return number


def check_validity_window(valid_from: datetime, valid_until: datetime) -> None:
    if valid_from.tzinfo is None or valid_until.tzinfo is None:
        raise ValidityWindowInvalid()
    if valid_until <= valid_from:
        raise ValidityWindowReversed()


def check_coupon(terms: CouponTerms) -> CouponTerms:
    name = check_text(terms.name, "name", "券名称", COUPON_NAME_MAX_LENGTH)
    face = check_fen(terms.face_value_fen, "face_value_fen", "券面额")
    if face == 0:
        raise CouponFaceValueZero()
    threshold = check_fen(terms.threshold_fen, "threshold_fen", "使用门槛")
    if threshold < face:
        raise CouponThresholdBelowFace(threshold=threshold, face=face)
    total = check_quantity(terms.total_quantity, "total_quantity", "发放总量")
    per_user = check_quantity(terms.per_user_limit, "per_user_limit", "每人限领")
    check_validity_window(terms.valid_from, terms.valid_until)
    return CouponTerms(
        name=name,
        face_value_fen=face,
        threshold_fen=threshold,
        total_quantity=total,
        per_user_limit=per_user,
        valid_from=terms.valid_from.astimezone(UTC),
        valid_until=terms.valid_until.astimezone(UTC),
    )


def commission_pool_fen(
    promo_price_fen: int, commission_rate_bp: int, fixed_commission_fen: int | None
) -> int:
    """Commission the merchant funds for one unit sold at the promotion price."""
    if fixed_commission_fen is not None:
        return fixed_commission_fen
    return apply_bp(promo_price_fen, commission_rate_bp)


def estimated_promoter_commission_fen(
    promo_price_fen: int,
    commission_rate_bp: int,
    fixed_commission_fen: int | None,
    platform_take_bp: int,
) -> int:
    """What a promoter can expect per unit before coupons: pool minus the platform's take.

    An estimate for the pool listing only; the order domain computes real commission on the
    amount actually paid.
    """
    pool = commission_pool_fen(promo_price_fen, commission_rate_bp, fixed_commission_fen)
    return pool - apply_bp(pool, platform_take_bp)


def check_image(data: bytes, max_bytes: int) -> str:
    """Refuse anything that Pillow cannot decode as a still or animated web image.

    Returns the file extension to store it under (from the decoded format, never the client's
    file name).
    """
    if len(data) > max_bytes:
        raise ImageTooLarge(limit_mb=format_megabytes(max_bytes))
    if not data:
        raise ImageInvalid()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ImageInvalid() from None
    if image_format not in IMAGE_FORMATS or width * height > IMAGE_MAX_PIXELS:
        raise ImageInvalid()
    return IMAGE_FORMATS[image_format]


def format_megabytes(size: int) -> str:
    """5242880 -> "5"; 524288 -> "0.50" (a display string, never used in arithmetic)."""
    value = size / (1024 * 1024)
    return f"{value:g}" if value >= 1 else f"{value:.2f}"
