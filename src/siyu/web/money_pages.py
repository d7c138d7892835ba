"""Money pages. Console: commissions, ledger accounts, fraud holds, withdrawals, merchant costs.
Promoter H5: earnings by state, withdraw, monthly statements. Chinese UI, amounts in 元."""

from __future__ import annotations

from typing import Annotated, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from siyu.auth.principal import Principal
from siyu.commissions import service as commissions
from siyu.commissions import statements
from siyu.commissions.rules import COMMISSION_STATE_LABELS, FRAUD_REASON_LABELS
from siyu.errors import AppError, PermissionDenied
from siyu.kit.ids import token
from siyu.kit.money import parse_yuan
from siyu.kit.pagination import PageRequest
from siyu.kit.time import to_shanghai, utc_now
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.models import (
    LEDGER_ACCOUNT_KIND_LABELS,
    CommissionState,
    FraudHoldStatus,
    LedgerOwnerType,
    Role,
    WithdrawalStatus,
)
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, flash, render
from siyu.withdrawals import service as withdrawals

router = APIRouter(include_in_schema=False)

E = TypeVar("E", CommissionState, WithdrawalStatus, FraudHoldStatus)

STATE_LABELS = {state.value: label for state, label in COMMISSION_STATE_LABELS.items()}
REASON_LABELS = {reason.value: label for reason, label in FRAUD_REASON_LABELS.items()}
KIND_LABELS = {kind.value: label for kind, label in LEDGER_ACCOUNT_KIND_LABELS.items()}
WITHDRAWAL_LABELS = {
    WithdrawalStatus.REQUESTED: "待审核",
    WithdrawalStatus.APPROVED: "已批准，待打款",
    WithdrawalStatus.PAID: "已打款",
    WithdrawalStatus.REJECTED: "已驳回（已退回余额）",
    WithdrawalStatus.FAILED: "打款失败（已退回余额）",
}
HOLD_LABELS = {
    FraudHoldStatus.OPEN: "待审核",
    FraudHoldStatus.RELEASED: "已放行",
    FraudHoldStatus.CONFIRMED: "判定作弊",
}


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _enum_or_none(enum_class: type[E], text: str) -> E | None:
    try:
        return enum_class(text) if text else None
    except ValueError:
        return None


def _platform(user: Principal) -> None:
    if not user.is_platform:
        raise PermissionDenied()


# ---- console: commissions and ledger ---------------------------------------------------------


@router.get("/console/commissions")
def commissions_page(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    state: str = "",
    promoter_id: str = "",
    merchant_id: str = "",
    page: int = 1,
) -> Response:
    result = commissions.list_commissions(
        session,
        user,
        PageRequest(page, 50),
        state=_enum_or_none(CommissionState, state),
        promoter_id=_int_or_none(promoter_id),
        merchant_id=_int_or_none(merchant_id),
    )
    filters = {"state": state, "promoter_id": promoter_id, "merchant_id": merchant_id}
    return render(
        request,
        "console/commissions.html",
        {
            "commissions": result,
            "pager": result,
            "filters": filters,
            "query": urlencode({key: value for key, value in filters.items() if value}),
            "state_labels": STATE_LABELS,
        },
        user=user,
    )


@router.get("/console/commissions/costs")
def merchant_costs_page(
    request: Request, user: ConsoleUser, session: DbSession, merchant_id: str = "", page: int = 1
) -> Response:
    """A merchant's commission costs: the merchant_payable account (its own only)."""
    if user.role == Role.MERCHANT and user.merchant_id is not None:
        chosen: int | None = user.merchant_id
    else:
        _platform(user)
        chosen = _int_or_none(merchant_id)
    account = None
    entries = None
    if chosen is not None:
        try:
            account = ledger.account_of(session, user, ledger_rules.merchant_payable(chosen))
            entries = ledger.entries_for_account(session, user, account.id, PageRequest(page, 50))
        except ledger.LedgerAccountNotFound:
            account = None
    cost = -ledger.balance(session, account) if account is not None else 0
    return render(
        request,
        "console/commissions_costs.html",
        {
            "merchant_id": chosen,
            "account": account,
            "entries": entries,
            "pager": entries,
            "cost_fen": cost,
        },
        user=user,
    )


