"""Withdrawals: request (available → withdrawing), review, payout, paid / failed / rejected.

Never commits. Each money movement has an idempotency key from the business event
(``withdrawal:request:{key}``, ``withdrawal:paid:{id}``, ``withdrawal:failed:{id}``,
``withdrawal:rejected:{id}``) and all share the correlation key ``withdrawal:{key}``.

The request is checked against the ledger under a floor (available ≥ 0 after the deduction),
taken with FOR UPDATE on the promoter's accounts, so concurrent requests cannot overdraw. Held
commission money sits in promoter_on_hold and unsettled money in promoter_pending: neither is
ever withdrawable. A confirmed payout marks the commissions it covers paid out (oldest first,
``commissions.mark_paid_out``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.commissions import service as commissions
from siyu.config import current_settings
from siyu.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.kit.money import format_yuan
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.models import CommissionState, Promoter, Role, Withdrawal, WithdrawalStatus
from siyu.withdrawals import payouts
from siyu.withdrawals.repository import WithdrawalRepository

KEY_MAX_LENGTH = 60


class WithdrawalNotFound(NotFound):
    code = "withdrawal_not_found"
    message_en = "Withdrawal not found."
    message_zh = "找不到该提现记录，它可能不存在，或不属于您的账号。"


class WithdrawalBelowMinimum(ValidationFailed):
    code = "withdrawal_below_minimum"
    message_en = "A withdrawal must be at least {minimum_fen} fen, got {value!r}."
    message_zh = "单次提现至少 {minimum_yuan} 元。"


class WithdrawalKeyInvalid(ValidationFailed):
    code = "withdrawal_key_invalid"
    message_en = "idempotency_key must be 1 to 60 characters."
    message_zh = "请求编号无效，请刷新页面后重试。"


class WithdrawalKeyReused(Conflict):
    code = "withdrawal_key_reused"
    message_en = "This idempotency key was already used for a different withdrawal."
    message_zh = "该请求编号已用于另一笔提现，请刷新页面后重试。"


class WithdrawalStatusInvalid(Conflict):
    code = "withdrawal_status_invalid"
    message_en = "A withdrawal in status {status} cannot be {action}."
    message_zh = "该提现当前状态为“{status}”，不能执行此操作，请刷新后重试。"


class WithdrawalReasonRequired(ValidationFailed):
    code = "withdrawal_reason_required"
    message_en = "A reason (1 to 500 characters) is required."
    message_zh = "请填写原因（1–500 字）。"


def _promoter_id(actor: Principal) -> int:
    if actor.role != Role.PROMOTER or actor.promoter_id is None:
        raise PermissionDenied()
    return actor.promoter_id


def _require_platform(actor: Principal) -> None:
    if not actor.is_platform:
        raise PermissionDenied()


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text or len(text) > 500:
        raise WithdrawalReasonRequired()
    return text


def request_withdrawal(
    session: Session, actor: Principal, amount_fen: int, idempotency_key: str
) -> Withdrawal:
    """Deduct ``amount_fen`` from available now (→ withdrawing). A replay returns the first."""
    promoter_id = _promoter_id(actor)
    minimum = max(current_settings().withdrawal_minimum_fen, 1000)
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen < minimum:
        raise WithdrawalBelowMinimum(
            value=amount_fen, minimum_fen=minimum, minimum_yuan=format_yuan(minimum)
        )
    client_key = (idempotency_key or "").strip()
    if not client_key or len(client_key) > KEY_MAX_LENGTH:
        raise WithdrawalKeyInvalid()
    key = f"{promoter_id}:{client_key}"
    repository = WithdrawalRepository(session)
    existing = repository.by_key(key)
    if existing is not None:
        return _same_request(existing, promoter_id, amount_fen)
    available = ledger_rules.promoter_available(promoter_id)
    ledger.post(
        session,
        "withdrawal.requested",
        f"withdrawal:request:{key}",
        f"withdrawal:{key}",
        ledger_rules.transfer(
            available, ledger_rules.promoter_withdrawing(promoter_id), amount_fen
        ),
        actor_user_id=actor.user_id,
        floors={available: 0},
    )
    # A concurrent replay of this key may have committed while we waited for the ledger locks.
    existing = repository.by_key(key)
    if existing is not None:
        return _same_request(existing, promoter_id, amount_fen)
    withdrawal = Withdrawal(
        promoter_id=promoter_id,
        amount_fen=amount_fen,
        status=WithdrawalStatus.REQUESTED,
        idempotency_key=key,
        payout_channel=payouts.ManualExport.name,
    )
    try:
        with session.begin_nested():
            session.add(withdrawal)
            session.flush()
    except IntegrityError:
        found = repository.by_key(key)
        if found is None:
            raise
        return _same_request(found, promoter_id, amount_fen)
    return withdrawal


def _same_request(existing: Withdrawal, promoter_id: int, amount_fen: int) -> Withdrawal:
    if existing.promoter_id != promoter_id or existing.amount_fen != amount_fen:
        raise WithdrawalKeyReused()
    return existing


def _locked(session: Session, withdrawal_id: int) -> Withdrawal:
    withdrawal = WithdrawalRepository(session).get(withdrawal_id, lock=True)
    if withdrawal is None:
        raise WithdrawalNotFound()
    return withdrawal


def _refuse(withdrawal: Withdrawal, action: str) -> WithdrawalStatusInvalid:
    return WithdrawalStatusInvalid(status=withdrawal.status.value, action=action)


def _move(
    session: Session,
    withdrawal: Withdrawal,
    verb: str,
    destination: ledger_rules.AccountKey,
    actor: Principal,
) -> None:
    ledger.post(
        session,
        f"withdrawal.{verb}",
        f"withdrawal:{verb}:{withdrawal.id}",
        f"withdrawal:{withdrawal.idempotency_key}",
        ledger_rules.transfer(
            ledger_rules.promoter_withdrawing(withdrawal.promoter_id),
            destination,
            withdrawal.amount_fen,
        ),
        actor_user_id=actor.user_id,
    )


def bill_number(withdrawal: Withdrawal) -> str:
    return f"SYW{withdrawal.id:012d}"


def approve(session: Session, actor: Principal, withdrawal_id: int) -> Withdrawal:
    """Assign the one bill number and hand the payout to its channel. Approving twice is a no-op."""
    _require_platform(actor)
    withdrawal = _locked(session, withdrawal_id)
    if withdrawal.status == WithdrawalStatus.APPROVED:
        return withdrawal
    if withdrawal.status != WithdrawalStatus.REQUESTED:
        raise _refuse(withdrawal, "approved")
    withdrawal.bill_no = bill_number(withdrawal)
    withdrawal.status = WithdrawalStatus.APPROVED
    withdrawal.reviewed_by_user_id = actor.user_id
    withdrawal.reviewed_at = utc_now()
    session.flush()
    payouts.channel(withdrawal.payout_channel).submit(withdrawal)
    audit.record(
        session,
        actor.user_id,
        "withdrawal.approved",
        "withdrawal",
        withdrawal.id,
        None,
        bill_no=withdrawal.bill_no,
    )
    return withdrawal


def resubmit(session: Session, actor: Principal, withdrawal_id: int) -> payouts.PayoutResult:
    """Re-send a payout whose outcome is unknown: always under its original bill number."""
    _require_platform(actor)
    withdrawal = _locked(session, withdrawal_id)
    if withdrawal.status != WithdrawalStatus.APPROVED or withdrawal.bill_no is None:
        raise _refuse(withdrawal, "resubmitted")
    return payouts.channel(withdrawal.payout_channel).submit(withdrawal)


def reject(session: Session, actor: Principal, withdrawal_id: int, reason: str) -> Withdrawal:
    """Refuse a request: the amount goes back to available."""
    _require_platform(actor)
    text = _reason(reason)
    withdrawal = _locked(session, withdrawal_id)
    if withdrawal.status != WithdrawalStatus.REQUESTED:
        raise _refuse(withdrawal, "rejected")
    _move(
        session,
        withdrawal,
        "rejected",
        ledger_rules.promoter_available(withdrawal.promoter_id),
        actor,
    )
    withdrawal.status = WithdrawalStatus.REJECTED
    withdrawal.reject_reason = text
    withdrawal.reviewed_by_user_id = actor.user_id
    withdrawal.reviewed_at = utc_now()
    audit.record(session, actor.user_id, "withdrawal.rejected", "withdrawal", withdrawal.id, text)
    session.flush()
    return withdrawal


def mark_paid(session: Session, actor: Principal, withdrawal_id: int) -> Withdrawal:
    """The channel confirmed the transfer: withdrawing → payout_clearing."""
    _require_platform(actor)
    withdrawal = _locked(session, withdrawal_id)
    if withdrawal.status == WithdrawalStatus.PAID:
        return withdrawal
    if withdrawal.status != WithdrawalStatus.APPROVED:
        raise _refuse(withdrawal, "marked paid")
    _move(session, withdrawal, "paid", ledger_rules.payout_clearing(), actor)
    withdrawal.status = WithdrawalStatus.PAID
    withdrawal.paid_at = utc_now()
    audit.record(session, actor.user_id, "withdrawal.paid", "withdrawal", withdrawal.id, None)
    session.flush()
    paid_total = WithdrawalRepository(session).paid_total(withdrawal.promoter_id)
    commissions.mark_paid_out(session, withdrawal.promoter_id, paid_total)
    return withdrawal


def mark_failed(session: Session, actor: Principal, withdrawal_id: int, reason: str) -> Withdrawal:
    """The channel confirmed the payout failed: the amount goes back to available. Only now may
    the promoter withdraw it again (a new request, a new bill number)."""
    _require_platform(actor)
    text = _reason(reason)
    withdrawal = _locked(session, withdrawal_id)
    if withdrawal.status != WithdrawalStatus.APPROVED:
        raise _refuse(withdrawal, "marked failed")
    _move(
        session,
        withdrawal,
        "failed",
        ledger_rules.promoter_available(withdrawal.promoter_id),
        actor,
    )
    withdrawal.status = WithdrawalStatus.FAILED
    withdrawal.failure_reason = text
    audit.record(session, actor.user_id, "withdrawal.failed", "withdrawal", withdrawal.id, text)
    session.flush()
    return withdrawal


# --- reading ----------------------------------------------------------------------------------


def list_withdrawals(
    session: Session,
    actor: Principal,
    page: PageRequest,
    status: WithdrawalStatus | None = None,
    promoter_id: int | None = None,
) -> Page[Withdrawal]:
    """Platform staff see all; a promoter only its own."""
    if not actor.is_platform:
        promoter_id = _promoter_id(actor)
    return WithdrawalRepository(session).search(page, promoter_id=promoter_id, status=status)


def get_withdrawal(session: Session, actor: Principal, withdrawal_id: int) -> Withdrawal:
    withdrawal = WithdrawalRepository(session).get(withdrawal_id)
    visible = withdrawal is not None and (
        actor.is_platform or (actor.promoter_id == withdrawal.promoter_id)
    )
    if withdrawal is None or not visible:
        raise WithdrawalNotFound()
    return withdrawal


def export_approved_csv(session: Session, actor: Principal) -> str:
    _require_platform(actor)
    rows = WithdrawalRepository(session).approved()
    names = {
        row.promoter_id: promoter.name
        for row in rows
        if (promoter := session.get(Promoter, row.promoter_id)) is not None
    }
    return payouts.ManualExport().export_csv(rows, names)


# --- reconciliation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconciliationLine:
    """One account of a promoter: its ledger balance against what the records say it holds."""

    key: str
    label: str
    ledger_fen: int
    records_fen: int
    rule: str

    @property
    def matches(self) -> bool:
        return self.ledger_fen == self.records_fen


def paid_out_covered(session: Session, promoter_id: int) -> bool:
    """Commissions marked paid out never exceed what was actually paid to the promoter."""
    paid = WithdrawalRepository(session).paid_total(promoter_id)
    return commissions.earnings_by_state(session, promoter_id)[CommissionState.PAID_OUT] <= paid


def reconcile_promoter(
    session: Session, actor: Principal, promoter_id: int
) -> list[ReconciliationLine]:
    """Ledger balances against commission and withdrawal records, account by account.

    Platform staff for any promoter, a promoter for itself. A mismatch means a movement without
    its record (or the reverse) and is a bug to investigate, never something to "fix" by editing.
    """
    if not actor.is_platform and actor.promoter_id != promoter_id:
        raise PermissionDenied()
    by_state = commissions.earnings_by_state(session, promoter_id)
    by_status = WithdrawalRepository(session).totals_by_status(promoter_id)
    withdrawing = by_status.get(WithdrawalStatus.REQUESTED, 0) + by_status.get(
        WithdrawalStatus.APPROVED, 0
    )
    paid = by_status.get(WithdrawalStatus.PAID, 0)
    settled = by_state[CommissionState.SETTLED] + by_state[CommissionState.PAID_OUT]
    balance = ledger.balance
    return [
        ReconciliationLine(
            "pending",
            "待结算",
            balance(session, ledger_rules.promoter_pending(promoter_id)),
            by_state[CommissionState.ESTIMATED] + by_state[CommissionState.PENDING],
            "预估 + 待结算佣金",
        ),
        ReconciliationLine(
            "on_hold",
            "风控冻结",
            balance(session, ledger_rules.promoter_on_hold(promoter_id)),
            by_state[CommissionState.ON_HOLD],
            "风控冻结中的佣金",
        ),
        ReconciliationLine(
            "available",
            "可提现",
            balance(session, ledger_rules.promoter_available(promoter_id)),
            settled - withdrawing - paid,
            "已结算 + 已提现佣金 − 提现中 − 已打款",
        ),
        ReconciliationLine(
            "withdrawing",
            "提现中",
            balance(session, ledger_rules.promoter_withdrawing(promoter_id)),
            withdrawing,
            "待审核 + 已批准待打款的提现",
        ),
        ReconciliationLine(
            "paid",
            "已打款",
            -ledger.movement_total(
                session, ledger_rules.promoter_withdrawing(promoter_id), "withdrawal.paid"
            ),
            paid,
            "已确认打款的提现",
        ),
    ]
