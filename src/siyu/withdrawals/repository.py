"""Withdrawal queries. The only place that builds them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.models import Withdrawal, WithdrawalStatus


class WithdrawalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, withdrawal_id: int, *, lock: bool = False) -> Withdrawal | None:
        statement = select(Withdrawal).where(Withdrawal.id == withdrawal_id)
        if lock:
            statement = statement.with_for_update()
        return self.session.scalar(statement)

    def by_key(self, idempotency_key: str) -> Withdrawal | None:
        return self.session.scalar(
            select(Withdrawal).where(Withdrawal.idempotency_key == idempotency_key)
        )

    def search(
        self,
        page: PageRequest,
        *,
        promoter_id: int | None = None,
        status: WithdrawalStatus | None = None,
    ) -> Page[Withdrawal]:
        statement = select(Withdrawal)
        if promoter_id is not None:
            statement = statement.where(Withdrawal.promoter_id == promoter_id)
        if status is not None:
            statement = statement.where(Withdrawal.status == status)
        total = self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        items: Sequence[Withdrawal] = self.session.scalars(
            statement.order_by(Withdrawal.id.desc()).limit(page.size).offset(page.offset)
        ).all()
        return Page(items=list(items), total=int(total), request=page)

    def approved(self) -> list[Withdrawal]:
        return list(
            self.session.scalars(
                select(Withdrawal)
                .where(Withdrawal.status == WithdrawalStatus.APPROVED)
                .order_by(Withdrawal.id)
            )
        )

    def paid_total(self, promoter_id: int) -> int:
        total = self.session.scalar(
            select(func.coalesce(func.sum(Withdrawal.amount_fen), 0)).where(
                Withdrawal.promoter_id == promoter_id, Withdrawal.status == WithdrawalStatus.PAID
            )
        )
        return int(total or 0)

    def totals_by_status(self, promoter_id: int) -> dict[WithdrawalStatus, int]:
        rows = self.session.execute(
            select(Withdrawal.status, func.sum(Withdrawal.amount_fen))
            .where(Withdrawal.promoter_id == promoter_id)
            .group_by(Withdrawal.status)
        ).all()
        return {status: int(total) for status, total in rows}
