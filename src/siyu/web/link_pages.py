"""H5 pages for tracked links: "我的推广链接" for promoters, and the public landing pages that
the redirect sends consumers to (/m/products/{id}, /m/coupons/{id}) until checkout replaces them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from siyu.auth.principal import Principal
from siyu.catalog import service as catalog_service
from siyu.config import current_settings
from siyu.errors import AppError
from siyu.kit.pagination import PageRequest
from siyu.kit.time import utc_now
from siyu.links import service
from siyu.links.rules import SUB_ID_MAX_LENGTH
from siyu.links.schemas import LinkCreate
from siyu.models import LINK_POSITION_LABELS, LinkPosition, PromoterStatus, Role
from siyu.promoters import service as promoters_service
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render

router = APIRouter(include_in_schema=False)

POOL_CHOICES = 50


def _error(request: Request, error: AppError, user: Principal | None) -> Response:
    return render(
        request,
        "h5/error.html",
        {"status": error.status, "message": error.zh},
        status_code=error.status,
        user=user if user is not None and user.role == Role.PROMOTER else None,
    )


def _gone(request: Request, outcome: str, status: int = 404) -> Response:
    return render(request, "link_unavailable.html", {"outcome": outcome, "status": status}, status)


# ---- public landing pages ---------------------------------------------------------------------


@router.get("/m/products/{product_id}")
def product_landing(
    request: Request, product_id: int, session: DbSession, click: str = ""
) -> Response:
    """Where a product link lands. Checkout replaces the button; the click token rides along."""
    try:
        product = catalog_service.get_pool_product(session, None, product_id)
    except catalog_service.ProductNotFound:
        return _gone(request, "product_gone")
    return render(request, "h5/links_product.html", {"product": product, "click": click[:64]})


@router.get("/m/coupons/{coupon_batch_id}")
def coupon_landing(
    request: Request, coupon_batch_id: int, session: DbSession, click: str = ""
) -> Response:
    try:
        batch = catalog_service.get_coupon_batch(session, None, coupon_batch_id)
    except catalog_service.CouponBatchNotFound:
        return _gone(request, "coupon_gone")
    available = batch.is_active and batch.valid_until > utc_now()
    return render(
        request,
        "h5/links_coupon.html",
        {"batch": batch, "available": available, "click": click[:64]},
    )


# ---- 我的推广链接 -------------------------------------------------------------------------------


@router.get("/h5/links")
def links_page(request: Request, user: ConsoleUser, session: DbSession, page: int = 1) -> Response:
    try:
        promoter = promoters_service.get_own_promoter(session, user)
    except AppError as error:
        return _error(request, error, user)
    links = service.list_links(session, user, PageRequest(page, 20))
    return render(
        request,
        "h5/links.html",
        {
            "promoter": promoter,
            "links": links,
            "stats": service.link_stats(session, user),
            "short_url": service.short_url,
            "is_expired": service.is_expired,
            "position_labels": LINK_POSITION_LABELS,
            "frozen": promoter.status == PromoterStatus.FROZEN,
        },
        user=user,
    )


def _new_form(
    request: Request,
    user: Principal,
    session: DbSession,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    values = values or {}
    promoter = promoters_service.get_own_promoter(session, user)
    pool = catalog_service.list_pool(
        session, user, PageRequest(1, POOL_CHOICES), values.get("q", "")
    )
    return render(
        request,
        "h5/links_new.html",
        {
            "pool": pool.items,
            "values": values,
            "error": error,
            "positions": list(LinkPosition),
            "position_labels": LINK_POSITION_LABELS,
            "sub_id_max": SUB_ID_MAX_LENGTH,
            "expiry_days": current_settings().link_expiry_days,
            "frozen": promoter.status == PromoterStatus.FROZEN,
        },
        status_code=status_code,
        user=user,
    )


@router.get("/h5/links/new")
def new_link_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    product_id: str = "",
    q: str = "",
) -> Response:
    try:
        promoters_service.get_own_promoter(session, user)
    except AppError as error:
        return _error(request, error, user)
    return _new_form(request, user, session, {"product_id": product_id, "q": q.strip()[:50]})


@router.post("/h5/links", dependencies=[CsrfChecked])
def create_link_submit(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    product_id: Annotated[str, Form()] = "",
    position: Annotated[str, Form()] = "",
    sub_id: Annotated[str, Form()] = "",
) -> Response:
    try:
        promoters_service.get_own_promoter(session, user)
    except AppError as error:
        return _error(request, error, user)
    values = {"product_id": product_id, "position": position, "sub_id": sub_id}
    if not product_id.strip().isdigit():
        return _new_form(request, user, session, values, "请选择要推广的商品。", 422)
    if position not in {item.value for item in LinkPosition}:
        return _new_form(request, user, session, values, "请选择推广位。", 422)
    try:
        data = LinkCreate(
            product_id=int(product_id), position=LinkPosition(position), sub_id=sub_id
        )
        link = service.create_link(session, user, data)
    except ValidationError:
        return _new_form(
            request, user, session, values, f"子渠道标识最多 {SUB_ID_MAX_LENGTH} 个字符。", 422
        )
    except AppError as error:
        return _new_form(request, user, session, values, error.zh, error.status)
    flash(request, "推广链接已生成，复制链接或保存二维码去分享吧。")
    return RedirectResponse(f"/h5/links/{link.id}", status_code=303)


@router.get("/h5/links/{link_id}")
def link_detail_page(
    request: Request, link_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    try:
        promoters_service.get_own_promoter(session, user)
        view = service.view_link(session, user, link_id)
    except AppError as error:
        return _error(request, error, user)
    return render(
        request,
        "h5/links_detail.html",
        {
            "view": view,
            "link": view.link,
            "short_url": service.short_url(view.link),
            "long_url": service.long_url(view.link),
            "expired": service.is_expired(view.link),
            "position_labels": LINK_POSITION_LABELS,
        },
        user=user,
    )


@router.get("/h5/links/{link_id}/qr.png")
def link_qr(
    request: Request, link_id: int, user: ConsoleUser, session: DbSession, form: str = "short"
) -> Response:
    try:
        promoters_service.get_own_promoter(session, user)
        link = service.get_link(session, user, link_id)
    except AppError as error:
        return _error(request, error, user)
    return Response(
        service.link_qr_png(link, long_form=form == "long"),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.post("/h5/links/{link_id}/disable", dependencies=[CsrfChecked])
def disable_link_submit(
    request: Request, link_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    try:
        promoters_service.get_own_promoter(session, user)
        service.disable_link(session, user, link_id)
    except AppError as error:
        return _error(request, error, user)
    flash(request, "推广链接已停用，之后的点击会看到“链接已失效”页面。")
    return RedirectResponse(f"/h5/links/{link_id}", status_code=303)
