"""Console pages for the catalog: merchants, products, platform review (选品), coupon batches.

People type money in 元 ("59.90") and rates in % ("5.5"); they are parsed here, at the edge, into
fen and basis points. A refused form is shown again with what was typed and the reasons in
Chinese; nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from siyu.auth.principal import Principal
from siyu.catalog import rules, service
from siyu.catalog.schemas import (
    CouponBatchCreate,
    MerchantCreate,
    MerchantUpdate,
    ProductCreate,
    ProductUpdate,
)
from siyu.config import current_settings
from siyu.errors import AppError, RateInvalid
from siyu.kit.money import format_percent, parse_percent, parse_yuan
from siyu.kit.pagination import PageRequest
from siyu.kit.time import SHANGHAI, parse_shanghai_local, utc_now
from siyu.models import MerchantStatus, Product, ReviewStatus, Role
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
DETAIL_LIST_SIZE = 50
FORM_INVALID_ZH = "提交的内容格式不正确，请检查后重试。"
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class FormInvalid(AppError):
    status = 422
    code = "form_invalid"
    message_en = "Invalid form input."
    message_zh = "{detail_zh}"


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _safe_back(url: str, fallback: str) -> str:
    if url.startswith("/console/") and not url.startswith("//"):
        return url
    return fallback


def _optional_int(text: str) -> int | None:
    cleaned = text.strip()
    return int(cleaned) if cleaned.isdigit() else None


def yuan_input(fen: int | None) -> str:
    """Fen as people type it back into a form: 5990 -> "59.90" (no thousands separators)."""
    if fen is None:
        return ""
    return f"{fen // 100}.{fen % 100:02d}"


def percent_input(bp: int) -> str:
    return format_percent(bp).removesuffix("%")


class _Errors:
    """Collects every field problem of one form so a person can fix them all at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, error: AppError) -> None:
        self.messages.append(error.zh)

    def yuan(self, text: str, field: str, field_zh: str, *, required: bool = True) -> int | None:
        if not text.strip():
            if required:
                self.add(rules.TextRequired(field=field, field_zh=field_zh))
            return None
        try:
            return parse_yuan(text, field, field_zh)
        except AppError as error:
            self.add(error)
            return None

    def percent(self, text: str, field: str, field_zh: str) -> int | None:
        if not text.strip():
            self.add(rules.TextRequired(field=field, field_zh=field_zh))
            return None
        try:
            return parse_percent(text, field, field_zh)
        except RateInvalid:
            # Quote what the person typed ("120"), not the basis points it became (12000).
            self.add(RateInvalid(field=field, field_zh=field_zh, value=text.strip()))
            return None

    def whole(self, text: str, error: AppError) -> int | None:
        cleaned = text.strip()
        if not cleaned.lstrip("-").isdigit():
            self.add(error)
            return None
        return int(cleaned)

    def moment(self, text: str, field_zh: str) -> datetime | None:
        try:
            return parse_shanghai_local(text)
        except ValueError:
            self.messages.append(f"请选择有效的{field_zh}。")
            return None


def _upload_bytes(upload: UploadFile | None) -> bytes | None:
    # A form with an empty file input still sends a part with an empty file name.
    if upload is None or not upload.filename:
        return None
    # One byte over the limit is enough for the size check; no more is held in memory.
    return upload.file.read(current_settings().upload_max_bytes + 1)


# --- merchants -----------------------------------------------------------------------------


class MerchantForm(BaseModel):
    name: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    status: str = ""


def _merchants_page(
    request: Request,
    user: Principal,
    session: DbSession,
    page: int,
    q: str,
    form: MerchantForm | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    merchants = service.list_merchants(session, user, PageRequest(page, PAGE_SIZE), q)
    phones = {item.id: service.masked_contact_phone(item) for item in merchants.items}
    return render(
        request,
        "console/merchants.html",
        {
            "merchants": merchants,
            "pager": merchants,
            "phones": phones,
            "q": q,
            "form": form or MerchantForm(),
            "errors": errors or [],
        },
        status_code=status_code,
        user=user,
    )


@router.get("/console/merchants")
def merchants_page(
    request: Request, user: ConsoleUser, session: DbSession, page: int = 1, q: str = ""
) -> Response:
    if user.role == Role.MERCHANT and user.merchant_id is not None:
        return _redirect(f"/console/merchants/{user.merchant_id}")
    user.require_platform()
    return _merchants_page(request, user, session, page, q)


@router.post("/console/merchants", dependencies=[CsrfChecked])
def merchants_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    form: Annotated[MerchantForm, Form()],
) -> Response:
    try:
        merchant = service.create_merchant(
            session,
            user,
            MerchantCreate(
                name=form.name,
                contact_name=form.contact_name,
                contact_phone=form.contact_phone or None,
            ),
        )
    except ValidationError:
        return _merchants_page(request, user, session, 1, "", form, [FORM_INVALID_ZH], 422)
    except AppError as error:
        return _merchants_page(request, user, session, 1, "", form, [error.zh], error.status)
    flash(request, f"已创建商家“{merchant.name}”。")
    return _redirect(f"/console/merchants/{merchant.id}")


