"""JSON API for orders: list, detail, ship, confirm, cancel, after-sales (thin; see service)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlalchemy.orm import object_session

from siyu.auth.principal import Principal
from siyu.consumers.service import masked_phone
from siyu.kit.pagination import PageRequest
from siyu.models import AfterSale, Consumer, Order, OrderStatus
from siyu.orders import service
from siyu.orders.schemas import (
    AfterSaleDecision,
    AfterSaleIn,
    AfterSaleOut,
    OrderLineOut,
    OrderOut,
)
from siyu.privacy import service as privacy
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["orders"])


def buyer_phone_masked(order: Order) -> str:
    session = object_session(order)
    consumer = session.get(Consumer, order.consumer_id) if session is not None else None
    return masked_phone(consumer) if consumer is not None else "—"


def order_out(actor: Principal | None, order: Order) -> OrderOut:
    return OrderOut(
        id=order.id,
        order_no=order.order_no,
        source=order.source,
        external_order_id=order.external_order_id,
        status=order.status,
        buyer_phone_masked=buyer_phone_masked(order),
        items_fen=order.items_fen,
        coupon_discount_fen=order.coupon_discount_fen,
        freight_fen=order.freight_fen,
        paid_fen=order.paid_fen,
        paid_at=order.paid_at,
        lines=[
            OrderLineOut(
                id=line.id,
                product_id=line.product_id,
                merchant_id=line.merchant_id,
                title=line.title,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                coupon_discount_fen=line.coupon_discount_fen,
                paid_fen=line.paid_fen,
                refunded_fen=line.refunded_fen,
                open_aftersales=line.open_aftersales,
                attribution_source=line.attribution_source,
                link_id=line.link_id,
                l1_promoter_id=line.l1_promoter_id,
                l2_promoter_id=line.l2_promoter_id,
                commission_rate_bp=line.commission_rate_bp,
                fixed_commission_fen=line.fixed_commission_fen,
                platform_take_bp=line.platform_take_bp,
                l2_share_bp=line.l2_share_bp,
            )
            for line in service.visible_lines(actor, order)
        ],
    )


def after_sale_out(after_sale: AfterSale) -> AfterSaleOut:
    return AfterSaleOut(
        id=after_sale.id,
        order_line_id=after_sale.order_line_id,
        kind=after_sale.kind,
        status=after_sale.status,
        amount_fen=after_sale.amount_fen,
        reason=after_sale.reason,
        decision_reason=after_sale.decision_reason,
    )


@router.get("/orders", response_model=list[OrderOut])
def list_orders(
    user: ApiUser,
    session: DbSession,
    status: OrderStatus | None = None,
    merchant_id: int | None = None,
    promoter_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    size: int = 50,
) -> list[OrderOut]:
    result = service.list_orders(
        session,
        user,
        PageRequest(page, size),
        status=status,
        merchant_id=merchant_id,
        promoter_id=promoter_id,
        since=since,
        until=until,
    )
    privacy.record_reads(
        session, user, [order.consumer_id for order in result.items], "api.orders.list"
    )
    return [order_out(user, order) for order in result.items]


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: int, user: ApiUser, session: DbSession) -> OrderOut:
    order = service.get_order(session, user, order_id)
    privacy.record_reads(session, user, [order.consumer_id], "api.orders.detail")
    return order_out(user, order)


@router.post("/orders/{order_id}/ship", response_model=OrderOut)
def ship_order(order_id: int, user: ApiUser, session: DbSession) -> OrderOut:
    return order_out(user, service.ship_order(session, user, order_id))


@router.post("/orders/{order_id}/confirm", response_model=OrderOut)
def confirm_order(order_id: int, user: ApiUser, session: DbSession) -> OrderOut:
    return order_out(user, service.confirm_receipt(session, user, order_id))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: int, user: ApiUser, session: DbSession) -> OrderOut:
    return order_out(user, service.cancel_order(session, user, order_id))


@router.post("/after-sales", response_model=AfterSaleOut, status_code=201)
def request_after_sale(data: AfterSaleIn, user: ApiUser, session: DbSession) -> AfterSaleOut:
    after_sale = service.request_after_sale(
        session, user, data.line_id, data.amount_fen, data.kind, data.reason
    )
    return after_sale_out(after_sale)


@router.post("/after-sales/{after_sale_id}/decision", response_model=AfterSaleOut)
def decide_after_sale(
    after_sale_id: int, data: AfterSaleDecision, user: ApiUser, session: DbSession
) -> AfterSaleOut:
    after_sale = service.decide_after_sale(
        session, user, after_sale_id, approve=data.approve, reason=data.reason
    )
    return after_sale_out(after_sale)
