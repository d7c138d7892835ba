"""Monthly statement (月度对账单) of a promoter's withdrawable balance, derived from the ledger.

The statement covers the promoter_available account over one Asia/Shanghai calendar month:
opening balance, commission settled into it (accrued), refund reversals (reversed, ≤ 0),
withdrawals net of re-credits from rejected or failed payouts (withdrawn, ≤ 0 usually), anything
else (other), closing balance. By construction opening + accrued + reversed + withdrawn + other
= closing, and the closing of one month is the opening of the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit.time import SHANGHAI
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.models import LedgerEntry, LedgerOwnerType, LedgerTransaction


@dataclass(frozen=True)
class MonthlyStatement:
    promoter_id: int
    year: int
    month: int
    opening_fen: int
    accrued_fen: int
    reversed_fen: int
    withdrawn_fen: int
    other_fen: int
    closing_fen: int

    @property
    def reconciles(self) -> bool:
        movements = self.accrued_fen + self.reversed_fen + self.withdrawn_fen + self.other_fen
        return self.opening_fen + movements == self.closing_fen


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a Shanghai calendar month."""
    start = datetime(year, month, 1, tzinfo=SHANGHAI)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def _category(kind: str) -> str:
    if kind == "commission.settled":
        return "accrued"
    if kind == "commission.refunded":
        return "reversed"
    if kind.startswith("withdrawal."):
        return "withdrawn"
    return "other"


def monthly_statement(
    session: Session, actor: Principal | None, promoter_id: int, year: int, month: int
) -> MonthlyStatement:
    """Raises ``LedgerAccountNotFound`` for an actor who may not see this promoter's accounts."""
    ledger.balances_for_owner(session, actor, LedgerOwnerType.PROMOTER, promoter_id)
    start, end = month_bounds(year, month)
    key = ledger_rules.promoter_available(promoter_id)
    try:
        account = ledger.account_of(session, None, key)
    except ledger.LedgerAccountNotFound:
        return MonthlyStatement(promoter_id, year, month, 0, 0, 0, 0, 0, 0)
    opening = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
            LedgerEntry.account_id == account.id, LedgerEntry.created_at < start
        )
    )
    rows = session.execute(
        select(LedgerTransaction.kind, func.sum(LedgerEntry.amount_fen))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(
            LedgerEntry.account_id == account.id,
            LedgerEntry.created_at >= start,
            LedgerEntry.created_at < end,
        )
        .group_by(LedgerTransaction.kind)
    ).all()
    totals = {"accrued": 0, "reversed": 0, "withdrawn": 0, "other": 0}
    for kind, total in rows:
        totals[_category(str(kind))] += int(total)
    closing = session.scalar(
        select(
            func.coalesce(func.sum(case((LedgerEntry.created_at < end, LedgerEntry.amount_fen))), 0)
        ).where(LedgerEntry.account_id == account.id)
    )
    return MonthlyStatement(
        promoter_id=promoter_id,
        year=year,
        month=month,
        opening_fen=int(opening or 0),
        accrued_fen=totals["accrued"],
        reversed_fen=totals["reversed"],
        withdrawn_fen=totals["withdrawn"],
        other_fen=totals["other"],
        closing_fen=int(closing or 0),
    )