def _merchant_detail(
    request: Request,
    user: Principal,
    session: DbSession,
    merchant_id: int,
    form: MerchantForm | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    merchant = service.get_merchant(session, user, merchant_id)
    products = service.list_products(
        session, user, PageRequest(1, DETAIL_LIST_SIZE), merchant_id=merchant.id
    )
    coupons = service.list_coupon_batches(
        session, user, PageRequest(1, DETAIL_LIST_SIZE), merchant_id=merchant.id
    )
    if form is None:
        form = MerchantForm(
            name=merchant.name, contact_name=merchant.contact_name, status=merchant.status.value
        )
    return render(
        request,
        "console/merchant_detail.html",
        {
            "merchant": merchant,
            "phone": service.masked_contact_phone(merchant),
            "products": products,
            "coupons": coupons,
            "form": form,
            "errors": errors or [],
            "statuses": list(MerchantStatus),
        },
        status_code=status_code,
        user=user,
    )


@router.get("/console/merchants/{merchant_id}")
def merchant_detail_page(
    request: Request, merchant_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    return _merchant_detail(request, user, session, merchant_id)


@router.post("/console/merchants/{merchant_id}", dependencies=[CsrfChecked])
def merchant_update(
    request: Request,
    merchant_id: int,
    user: ConsoleUser,
    session: DbSession,
    form: Annotated[MerchantForm, Form()],
    clear_phone: Annotated[str, Form()] = "",
) -> Response:
    changes: dict[str, Any] = {"name": form.name, "contact_name": form.contact_name}
    if form.contact_phone.strip() or clear_phone == "1":
        changes["contact_phone"] = form.contact_phone or None
    if form.status in {status.value for status in MerchantStatus}:
        changes["status"] = form.status
    try:
        merchant = service.update_merchant(
            session, user, merchant_id, MerchantUpdate.model_validate(changes)
        )
    except ValidationError:
        return _merchant_detail(request, user, session, merchant_id, form, [FORM_INVALID_ZH], 422)
    except AppError as error:
        if error.status in (403, 404):
            raise
        return _merchant_detail(request, user, session, merchant_id, form, [error.zh], error.status)
    flash(request, f"已保存商家“{merchant.name}”。")
    return _redirect(f"/console/merchants/{merchant.id}")


# --- products ------------------------------------------------------------------------------


class ProductForm(BaseModel):
    merchant_id: str = ""
    title: str = ""
    category: str = ""
    product_line: str = ""
    image_url: str = ""
    description: str = ""
    list_price: str = ""
    promo_price: str = ""
    stock: str = ""
    commission_rate: str = ""
    fixed_commission: str = ""

    @classmethod
    def of(cls, product: Product) -> ProductForm:
        return cls(
            merchant_id=str(product.merchant_id),
            title=product.title,
            category=product.category,
            product_line=product.product_line,
            image_url=product.image_url,
            description=product.description,
            list_price=yuan_input(product.list_price_fen),
            promo_price=yuan_input(product.promo_price_fen),
            stock=str(product.stock),
            commission_rate=percent_input(product.commission_rate_bp),
            fixed_commission=yuan_input(product.fixed_commission_fen),
        )


def _parse_product_form(form: ProductForm, errors: _Errors) -> dict[str, Any]:
    """The form as API field values (fen, bp); problems go to ``errors``."""
    values: dict[str, Any] = {
        "title": form.title,
        "category": form.category,
        "product_line": form.product_line,
        "image_url": form.image_url,
        "description": form.description,
        "list_price_fen": errors.yuan(form.list_price, "list_price_fen", "划线价"),
        "promo_price_fen": errors.yuan(form.promo_price, "promo_price_fen", "到手价"),
        "stock": errors.whole(
            form.stock, rules.StockInvalid(value=form.stock, limit=rules.MAX_STOCK)
        ),
        "commission_rate_bp": errors.percent(
            form.commission_rate, "commission_rate_bp", "佣金比例"
        ),
        "fixed_commission_fen": errors.yuan(
            form.fixed_commission, "fixed_commission_fen", "每件固定佣金", required=False
        ),
    }
    return values


def _product_form_page(
    request: Request,
    user: Principal,
    session: DbSession,
    form: ProductForm,
    product: Product | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/product_form.html",
        {
            "form": form,
            "product": product,
            "errors": errors or [],
            "merchants": service.merchant_choices(session, user) if user.is_platform else [],
            "max_upload_mb": rules.format_megabytes(current_settings().upload_max_bytes),
        },
        status_code=status_code,
        user=user,
    )


@router.get("/console/products")
def products_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    page: int = 1,
    q: str = "",
    status: str = "",
    merchant_id: str = "",
) -> Response:
    review_status = ReviewStatus(status) if status in set(ReviewStatus) else None
    merchant_filter = _optional_int(merchant_id)
    products = service.list_products(
        session,
        user,
        PageRequest(page, PAGE_SIZE),
        status=review_status,
        merchant_id=merchant_filter,
        query=q,
    )
    return render(
        request,
        "console/products.html",
        {
            "products": products,
            "counts": service.count_products_by_status(session, user),
            "q": q,
            "status": status if review_status else "",
            "merchant_id": merchant_filter or "",
            "merchants": service.merchant_choices(session, user) if user.is_platform else [],
            "statuses": list(ReviewStatus),
        },
        user=user,
    )


@router.get("/console/products/new")
def product_new_page(
    request: Request, user: ConsoleUser, session: DbSession, merchant_id: str = ""
) -> Response:
    if not user.is_platform:
        user.require(Role.MERCHANT)
    return _product_form_page(
        request, user, session, ProductForm(merchant_id=merchant_id, commission_rate="10")
    )


@router.post("/console/products", dependencies=[CsrfChecked])
def product_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    form: Annotated[ProductForm, Form()],
    image_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    errors = _Errors()
    values = _parse_product_form(form, errors)
    values["merchant_id"] = _optional_int(form.merchant_id)
    if errors.messages:
        return _product_form_page(request, user, session, form, None, errors.messages, 422)
    try:
        product = service.create_product(
            session, user, ProductCreate.model_validate(values), image=_upload_bytes(image_file)
        )
    except ValidationError:
        return _product_form_page(request, user, session, form, None, [FORM_INVALID_ZH], 422)
    except AppError as error:
        if error.status == 403:
            raise
        return _product_form_page(request, user, session, form, None, [error.zh], error.status)
    flash(request, f"已提交商品“{product.title}”，等待平台审核入池。")
    return _redirect(f"/console/products/{product.id}")


def _review_page(
    request: Request, user: Principal, session: DbSession, page: int, pool_page: int
) -> Response:
    queue = service.review_queue(session, user, PageRequest(page, PAGE_SIZE))
    pool = service.list_pool(session, user, PageRequest(pool_page, PAGE_SIZE))
    return render(
        request,
        "console/review.html",
        {
            "queue": queue,
            "pool": pool,
            "default_take": percent_input(current_settings().platform_take_bp),
        },
        user=user,
    )


@router.get("/console/products/review")
def review_page(
    request: Request, user: ConsoleUser, session: DbSession, page: int = 1, pool_page: int = 1
) -> Response:
    return _review_page(request, user, session, page, pool_page)


@router.get("/console/products/{product_id}")
def product_detail_page(
    request: Request, product_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    product = service.get_product(session, user, product_id)
    coupons = service.list_coupon_batches(
        session, user, PageRequest(1, DETAIL_LIST_SIZE), product_id=product.id
    )
    take_default = (
        product.platform_take_bp
        if product.review_status != ReviewStatus.PENDING
        else current_settings().platform_take_bp
    )
    return render(
        request,
        "console/product_detail.html",
        {
            "product": product,
            "coupons": coupons,
            "estimated": rules.estimated_promoter_commission_fen(
                product.promo_price_fen,
                product.commission_rate_bp,
                product.fixed_commission_fen,
                product.platform_take_bp,
            ),
            "default_take": percent_input(take_default),
        },
        user=user,
    )


@router.get("/console/products/{product_id}/edit")
def product_edit_page(
    request: Request, product_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    product = service.get_product(session, user, product_id)
    return _product_form_page(request, user, session, ProductForm.of(product), product)


@router.post("/console/products/{product_id}/edit", dependencies=[CsrfChecked])
def product_update(
    request: Request,
    product_id: int,
    user: ConsoleUser,
    session: DbSession,
    form: Annotated[ProductForm, Form()],
    image_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    product = service.get_product(session, user, product_id)
    previous_status = product.review_status
    errors = _Errors()
    values = _parse_product_form(form, errors)
    if errors.messages:
        return _product_form_page(request, user, session, form, product, errors.messages, 422)
    try:
        product = service.update_product(
            session,
            user,
            product_id,
            ProductUpdate.model_validate(values),
            image=_upload_bytes(image_file),
        )
    except ValidationError:
        return _product_form_page(request, user, session, form, product, [FORM_INVALID_ZH], 422)
    except AppError as error:
        if error.status in (403, 404):
            raise
        return _product_form_page(request, user, session, form, product, [error.zh], error.status)
    if previous_status != ReviewStatus.PENDING and product.review_status == ReviewStatus.PENDING:
        flash(request, "已保存。价格或佣金已变更，商品已下架并重新提交平台审核。", "warning")
    else:
        flash(request, "已保存商品信息。")
    return _redirect(f"/console/products/{product.id}")


def _decision(
    request: Request, back: str, product_id: int, action: Callable[[], object], done: str
) -> Response:
    target = _safe_back(back, f"/console/products/{product_id}")
    try:
        action()
    except AppError as error:
        if error.status == 404:
            raise
        flash(request, f"操作未完成：{error.zh}", "danger")
        return _redirect(target)
    flash(request, done)
    return _redirect(target)


@router.post("/console/products/{product_id}/approve", dependencies=[CsrfChecked])
def product_approve(
    request: Request,
    product_id: int,
    user: ConsoleUser,
    session: DbSession,
    take_rate: Annotated[str, Form()] = "",
    rank_weight: Annotated[str, Form()] = "0",
    back: Annotated[str, Form()] = "",
) -> Response:
    def approve() -> None:
        errors = _Errors()
        take = errors.percent(take_rate, "platform_take_bp", "平台提点")
        weight = errors.whole(
            rank_weight or "0",
            rules.RankWeightInvalid(value=rank_weight, limit=rules.MAX_RANK_WEIGHT),
        )
        if errors.messages:
            raise FormInvalid(detail_zh="；".join(errors.messages))
        service.approve_product(session, user, product_id, take, weight or 0)

    return _decision(request, back, product_id, approve, "已审核通过，商品已入池上架。")


@router.post("/console/products/{product_id}/reject", dependencies=[CsrfChecked])
def product_reject(
    request: Request,
    product_id: int,
    user: ConsoleUser,
    session: DbSession,
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    return _decision(
        request,
        back,
        product_id,
        lambda: service.reject_product(session, user, product_id, reason),
        "已驳回，商家将看到驳回原因。",
    )


@router.post("/console/products/{product_id}/shelf", dependencies=[CsrfChecked])
def product_shelf(
    request: Request,
    product_id: int,
    user: ConsoleUser,
    session: DbSession,
    on_shelf: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    wanted = on_shelf == "1"
    return _decision(
        request,
        back,
        product_id,
        lambda: service.set_product_shelf(session, user, product_id, wanted),
        "已上架。" if wanted else "已下架。",
    )


@router.post("/console/products/{product_id}/rank", dependencies=[CsrfChecked])
def product_rank(
    request: Request,
    product_id: int,
    user: ConsoleUser,
    session: DbSession,
    rank_weight: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    def rank() -> None:
        errors = _Errors()
        weight = errors.whole(
            rank_weight, rules.RankWeightInvalid(value=rank_weight, limit=rules.MAX_RANK_WEIGHT)
        )
        if weight is None:
            raise FormInvalid(detail_zh="；".join(errors.messages))
        service.set_product_rank(session, user, product_id, weight)

    return _decision(request, back, product_id, rank, "已调整排序权重。")


# --- coupon batches ------------------------------------------------------------------------


class CouponForm(BaseModel):
    merchant_id: str = ""
    product_id: str = ""
    name: str = ""
    face_value: str = ""
    threshold: str = ""
    total_quantity: str = ""
    per_user_limit: str = "1"
    valid_from: str = ""
    valid_until: str = ""
    is_active: str = ""


def _coupon_form_page(
    request: Request,
    user: Principal,
    session: DbSession,
    form: CouponForm,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    products = (
        [] if user.is_platform else service.list_products(session, user, PageRequest(1, 200)).items
    )
    return render(
        request,
        "console/coupon_form.html",
        {
            "form": form,
            "errors": errors or [],
            "merchants": service.merchant_choices(session, user) if user.is_platform else [],
            "products": products,
        },
        status_code=status_code,
        user=user,
    )


@router.get("/console/coupons")
def coupons_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    page: int = 1,
    merchant_id: str = "",
    active: str = "",
) -> Response:
    merchant_filter = _optional_int(merchant_id)
    active_filter = {"1": True, "0": False}.get(active)
    coupons = service.list_coupon_batches(
        session,
        user,
        PageRequest(page, PAGE_SIZE),
        merchant_id=merchant_filter,
        active=active_filter,
    )
    return render(
        request,
        "console/coupons.html",
        {
            "coupons": coupons,
            "merchant_id": merchant_filter or "",
            "active": active if active_filter is not None else "",
            "merchants": service.merchant_choices(session, user) if user.is_platform else [],
            "now": utc_now(),
        },
        user=user,
    )


@router.get("/console/coupons/new")
def coupon_new_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    merchant_id: str = "",
    product_id: str = "",
) -> Response:
    if not user.is_platform:
        user.require(Role.MERCHANT)
    start = utc_now().astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0)
    start += timedelta(hours=1)
    form = CouponForm(
        merchant_id=merchant_id,
        product_id=product_id,
        valid_from=start.strftime(DATETIME_LOCAL),
        valid_until=(start + timedelta(days=7)).strftime(DATETIME_LOCAL),
        is_active="1",
    )
    return _coupon_form_page(request, user, session, form)


@router.post("/console/coupons", dependencies=[CsrfChecked])
def coupon_create(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    form: Annotated[CouponForm, Form()],
) -> Response:
    errors = _Errors()
    values: dict[str, Any] = {
        "merchant_id": _optional_int(form.merchant_id),
        "product_id": _optional_int(form.product_id),
        "name": form.name,
        "face_value_fen": errors.yuan(form.face_value, "face_value_fen", "券面额"),
        "threshold_fen": errors.yuan(form.threshold, "threshold_fen", "使用门槛"),
        "total_quantity": errors.whole(
            form.total_quantity,
            rules.QuantityInvalid(
                field="total_quantity",
                field_zh="发放总量",
                value=form.total_quantity,
                limit=rules.MAX_QUANTITY,
            ),
        ),
        "per_user_limit": errors.whole(
            form.per_user_limit,
            rules.QuantityInvalid(
                field="per_user_limit",
                field_zh="每人限领",
                value=form.per_user_limit,
                limit=rules.MAX_QUANTITY,
            ),
        ),
        "valid_from": errors.moment(form.valid_from, "生效时间"),
        "valid_until": errors.moment(form.valid_until, "失效时间"),
        "is_active": form.is_active == "1",
    }
    if form.product_id.strip() and values["product_id"] is None:
        errors.messages.append("商品 ID 必须是数字，或留空表示全店通用。")
    if errors.messages:
        return _coupon_form_page(request, user, session, form, errors.messages, 422)
    try:
        coupon_batch = service.create_coupon_batch(
            session, user, CouponBatchCreate.model_validate(values)
        )
    except ValidationError:
        return _coupon_form_page(request, user, session, form, [FORM_INVALID_ZH], 422)
    except AppError as error:
        if error.status == 403:
            raise
        return _coupon_form_page(request, user, session, form, [error.zh], error.status)
    flash(request, f"已创建优惠券“{coupon_batch.name}”。")
    return _redirect("/console/coupons")


@router.post("/console/coupons/{coupon_batch_id}/active", dependencies=[CsrfChecked])
def coupon_set_active(
    request: Request,
    coupon_batch_id: int,
    user: ConsoleUser,
    session: DbSession,
    active: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    coupon_batch = service.set_coupon_batch_active(session, user, coupon_batch_id, active == "1")
    flash(request, f"优惠券“{coupon_batch.name}”已{'启用' if coupon_batch.is_active else '停用'}。")
    return _redirect(_safe_back(back, "/console/coupons"))
