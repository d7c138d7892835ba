"""The signed order webhooks (docs/orders-webhook.md): ``POST /api/v1/webhooks/orders`` creates
orders, ``POST /api/v1/webhooks/order-events`` reports what happened to them afterwards
(shipped, received, cancelled, after-sales and refunds).

The signature is checked over the raw body before it is parsed, so a tampered or unsigned
delivery is refused (401) before anything reads or writes the database.
"""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.config import current_settings
from siyu.errors import Conflict, NotFound, ValidationFailed
from siyu.models import (
    AfterSale,
    AfterSaleStatus,
    Order,
    OrderEvent,
    OrderEventType,
    OrderSource,
    OrderStatus,
)
from siyu.orders import rules, service
from siyu.orders.repository import OrderRepository
from siyu.orders.routes import order_out
from siyu.orders.schemas import (
    DraftLine,
    OrderDraft,
    OrderEventOut,
    WebhookOrder,
    WebhookOrderEvent,
)
from siyu.web.deps import DbSession

router = APIRouter(tags=["orders"])


class WebhookPayloadInvalid(ValidationFailed):
    code = "webhook_payload_invalid"
    message_en = "The body is not a valid order payload: {detail}"
    message_zh = "订单数据格式不正确：{detail}"


class ExternalOrderNotFound(NotFound):
    code = "external_order_not_found"
    message_en = "No webhook order {order_id!r} of merchant {merchant_id} is known."
    message_zh = "找不到该外部订单（{order_id}），请先推送订单。"


class ExternalLineNotFound(NotFound):
    code = "external_line_not_found"
    message_en = "Order {order_id!r} has no line {line_id!r}."
    message_zh = "订单 {order_id} 中没有商品行 {line_id}。"


class ExternalAfterSaleNotFound(NotFound):
    code = "external_after_sale_not_found"
    message_en = "No after-sale {after_sale_id!r} is known for order {order_id!r}."
    message_zh = "找不到售后单 {after_sale_id}，请先推送售后申请。"


class ExternalAfterSaleConflict(Conflict):
    code = "external_after_sale_conflict"
    message_en = "After-sale {after_sale_id!r} is already {status} and cannot become {wanted}."
    message_zh = "售后单 {after_sale_id} 已处理（{status_zh}），不能再改为{wanted_zh}。"


def _problem(error: ValueError | ValidationError) -> str:
    """The first problem, naming the field: ``lines.0.quantity: Input should be …``."""
    if isinstance(error, ValidationError) and error.errors():
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{where}: {first['msg']}"[:200]
    return str(error).splitlines()[0][:200]


def draft_of(payload: WebhookOrder) -> OrderDraft:
    return OrderDraft(
        lines=tuple(
            DraftLine(
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                external_line_id=line.line_id,
            )
            for line in payload.lines
        ),
        phone=payload.buyer.phone,
        union_id=payload.buyer.union_id,
        nickname=payload.buyer.nickname,
        source=OrderSource.WEBHOOK,
        external_order_id=payload.order_id,
        merchant_id=payload.merchant_id,
        freight_fen=payload.freight_fen,
        click_token=payload.click_token,
        buyer_ip_hash=payload.ip_hash,
        buyer_device_hash=payload.device_hash,
        address_hash=payload.address_hash,
        region=payload.region,
        paid_at=payload.paid_at,
    )


def receive(session: Session, body: bytes, signature: str | None, now_unix: int) -> Order:
    """Verify, parse and place (idempotent on the external order id)."""
    rules.verify_signature(current_settings().order_webhook_secret, signature, body, now_unix)
    try:
        payload = WebhookOrder.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        raise WebhookPayloadInvalid(detail=_problem(error)) from None
    if len({line.line_id for line in payload.lines}) != len(payload.lines):
        raise WebhookPayloadInvalid(detail="line_id values must be unique within an order")
    return service.place_order(session, draft_of(payload))


# Which fields each event type needs besides the order.
_NEEDS: dict[OrderEventType, tuple[str, ...]] = {
    OrderEventType.SHIPPED: (),
    OrderEventType.RECEIVED: (),
    OrderEventType.CANCELLED: (),
    OrderEventType.AFTER_SALE_OPENED: ("line_id", "after_sale_id", "amount_fen"),
    OrderEventType.AFTER_SALE_APPROVED: ("after_sale_id",),
    OrderEventType.AFTER_SALE_REJECTED: ("after_sale_id",),
    OrderEventType.REFUNDED: ("line_id", "after_sale_id", "amount_fen"),
}
# Order states in which a lifecycle event needs no change (a late or repeated report).
_ALREADY: dict[OrderEventType, frozenset[OrderStatus]] = {
    OrderEventType.SHIPPED: frozenset({OrderStatus.SHIPPED, OrderStatus.RECEIVED}),
    OrderEventType.RECEIVED: frozenset({OrderStatus.RECEIVED}),
    OrderEventType.CANCELLED: frozenset({OrderStatus.CANCELLED}),
}
_EXTERNAL_REJECT_REASON = "外部平台已拒绝售后"


def parse_event(body: bytes) -> WebhookOrderEvent:
    try:
        event = WebhookOrderEvent.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        raise WebhookPayloadInvalid(detail=_problem(error)) from None
    missing = [name for name in _NEEDS[event.type] if getattr(event, name) is None]
    if missing:
        raise WebhookPayloadInvalid(detail=f"{event.type.value} needs {', '.join(missing)}")
    return event


