"""Order pages: the H5 checkout (stands in for the mini-program) and the console's orders.

H5: ``/m/checkout/{product_id}?click=<token>`` → simulated payment → ``/m/orders/{order_no}``.
The click token travels in a hidden field so attribution survives a failed attempt. Console:
``/console/orders`` (filters), detail with attribution and after-sales, actions, CSV import.
Phones are shown masked everywhere.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.catalog import service as catalog_service
from siyu.commissions import service as commissions
from siyu.commissions.rules import NetworkKind
from siyu.consumers.service import masked_phone
from siyu.errors import AppError
from siyu.kit.money import parse_yuan
from siyu.kit.pagination import PageRequest
from siyu.kit.time import SHANGHAI
from siyu.models import (
    AFTERSALE_STATUS_LABELS,
    ORDER_STATUS_LABELS,
    AfterSaleKind,
    Consumer,
    Order,
    OrderStatus,
)
from siyu.orders import imports, service
from siyu.orders.schemas import DraftLine, OrderDraft
from siyu.privacy import service as privacy
from siyu.web.deps import (
    ConsoleUser,
    CsrfChecked,
    DbSession,
    client_ip,
    device_id,
    flash,
    render,
)

router = APIRouter(include_in_schema=False)

MAX_CHECKOUT_QUANTITY = 99


def _network_hash(kind: NetworkKind, raw: str | None) -> str | None:
    return commissions.network_hash(kind, raw) if raw else None


def _buyer_phone(session: Session, order: Order) -> str:
    consumer = session.get(Consumer, order.consumer_id)
    return masked_phone(consumer) if consumer is not None else "—"


# ---- H5 checkout (public) ------------------------------------------------------------------


def _checkout_form(
    request: Request,
    session: Session,
    product_id: int,
    click: str,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        product = catalog_service.get_pool_product(session, None, product_id)
    except AppError as failure:
        return render(
            request,
            "h5/error.html",
            {"status": failure.status, "message": failure.zh},
            status_code=failure.status,
        )
    return render(
        request,
        "h5/checkout.html",
        {
            "product": product,
            "coupons": service.eligible_coupons(session, product),
            "click": click,
            "values": values or {"quantity": "1"},
            "error": error,
            "max_quantity": min(MAX_CHECKOUT_QUANTITY, max(product.stock, 1)),
        },
        status_code=status_code,
    )


@router.get("/m/checkout/{product_id}")
def checkout_page(
    product_id: int, request: Request, session: DbSession, click: str = ""
) -> Response:
    return _checkout_form(request, session, product_id, click[:64])


@router.post("/m/checkout/{product_id}", dependencies=[CsrfChecked])
def checkout_submit(
    product_id: int,
    request: Request,
    session: DbSession,
    quantity: Annotated[str, Form()] = "1",
    phone: Annotated[str, Form()] = "",
    nickname: Annotated[str, Form()] = "",
    coupon_batch_id: Annotated[str, Form()] = "",
    click: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "quantity": quantity,
        "phone": phone,
        "nickname": nickname,
        "coupon_batch_id": coupon_batch_id,
    }
    click = click[:64]
    if not quantity.strip().isdigit() or not 1 <= int(quantity) <= MAX_CHECKOUT_QUANTITY:
        message = f"购买数量应为 1 到 {MAX_CHECKOUT_QUANTITY} 之间的整数。"
        return _checkout_form(request, session, product_id, click, values, message, 422)
    draft = OrderDraft(
        lines=(DraftLine(product_id=product_id, quantity=int(quantity)),),
        phone=phone,
        nickname=nickname,
        coupon_batch_id=int(coupon_batch_id) if coupon_batch_id.isdigit() else None,
        click_token=click or None,
        buyer_ip_hash=_network_hash(NetworkKind.IP, client_ip(request)),
        buyer_device_hash=_network_hash(NetworkKind.DEVICE, device_id(request)),
    )
    try:
        # A savepoint inside place_order undoes the attempt; the form comes back with the input.
        order = service.place_order(session, draft)
    except AppError as failure:
        return _checkout_form(
            request, session, product_id, click, values, failure.zh, failure.status
        )
    return RedirectResponse(f"/m/orders/{order.order_no}", status_code=303)


@router.get("/m/orders/{order_no}")
def order_status_page(order_no: str, request: Request, session: DbSession) -> Response:
    try:
        order = service.get_order_by_no(session, None, order_no)
    except AppError as failure:
        return render(
            request,
            "h5/error.html",
            {"status": failure.status, "message": failure.zh},
            status_code=failure.status,
        )
    return render(
        request,
        "h5/checkout_done.html",
        {
            "order": order,
            "buyer_phone": _buyer_phone(session, order),
            "status_labels": ORDER_STATUS_LABELS,
        },
    )


# ---- console -------------------------------------------------------------------------------


def _day(text: str, end: bool = False) -> datetime | None:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    return start + timedelta(days=1) if end else start


@router.get("/console/orders")
def orders_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    status: str = "",
    merchant_id: str = "",
    promoter_id: str = "",
    since: str = "",
    until: str = "",
    page: int = 1,
) -> Response:
    filters = {
        "status": status,
        "merchant_id": merchant_id,
        "promoter_id": promoter_id,
        "since": since,
        "until": until,
    }
    try:
        orders = service.list_orders(
            session,
            user,
            PageRequest(page, 50),
            status=OrderStatus(status) if status in set(OrderStatus) else None,
            merchant_id=int(merchant_id) if merchant_id.isdigit() else None,
            promoter_id=int(promoter_id) if promoter_id.isdigit() else None,
            since=_day(since),
            until=_day(until, end=True),
        )
    except AppError as failure:
        return render(
            request,
            "error.html",
            {"status": failure.status, "message": failure.zh},
            status_code=failure.status,
            user=user,
        )
    privacy.record_reads(
        session, user, [order.consumer_id for order in orders.items], "console.orders.list"
    )
    return render(
        request,
        "console/orders.html",
        {
            "orders": orders,
            "filters": filters,
            "phones": {order.id: _buyer_phone(session, order) for order in orders.items},
            "visible": {order.id: service.visible_lines(user, order) for order in orders.items},
            "status_labels": ORDER_STATUS_LABELS,
        },
        user=user,
    )


@router.get("/console/orders/import")
def import_page(request: Request, user: ConsoleUser) -> Response:
    user.require_platform()
    return render(
        request,
        "console/orders_import.html",
        {"columns": imports.COLUMN_HELP, "report": None},
        user=user,
    )


@router.post("/console/orders/import", dependencies=[CsrfChecked])
async def import_submit(
    request: Request, user: ConsoleUser, session: DbSession, file: UploadFile
) -> Response:
    user.require_platform()
    raw = await file.read(imports.MAX_ROWS * 1024)
    error: str | None = None
    report: imports.ImportReport | None = None
    try:
        text = raw.decode("utf-8-sig")
        report = imports.import_orders_csv(session, user, text)
    except UnicodeDecodeError:
        error = "文件不是 UTF-8 编码的 CSV，请用“CSV UTF-8”格式另存后再导入。"
    except AppError as failure:
        error = failure.zh
    return render(
        request,
        "console/orders_import.html",
        {"columns": imports.COLUMN_HELP, "report": report, "error": error},
        status_code=422 if error else 200,
        user=user,
    )


@router.get("/console/orders/{order_id}")
def order_detail_page(
    order_id: int, request: Request, user: ConsoleUser, session: DbSession
) -> Response:
    return _detail(order_id, request, user, session)


def _detail(
    order_id: int,
    request: Request,
    user: Principal,
    session: Session,
    revealed: str | None = None,
    reveal_error: str | None = None,
) -> Response:
    try:
        order = service.get_order(session, user, order_id)
    except AppError as failure:
        return render(
            request,
            "error.html",
            {"status": failure.status, "message": failure.zh},
            status_code=failure.status,
            user=user,
        )
    lines = service.visible_lines(user, order)
    privacy.record_reads(session, user, [order.consumer_id], "console.orders.detail")
    return render(
        request,
        "console/orders_detail.html",
        {
            "order": order,
            "lines": lines,
            "after_sales": service.after_sales_of(session, user, order),
            "buyer_phone": revealed or _buyer_phone(session, order),
            "phone_revealed": revealed is not None,
            "reveal_error": reveal_error,
            "status_labels": ORDER_STATUS_LABELS,
            "after_sale_labels": AFTERSALE_STATUS_LABELS,
            "can_manage": user.is_platform
            or (user.merchant_id is not None and len(lines) == len(order.lines)),
            "is_promoter": user.promoter_id is not None and not user.is_platform,
        },
        user=user,
    )


@router.post("/console/orders/{order_id}/reveal-phone", dependencies=[CsrfChecked])
def reveal_phone(
    order_id: int,
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Platform staff see the full number on this one page view; the read is logged."""
    try:
        order = service.get_order(session, user, order_id)
        phone = privacy.reveal_phone(session, user, order.consumer_id, reason)
    except AppError as failure:
        if failure.status in (401, 403, 404):
            return render(
                request,
                "error.html",
                {"status": failure.status, "message": failure.zh},
                status_code=failure.status,
                user=user,
            )
        return _detail(order_id, request, user, session, reveal_error=failure.zh)
    return _detail(order_id, request, user, session, revealed=phone)


