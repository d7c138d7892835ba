"""Merchants, products, platform review into the promotion pool, coupon batches. Never commits.

Every function takes ``actor``: the ``Principal`` asking, or ``None`` for the system (CLI, demo
loader), which may do anything. Objects of another merchant are reported as not found, never as
forbidden, so that ids do not reveal what exists. Validation errors are in ``rules.py``; every
check runs before the first write ("check, then do"), so a refused request writes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.catalog import rules
from siyu.catalog.repository import CouponBatchRepository, MerchantRepository, ProductRepository
from siyu.catalog.schemas import (
    CouponBatchCreate,
    MerchantCreate,
    MerchantUpdate,
    ProductCreate,
    ProductUpdate,
)
from siyu.config import current_settings
from siyu.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.kit import crypto
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.models import CouponBatch, Merchant, MerchantStatus, Product, ReviewStatus, Role


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    message_en = "Merchant not found."
    message_zh = "找不到该商家，它可能不存在，或不属于您的账号。"


class ProductNotFound(NotFound):
    code = "product_not_found"
    message_en = "Product not found."
    message_zh = "找不到该商品，它可能已下架、不存在，或不属于您的店铺。"


class CouponBatchNotFound(NotFound):
    code = "coupon_batch_not_found"
    message_en = "Coupon batch not found."
    message_zh = "找不到该优惠券批次，它可能不存在，或不属于您的店铺。"


class MerchantNameTaken(Conflict):
    code = "merchant_name_taken"
    message_en = "A merchant named {name!r} already exists."
    message_zh = "商家名称“{name}”已被使用，请换一个名称。"


class MerchantRequired(ValidationFailed):
    code = "merchant_required"
    message_en = "merchant_id is required when platform staff create {thing}."
    message_zh = "请选择所属商家。"


class MerchantSuspended(Conflict):
    code = "merchant_suspended"
    message_en = "Merchant {name!r} is suspended; its products cannot enter the pool."
    message_zh = "商家“{name}”已被暂停合作，其商品不能入池或上架。请先恢复该商家。"


class ProductAlreadyReviewed(Conflict):
    code = "product_already_reviewed"
    message_en = "The product is already {status}."
    message_zh = "该商品已是“{status_zh}”状态，请刷新页面查看最新状态。"


class ProductNotApproved(Conflict):
    code = "product_not_approved"
    message_en = "Only approved products can be put on the shelf or ranked."
    message_zh = "只有审核通过（已入池）的商品才能上架或调整排序，请先审核通过。"


class CouponProductMismatch(ValidationFailed):
    code = "coupon_product_mismatch"
    message_en = "The coupon's product belongs to another merchant."
    message_zh = "指定商品不属于该商家，请选择本商家的商品或留空（全店通用）。"


# --- who may do what ---------------------------------------------------------------------


def _actor_user_id(actor: Principal | None) -> int | None:
    # SYSTEM has user_id 0, which is no row in "user"; audit it as the system (NULL).
    if actor is None or actor.user_id == 0:
        return None
    return actor.user_id


def _require_platform(actor: Principal | None) -> None:
    if actor is not None:
        actor.require_platform()


def _merchant_scope(actor: Principal | None) -> int | None:
    """None: sees every merchant. Otherwise the only merchant this actor may see."""
    if actor is None or actor.is_platform:
        return None
    if actor.role == Role.MERCHANT and actor.merchant_id is not None:
        return actor.merchant_id
    raise PermissionDenied()


def _target_merchant(
    session: Session, actor: Principal | None, requested_id: int | None, thing: str
) -> Merchant:
    """The merchant a new product or coupon belongs to."""
    scope = _merchant_scope(actor)
    if scope is not None:
        if requested_id is not None and requested_id != scope:
            raise MerchantNotFound()
        requested_id = scope
    if requested_id is None:
        raise MerchantRequired(thing=thing)
    merchant = MerchantRepository(session).get(requested_id)
    if merchant is None:
        raise MerchantNotFound()
    return merchant


# --- merchants -----------------------------------------------------------------------------


def masked_contact_phone(merchant: Merchant) -> str | None:
    if not merchant.contact_phone_encrypted:
        return None
    return crypto.mask_phone(crypto.decrypt(merchant.contact_phone_encrypted))


def _encrypted_phone(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    return crypto.encrypt(crypto.normalize_phone(raw))


def create_merchant(session: Session, actor: Principal | None, data: MerchantCreate) -> Merchant:
    _require_platform(actor)
    name = rules.check_text(data.name, "name", "商家名称", rules.MERCHANT_NAME_MAX_LENGTH)
    contact_name = rules.check_text(
        data.contact_name, "contact_name", "联系人", rules.CONTACT_NAME_MAX_LENGTH, required=False
    )
    phone = _encrypted_phone(data.contact_phone)
    merchants = MerchantRepository(session)
    if merchants.get_by_name(name) is not None:
        raise MerchantNameTaken(name=name)
    merchant = merchants.add(
        Merchant(
            name=name,
            contact_name=contact_name,
            contact_phone_encrypted=phone,
            status=MerchantStatus.ACTIVE,
        )
    )
    audit.record(session, _actor_user_id(actor), "merchant.created", "merchant", merchant.id)
    return merchant


def update_merchant(
    session: Session, actor: Principal | None, merchant_id: int, data: MerchantUpdate
) -> Merchant:
    merchant = get_merchant(session, actor, merchant_id)
    _require_platform(actor)
    sent = data.model_fields_set
    name = merchant.name
    if "name" in sent and data.name is not None:
        name = rules.check_text(data.name, "name", "商家名称", rules.MERCHANT_NAME_MAX_LENGTH)
        other = MerchantRepository(session).get_by_name(name)
        if other is not None and other.id != merchant.id:
            raise MerchantNameTaken(name=name)
    contact_name = merchant.contact_name
    if "contact_name" in sent and data.contact_name is not None:
        contact_name = rules.check_text(
            data.contact_name,
            "contact_name",
            "联系人",
            rules.CONTACT_NAME_MAX_LENGTH,
            required=False,
        )
    phone = merchant.contact_phone_encrypted
    if "contact_phone" in sent:
        phone = _encrypted_phone(data.contact_phone)
    merchant.name = name
    merchant.contact_name = contact_name
    merchant.contact_phone_encrypted = phone
    if data.status is not None and data.status != merchant.status:
        merchant.status = data.status
        audit.record(
            session,
            _actor_user_id(actor),
            "merchant.status_changed",
            "merchant",
            merchant.id,
            status=data.status.value,
        )
    return merchant


def get_merchant(session: Session, actor: Principal | None, merchant_id: int) -> Merchant:
    scope = _merchant_scope(actor)
    if scope is not None and scope != merchant_id:
        raise MerchantNotFound()
    merchant = MerchantRepository(session).get(merchant_id)
    if merchant is None:
        raise MerchantNotFound()
    return merchant


def list_merchants(
    session: Session, actor: Principal | None, page: PageRequest, query: str = ""
) -> Page[Merchant]:
    scope = _merchant_scope(actor)
    return MerchantRepository(session).list(page, query.strip(), only_id=scope)


def merchant_choices(session: Session, actor: Principal | None) -> Sequence[Merchant]:
    """Merchants this actor may file products and coupons under (for form selects)."""
    return MerchantRepository(session).choices(only_id=_merchant_scope(actor))


# --- products ------------------------------------------------------------------------------


def _terms_of(product: Product) -> rules.ProductTerms:
    return rules.ProductTerms(
        title=product.title,
        category=product.category,
        list_price_fen=product.list_price_fen,
        promo_price_fen=product.promo_price_fen,
        stock=product.stock,
        commission_rate_bp=product.commission_rate_bp,
        fixed_commission_fen=product.fixed_commission_fen,
        description=product.description,
        product_line=product.product_line,
        image_url=product.image_url,
    )


def _save_image(data: bytes) -> str:
    """Validate an uploaded image and store it under a random name; returns its URL.

    Runs after every other check so a refused form leaves no file behind. A rollback after this
    point leaves an unreferenced file, which is harmless.
    """
    settings = current_settings()
    extension = rules.check_image(data, settings.upload_max_bytes)
    name = f"{secrets.token_hex(16)}.{extension}"
    (settings.upload_dir / name).write_bytes(data)
    return f"/uploads/{name}"


def create_product(
    session: Session,
    actor: Principal | None,
    data: ProductCreate,
    image: bytes | None = None,
) -> Product:
    """A new product waits for platform review (待审核), off the shelf."""
    merchant = _target_merchant(session, actor, data.merchant_id, "a product")
    terms = rules.check_product(
        rules.ProductTerms(
            title=data.title,
            category=data.category,
            list_price_fen=data.list_price_fen,
            promo_price_fen=data.promo_price_fen,
            stock=data.stock,
            commission_rate_bp=data.commission_rate_bp,
            fixed_commission_fen=data.fixed_commission_fen,
            description=data.description,
            product_line=data.product_line,
            image_url=data.image_url,
        )
    )
    if image is not None:
        terms = replace(terms, image_url=_save_image(image))
    product = ProductRepository(session).add(
        Product(
            merchant_id=merchant.id,
            title=terms.title,
            description=terms.description,
            category=terms.category,
            product_line=terms.product_line,
            image_url=terms.image_url,
            list_price_fen=terms.list_price_fen,
            promo_price_fen=terms.promo_price_fen,
            stock=terms.stock,
            commission_rate_bp=terms.commission_rate_bp,
            fixed_commission_fen=terms.fixed_commission_fen,
            review_status=ReviewStatus.PENDING,
            platform_take_bp=current_settings().platform_take_bp,
            rank_weight=0,
            on_shelf=False,
        )
    )
    product.merchant = merchant
    return product


def get_product(session: Session, actor: Principal | None, product_id: int) -> Product:
    """A product with its merchant internals (stock, review notes): platform or its merchant."""
    scope = _merchant_scope(actor)
    product = ProductRepository(session).get(product_id)
    if product is None or (scope is not None and product.merchant_id != scope):
        raise ProductNotFound()
    return product


def _get_product_for_decision(
    session: Session, actor: Principal | None, product_id: int
) -> Product:
    _require_platform(actor)
    product = ProductRepository(session).get_for_update(product_id)
    if product is None:
        raise ProductNotFound()
    return product


def list_products(
    session: Session,
    actor: Principal | None,
    page: PageRequest,
    status: ReviewStatus | None = None,
    merchant_id: int | None = None,
    query: str = "",
    on_shelf: bool | None = None,
) -> Page[Product]:
    scope = _merchant_scope(actor)
    if scope is not None:
        if merchant_id is not None and merchant_id != scope:
            return Page([], 0, page)
        merchant_id = scope
    return ProductRepository(session).list(page, merchant_id, status, query.strip(), on_shelf)


def count_products_by_status(session: Session, actor: Principal | None) -> dict[ReviewStatus, int]:
    return ProductRepository(session).count_by_status(_merchant_scope(actor))


def update_product(
    session: Session,
    actor: Principal | None,
    product_id: int,
    data: ProductUpdate,
    image: bytes | None = None,
) -> Product:
    """Merge the sent fields and check the result as a whole.

    Changing a price or the commission of an approved product sends it back to review and off the
    shelf; editing a rejected product resubmits it.
    """
    product = get_product(session, actor, product_id)
    changes = {
        field: value
        for field, value in data.model_dump(exclude_unset=True).items()
        # Only fixed_commission_fen may be set to null (remove it); null elsewhere = unchanged.
        if value is not None or field == "fixed_commission_fen"
    }
    terms = rules.check_product(replace(_terms_of(product), **changes))
    if image is not None:
        terms = replace(terms, image_url=_save_image(image))
    current = {field: getattr(product, field) for field in rules.REVIEWED_FIELDS}
    updated = {field: getattr(terms, field) for field in rules.REVIEWED_FIELDS}
    back_to_review = product.review_status == ReviewStatus.REJECTED or (
        product.review_status == ReviewStatus.APPROVED
        and rules.needs_review_again(current, updated)
    )
    for field in (
        "title",
        "description",
        "category",
        "product_line",
        "image_url",
        "list_price_fen",
        "promo_price_fen",
        "stock",
        "commission_rate_bp",
        "fixed_commission_fen",
    ):
        setattr(product, field, getattr(terms, field))
    if back_to_review:
        previous = product.review_status
        product.review_status = ReviewStatus.PENDING
        product.on_shelf = False
        audit.record(
            session,
            _actor_user_id(actor),
            "product.resubmitted",
            "product",
            product.id,
            previous_status=previous.value,
        )
    # Flush so the answer carries the new updated_at and a database refusal surfaces here.
    session.flush()
    return product


def approve_product(
    session: Session,
    actor: Principal | None,
    product_id: int,
    platform_take_bp: int | None = None,
    rank_weight: int = 0,
) -> Product:
    """Into the promotion pool (入池) and on the shelf, with the platform's take and a rank."""
    _require_platform(actor)
    take = rules.check_take_rate(
        current_settings().platform_take_bp if platform_take_bp is None else platform_take_bp
    )
    weight = rules.check_rank_weight(rank_weight)
    product = _get_product_for_decision(session, actor, product_id)
    if product.review_status == ReviewStatus.APPROVED:
        raise ProductAlreadyReviewed(status="approved", status_zh="已入池")
    if product.merchant.status != MerchantStatus.ACTIVE:
        raise MerchantSuspended(name=product.merchant.name)
    product.review_status = ReviewStatus.APPROVED
    product.review_reason = None
    product.reviewed_at = utc_now()
    product.reviewed_by_user_id = _actor_user_id(actor)
    product.platform_take_bp = take
    product.rank_weight = weight
    product.on_shelf = True
    _audit_review(session, actor, product.id, approved=True, reason=None)
    return product


