"""Commission records and their ledger movements: the order hooks, settlement and fraud review.

Never commits. Every money effect is a ledger movement under an idempotency key derived from the
business event, so a retried hook or job has exactly one effect:

- ``commission:estimate:line:{id}``   placed: merchant_payable −pool → L1, L2 (pending, or
  on_hold when held) and platform_revenue (take − L2)
- ``commission:refund:aftersale:{id}`` a refund: the (negative) deltas, from pending/on_hold
  before settlement, from available after it (may go below 0, nets against future earnings)
- ``commission:cancel:line:{id}``     cancelled: the line's net movements reversed
- ``commission:release:line:{id}``    hold released: on_hold → pending
- ``commission:reject:line:{id}``     fraud confirmed: the line's net movements reversed
- ``commission:settle:{commission id}`` settlement (set-based, see ``settle_due``)

All movements of one line share the correlation key ``order_line:{id}``; the reversals negate the
ledger's own net per account for that key, so they undo exactly what was posted.

Contract with orders: ``on_line_refunded`` is called after ``line.refunded_fen`` includes
``refund_fen`` (same transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.commissions import rules
from siyu.commissions.repository import (
    CommissionRepository,
    promoter_key,
    promoter_kind_of_state,
)
from siyu.commissions.rules import (
    CommissionEvent,
    CommissionPolicy,
    CommissionSnapshot,
    FraudIdentity,
    NetworkKind,
    NetworkSighting,
)
from siyu.config import current_settings
from siyu.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.kit import crypto
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import ensure_aware, utc_now
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.ledger.repository import LedgerRepository
from siyu.ledger.rules import AccountKey, Leg, Movement
from siyu.models import (
    Commission,
    CommissionState,
    FraudHold,
    FraudHoldStatus,
    LedgerAccountKind,
    NetworkSightingKind,
    Order,
    OrderLine,
    Role,
)
from siyu.models import NetworkSighting as NetworkSightingRow

_S = CommissionState
# The pure rules declare their own (equal-valued) state enum; these map between the two.
_TERMINAL = frozenset({_S.INVALID, _S.REVERSED})
_SETTLED = frozenset({_S.SETTLED, _S.PAID_OUT})


def _transition(state: CommissionState, event: CommissionEvent) -> CommissionState:
    return CommissionState(rules.transition(rules.CommissionState(state.value), event).value)


class CommissionNotFound(NotFound):
    code = "commission_not_found"
    message_en = "Commission not found."
    message_zh = "找不到该佣金记录，它可能不存在，或不属于您的账号。"


class FraudHoldNotFound(NotFound):
    code = "fraud_hold_not_found"
    message_en = "Fraud hold not found."
    message_zh = "找不到该风控审核记录。"


class FraudHoldAlreadyDecided(ValidationFailed):
    status = 409
    code = "fraud_hold_already_decided"
    message_en = "This hold was already decided ({status})."
    message_zh = "该审核已处理（{status}），无需重复操作。"


class DecisionReasonRequired(ValidationFailed):
    code = "decision_reason_required"
    message_en = "A reason (1 to 500 characters) is required for this decision."
    message_zh = "请填写处理原因（1–500 字）。"


def current_policy() -> CommissionPolicy:
    settings = current_settings()
    return CommissionPolicy(
        platform_take_bp=settings.platform_take_bp,
        l2_share_bp=settings.l2_share_bp,
        self_purchase_commission=settings.self_purchase_commission,
        hold_days=settings.hold_days,
    )


def snapshot_of(line: OrderLine) -> CommissionSnapshot:
    """The frozen snapshot on the line, as the pure rules take it."""
    return CommissionSnapshot(
        paid_fen=line.paid_fen,
        quantity=line.quantity,
        commission_rate_bp=line.commission_rate_bp,
        fixed_commission_fen=line.fixed_commission_fen,
        platform_take_bp=line.platform_take_bp,
        l2_share_bp=line.l2_share_bp,
        l1_promoter_id=line.l1_promoter_id,
        l2_promoter_id=line.l2_promoter_id,
        l2_active=line.l2_active,
        self_purchase=line.self_purchase,
        self_purchase_commission=line.self_purchase_commission,
    )


def correlation_key(line_id: int) -> str:
    return f"order_line:{line_id}"


def _account_of(commission: Commission, state: CommissionState | None = None) -> AccountKey:
    kind = promoter_kind_of_state(state or commission.state)
    assert kind is not None, "terminal commissions hold no money"
    return promoter_key(kind, commission.promoter_id)


def _legs(items: Iterable[tuple[AccountKey, int]]) -> list[Leg]:
    """Net per account, zero legs dropped (a record under 1 分 is not made)."""
    net: dict[AccountKey, int] = {}
    for account, amount in items:
        net[account] = net.get(account, 0) + amount
    return [Leg(account, amount) for account, amount in net.items() if amount != 0]


def _movement(kind: str, key: str, line_id: int, legs: list[Leg], memo: str = "") -> Movement:
    return ledger_rules.movement(kind, key, correlation_key(line_id), legs, memo)


# --- hooks called by orders -------------------------------------------------------------------


def on_order_placed(session: Session, order: Order) -> None:
    """Create the commission records and post the estimates of every attributed line."""
    repository = CommissionRepository(session)
    movements: list[Movement] = []
    for line in order.lines:
        movement = _estimate_line(session, repository, order, line)
        if movement is not None:
            movements.append(movement)
    if movements:
        ledger.post_many(session, movements)
    session.flush()


def _estimate_line(
    session: Session, repository: CommissionRepository, order: Order, line: OrderLine
) -> Movement | None:
    if repository.of_line(line.id):
        return None  # a replay: the records (and their posting) exist already
    split = rules.split_commission(snapshot_of(line), line.refunded_fen)
    if split.outcome != rules.CommissionOutcome.EARNED or split.l1_promoter_id is None:
        return None
    reasons = _fraud_reasons(repository, order, split.l1_promoter_id)
    held = rules.hold_required(reasons)
    state = _S.ON_HOLD if held else _S.ESTIMATED
    kind = LedgerAccountKind.PROMOTER_ON_HOLD if held else LedgerAccountKind.PROMOTER_PENDING
    legs: list[tuple[AccountKey, int]] = [
        (ledger_rules.merchant_payable(line.merchant_id), -split.pool_fen),
        (ledger_rules.platform_revenue(), split.platform_kept_fen),
    ]
    for level, promoter_id, amount in (
        (1, split.l1_promoter_id, split.l1_fen),
        (2, split.l2_promoter_id, split.l2_fen),
    ):
        if promoter_id is None or amount <= 0:
            continue
        session.add(
            Commission(
                order_line_id=line.id,
                promoter_id=promoter_id,
                merchant_id=line.merchant_id,
                level=level,
                state=state,
                amount_fen=amount,
            )
        )
        legs.append((promoter_key(kind, promoter_id), amount))
    if held:
        session.add(
            FraudHold(
                order_line_id=line.id,
                promoter_id=split.l1_promoter_id,
                reasons=[reason.value for reason in reasons],
                status=FraudHoldStatus.OPEN,
            )
        )
    return _movement(
        "commission.estimated", f"commission:estimate:line:{line.id}", line.id, _legs(legs)
    )


def _fraud_reasons(
    repository: CommissionRepository, order: Order, promoter_id: int
) -> tuple[rules.FraudReason, ...]:
    policy = current_policy()
    ordered_at = ensure_aware(order.paid_at)
    consumer = repository.consumer(order.consumer_id)
    promoter = repository.promoter(promoter_id)
    buyer = FraudIdentity(
        phone_hash=consumer.phone_index if consumer is not None else None,
        address_hashes=frozenset({order.address_hash} if order.address_hash else ()),
    )
    promoter_identity = FraudIdentity(phone_hash=promoter.phone_index if promoter else None)
    sightings = [
        NetworkSighting(kind, value, ordered_at)
        for kind, value in (
            (NetworkKind.DEVICE, order.buyer_device_hash),
            (NetworkKind.IP, order.buyer_ip_hash),
        )
        if value
    ]
    network_window = timedelta(hours=policy.shared_network_window_hours)
    promoter_sightings = [
        NetworkSighting(NetworkKind(row.kind.value), row.value_hash, row.seen_at)
        for row in repository.promoter_sightings(
            promoter_id, ordered_at - network_window, ordered_at
        )
    ]
    window = timedelta(minutes=policy.velocity_window_minutes)
    times = repository.attributed_order_times(promoter_id, ordered_at - window, ordered_at)
    if all(ensure_aware(at) != ordered_at for at in times):
        times.append(ordered_at)  # this order, when the caller has not flushed it yet
    return rules.fraud_reasons(
        policy,
        ordered_at=ordered_at,
        buyer=buyer,
        promoter=promoter_identity,
        buyer_sightings=sightings,
        promoter_sightings=promoter_sightings,
        attributed_order_times=times,
    )


def on_order_shipped(session: Session, order: Order) -> None:
    """Shipping has no money effect: the commission stays estimated until receipt."""


def on_order_received(session: Session, order: Order) -> None:
    """estimated → pending; the hold clock starts at receipt (held ones keep their hold)."""
    if order.received_at is None:
        return
    repository = CommissionRepository(session)
    for line in order.lines:
        due = rules.settles_at(order.received_at, line.hold_days)
        for commission in repository.of_line(line.id, lock=True):
            if commission.state in (_S.ESTIMATED, _S.ON_HOLD):
                commission.state = _transition(commission.state, CommissionEvent.RECEIVE)
                commission.settles_at = due
    session.flush()


def on_order_cancelled(session: Session, order: Order) -> None:
    """→ invalid, every movement of the line reversed (estimate and any refund)."""
    repository = CommissionRepository(session)
    movements: list[Movement] = []
    for line in order.lines:
        live = [
            commission
            for commission in repository.of_line(line.id, lock=True)
            if commission.state not in _TERMINAL
        ]
        for commission in live:
            commission.state = _transition(commission.state, CommissionEvent.CANCEL)
        movement = _reversal(repository, line.id, "commission.cancelled", "cancel")
        if movement is not None:
            movements.append(movement)
    if movements:
        ledger.post_many(session, movements)
    session.flush()


def _reversal(
    repository: CommissionRepository, line_id: int, kind: str, verb: str
) -> Movement | None:
    net = repository.net_by_account(correlation_key(line_id))
    legs = _legs((account, -amount) for account, amount in net.items())
    if not legs:
        return None
    return _movement(kind, f"commission:{verb}:line:{line_id}", line_id, legs)


def on_line_refunded(session: Session, line: OrderLine, refund_fen: int, aftersale_id: int) -> None:
    """Recompute at the frozen rates: deltas before settlement, a reversal after it.

    ``line.refunded_fen`` already includes ``refund_fen``.
    """
    repository = CommissionRepository(session)
    key = f"commission:refund:aftersale:{aftersale_id}"
    if LedgerRepository(session).transaction_by_idempotency_key(key) is not None:
        return
    commissions = [
        commission
        for commission in repository.of_line(line.id, lock=True)
        if commission.state not in _TERMINAL
    ]
    if not repository.net_by_account(correlation_key(line.id)):
        return  # nothing was posted for this line (no commission, or already reversed)
    # With no live record (a take of 100 %, or shares that fell under 1 分) the merchant and the
    # platform still have money on the line, so the recomputation runs all the same.
    state = commissions[0].state if commissions else _S.ESTIMATED
    adjustment = rules.adjust_for_refund(
        snapshot_of(line),
        state=rules.CommissionState(state.value),
        refunded_before_fen=line.refunded_fen - refund_fen,
        refund_fen=refund_fen,
    )
    after = {1: adjustment.after.l1_fen, 2: adjustment.after.l2_fen}
    legs: list[tuple[AccountKey, int]] = [
        (ledger_rules.merchant_payable(line.merchant_id), -adjustment.delta.pool_fen),
        (ledger_rules.platform_revenue(), adjustment.delta.platform_kept_fen),
    ]
    for commission in commissions:
        target = after[commission.level]
        legs.append((_account_of(commission), target - commission.amount_fen))
        commission.amount_fen = target
        new_state = _transition(commission.state, adjustment.event)
        if target == 0 and new_state not in _TERMINAL:
            # A share that fell under 1 分 has no record any more (product.md §3).
            settled = commission.state in _SETTLED
            new_state = _S.REVERSED if settled else _S.INVALID
        commission.state = new_state
    posting = _legs(legs)
    if posting:
        ledger.post(
            session,
            "commission.refunded",
            key,
            correlation_key(line.id),
            posting,
            f"refund {refund_fen} fen",
        )
    session.flush()


# --- network sightings (shared device / IP) ------------------------------------------------------

SIGHTING_INTERVAL = timedelta(hours=1)


def network_hash(kind: NetworkKind, raw: str) -> str:
    """The keyed hash under which a device id or IP is compared; the raw value is never stored.
    Buyers and promoters are hashed the same way, so equal values meet in the fraud check."""
    return crypto.blind_index(f"network:{kind.value}:{raw}")


def note_promoter_seen(
    session: Session, promoter_id: int, ip: str | None, device: str | None
) -> int:
    """Record that a promoter used this IP and device now (at most once an hour per value).
    Returns how many sightings were written."""
    repository = CommissionRepository(session)
    now = utc_now()
    written = 0
    for kind, raw in ((NetworkKind.DEVICE, device), (NetworkKind.IP, ip)):
        if not raw:
            continue
        value = network_hash(kind, raw)
        stored_kind = NetworkSightingKind(kind.value)
        if repository.sighting_since(promoter_id, stored_kind, value, now - SIGHTING_INTERVAL):
            continue
        repository.add(
            NetworkSightingRow(
                promoter_id=promoter_id, kind=stored_kind, value_hash=value, seen_at=now
            )
        )
        written += 1
    if written:
        session.flush()
    return written


# --- settlement -------------------------------------------------------------------------------


def settle_due(session: Session, now: datetime | None = None) -> int:
    """Settle every pending commission due by ``now`` with no open after-sale: pending →
    available, set-based (three statements, no loop over rows). Returns how many settled."""
    at = ensure_aware(now) if now is not None else utc_now()
    repository = CommissionRepository(session)
    ledger_repository = LedgerRepository(session)
    # In promoter order, so two concurrent runs create missing accounts in the same order.
    for promoter_id in sorted(repository.due_promoter_ids(at)):
        for kind in (LedgerAccountKind.PROMOTER_PENDING, LedgerAccountKind.PROMOTER_AVAILABLE):
            ledger_repository.get_or_create_account(promoter_key(kind, promoter_id))
    return repository.settle_due(at)


def mark_paid_out(session: Session, promoter_id: int, paid_total_fen: int) -> int:
    """settled → paid_out for the commissions the promoter's paid withdrawals cover (oldest
    first, ``rules.paid_out_prefix``). No money moves: the withdrawal already moved it. Called
    by withdrawals after a payout is confirmed; returns how many changed. Idempotent."""
    repository = CommissionRepository(session)
    budget = paid_total_fen - repository.paid_out_total(promoter_id)
    settled = repository.settled_oldest_first(promoter_id)
    covered = rules.paid_out_prefix([c.amount_fen for c in settled], budget)
    for commission in settled[:covered]:
        commission.state = _transition(commission.state, CommissionEvent.PAY_OUT)
    session.flush()
    return covered


# --- fraud review -----------------------------------------------------------------------------


def _require_platform(actor: Principal) -> None:
    if not actor.is_platform:
        raise PermissionDenied()


def _check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text or len(text) > 500:
        raise DecisionReasonRequired()
    return text


def list_holds(
    session: Session, actor: Principal, status: FraudHoldStatus | None, page: PageRequest
) -> Page[FraudHold]:
    _require_platform(actor)
    return CommissionRepository(session).holds(status, page)


def release_hold(session: Session, actor: Principal, hold_id: int, reason: str) -> FraudHold:
    """Not fraud: on_hold → estimated (→ pending when the order was received), money to pending."""
    return _decide(session, actor, hold_id, reason, release=True)


def confirm_fraud(session: Session, actor: Principal, hold_id: int, reason: str) -> FraudHold:
    """Fraud: the commission becomes invalid and the money goes back to the merchant."""
    return _decide(session, actor, hold_id, reason, release=False)


def _decide(
    session: Session, actor: Principal, hold_id: int, reason: str, *, release: bool
) -> FraudHold:
    _require_platform(actor)
    text = _check_reason(reason)
    repository = CommissionRepository(session)
    hold = repository.hold(hold_id, lock=True)
    if hold is None:
        raise FraudHoldNotFound()
    if hold.status != FraudHoldStatus.OPEN:
        raise FraudHoldAlreadyDecided(status=hold.status.value)
    line = repository.line(hold.order_line_id)
    assert line is not None
    held = [c for c in repository.of_line(line.id, lock=True) if c.state == _S.ON_HOLD]
    if release:
        legs: list[tuple[AccountKey, int]] = []
        received_at = line.order.received_at
        for commission in held:
            legs.append((_account_of(commission), -commission.amount_fen))
            commission.state = _transition(commission.state, CommissionEvent.RELEASE)
            if received_at is not None:
                commission.state = _transition(commission.state, CommissionEvent.RECEIVE)
                commission.settles_at = rules.settles_at(received_at, line.hold_days)
            legs.append((_account_of(commission), commission.amount_fen))
        posting = _legs(legs)
        release_key = f"commission:release:line:{line.id}"
        if posting:
            ledger.post_many(
                session,
                [
                    _movement(
                        "commission.released",
                        release_key,
                        line.id,
                        posting,
                    )
                ],
                actor_user_id=actor.user_id,
            )
        hold.status = FraudHoldStatus.RELEASED
    else:
        for commission in held:
            commission.state = _transition(commission.state, CommissionEvent.REJECT)
        movement = _reversal(repository, line.id, "commission.rejected", "reject")
        if movement is not None:
            ledger.post_many(session, [movement], actor_user_id=actor.user_id)
        hold.status = FraudHoldStatus.CONFIRMED
    hold.decided_by_user_id = actor.user_id
    hold.decision_reason = text
    hold.decided_at = utc_now()
    action = "fraud_hold.released" if release else "fraud_hold.confirmed"
    audit.record(session, actor.user_id, action, "fraud_hold", hold.id, text, line_id=line.id)
    session.flush()
    return hold


# --- reading ----------------------------------------------------------------------------------


def list_commissions(
    session: Session,
    actor: Principal,
    page: PageRequest,
    *,
    state: CommissionState | None = None,
    promoter_id: int | None = None,
    merchant_id: int | None = None,
) -> Page[Commission]:
    """Platform staff see all; a promoter only its own; a merchant only its own lines."""
    if not actor.is_platform:
        if actor.role == Role.PROMOTER and actor.promoter_id is not None:
            promoter_id = actor.promoter_id
        elif actor.role == Role.MERCHANT and actor.merchant_id is not None:
            merchant_id = actor.merchant_id
        else:
            raise PermissionDenied()
    return CommissionRepository(session).search(
        page, state=state, promoter_id=promoter_id, merchant_id=merchant_id
    )


def get_commission(session: Session, actor: Principal, commission_id: int) -> Commission:
    commission = CommissionRepository(session).get(commission_id)
    if commission is None or not _may_see(actor, commission):
        raise CommissionNotFound()
    return commission


def _may_see(actor: Principal, commission: Commission) -> bool:
    if actor.is_platform:
        return True
    if actor.role == Role.PROMOTER:
        return actor.promoter_id == commission.promoter_id
    if actor.role == Role.MERCHANT:
        return actor.merchant_id == commission.merchant_id
    return False


def states_of_line(session: Session, line_id: int) -> list[CommissionState]:
    return [commission.state for commission in CommissionRepository(session).of_line(line_id)]


def earnings_by_state(session: Session, promoter_id: int) -> dict[CommissionState, int]:
    totals = CommissionRepository(session).totals_by_state(promoter_id)
    return {state: totals.get(state, 0) for state in CommissionState}
