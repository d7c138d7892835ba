"""The append-only double-entry ledger: accounts, transactions and their entries.

Sign convention (the one polar uses): a balance is what the account holds, the sum of its
entries. A movement takes from one account and gives to another, so ``transfer(a, b, 100)`` is
the pair ``a −100, b +100`` and every transaction sums to zero. A promoter's accounts are
positive when the platform owes the promoter; ``merchant_payable`` funds commission by going
negative (its negation is what the merchant owes); ``payout_clearing`` grows with every payout.

Ledger rows are never updated or deleted. The ORM refuses it here (``before_flush`` for unit of
work changes, ``do_orm_execute`` for bulk ``update()``/``delete()``); a correction is a new,
opposite transaction. Entries may only be created together with their (new) transaction, and
every new transaction must balance, so no code path can append to or unbalance an old one.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    UOWTransaction,
    mapped_column,
    relationship,
)

from siyu.kit.time import utc_now
from siyu.models.base import Base, BigId, IdMixin, UTCDateTime, str_enum


class LedgerAccountKind(enum.StrEnum):
    MERCHANT_PAYABLE = "merchant_payable"
    PLATFORM_REVENUE = "platform_revenue"
    PROMOTER_PENDING = "promoter_pending"
    PROMOTER_AVAILABLE = "promoter_available"
    PROMOTER_WITHDRAWING = "promoter_withdrawing"
    PROMOTER_ON_HOLD = "promoter_on_hold"
    PAYOUT_CLEARING = "payout_clearing"


LEDGER_ACCOUNT_KIND_LABELS = {
    LedgerAccountKind.MERCHANT_PAYABLE: "商家应付佣金",
    LedgerAccountKind.PLATFORM_REVENUE: "平台收入（提点）",
    LedgerAccountKind.PROMOTER_PENDING: "待结算佣金",
    LedgerAccountKind.PROMOTER_AVAILABLE: "可提现余额",
    LedgerAccountKind.PROMOTER_WITHDRAWING: "提现中",
    LedgerAccountKind.PROMOTER_ON_HOLD: "冻结审核中",
    LedgerAccountKind.PAYOUT_CLEARING: "已打款（出款清算）",
}


class LedgerOwnerType(enum.StrEnum):
    MERCHANT = "merchant"
    PROMOTER = "promoter"
    PLATFORM = "platform"


# Platform accounts have no owner row; 0 (not NULL) keeps the unique key working on every backend.
PLATFORM_OWNER_ID = 0


class LedgerAccount(IdMixin, Base):
    """One account per (kind, owner). Its balance is the sum of its entries, never a column."""

    __tablename__ = "ledger_account"
    __table_args__ = (UniqueConstraint("kind", "owner_type", "owner_id"),)

    # Length 40 leaves room for new kinds; the enum is not native, so adding one needs no DDL.
    kind: Mapped[LedgerAccountKind] = mapped_column(str_enum(LedgerAccountKind, 40))
    owner_type: Mapped[LedgerOwnerType] = mapped_column(str_enum(LedgerOwnerType, 16))
    owner_id: Mapped[int] = mapped_column(
        BigInteger, doc="merchant.id or promoter.id (no FK: polymorphic); 0 for the platform"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class LedgerTransaction(IdMixin, Base):
    """One business movement: a balanced set of entries, written once under one idempotency key."""

    __tablename__ = "ledger_transaction"

    kind: Mapped[str] = mapped_column(String(64), doc='e.g. "commission.estimated"')
    correlation_key: Mapped[str] = mapped_column(
        String(200), index=True, doc='groups the movements of one business object: "order_line:123"'
    )
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    memo: Mapped[str] = mapped_column(String(500), default="")
    actor_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)

    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="transaction", order_by="LedgerEntry.id"
    )


class LedgerEntry(IdMixin, Base):
    """One signed leg of a transaction. ``amount_fen`` is integer fen, never zero."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount_non_zero"),
        # Balances (SUM by account) and an account's statement (newest first) read this index.
        Index("ix_ledger_entry_account_id_id", "account_id", "id"),
    )

    transaction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ledger_transaction.id"), index=True
    )
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_account.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger, doc="signed fen: + into the account")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship(lazy="joined")


class LedgerRowImmutable(RuntimeError):
    """A programming error: code tried to change or remove a ledger row, or to unbalance one."""


_IMMUTABLE: tuple[type[Any], ...] = (LedgerAccount, LedgerTransaction, LedgerEntry)


@event.listens_for(Session, "before_flush")
def _refuse_ledger_changes(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    for instance in session.deleted:
        if isinstance(instance, _IMMUTABLE):
            raise LedgerRowImmutable(f"{type(instance).__name__} rows are never deleted")
    for instance in session.dirty:
        if isinstance(instance, _IMMUTABLE) and session.is_modified(
            instance, include_collections=False
        ):
            raise LedgerRowImmutable(f"{type(instance).__name__} rows are never updated")
    new_transactions = {id(row) for row in session.new if isinstance(row, LedgerTransaction)}
    for instance in session.new:
        if isinstance(instance, LedgerEntry) and id(instance.transaction) not in new_transactions:
            raise LedgerRowImmutable("entries are created only with their new transaction")
        if isinstance(instance, LedgerTransaction):
            amounts = [entry.amount_fen for entry in instance.entries]
            if len(amounts) < 2 or sum(amounts) != 0:
                raise LedgerRowImmutable(
                    f"transaction {instance.idempotency_key!r} is unbalanced: {amounts}"
                )


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_ledger_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    for mapper in state.all_mappers:
        if issubclass(mapper.class_, _IMMUTABLE):
            raise LedgerRowImmutable(f"{mapper.class_.__name__} rows are never updated or deleted")