@router.get("/console/ledger/{owner_type}/{owner_id}")
def ledger_owner_page(
    request: Request, owner_type: str, owner_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    try:
        kind = LedgerOwnerType(owner_type)
    except ValueError:
        raise ledger.LedgerAccountNotFound() from None
    balances = ledger.balances_for_owner(session, user, kind, owner_id)
    accounts = {}
    for account_kind in balances:
        key = ledger_rules.AccountKey(account_kind, kind, owner_id)
        try:
            accounts[account_kind.value] = ledger.account_of(session, user, key).id
        except ledger.LedgerAccountNotFound:
            continue
    reconciliation = (
        withdrawals.reconcile_promoter(session, user, owner_id)
        if kind == LedgerOwnerType.PROMOTER
        else []
    )
    return render(
        request,
        "console/ledger.html",
        {
            "reconciliation": reconciliation,
            "paid_out_covered": kind != LedgerOwnerType.PROMOTER
            or withdrawals.paid_out_covered(session, owner_id),
            "owner_type": kind.value,
            "owner_id": owner_id,
            "balances": {account_kind.value: value for account_kind, value in balances.items()},
            "accounts": accounts,
            "kind_labels": KIND_LABELS,
        },
        user=user,
    )


@router.get("/console/ledger/accounts/{account_id}")
def ledger_account_page(
    request: Request, account_id: int, user: ConsoleUser, session: DbSession, page: int = 1
) -> Response:
    account = ledger.get_account(session, user, account_id)
    entries = ledger.entries_for_account(session, user, account_id, PageRequest(page, 50))
    return render(
        request,
        "console/ledger_account.html",
        {
            "account": account,
            "balance_fen": ledger.balance(session, account),
            "entries": entries,
            "pager": entries,
            "kind_labels": KIND_LABELS,
        },
        user=user,
    )


# ---- console: fraud holds --------------------------------------------------------------------


@router.get("/console/holds")
def holds_page(
    request: Request, user: ConsoleUser, session: DbSession, status: str = "open", page: int = 1
) -> Response:
    holds = commissions.list_holds(
        session, user, _enum_or_none(FraudHoldStatus, status), PageRequest(page, 50)
    )
    return render(
        request,
        "console/holds.html",
        {
            "holds": holds,
            "pager": holds,
            "status": status,
            "reason_labels": REASON_LABELS,
            "hold_labels": HOLD_LABELS,
        },
        user=user,
    )


@router.post("/console/holds/{hold_id}/{decision}", dependencies=[CsrfChecked])
def hold_decide(
    request: Request,
    hold_id: int,
    decision: str,
    user: ConsoleUser,
    session: DbSession,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        if decision == "release":
            commissions.release_hold(session, user, hold_id, reason)
            flash(request, "已放行，佣金恢复正常结算。")
        elif decision == "confirm":
            commissions.confirm_fraud(session, user, hold_id, reason)
            flash(request, "已判定作弊，佣金作废并退回商家。")
        else:
            raise commissions.FraudHoldNotFound()
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(request, f"操作失败：{error.zh}", "danger")
    return RedirectResponse("/console/holds", status_code=303)


# ---- console: withdrawals --------------------------------------------------------------------


@router.get("/console/withdrawals")
def withdrawals_page(
    request: Request, user: ConsoleUser, session: DbSession, status: str = "", page: int = 1
) -> Response:
    _platform(user)
    result = withdrawals.list_withdrawals(
        session, user, PageRequest(page, 50), status=_enum_or_none(WithdrawalStatus, status)
    )
    return render(
        request,
        "console/withdrawals.html",
        {
            "withdrawals": result,
            "pager": result,
            "status": status,
            "labels": WITHDRAWAL_LABELS,
        },
        user=user,
    )


@router.get("/console/withdrawals/export.csv")
def withdrawals_export(user: ConsoleUser, session: DbSession) -> Response:
    body = withdrawals.export_approved_csv(session, user)
    return Response(
        "\ufeff" + body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="withdrawals.csv"'},
    )


@router.post("/console/withdrawals/{withdrawal_id}/{action}", dependencies=[CsrfChecked])
def withdrawal_action(
    request: Request,
    withdrawal_id: int,
    action: str,
    user: ConsoleUser,
    session: DbSession,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        if action == "approve":
            withdrawal = withdrawals.approve(session, user, withdrawal_id)
            flash(request, f"已批准，打款单号 {withdrawal.bill_no}。")
        elif action == "reject":
            withdrawals.reject(session, user, withdrawal_id, reason)
            flash(request, "已驳回，金额已退回推手可提现余额。")
        elif action == "paid":
            withdrawals.mark_paid(session, user, withdrawal_id)
            flash(request, "已标记为打款成功。")
        elif action == "failed":
            withdrawals.mark_failed(session, user, withdrawal_id, reason)
            flash(request, "已标记为打款失败，金额已退回推手可提现余额。")
        else:
            raise withdrawals.WithdrawalNotFound()
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(request, f"操作失败：{error.zh}", "danger")
    return RedirectResponse("/console/withdrawals", status_code=303)


# ---- promoter H5 -----------------------------------------------------------------------------


def _promoter_id(user: Principal) -> int:
    if user.role != Role.PROMOTER or user.promoter_id is None:
        raise PermissionDenied()
    return user.promoter_id


@router.get("/h5/earnings")
def earnings_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    promoter_id = _promoter_id(user)
    by_state = commissions.earnings_by_state(session, promoter_id)
    balances = ledger.balances_for_owner(session, user, LedgerOwnerType.PROMOTER, promoter_id)
    recent = commissions.list_commissions(session, user, PageRequest(1, 20))
    summary = {
        "预估": by_state[CommissionState.ESTIMATED],
        "待结算": by_state[CommissionState.PENDING],
        "已结算": by_state[CommissionState.SETTLED] + by_state[CommissionState.PAID_OUT],
        "风控审核中": by_state[CommissionState.ON_HOLD],
    }
    return render(
        request,
        "h5/earnings.html",
        {
            "summary": summary,
            "balances": {kind.value: value for kind, value in balances.items()},
            "recent": recent.items,
            "state_labels": STATE_LABELS,
        },
        user=user,
    )


@router.get("/h5/earnings/statement")
def statement_page(
    request: Request, user: ConsoleUser, session: DbSession, month: str = ""
) -> Response:
    promoter_id = _promoter_id(user)
    now = to_shanghai(utc_now())
    year, number = now.year, now.month
    parts = month.split("-")
    if len(parts) == 2 and all(part.isdigit() for part in parts):
        year, number = int(parts[0]), int(parts[1])
        if not 1 <= number <= 12 or not 2000 <= year <= 2999:
            year, number = now.year, now.month
    statement = statements.monthly_statement(session, user, promoter_id, year, number)
    return render(
        request,
        "h5/earnings_statement.html",
        {"statement": statement, "month": f"{year:04d}-{number:02d}"},
        user=user,
    )


@router.get("/h5/withdraw")
def withdraw_page(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    promoter_id = _promoter_id(user)
    available = ledger.balance(session, ledger_rules.promoter_available(promoter_id))
    history = withdrawals.list_withdrawals(session, user, PageRequest(1, 20))
    return render(
        request,
        "h5/withdraw.html",
        {
            "available_fen": available,
            "history": history.items,
            "labels": WITHDRAWAL_LABELS,
            "request_key": token(16),
        },
        user=user,
    )


@router.post("/h5/withdraw", dependencies=[CsrfChecked])
def withdraw_submit(
    request: Request,
    user: ConsoleUser,
    session: DbSession,
    amount_yuan: Annotated[str, Form()] = "",
    request_key: Annotated[str, Form()] = "",
) -> Response:
    _promoter_id(user)
    try:
        amount = parse_yuan(amount_yuan, "amount", "提现金额")
        withdrawals.request_withdrawal(session, user, amount, request_key)
    except AppError as error:
        if error.status in (403, 404):
            raise
        flash(request, f"提现失败：{error.zh}", "danger")
        return RedirectResponse("/h5/withdraw", status_code=303)
    flash(request, "提现申请已提交，平台审核后打款。")
    return RedirectResponse("/h5/withdraw", status_code=303)
