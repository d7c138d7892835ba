"""JSON API: merchants, products and their review, the promotion pool, coupon batches."""

from __future__ import annotations

from fastapi import APIRouter, File, UploadFile

from siyu.catalog import service
from siyu.catalog.schemas import (
    CouponBatchCreate,
    CouponBatchOut,
    CouponBatchUpdate,
    MerchantCreate,
    MerchantOut,
    MerchantUpdate,
    PageOut,
    PoolProductOut,
    ProductApprove,
    ProductCreate,
    ProductOut,
    ProductRank,
    ProductReject,
    ProductShelf,
    ProductUpdate,
)
from siyu.config import current_settings
from siyu.kit.pagination import PageRequest
from siyu.models import Merchant, ReviewStatus
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["catalog"])


def _merchant_out(merchant: Merchant) -> MerchantOut:
    return MerchantOut(
        id=merchant.id,
        name=merchant.name,
        contact_name=merchant.contact_name,
        contact_phone_masked=service.masked_contact_phone(merchant),
        status=merchant.status,
        created_at=merchant.created_at,
    )


def _read_upload(upload: UploadFile) -> bytes:
    """At most one byte over the limit: enough for the size check, no more held in memory."""
    return upload.file.read(current_settings().upload_max_bytes + 1)


# --- merchants -----------------------------------------------------------------------------


@router.get("/merchants", response_model=PageOut[MerchantOut])
def list_merchants(
    user: ApiUser, session: DbSession, q: str = "", page: int = 1, size: int = 50
) -> PageOut[MerchantOut]:
    result = service.list_merchants(session, user, PageRequest(page, size), q)
    return PageOut(
        items=[_merchant_out(item) for item in result.items],
        total=result.total,
        page=result.request.page,
        size=result.request.size,
    )


@router.post("/merchants", response_model=MerchantOut, status_code=201)
def create_merchant(data: MerchantCreate, user: ApiUser, session: DbSession) -> MerchantOut:
    return _merchant_out(service.create_merchant(session, user, data))


@router.get("/merchants/{merchant_id}", response_model=MerchantOut)
def get_merchant(merchant_id: int, user: ApiUser, session: DbSession) -> MerchantOut:
    return _merchant_out(service.get_merchant(session, user, merchant_id))


@router.patch("/merchants/{merchant_id}", response_model=MerchantOut)
def update_merchant(
    merchant_id: int, data: MerchantUpdate, user: ApiUser, session: DbSession
) -> MerchantOut:
    return _merchant_out(service.update_merchant(session, user, merchant_id, data))


# --- products ------------------------------------------------------------------------------


@router.get("/products", response_model=PageOut[ProductOut])
def list_products(
    user: ApiUser,
    session: DbSession,
    status: ReviewStatus | None = None,
    merchant_id: int | None = None,
    q: str = "",
    on_shelf: bool | None = None,
    page: int = 1,
    size: int = 50,
) -> PageOut[ProductOut]:
    result = service.list_products(
        session, user, PageRequest(page, size), status, merchant_id, q, on_shelf
    )
    return PageOut(
        items=[ProductOut.of(item) for item in result.items],
        total=result.total,
        page=result.request.page,
        size=result.request.size,
    )