def receive_event(
    session: Session, body: bytes, signature: str | None, now_unix: int
) -> tuple[OrderEvent, bool]:
    """Verify, parse and apply one order event; returns (inbox row, was it a duplicate).

    Exactly one effect per event id: the order is locked first, then the inbox is read, and the
    inbox row is written in the same transaction as the effect (a racing duplicate waits on the
    order lock and then finds the row; the unique index is the last word).
    """
    rules.verify_signature(current_settings().order_webhook_secret, signature, body, now_unix)
    event = parse_event(body)
    repository = OrderRepository(session)
    order = repository.by_external(OrderSource.WEBHOOK, event.order_id)
    if order is None or any(line.merchant_id != event.merchant_id for line in order.lines):
        raise ExternalOrderNotFound(order_id=event.order_id, merchant_id=event.merchant_id)
    order = repository.get_for_update(order.id)
    assert order is not None
    existing = repository.event(OrderSource.WEBHOOK, event.event_id)
    if existing is not None:
        return existing, True
    try:
        with session.begin_nested():
            row = _apply(session, repository, order, event)
            session.add(row)
            session.flush()
    except IntegrityError:
        existing = repository.event(OrderSource.WEBHOOK, event.event_id)
        if existing is None:
            raise
        return existing, True
    return row, False


def _apply(
    session: Session, repository: OrderRepository, order: Order, event: WebhookOrderEvent
) -> OrderEvent:
    after_sale: AfterSale | None = None
    outcome = "applied"
    kind = event.type
    if kind in _ALREADY:
        if order.status in _ALREADY[kind]:
            outcome = "already"
        elif kind == OrderEventType.SHIPPED:
            service.ship_order(session, None, order.id)
        elif kind == OrderEventType.RECEIVED:
            service.confirm_receipt(session, None, order.id)
        else:
            service.cancel_order(session, None, order.id)
    else:
        after_sale, outcome = _apply_after_sale(session, repository, order, event)
    return OrderEvent(
        source=OrderSource.WEBHOOK,
        event_id=event.event_id,
        type=kind,
        order_id=order.id,
        after_sale_id=after_sale.id if after_sale is not None else None,
        outcome=outcome,
        detail={
            "line_id": event.line_id,
            "after_sale_id": event.after_sale_id,
            "amount_fen": event.amount_fen,
        },
    )


def _after_sale_key(event: WebhookOrderEvent) -> str:
    return f"{OrderSource.WEBHOOK.value}:{event.order_id}:{event.after_sale_id}"


def _apply_after_sale(
    session: Session, repository: OrderRepository, order: Order, event: WebhookOrderEvent
) -> tuple[AfterSale, str]:
    key = _after_sale_key(event)
    after_sale = repository.after_sale_by_external(key)
    opens = event.type in (OrderEventType.AFTER_SALE_OPENED, OrderEventType.REFUNDED)
    if after_sale is None:
        if not opens:
            raise ExternalAfterSaleNotFound(
                after_sale_id=event.after_sale_id, order_id=event.order_id
            )
        line_key = f"{OrderSource.WEBHOOK.value}:{event.order_id}:{event.line_id}"
        line = repository.line_by_external_key(line_key)
        if line is None or line.order_id != order.id:
            raise ExternalLineNotFound(order_id=event.order_id, line_id=event.line_id)
        assert event.amount_fen is not None
        after_sale = service.request_after_sale(
            session,
            None,
            line.id,
            event.amount_fen,
            kind=event.kind,
            reason=event.reason,
            external_id=key,
        )
        if event.type == OrderEventType.AFTER_SALE_OPENED:
            return after_sale, "applied"
    wanted = {
        OrderEventType.AFTER_SALE_OPENED: AfterSaleStatus.REQUESTED,
        OrderEventType.AFTER_SALE_APPROVED: AfterSaleStatus.APPROVED,
        OrderEventType.REFUNDED: AfterSaleStatus.APPROVED,
        OrderEventType.AFTER_SALE_REJECTED: AfterSaleStatus.REJECTED,
    }[event.type]
    if after_sale.status == wanted:
        return after_sale, "already"
    if after_sale.status != AfterSaleStatus.REQUESTED:
        labels = {AfterSaleStatus.APPROVED: "已退款", AfterSaleStatus.REJECTED: "已拒绝"}
        raise ExternalAfterSaleConflict(
            after_sale_id=event.after_sale_id,
            status=after_sale.status.value,
            wanted=wanted.value,
            status_zh=labels.get(after_sale.status, "处理中"),
            wanted_zh=labels.get(wanted, "处理中"),
        )
    approve = wanted == AfterSaleStatus.APPROVED
    reason = event.reason.strip() or ("" if approve else _EXTERNAL_REJECT_REASON)
    service.decide_after_sale(session, None, after_sale.id, approve=approve, reason=reason)
    return after_sale, "applied"


@router.post("/webhooks/order-events")
async def order_event_webhook(request: Request, session: DbSession) -> JSONResponse:
    body = await request.body()
    signature = request.headers.get(rules.SIGNATURE_HEADER)
    row, duplicate = await run_in_threadpool(
        receive_event, session, body, signature, int(time.time())
    )
    order = await run_in_threadpool(service.get_order, session, None, row.order_id)
    answer = OrderEventOut(
        event_id=row.event_id,
        type=row.type,
        outcome=row.outcome,
        duplicate=duplicate,
        order=order_out(None, order),
    )
    return JSONResponse(answer.model_dump(mode="json"))


@router.post("/webhooks/orders")
async def order_webhook(request: Request, session: DbSession) -> JSONResponse:
    body = await request.body()
    signature = request.headers.get(rules.SIGNATURE_HEADER)
    # The database work is synchronous: keep it off the event loop.
    order = await run_in_threadpool(receive, session, body, signature, int(time.time()))
    return JSONResponse(order_out(None, order).model_dump(mode="json"))