def reject_product(
    session: Session, actor: Principal | None, product_id: int, reason: str
) -> Product:
    """Out of the pool with a reason the merchant reads (驳回原因)."""
    _require_platform(actor)
    reason = rules.check_reason(reason)
    product = _get_product_for_decision(session, actor, product_id)
    if product.review_status == ReviewStatus.REJECTED:
        raise ProductAlreadyReviewed(status="rejected", status_zh="已驳回")
    product.review_status = ReviewStatus.REJECTED
    product.review_reason = reason
    product.reviewed_at = utc_now()
    product.reviewed_by_user_id = _actor_user_id(actor)
    product.on_shelf = False
    _audit_review(session, actor, product.id, approved=False, reason=reason)
    return product


def _audit_review(
    session: Session, actor: Principal | None, product_id: int, approved: bool, reason: str | None
) -> None:
    audit.product_reviewed(session, _actor_user_id(actor), product_id, approved, reason)


def set_product_shelf(
    session: Session, actor: Principal | None, product_id: int, on_shelf: bool
) -> Product:
    product = _get_product_for_decision(session, actor, product_id)
    if product.review_status != ReviewStatus.APPROVED:
        raise ProductNotApproved()
    if on_shelf and product.merchant.status != MerchantStatus.ACTIVE:
        raise MerchantSuspended(name=product.merchant.name)
    if product.on_shelf != on_shelf:
        product.on_shelf = on_shelf
        audit.record(
            session,
            _actor_user_id(actor),
            "product.shelved" if on_shelf else "product.unshelved",
            "product",
            product.id,
        )
    return product


