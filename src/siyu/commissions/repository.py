"""Commission queries, including the set-based settlement. The only place that builds SQL here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, bindparam, func, select, text
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.ledger.repository import key_of
from siyu.ledger.rules import AccountKey
from siyu.models import (
    Commission,
    CommissionState,
    Consumer,
    FraudHold,
    FraudHoldStatus,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerOwnerType,
    LedgerTransaction,
    NetworkSighting,
    NetworkSightingKind,
    Order,
    OrderLine,
    Promoter,
)
from siyu.models.base import UTCDateTime

T = TypeVar("T")

SETTLE_KEY_PREFIX = "commission:settle:"
SETTLE_KIND = "commission.settled"

# Step 1 locks and marks the due rows (on PostgreSQL the UPDATE waits for a concurrent refund's
# row lock and re-checks the WHERE against the committed row, so a refund and the settlement of
# the same commission serialise). This run's batch is then "settled at :now without a settle
# transaction": every earlier run wrote its transactions in the same database transaction as its
# marks. The later steps find the batch through ``ix_commission_settled_at``, so a run costs what
# its batch costs, not what all the commissions ever settled cost; each step drives from the
# batch and looks the other rows up by unique index (no scan of the ledger).
_MARK_DUE = text(
    """
    UPDATE commission SET state = 'settled', settled_at = :now, updated_at = :now
    WHERE state = 'pending' AND settles_at IS NOT NULL AND settles_at <= :now
      AND amount_fen > 0
      AND EXISTS (SELECT 1 FROM order_line l
                  WHERE l.id = commission.order_line_id AND l.open_aftersales = 0)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))

# The batch, as the steps below select it.
_BATCH = """
    FROM commission c
    WHERE c.settled_at = :now AND c.state = 'settled' AND NOT EXISTS (
        SELECT 1 FROM ledger_transaction s
        WHERE s.idempotency_key = :prefix || CAST(c.id AS VARCHAR(20)))
"""

# The promoters' pending and available accounts, where missing, in one statement (a concurrent
# creator's row wins: ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike).
_INSERT_ACCOUNTS = text(
    f"""
    INSERT INTO ledger_account (kind, owner_type, owner_id, created_at)
    SELECT k.kind, 'promoter', p.promoter_id, :now
    FROM (SELECT DISTINCT c.promoter_id {_BATCH}) AS p
    CROSS JOIN (SELECT 'promoter_pending' AS kind
                UNION ALL SELECT 'promoter_available' AS kind) AS k
    WHERE NOT EXISTS (SELECT 1 FROM ledger_account a
                      WHERE a.kind = k.kind AND a.owner_type = 'promoter'
                        AND a.owner_id = p.promoter_id)
    ON CONFLICT DO NOTHING
    """
).bindparams(bindparam("now", type_=UTCDateTime()))

_INSERT_TRANSACTIONS = text(
    f"""
    INSERT INTO ledger_transaction
        (kind, correlation_key, idempotency_key, memo, actor_user_id, created_at)
    SELECT :kind, 'order_line:' || CAST(c.order_line_id AS VARCHAR(20)),
           :prefix || CAST(c.id AS VARCHAR(20)), '', NULL, :now
    {_BATCH}
    """
).bindparams(bindparam("now", type_=UTCDateTime()))