def _back(order_id: int) -> RedirectResponse:
    return RedirectResponse(f"/console/orders/{order_id}", status_code=303)


@router.post("/console/orders/{order_id}/{action}", dependencies=[CsrfChecked])
def order_action(
    order_id: int, action: str, request: Request, user: ConsoleUser, session: DbSession
) -> Response:
    actions = {
        "ship": (service.ship_order, "已发货"),
        "confirm": (service.confirm_receipt, "已确认收货"),
        "cancel": (service.cancel_order, "订单已取消，库存和优惠券已退回"),
    }
    if action not in actions:
        return _back(order_id)
    function, done = actions[action]
    try:
        function(session, user, order_id)
    except AppError as failure:
        session.rollback()
        flash(request, failure.zh, "danger")
        return _back(order_id)
    flash(request, done)
    return _back(order_id)


@router.post("/console/orders/{order_id}/lines/{line_id}/after-sales", dependencies=[CsrfChecked])
def request_after_sale(
    order_id: int,
    line_id: int,
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    amount_yuan: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "refund",
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        amount = parse_yuan(amount_yuan, "amount_yuan", "退款金额")
        service.request_after_sale(
            session,
            user,
            line_id,
            amount,
            AfterSaleKind(kind) if kind in set(AfterSaleKind) else AfterSaleKind.REFUND,
            reason,
        )
    except AppError as failure:
        session.rollback()
        flash(request, failure.zh, "danger")
        return _back(order_id)
    flash(request, "售后申请已提交")
    return _back(order_id)


@router.post("/console/after-sales/{after_sale_id}/{decision}", dependencies=[CsrfChecked])
def decide_after_sale(
    after_sale_id: int,
    decision: str,
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    order_id: Annotated[int, Form()] = 0,
    reason: Annotated[str, Form()] = "",
) -> Response:
    if decision not in ("approve", "reject"):
        return _back(order_id)
    try:
        service.decide_after_sale(
            session, user, after_sale_id, approve=decision == "approve", reason=reason
        )
    except AppError as failure:
        session.rollback()
        flash(request, failure.zh, "danger")
        return _back(order_id)
    flash(request, "已同意退款" if decision == "approve" else "已驳回售后申请")
    return _back(order_id)
