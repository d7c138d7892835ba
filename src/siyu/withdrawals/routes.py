"""Withdrawal JSON API (mounted under /api/v1): promoters request and list their own; the
platform reviews, exports and records the payout outcome."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from siyu.kit.pagination import PageRequest
from siyu.models import Withdrawal, WithdrawalStatus
from siyu.web.deps import ApiUser, DbSession
from siyu.withdrawals import service
from siyu.withdrawals.schemas import ReasonIn, WithdrawalIn, WithdrawalOut, WithdrawalPageOut

router = APIRouter(tags=["withdrawals"])


def _out(withdrawal: Withdrawal) -> WithdrawalOut:
    return WithdrawalOut.model_validate(withdrawal)


@router.post("/withdrawals", response_model=WithdrawalOut, status_code=201)
def request_withdrawal(data: WithdrawalIn, user: ApiUser, session: DbSession) -> WithdrawalOut:
    """A promoter withdraws from its available balance (replaying the same key is safe)."""
    return _out(service.request_withdrawal(session, user, data.amount_fen, data.idempotency_key))


@router.get("/withdrawals", response_model=WithdrawalPageOut)
def list_withdrawals(
    user: ApiUser,
    session: DbSession,
    status: WithdrawalStatus | None = None,
    promoter_id: int | None = None,
    page: int = 1,
    size: int = 50,
) -> WithdrawalPageOut:
    result = service.list_withdrawals(
        session, user, PageRequest(page, size), status=status, promoter_id=promoter_id
    )
    return WithdrawalPageOut(
        items=[_out(item) for item in result.items],
        total=result.total,
        page=result.request.page,
        pages=result.pages,
    )


@router.get("/withdrawals/export.csv")
def export_csv(user: ApiUser, session: DbSession) -> Response:
    """Approved withdrawals for the manual payout (platform only)."""
    body = service.export_approved_csv(session, user)
    return Response(
        "\ufeff" + body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="withdrawals.csv"'},
    )


@router.get("/withdrawals/{withdrawal_id}", response_model=WithdrawalOut)
def get_withdrawal(withdrawal_id: int, user: ApiUser, session: DbSession) -> WithdrawalOut:
    return _out(service.get_withdrawal(session, user, withdrawal_id))


@router.post("/withdrawals/{withdrawal_id}/approve", response_model=WithdrawalOut)
def approve(withdrawal_id: int, user: ApiUser, session: DbSession) -> WithdrawalOut:
    return _out(service.approve(session, user, withdrawal_id))


@router.post("/withdrawals/{withdrawal_id}/reject", response_model=WithdrawalOut)
def reject(withdrawal_id: int, data: ReasonIn, user: ApiUser, session: DbSession) -> WithdrawalOut:
    return _out(service.reject(session, user, withdrawal_id, data.reason))


@router.post("/withdrawals/{withdrawal_id}/paid", response_model=WithdrawalOut)
def mark_paid(withdrawal_id: int, user: ApiUser, session: DbSession) -> WithdrawalOut:
    return _out(service.mark_paid(session, user, withdrawal_id))


@router.post("/withdrawals/{withdrawal_id}/failed", response_model=WithdrawalOut)
def mark_failed(
    withdrawal_id: int, data: ReasonIn, user: ApiUser, session: DbSession
) -> WithdrawalOut:
    return _out(service.mark_failed(session, user, withdrawal_id, data.reason))


@router.post("/withdrawals/{withdrawal_id}/resubmit", response_model=WithdrawalOut)
def resubmit(withdrawal_id: int, user: ApiUser, session: DbSession) -> WithdrawalOut:
    """Re-send a payout whose outcome is unknown, under its original bill number."""
    service.resubmit(session, user, withdrawal_id)
    return _out(service.get_withdrawal(session, user, withdrawal_id))
