"""Commission, fraud-hold, ledger and statement JSON API (mounted under /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter

import siyu.commissions.tasks  # noqa: F401  (registers commissions.settle_due with the app)
from siyu.commissions import service, statements
from siyu.commissions.schemas import (
    CommissionOut,
    CommissionPageOut,
    DecisionIn,
    EarningsOut,
    FraudHoldOut,
    FraudHoldPageOut,
    LedgerEntriesOut,
    LedgerEntryOut,
    MerchantCostOut,
    SettleOut,
    StatementOut,
)
from siyu.errors import PermissionDenied
from siyu.kit.pagination import PageRequest
from siyu.ledger import service as ledger
from siyu.models import (
    CommissionState,
    FraudHoldStatus,
    LedgerAccountKind,
    LedgerOwnerType,
    Role,
)
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["commissions"])


@router.get("/commissions", response_model=CommissionPageOut)
def list_commissions(
    user: ApiUser,
    session: DbSession,
    state: CommissionState | None = None,
    promoter_id: int | None = None,
    merchant_id: int | None = None,
    page: int = 1,
    size: int = 50,
) -> CommissionPageOut:
    """Platform: all (filters apply); promoter: its own; merchant: its own lines."""
    result = service.list_commissions(
        session,
        user,
        PageRequest(page, size),
        state=state,
        promoter_id=promoter_id,
        merchant_id=merchant_id,
    )
    return CommissionPageOut(
        items=[CommissionOut.model_validate(item) for item in result.items],
        total=result.total,
        page=result.request.page,
        pages=result.pages,
    )


@router.get("/commissions/earnings", response_model=EarningsOut)
def my_earnings(user: ApiUser, session: DbSession) -> EarningsOut:
    if user.role != Role.PROMOTER or user.promoter_id is None:
        raise PermissionDenied()
    return earnings(user.promoter_id, user, session)


@router.get("/commissions/earnings/{promoter_id}", response_model=EarningsOut)
def earnings(promoter_id: int, user: ApiUser, session: DbSession) -> EarningsOut:
    balances = ledger.balances_for_owner(session, user, LedgerOwnerType.PROMOTER, promoter_id)
    by_state = service.earnings_by_state(session, promoter_id)
    return EarningsOut(
        promoter_id=promoter_id,
        by_state_fen={state.value: amount for state, amount in by_state.items()},
        balances_fen={kind.value: amount for kind, amount in balances.items()},
    )


@router.get("/commissions/costs/{merchant_id}", response_model=MerchantCostOut)
def merchant_costs(merchant_id: int, user: ApiUser, session: DbSession) -> MerchantCostOut:
    """What a merchant owes in commission (its own only; platform staff any)."""
    balances = ledger.balances_for_owner(session, user, LedgerOwnerType.MERCHANT, merchant_id)
    payable = balances[LedgerAccountKind.MERCHANT_PAYABLE]
    return MerchantCostOut(merchant_id=merchant_id, commission_cost_fen=-payable)


@router.get("/commissions/statements/{promoter_id}/{year}/{month}", response_model=StatementOut)
def statement(
    promoter_id: int, year: int, month: int, user: ApiUser, session: DbSession
) -> StatementOut:
    if not 1 <= month <= 12 or not 2000 <= year <= 2999:
        raise service.CommissionNotFound()
    result = statements.monthly_statement(session, user, promoter_id, year, month)
    return StatementOut(
        promoter_id=result.promoter_id,
        year=result.year,
        month=result.month,
        opening_fen=result.opening_fen,
        accrued_fen=result.accrued_fen,
        reversed_fen=result.reversed_fen,
        withdrawn_fen=result.withdrawn_fen,
        other_fen=result.other_fen,
        closing_fen=result.closing_fen,
        reconciles=result.reconciles,
    )


@router.get("/commissions/{commission_id}", response_model=CommissionOut)
def get_commission(commission_id: int, user: ApiUser, session: DbSession) -> CommissionOut:
    return CommissionOut.model_validate(service.get_commission(session, user, commission_id))


@router.post("/commissions/settle", response_model=SettleOut)
def settle_now(user: ApiUser, session: DbSession) -> SettleOut:
    """Admin: run the daily settlement now (idempotent)."""
    if not user.is_admin:
        raise PermissionDenied()
    return SettleOut(settled=service.settle_due(session))


@router.get("/fraud-holds", response_model=FraudHoldPageOut)
def list_holds(
    user: ApiUser,
    session: DbSession,
    status: FraudHoldStatus | None = FraudHoldStatus.OPEN,
    page: int = 1,
    size: int = 50,
) -> FraudHoldPageOut:
    result = service.list_holds(session, user, status, PageRequest(page, size))
    return FraudHoldPageOut(
        items=[FraudHoldOut.model_validate(item) for item in result.items],
        total=result.total,
        page=result.request.page,
        pages=result.pages,
    )


@router.post("/fraud-holds/{hold_id}/release", response_model=FraudHoldOut)
def release(hold_id: int, data: DecisionIn, user: ApiUser, session: DbSession) -> FraudHoldOut:
    return FraudHoldOut.model_validate(service.release_hold(session, user, hold_id, data.reason))


@router.post("/fraud-holds/{hold_id}/confirm", response_model=FraudHoldOut)
def confirm(hold_id: int, data: DecisionIn, user: ApiUser, session: DbSession) -> FraudHoldOut:
    return FraudHoldOut.model_validate(service.confirm_fraud(session, user, hold_id, data.reason))


@router.get("/ledger/accounts/{account_id}/entries", response_model=LedgerEntriesOut)
def account_entries(
    account_id: int, user: ApiUser, session: DbSession, page: int = 1, size: int = 50
) -> LedgerEntriesOut:
    """An account's entries, newest first; others' accounts are reported as not found."""
    account = ledger.get_account(session, user, account_id)
    entries = ledger.entries_for_account(session, user, account_id, PageRequest(page, size))
    return LedgerEntriesOut(
        account_id=account.id,
        kind=account.kind.value,
        owner_type=account.owner_type.value,
        owner_id=account.owner_id,
        balance_fen=ledger.balance(session, account),
        items=[
            LedgerEntryOut(
                id=entry.id,
                transaction_id=entry.transaction_id,
                kind=entry.transaction.kind,
                correlation_key=entry.transaction.correlation_key,
                amount_fen=entry.amount_fen,
                created_at=entry.created_at,
            )
            for entry in entries.items
        ],
        total=entries.total,
        page=entries.request.page,
        pages=entries.pages,
    )
