"""Orders: place (H5, webhook, import — one function), ship, confirm, cancel, after-sales.

Never commits. Every check runs before the first write; a failure after a conditional UPDATE
(e.g. the second line is out of stock) raises out of ``place_order``'s savepoint, so nothing of
the attempt is left in the caller's transaction.

Lock order (avoids deadlocks on PostgreSQL): consumer row, then products in id order (the stock
UPDATE), then the coupon batch. The commission hooks run last, inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.commissions import attribution as attribution_rules
from siyu.commissions.rules import CommissionPolicy, allocate_coupon, freeze_snapshot
from siyu.config import current_settings
from siyu.consumers import service as consumers
from siyu.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.kit.money import check_fen, format_yuan
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import ensure_aware, utc_now
from siyu.models import (
    AfterSale,
    AfterSaleKind,
    AfterSaleStatus,
    AttributionSource,
    CouponBatch,
    CouponGrant,
    CouponGrantStatus,
    MerchantStatus,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    Product,
    ReviewStatus,
    Role,
)
from siyu.models.promoters import BindingMode, PromoterStatus
from siyu.orders import rules
from siyu.orders.repository import OrderRepository, is_in_pool
from siyu.orders.schemas import DraftLine, OrderDraft

# The commission hooks land with the commissions helper's service; until then orders still work
# and simply post nothing. Imported by name (no getattr), so a renamed hook fails loudly in mypy.
try:
    from siyu.commissions.service import (  # type: ignore[attr-defined, import-not-found, unused-ignore]
        on_line_refunded,
        on_order_cancelled,
        on_order_placed,
        on_order_received,
        on_order_shipped,
    )

    COMMISSION_HOOKS = True
except ImportError:  # pragma: no cover - depends on what has landed
    COMMISSION_HOOKS = False

MAX_LINES = 200
AUTO_CONFIRM_BATCH = 500
EXTERNAL_ID_MAX_LENGTH = 64


# --- errors -------------------------------------------------------------------------------------


class OrderNotFound(NotFound):
    code = "order_not_found"
    message_en = "Order not found."
    message_zh = "找不到该订单，它可能不存在，或您没有查看权限。"


class AfterSaleNotFound(NotFound):
    code = "after_sale_not_found"
    message_en = "After-sale request not found."
    message_zh = "找不到该售后申请。"


class OrderLineNotFound(NotFound):
    code = "order_line_not_found"
    message_en = "Order line not found."
    message_zh = "找不到该订单商品。"


class ProductNotAvailable(ValidationFailed):
    status = 404
    code = "product_not_available"
    message_en = "Product {product_id} is not available for this order."
    message_zh = "商品（编号 {product_id}）已下架或不可购买，请返回商品列表重新选择。"


class ProductOutOfStock(Conflict):
    code = "product_out_of_stock"
    message_en = "Not enough stock for product {product_id} (asked for {quantity})."
    message_zh = "“{title}”库存不足，请减少购买数量或稍后再试。"


class OrderLinesInvalid(ValidationFailed):
    code = "order_lines_invalid"
    message_en = "An order needs 1–200 lines with quantities of at least 1."
    message_zh = "订单至少需要一件商品，且购买数量至少为 1。"


class ExternalOrderIdRequired(ValidationFailed):
    code = "external_order_id_required"
    message_en = "External orders need external_order_id (≤ 64 characters) and a merchant_id."
    message_zh = "外部订单必须提供外部订单号（不超过 64 个字符）和商家编号。"


class CouponNotApplicable(ValidationFailed):
    code = "coupon_not_applicable"
    message_en = "Coupon batch {batch_id} does not apply: {why}."
    message_zh = "该优惠券不可用：{why_zh}。"


class CouponSoldOut(Conflict):
    code = "coupon_sold_out"
    message_en = "Coupon batch {batch_id} has no coupons left."
    message_zh = "优惠券已被领完，请选择其他优惠券或不使用优惠券。"


class CouponLimitReached(Conflict):
    code = "coupon_limit_reached"
    message_en = "This buyer already holds {held} coupon(s) of batch {batch_id} (limit {limit})."
    message_zh = "每人限用 {limit} 张，您已使用过该优惠券，请选择其他优惠券或不使用优惠券。"


class FreightInvalid(ValidationFailed):
    code = "freight_invalid"
    message_en = "freight_fen must be a non-negative integer."
    message_zh = "运费金额不正确。"


class DecisionReasonRequired(ValidationFailed):
    code = "decision_reason_required"
    message_en = "A rejection needs a reason (1–500 characters)."
    message_zh = "驳回售后申请时请填写原因（不超过 500 字）。"


class AfterSaleAlreadyDecided(Conflict):
    code = "after_sale_already_decided"
    message_en = "The after-sale request is already {status}."
    message_zh = "该售后申请已处理（{status_zh}），请刷新页面查看。"


# --- policy -------------------------------------------------------------------------------------


def current_policy() -> CommissionPolicy:
    """The policy frozen onto new order lines: every commission setting, not only the take."""
    settings = current_settings()
    return CommissionPolicy(
        platform_take_bp=settings.platform_take_bp,
        l2_share_bp=settings.l2_share_bp,
        self_purchase_commission=settings.self_purchase_commission,
        hold_days=settings.hold_days,
        binding_mode=BindingMode(settings.binding_mode),
    )


# --- access -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderScope:
    """What one actor may see of orders: None = everything."""

    merchant_id: int | None = None
    promoter_id: int | None = None

    def sees_line(self, line: OrderLine) -> bool:
        if self.merchant_id is not None and line.merchant_id != self.merchant_id:
            return False
        return self.promoter_id is None or line.l1_promoter_id == self.promoter_id


def scope_of(actor: Principal | None) -> OrderScope:
    if actor is None or actor.is_platform:
        return OrderScope()
    if actor.role == Role.MERCHANT and actor.merchant_id is not None:
        return OrderScope(merchant_id=actor.merchant_id)
    if actor.role == Role.PROMOTER and actor.promoter_id is not None:
        return OrderScope(promoter_id=actor.promoter_id)
    raise PermissionDenied()


def visible_lines(actor: Principal | None, order: Order) -> list[OrderLine]:
    scope = scope_of(actor)
    return [line for line in order.lines if scope.sees_line(line)]


def _require_manager(actor: Principal | None, order: Order) -> None:
    """Platform staff, or the merchant whose lines make up the whole order."""
    scope = scope_of(actor)
    if scope.promoter_id is not None:
        raise PermissionDenied()
    if not visible_lines(actor, order):
        raise OrderNotFound()
    if scope.merchant_id is not None and any(
        line.merchant_id != scope.merchant_id for line in order.lines
    ):
        raise PermissionDenied()


def get_order(session: Session, actor: Principal | None, order_id: int) -> Order:
    order = OrderRepository(session).get(order_id)
    if order is None or not visible_lines(actor, order):
        raise OrderNotFound()
    return order


def get_order_by_no(session: Session, actor: Principal | None, order_no: str) -> Order:
    order = OrderRepository(session).by_order_no(order_no)
    if order is None or not visible_lines(actor, order):
        raise OrderNotFound()
    return order


def list_orders(
    session: Session,
    actor: Principal | None,
    page: PageRequest,
    *,
    status: OrderStatus | None = None,
    merchant_id: int | None = None,
    promoter_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[Order]:
    scope = scope_of(actor)
    if scope.merchant_id is not None:
        merchant_id = scope.merchant_id
    if scope.promoter_id is not None:
        promoter_id = scope.promoter_id
    return OrderRepository(session).list(
        page,
        merchant_id=merchant_id,
        promoter_id=promoter_id,
        status=status,
        since=since,
        until=until,
    )


def after_sales_of(session: Session, actor: Principal | None, order: Order) -> list[AfterSale]:
    line_ids = {line.id for line in visible_lines(actor, order)}
    return [
        a for a in OrderRepository(session).after_sales(order.id) if a.order_line_id in line_ids
    ]


# --- placing an order ---------------------------------------------------------------------------


def _check_draft(draft: OrderDraft) -> None:
    if not 1 <= len(draft.lines) <= MAX_LINES:
        raise OrderLinesInvalid()
    for line in draft.lines:
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int):
            raise OrderLinesInvalid()
        if line.quantity < 1:
            raise OrderLinesInvalid()
        if line.unit_price_fen is not None:
            check_fen(line.unit_price_fen, "unit_price_fen", "成交单价")
    if isinstance(draft.freight_fen, bool) or not isinstance(draft.freight_fen, int):
        raise FreightInvalid()
    if draft.freight_fen < 0:
        raise FreightInvalid()
    if draft.source != OrderSource.H5:
        external = (draft.external_order_id or "").strip()
        if not external or len(external) > EXTERNAL_ID_MAX_LENGTH or draft.merchant_id is None:
            raise ExternalOrderIdRequired()


def _products_for(session: Session, draft: OrderDraft) -> dict[int, Product]:
    repository = OrderRepository(session)
    products = repository.products(sorted({line.product_id for line in draft.lines}))
    for line in draft.lines:
        product = products.get(line.product_id)
        available = product is not None and product.merchant.status == MerchantStatus.ACTIVE
        if product is not None and draft.source == OrderSource.H5:
            available = available and is_in_pool(product)
        elif product is not None:
            # External orders may reference any approved product of their merchant.
            available = (
                available
                and product.review_status == ReviewStatus.APPROVED
                and product.merchant_id == draft.merchant_id
            )
        if not available:
            raise ProductNotAvailable(product_id=line.product_id)
    return products


def _unit_price(draft: OrderDraft, line: DraftLine, product: Product) -> int:
    if draft.source != OrderSource.H5 and line.unit_price_fen is not None:
        return line.unit_price_fen
    return product.promo_price_fen


def _check_coupon(
    batch: CouponBatch | None,
    batch_id: int,
    now: datetime,
    lines: Sequence[tuple[Product, int]],
) -> list[bool]:
    """Which lines the coupon applies to; raises unless the coupon applies to this order."""
    if batch is None or not batch.is_active:
        raise CouponNotApplicable(batch_id=batch_id, why="inactive or unknown", why_zh="券已停用")
    if not ensure_aware(batch.valid_from) <= now < ensure_aware(batch.valid_until):
        raise CouponNotApplicable(
            batch_id=batch_id, why="outside its validity window", why_zh="不在有效期内"
        )
    applies = [
        product.merchant_id == batch.merchant_id
        and (batch.product_id is None or batch.product_id == product.id)
        for product, _amount in lines
    ]
    if not any(applies):
        raise CouponNotApplicable(
            batch_id=batch_id, why="no line is in its scope", why_zh="订单中没有适用该券的商品"
        )
    eligible = sum(amount for (_product, amount), ok in zip(lines, applies, strict=True) if ok)
    if eligible < batch.threshold_fen:
        raise CouponNotApplicable(
            batch_id=batch_id,
            why=f"threshold {batch.threshold_fen} not reached ({eligible})",
            why_zh=f"未满 {format_yuan(batch.threshold_fen)} 元使用门槛",
        )
    return applies


@dataclass(frozen=True)
class _Attributed:
    source: AttributionSource
    promoter_id: int | None
    link_id: int | None
    click_id: int | None
    self_purchase: bool


def _attribute(
    session: Session,
    consumer_id: int,
    bound_promoter_id: int | None,
    buyer_promoter_id: int | None,
    click_token: str | None,
    now: datetime,
    policy: CommissionPolicy,
) -> _Attributed:
    repository = OrderRepository(session)
    since = now - timedelta(days=policy.attribution_window_days)
    clicks = list(repository.earning_clicks(consumer_id, since))
    if click_token:
        clicked = repository.click_by_token(click_token)
        if (
            clicked is not None
            and all(c.id != clicked.id for c in clicks)
            and repository.click_may_earn(clicked)
        ):
            clicks.append(clicked)
    clicks.sort(key=lambda c: c.id)
    bound = bound_promoter_id
    if bound is not None:
        promoter = repository.promoter(bound)
        if promoter is None or promoter.status != PromoterStatus.ACTIVE:
            bound = None
    result = attribution_rules.attribute(
        ordered_at=now,
        clicks=[
            attribution_rules.Click(
                clicked_at=c.clicked_at, link_id=c.link_id, promoter_id=c.promoter_id
            )
            for c in clicks
        ],
        bound_promoter_id=bound,
        buyer_promoter_id=buyer_promoter_id,
        window_days=policy.attribution_window_days,
    )
    click_id: int | None = None
    if result.source == attribution_rules.AttributionSource.CLICK:
        # The winning click is the last one (id order) with that link and time.
        for c in clicks:
            if c.link_id == result.link_id and ensure_aware(c.clicked_at) == result.clicked_at:
                click_id = c.id
    return _Attributed(
        source=AttributionSource(result.source.value),
        promoter_id=result.promoter_id,
        link_id=result.link_id,
        click_id=click_id,
        self_purchase=result.self_purchase,
    )


def place_order(session: Session, draft: OrderDraft) -> Order:
    """Create a paid order from ``draft``; the one way in for H5, webhook and CSV import.

    External orders are idempotent on (source, external order id): a repeat returns the order
    already recorded, with no second effect, also when two deliveries race (the unique index
    decides; the loser's savepoint is rolled back and it returns the winner's order).
    """
    _check_draft(draft)
    repository = OrderRepository(session)
    external_id = (draft.external_order_id or "").strip() or None
    if draft.source != OrderSource.H5 and external_id is not None:
        existing = repository.by_external(draft.source, external_id)
        if existing is not None:
            return existing
    try:
        with session.begin_nested():
            return _place(session, draft, external_id)
    except IntegrityError:
        if draft.source == OrderSource.H5 or external_id is None:
            raise
        existing = repository.by_external(draft.source, external_id)
        if existing is None:
            raise
        return existing


def _place(session: Session, draft: OrderDraft, external_id: str | None) -> Order:
    repository = OrderRepository(session)
    policy = current_policy()
    now = utc_now()
    paid_at = ensure_aware(draft.paid_at) if draft.paid_at is not None else now
    products = _products_for(session, draft)
    consumer = consumers.find_or_create(
        session,
        consumers.ConsumerIdentity(
            phone=draft.phone, union_id=draft.union_id, nickname=draft.nickname
        ),
    )
    consumer = consumers.lock(session, consumer.id)
    consumer_is_new = consumers.is_new(session, consumer)
    buyer_promoter_id = consumers.buyer_promoter_id(session, consumer)

    priced = [
        (
            products[line.product_id],
            _unit_price(draft, line, products[line.product_id]) * line.quantity,
        )
        for line in draft.lines
    ]
    batch: CouponBatch | None = None
    held_grant: CouponGrant | None = None
    applies: list[bool] = [False] * len(priced)
    if draft.coupon_batch_id is not None:
        batch = repository.coupon_batch(draft.coupon_batch_id)
        applies = _check_coupon(batch, draft.coupon_batch_id, now, priced)
        assert batch is not None
        # A coupon already granted (a campaign reward) is used, not a second one taken.
        held_grant = repository.issued_grant(batch.id, consumer.id)
        held = repository.grants_held(batch.id, consumer.id)
        if held_grant is None and held >= batch.per_user_limit:
            raise CouponLimitReached(held=held, batch_id=batch.id, limit=batch.per_user_limit)

    # Stock, products in id order (lock order); 0 rows -> out of stock, savepoint rolls back.
    needed: dict[int, int] = {}
    for line in draft.lines:
        needed[line.product_id] = needed.get(line.product_id, 0) + line.quantity
    for product_id in sorted(needed):
        if not repository.take_stock(product_id, needed[product_id]):
            product = products[product_id]
            raise ProductOutOfStock(
                product_id=product_id, quantity=needed[product_id], title=product.title
            )

    grant: CouponGrant | None = None
    discounts = [0] * len(priced)
    if batch is not None:
        if held_grant is not None:
            grant = held_grant
            grant.status = CouponGrantStatus.USED
            grant.used_at = now
            session.flush()
        else:
            if not repository.take_coupon(batch.id):
                raise CouponSoldOut(batch_id=batch.id)
            grant = CouponGrant(
                coupon_batch_id=batch.id,
                consumer_id=consumer.id,
                status=CouponGrantStatus.USED,
                used_at=now,
            )
            repository.add(grant)
        eligible = [amount if ok else 0 for (_p, amount), ok in zip(priced, applies, strict=True)]
        discounts = list(allocate_coupon(min(batch.face_value_fen, sum(eligible)), eligible))

    attributed = _attribute(
        session,
        consumer.id,
        consumer.bound_promoter_id,
        buyer_promoter_id,
        draft.click_token,
        paid_at,
        policy,
    )
    l1 = repository.promoter(attributed.promoter_id) if attributed.promoter_id else None
    consumers.update_binding(
        session,
        consumer,
        mode=policy.binding_mode,
        candidate=l1,
        consumer_is_new=consumer_is_new,
        buyer_promoter=buyer_promoter_id,
        source=f"order:{attributed.source.value}",
    )
    l2 = repository.promoter(l1.inviter_id) if l1 is not None and l1.inviter_id else None

    items_fen = sum(amount for _p, amount in priced)
    coupon_fen = sum(discounts)
    order = Order(
        order_no=rules.new_order_no(now),
        source=draft.source,
        external_order_id=external_id,
        consumer_id=consumer.id,
        status=OrderStatus.PAID,
        items_fen=items_fen,
        coupon_discount_fen=coupon_fen,
        freight_fen=draft.freight_fen,
        paid_fen=items_fen - coupon_fen + draft.freight_fen,
        coupon_grant_id=grant.id if grant is not None else None,
        click_token=(draft.click_token or None),
        buyer_ip_hash=draft.buyer_ip_hash,
        buyer_device_hash=draft.buyer_device_hash,
        address_hash=draft.address_hash,
        region=draft.region[:64],
        paid_at=paid_at,
        auto_confirm_at=paid_at + timedelta(days=current_settings().auto_confirm_days),
    )
    # The order and its lines go to the database in one flush (no flush for the order's id,
    # no reload of ``order.lines`` afterwards): fewer round trips on the webhook's hot path.
    session.add(order)
    for index, line in enumerate(draft.lines):
        product, amount = priced[index]
        paid = amount - discounts[index]
        snapshot = freeze_snapshot(
            policy,
            paid_fen=paid,
            quantity=line.quantity,
            commission_rate_bp=product.commission_rate_bp,
            fixed_commission_fen=product.fixed_commission_fen,
            l1_promoter_id=l1.id if l1 is not None else None,
            self_purchase=attributed.self_purchase,
            l2_promoter_id=l2.id if l2 is not None else None,
            l2_active=l2 is not None and l2.status == PromoterStatus.ACTIVE,
            platform_take_bp=product.platform_take_bp,
        )
        external_key = None
        if draft.source != OrderSource.H5 and line.external_line_id:
            external_key = f"{draft.source.value}:{external_id}:{line.external_line_id}"
        order.lines.append(
            OrderLine(
                product_id=product.id,
                merchant_id=product.merchant_id,
                external_key=external_key,
                title=product.title,
                quantity=line.quantity,
                unit_price_fen=amount // line.quantity,
                coupon_discount_fen=discounts[index],
                virtual_asset_fen=0,
                paid_fen=paid,
                refunded_fen=0,
                open_aftersales=0,
                attribution_source=attributed.source,
                click_id=attributed.click_id,
                link_id=attributed.link_id,
                l1_promoter_id=snapshot.l1_promoter_id,
                l2_promoter_id=snapshot.l2_promoter_id,
                l2_active=snapshot.l2_active,
                commission_rate_bp=snapshot.commission_rate_bp,
                fixed_commission_fen=snapshot.fixed_commission_fen,
                platform_take_bp=snapshot.platform_take_bp,
                l2_share_bp=snapshot.l2_share_bp,
                self_purchase=snapshot.self_purchase,
                self_purchase_commission=snapshot.self_purchase_commission,
                hold_days=policy.hold_days,
            )
        )
    session.flush()
    if COMMISSION_HOOKS:
        on_order_placed(session, order)
    from siyu.orders import hooks

    hooks.on_order_paid(session, order, consumer_is_new)
    return order


def grant_coupon(session: Session, batch_id: int, consumer_id: int) -> CouponGrant:
    """Give one coupon of a batch to a consumer (a campaign reward): the batch's conditional
    ``issued_quantity`` update, under the batch's per-user limit (the consumer row is locked, so
    two grants to one person cannot both pass the limit)."""
    repository = OrderRepository(session)
    batch = repository.coupon_batch(batch_id)
    now = utc_now()
    if batch is None or not batch.is_active:
        raise CouponNotApplicable(batch_id=batch_id, why="inactive or unknown", why_zh="券已停用")
    if ensure_aware(batch.valid_until) <= now:
        raise CouponNotApplicable(
            batch_id=batch_id, why="outside its validity window", why_zh="不在有效期内"
        )
    consumers.lock(session, consumer_id)
    held = repository.grants_held(batch.id, consumer_id)
    if held >= batch.per_user_limit:
        raise CouponLimitReached(held=held, batch_id=batch.id, limit=batch.per_user_limit)
    if not repository.take_coupon(batch.id):
        raise CouponSoldOut(batch_id=batch.id)
    grant = CouponGrant(
        coupon_batch_id=batch.id, consumer_id=consumer_id, status=CouponGrantStatus.ISSUED
    )
    repository.add(grant)
    return grant


# --- lifecycle ----------------------------------------------------------------------------------


def _locked(session: Session, actor: Principal | None, order_id: int) -> Order:
    order = OrderRepository(session).get_for_update(order_id)
    if order is None or not visible_lines(actor, order):
        raise OrderNotFound()
    _require_manager(actor, order)
    return order


def ship_order(session: Session, actor: Principal | None, order_id: int) -> Order:
    order = _locked(session, actor, order_id)
    order.status = rules.next_status(order.status, "ship")
    now = utc_now()
    order.shipped_at = now
    order.auto_confirm_at = now + timedelta(days=current_settings().auto_confirm_days)
    session.flush()
    if COMMISSION_HOOKS:
        on_order_shipped(session, order)
    return order


def confirm_receipt(session: Session, actor: Principal | None, order_id: int) -> Order:
    order = _locked(session, actor, order_id)
    order.status = rules.next_status(order.status, "confirm")
    order.received_at = utc_now()
    order.auto_confirm_at = None
    session.flush()
    if COMMISSION_HOOKS:
        on_order_received(session, order)
    # A courier of the delivery district gets an "add this customer" task (docs/segments.md).
    from siyu.segments import couriers

    couriers.on_order_received(session, order)
    return order


def auto_confirm_due(session: Session, now: datetime | None = None) -> list[int]:
    """Confirm every paid/shipped order whose auto-confirm time has passed; returns their ids.

    Set-based selection, then one confirmation per id after re-reading it under a row lock, so a
    concurrent manual confirm or cancel wins cleanly and a second run confirms nothing twice.
    """
    moment = now or utc_now()
    confirmed: list[int] = []
    for order_id in OrderRepository(session).due_for_auto_confirm(moment, AUTO_CONFIRM_BATCH):
        order = OrderRepository(session).get_for_update(order_id)
        if order is None or order.status not in (OrderStatus.PAID, OrderStatus.SHIPPED):
            continue
        if order.auto_confirm_at is None or ensure_aware(order.auto_confirm_at) > moment:
            continue
        confirm_receipt(session, None, order_id)
        confirmed.append(order_id)
    return confirmed


def cancel_order(session: Session, actor: Principal | None, order_id: int) -> Order:
    """Before shipping only: stock goes back and the coupon returns to its batch."""
    order = _locked(session, actor, order_id)
    order.status = rules.next_status(order.status, "cancel")
    order.cancelled_at = utc_now()
    order.auto_confirm_at = None
    repository = OrderRepository(session)
    for product_id in sorted({line.product_id for line in order.lines}):
        quantity = sum(line.quantity for line in order.lines if line.product_id == product_id)
        repository.return_stock(product_id, quantity)
    if order.coupon_grant_id is not None:
        grant = repository.coupon_grant(order.coupon_grant_id)
        if grant is not None and grant.status != CouponGrantStatus.RELEASED:
            grant.status = CouponGrantStatus.RELEASED
            repository.return_coupon(grant.coupon_batch_id)
    session.flush()
    if COMMISSION_HOOKS:
        on_order_cancelled(session, order)
    return order


def request_after_sale(
    session: Session,
    actor: Principal | None,
    line_id: int,
    amount_fen: int,
    kind: AfterSaleKind = AfterSaleKind.REFUND,
    reason: str = "",
    external_id: str | None = None,
) -> AfterSale:
    """Refund all or part of a line: amount ≤ paid − refunded − requests still open."""
    repository = OrderRepository(session)
    line = repository.line_for_update(line_id)
    if line is None:
        raise OrderLineNotFound()
    order = repository.get(line.order_id)
    assert order is not None
    if not scope_of(actor).sees_line(line):
        raise OrderLineNotFound()
    if order.status == OrderStatus.CANCELLED:
        raise rules.OrderTransitionInvalid(
            status=order.status.value,
            action="refund",
            status_zh=rules.STATUS_LABELS[order.status],
            action_zh=rules.ACTION_LABELS["refund"],
        )
    available = rules.refundable_fen(
        line.paid_fen, line.refunded_fen, repository.open_requests_fen(line.id)
    )
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise rules.AfterSaleAmountInvalid(available_yuan=format_yuan(available))
    if not 1 <= amount_fen <= available:
        raise rules.AfterSaleAmountInvalid(available_yuan=format_yuan(available))
    after_sale = AfterSale(
        order_line_id=line.id,
        kind=kind,
        status=AfterSaleStatus.REQUESTED,
        amount_fen=amount_fen,
        reason=reason.strip()[:500],
        external_id=external_id,
    )
    repository.add(after_sale)
    line.open_aftersales += 1
    session.flush()
    return after_sale


def decide_after_sale(
    session: Session,
    actor: Principal | None,
    after_sale_id: int,
    *,
    approve: bool,
    reason: str = "",
) -> AfterSale:
    """Approve (the money goes back: refunded_fen grows) or reject with a reason."""
    repository = OrderRepository(session)
    after_sale = repository.after_sale_for_update(after_sale_id)
    if after_sale is None:
        raise AfterSaleNotFound()
    line = repository.line_for_update(after_sale.order_line_id)
    assert line is not None
    order = repository.get(line.order_id)
    assert order is not None
    if not scope_of(actor).sees_line(line):
        raise AfterSaleNotFound()
    if scope_of(actor).promoter_id is not None:
        raise PermissionDenied()
    if after_sale.status != AfterSaleStatus.REQUESTED:
        raise AfterSaleAlreadyDecided(
            status=after_sale.status.value,
            status_zh="已退款" if after_sale.status == AfterSaleStatus.APPROVED else "已拒绝",
        )
    text = reason.strip()
    if not approve and not 1 <= len(text) <= 500:
        raise DecisionReasonRequired()
    if approve and order.status == OrderStatus.CANCELLED:
        # The cancellation already returned the whole payment; a request opened before it can
        # only be rejected now, or the buyer would be refunded twice.
        raise rules.OrderTransitionInvalid(
            status=order.status.value,
            action="refund",
            status_zh=rules.STATUS_LABELS[order.status],
            action_zh=rules.ACTION_LABELS["refund"],
        )
    after_sale.status = AfterSaleStatus.APPROVED if approve else AfterSaleStatus.REJECTED
    after_sale.decided_at = utc_now()
    after_sale.decided_by_user_id = actor.user_id if actor is not None and actor.user_id else None
    after_sale.decision_reason = text or None
    line.open_aftersales -= 1
    if approve:
        line.refunded_fen += after_sale.amount_fen
    session.flush()
    if approve and COMMISSION_HOOKS:
        on_line_refunded(session, line, after_sale.amount_fen, after_sale.id)
    return after_sale


def eligible_coupons(session: Session, product: Product) -> Sequence[CouponBatch]:
    return OrderRepository(session).eligible_coupons(product, utc_now())