# Both legs of every new settle transaction in one statement: pending −amount, available +amount.
_INSERT_ENTRIES = text(
    """
    INSERT INTO ledger_entry (transaction_id, account_id, amount_fen, created_at)
    SELECT t.id, a.id, CASE WHEN a.kind = 'promoter_pending' THEN -c.amount_fen
                            ELSE c.amount_fen END, :now
    FROM commission c
    JOIN ledger_transaction t ON t.idempotency_key = :prefix || CAST(c.id AS VARCHAR(20))
    JOIN ledger_account a ON a.owner_type = 'promoter' AND a.owner_id = c.promoter_id
                         AND a.kind IN ('promoter_pending', 'promoter_available')
    WHERE c.settled_at = :now AND c.state = 'settled' AND t.kind = :kind
      AND NOT EXISTS (SELECT 1 FROM ledger_entry e WHERE e.transaction_id = t.id)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))


class CommissionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of_line(self, line_id: int, *, lock: bool = False) -> list[Commission]:
        statement = (
            select(Commission).where(Commission.order_line_id == line_id).order_by(Commission.id)
        )
        if lock:
            statement = statement.with_for_update()
        return list(self.session.scalars(statement))

    def lines_with_commissions(self, line_ids: Sequence[int]) -> set[int]:
        if not line_ids:
            return set()
        return set(
            self.session.scalars(
                select(Commission.order_line_id)
                .where(Commission.order_line_id.in_(line_ids))
                .distinct()
            )
        )

    def get(self, commission_id: int) -> Commission | None:
        return self.session.get(Commission, commission_id)

    def line(self, line_id: int) -> OrderLine | None:
        return self.session.get(OrderLine, line_id)

    def consumer(self, consumer_id: int) -> Consumer | None:
        return self.session.get(Consumer, consumer_id)

    def promoter(self, promoter_id: int) -> Promoter | None:
        return self.session.get(Promoter, promoter_id)

    def attributed_order_times(
        self, promoter_id: int, since: datetime, until: datetime
    ) -> list[datetime]:
        rows = self.session.scalars(
            select(Order.paid_at)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                OrderLine.l1_promoter_id == promoter_id,
                Order.paid_at >= since,
                Order.paid_at <= until,
            )
            .distinct()
        )
        return list(rows)

    def promoter_sightings(
        self, promoter_id: int, since: datetime, until: datetime
    ) -> list[NetworkSighting]:
        return list(
            self.session.scalars(
                select(NetworkSighting)
                .where(
                    NetworkSighting.promoter_id == promoter_id,
                    NetworkSighting.seen_at >= since,
                    NetworkSighting.seen_at <= until,
                )
                .order_by(NetworkSighting.seen_at)
            )
        )

    def sighting_since(
        self, promoter_id: int, kind: NetworkSightingKind, value_hash: str, since: datetime
    ) -> bool:
        return (
            self.session.scalar(
                select(NetworkSighting.id)
                .where(
                    NetworkSighting.promoter_id == promoter_id,
                    NetworkSighting.seen_at >= since,
                    NetworkSighting.kind == kind,
                    NetworkSighting.value_hash == value_hash,
                )
                .limit(1)
            )
            is not None
        )

    def add(self, row: object) -> None:
        self.session.add(row)

    def net_by_account(self, correlation_key: str) -> dict[AccountKey, int]:
        """What all of one business object's movements did to each account (zeros dropped)."""
        rows = self.session.execute(
            select(LedgerAccount, func.sum(LedgerEntry.amount_fen))
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerTransaction.correlation_key == correlation_key)
            .group_by(LedgerAccount.id)
            .order_by(LedgerAccount.id)
        ).all()
        return {key_of(account): int(total) for account, total in rows if int(total) != 0}

    # --- holds -----------------------------------------------------------------------------

    def open_hold_of_line(self, line_id: int) -> FraudHold | None:
        return self.session.scalar(
            select(FraudHold).where(
                FraudHold.order_line_id == line_id, FraudHold.status == FraudHoldStatus.OPEN
            )
        )

    def hold(self, hold_id: int, *, lock: bool = False) -> FraudHold | None:
        statement = select(FraudHold).where(FraudHold.id == hold_id)
        if lock:
            statement = statement.with_for_update()
        return self.session.scalar(statement)

    def holds(self, status: FraudHoldStatus | None, page: PageRequest) -> Page[FraudHold]:
        statement = select(FraudHold)
        if status is not None:
            statement = statement.where(FraudHold.status == status)
        return self._page(statement.order_by(FraudHold.id.desc()), page)

    # --- listing ---------------------------------------------------------------------------

    def search(
        self,
        page: PageRequest,
        *,
        state: CommissionState | None = None,
        promoter_id: int | None = None,
        merchant_id: int | None = None,
    ) -> Page[Commission]:
        statement = select(Commission)
        if state is not None:
            statement = statement.where(Commission.state == state)
        if promoter_id is not None:
            statement = statement.where(Commission.promoter_id == promoter_id)
        if merchant_id is not None:
            statement = statement.where(Commission.merchant_id == merchant_id)
        return self._page(statement.order_by(Commission.id.desc()), page)

    def totals_by_state(self, promoter_id: int) -> dict[CommissionState, int]:
        rows = self.session.execute(
            select(Commission.state, func.sum(Commission.amount_fen))
            .where(Commission.promoter_id == promoter_id)
            .group_by(Commission.state)
        ).all()
        return {state: int(total) for state, total in rows}

    def settled_oldest_first(self, promoter_id: int) -> list[Commission]:
        """Settled, not yet paid-out commissions in settlement order, locked for the update."""
        return list(
            self.session.scalars(
                select(Commission)
                .where(
                    Commission.promoter_id == promoter_id,
                    Commission.state == CommissionState.SETTLED,
                )
                .order_by(Commission.settled_at, Commission.id)
                .with_for_update()
            )
        )

    def paid_out_total(self, promoter_id: int) -> int:
        total = self.session.scalar(
            select(func.coalesce(func.sum(Commission.amount_fen), 0)).where(
                Commission.promoter_id == promoter_id,
                Commission.state == CommissionState.PAID_OUT,
            )
        )
        return int(total or 0)

    def _page(self, statement: Select[T], page: PageRequest) -> Page[T]:
        total = self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        items: Sequence[T] = self.session.scalars(
            statement.limit(page.size).offset(page.offset)
        ).all()
        return Page(items=list(items), total=int(total), request=page)

    # --- settlement ------------------------------------------------------------------------

    def settle_due(self, now: datetime) -> int:
        """Four statements, no loop over rows: mark, accounts, transactions, entries."""
        marked = self.session.execute(_MARK_DUE, {"now": now})
        count = int(getattr(marked, "rowcount", 0) or 0)
        if count == 0:
            return 0
        batch = {"now": now, "prefix": SETTLE_KEY_PREFIX}
        self.session.execute(_INSERT_ACCOUNTS, batch)
        self.session.execute(_INSERT_TRANSACTIONS, {**batch, "kind": SETTLE_KIND})
        self.session.execute(_INSERT_ENTRIES, {**batch, "kind": SETTLE_KIND})
        self.session.expire_all()
        return count


def promoter_kind_of_state(state: CommissionState) -> LedgerAccountKind | None:
    """Which of the promoter's accounts holds a commission's money in this state."""
    if state in (CommissionState.ESTIMATED, CommissionState.PENDING):
        return LedgerAccountKind.PROMOTER_PENDING
    if state == CommissionState.ON_HOLD:
        return LedgerAccountKind.PROMOTER_ON_HOLD
    if state in (CommissionState.SETTLED, CommissionState.PAID_OUT):
        return LedgerAccountKind.PROMOTER_AVAILABLE
    return None


def promoter_key(kind: LedgerAccountKind, promoter_id: int) -> AccountKey:
    return AccountKey(kind, LedgerOwnerType.PROMOTER, promoter_id)