@router.post("/products", response_model=ProductOut, status_code=201)
def create_product(data: ProductCreate, user: ApiUser, session: DbSession) -> ProductOut:
    return ProductOut.of(service.create_product(session, user, data))


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: int, user: ApiUser, session: DbSession) -> ProductOut:
    return ProductOut.of(service.get_product(session, user, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(
    product_id: int, data: ProductUpdate, user: ApiUser, session: DbSession
) -> ProductOut:
    return ProductOut.of(service.update_product(session, user, product_id, data))


@router.post("/products/{product_id}/image", response_model=ProductOut)
def upload_product_image(
    product_id: int, user: ApiUser, session: DbSession, file: UploadFile = File()
) -> ProductOut:
    """Multipart upload (field ``file``): JPEG, PNG, GIF or WebP up to the configured size."""
    image = _read_upload(file)
    return ProductOut.of(
        service.update_product(session, user, product_id, ProductUpdate(), image=image)
    )


@router.post("/products/{product_id}/approve", response_model=ProductOut)
def approve_product(
    product_id: int, data: ProductApprove, user: ApiUser, session: DbSession
) -> ProductOut:
    product = service.approve_product(
        session, user, product_id, data.platform_take_bp, data.rank_weight
    )
    return ProductOut.of(product)


@router.post("/products/{product_id}/reject", response_model=ProductOut)
def reject_product(
    product_id: int, data: ProductReject, user: ApiUser, session: DbSession
) -> ProductOut:
    return ProductOut.of(service.reject_product(session, user, product_id, data.reason))


@router.post("/products/{product_id}/shelf", response_model=ProductOut)
def set_product_shelf(
    product_id: int, data: ProductShelf, user: ApiUser, session: DbSession
) -> ProductOut:
    return ProductOut.of(service.set_product_shelf(session, user, product_id, data.on_shelf))


@router.post("/products/{product_id}/rank", response_model=ProductOut)
def set_product_rank(
    product_id: int, data: ProductRank, user: ApiUser, session: DbSession
) -> ProductOut:
    return ProductOut.of(service.set_product_rank(session, user, product_id, data.rank_weight))


# --- the promotion pool ----------------------------------------------------------------------


@router.get("/pool", response_model=PageOut[PoolProductOut])
def list_pool(
    user: ApiUser,
    session: DbSession,
    q: str = "",
    category: str = "",
    product_line: str = "",
    page: int = 1,
    size: int = 50,
) -> PageOut[PoolProductOut]:
    result = service.list_pool(session, user, PageRequest(page, size), q, category, product_line)
    return PageOut(
        items=[PoolProductOut.of(item) for item in result.items],
        total=result.total,
        page=result.request.page,
        size=result.request.size,
    )


@router.get("/pool/{product_id}", response_model=PoolProductOut)
def get_pool_product(product_id: int, user: ApiUser, session: DbSession) -> PoolProductOut:
    return PoolProductOut.of(service.get_pool_product(session, user, product_id))


# --- coupon batches ------------------------------------------------------------------------


@router.get("/coupon-batches", response_model=PageOut[CouponBatchOut])
def list_coupon_batches(
    user: ApiUser,
    session: DbSession,
    merchant_id: int | None = None,
    product_id: int | None = None,
    active: bool | None = None,
    page: int = 1,
    size: int = 50,
) -> PageOut[CouponBatchOut]:
    result = service.list_coupon_batches(
        session, user, PageRequest(page, size), merchant_id, product_id, active
    )
    return PageOut(
        items=[CouponBatchOut.model_validate(item) for item in result.items],
        total=result.total,
        page=result.request.page,
        size=result.request.size,
    )


@router.post("/coupon-batches", response_model=CouponBatchOut, status_code=201)
def create_coupon_batch(
    data: CouponBatchCreate, user: ApiUser, session: DbSession
) -> CouponBatchOut:
    return CouponBatchOut.model_validate(service.create_coupon_batch(session, user, data))


@router.get("/coupon-batches/{coupon_batch_id}", response_model=CouponBatchOut)
def get_coupon_batch(coupon_batch_id: int, user: ApiUser, session: DbSession) -> CouponBatchOut:
    return CouponBatchOut.model_validate(service.get_coupon_batch(session, user, coupon_batch_id))


@router.patch("/coupon-batches/{coupon_batch_id}", response_model=CouponBatchOut)
def update_coupon_batch(
    coupon_batch_id: int, data: CouponBatchUpdate, user: ApiUser, session: DbSession
) -> CouponBatchOut:
    coupon_batch = service.set_coupon_batch_active(session, user, coupon_batch_id, data.is_active)
    return CouponBatchOut.model_validate(coupon_batch)