def set_product_rank(
    session: Session, actor: Principal | None, product_id: int, rank_weight: int
) -> Product:
    _require_platform(actor)
    weight = rules.check_rank_weight(rank_weight)
    product = _get_product_for_decision(session, actor, product_id)
    if product.review_status != ReviewStatus.APPROVED:
        raise ProductNotApproved()
    if product.rank_weight != weight:
        audit.record(
            session,
            _actor_user_id(actor),
            "product.reranked",
            "product",
            product.id,
            previous=product.rank_weight,
            rank_weight=weight,
        )
        product.rank_weight = weight
    return product


def review_queue(session: Session, actor: Principal | None, page: PageRequest) -> Page[Product]:
    _require_platform(actor)
    return ProductRepository(session).review_queue(page)


def list_pool(
    session: Session,
    actor: Principal | None,
    page: PageRequest,
    query: str = "",
    category: str = "",
    product_line: str = "",
) -> Page[Product]:
    """The promotion pool (推广池): approved, on the shelf, merchant active; best rank first.

    Open to every signed-in role: it is what promoters share.
    """
    return ProductRepository(session).pool(page, query.strip(), category, product_line)


def get_pool_product(session: Session, actor: Principal | None, product_id: int) -> Product:
    product = ProductRepository(session).get_in_pool(product_id)
    if product is None:
        raise ProductNotFound()
    return product


