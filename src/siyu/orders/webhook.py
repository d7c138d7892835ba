"""The signed order webhook: ``POST /api/v1/webhooks/orders`` (docs/orders-webhook.md).

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
from sqlalchemy.orm import Session

from siyu.config import current_settings
from siyu.errors import ValidationFailed
from siyu.models import Order, OrderSource
from siyu.orders import rules, service
from siyu.orders.routes import order_out
from siyu.orders.schemas import DraftLine, OrderDraft, WebhookOrder
from siyu.web.deps import DbSession

router = APIRouter(tags=["orders"])


class WebhookPayloadInvalid(ValidationFailed):
    code = "webhook_payload_invalid"
    message_en = "The body is not a valid order payload: {detail}"
    message_zh = "订单数据格式不正确：{detail}"


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
        raise WebhookPayloadInvalid(detail=str(error).splitlines()[0][:200]) from None
    if len({line.line_id for line in payload.lines}) != len(payload.lines):
        raise WebhookPayloadInvalid(detail="line_id values must be unique within an order")
    return service.place_order(session, draft_of(payload))


@router.post("/webhooks/orders")
async def order_webhook(request: Request, session: DbSession) -> JSONResponse:
    body = await request.body()
    signature = request.headers.get(rules.SIGNATURE_HEADER)
    # The database work is synchronous: keep it off the event loop.
    order = await run_in_threadpool(receive, session, body, signature, int(time.time()))
    return JSONResponse(order_out(None, order).model_dump(mode="json"))