# --- coupon batches ------------------------------------------------------------------------


def create_coupon_batch(
    session: Session, actor: Principal | None, data: CouponBatchCreate
) -> CouponBatch:
    merchant = _target_merchant(session, actor, data.merchant_id, "a coupon batch")
    terms = rules.check_coupon(
        rules.CouponTerms(
            name=data.name,
            face_value_fen=data.face_value_fen,
            threshold_fen=data.threshold_fen,
            total_quantity=data.total_quantity,
            per_user_limit=data.per_user_limit,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
        )
    )
    if data.product_id is not None:
        product = get_product(session, actor, data.product_id)
        if product.merchant_id != merchant.id:
            raise CouponProductMismatch()
    coupon_batch = CouponBatchRepository(session).add(
        CouponBatch(
            merchant_id=merchant.id,
            product_id=data.product_id,
            name=terms.name,
            face_value_fen=terms.face_value_fen,
            threshold_fen=terms.threshold_fen,
            total_quantity=terms.total_quantity,
            issued_quantity=0,
            per_user_limit=terms.per_user_limit,
            valid_from=terms.valid_from,
            valid_until=terms.valid_until,
            is_active=data.is_active,
        )
    )
    return coupon_batch


def get_coupon_batch(
    session: Session, actor: Principal | None, coupon_batch_id: int
) -> CouponBatch:
    scope = _merchant_scope(actor)
    coupon_batch = CouponBatchRepository(session).get(coupon_batch_id)
    if coupon_batch is None or (scope is not None and coupon_batch.merchant_id != scope):
        raise CouponBatchNotFound()
    return coupon_batch


def list_coupon_batches(
    session: Session,
    actor: Principal | None,
    page: PageRequest,
    merchant_id: int | None = None,
    product_id: int | None = None,
    active: bool | None = None,
) -> Page[CouponBatch]:
    scope = _merchant_scope(actor)
    if scope is not None:
        if merchant_id is not None and merchant_id != scope:
            return Page([], 0, page)
        merchant_id = scope
    return CouponBatchRepository(session).list(page, merchant_id, product_id, active)


def set_coupon_batch_active(
    session: Session, actor: Principal | None, coupon_batch_id: int, active: bool
) -> CouponBatch:
    coupon_batch = get_coupon_batch(session, actor, coupon_batch_id)
    if coupon_batch.is_active != active:
        coupon_batch.is_active = active
        audit.record(
            session,
            _actor_user_id(actor),
            "coupon_batch.activated" if active else "coupon_batch.deactivated",
            "coupon_batch",
            coupon_batch.id,
        )
    return coupon_batch
