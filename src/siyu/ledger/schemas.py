"""API shapes for ledger accounts, entries and transactions (read-only: the ledger has no input).

Money is integer fen; ``*_yuan`` strings are for display only and never parsed back.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from siyu.kit.money import format_yuan
from siyu.models import (
    LEDGER_ACCOUNT_KIND_LABELS,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerOwnerType,
    LedgerTransaction,
)


class LedgerAccountOut(BaseModel):
    id: int
    kind: LedgerAccountKind
    kind_label: str = Field(description="Chinese name of the account kind")
    owner_type: LedgerOwnerType
    owner_id: int = Field(description="merchant or promoter id; 0 for platform accounts")
    balance_fen: int = Field(description="sum of the account's entries, fen (may be negative)")
    balance_yuan: str
    created_at: datetime

    @classmethod
    def of(cls, account: LedgerAccount, balance_fen: int) -> LedgerAccountOut:
        return cls(
            id=account.id,
            kind=account.kind,
            kind_label=LEDGER_ACCOUNT_KIND_LABELS[account.kind],
            owner_type=account.owner_type,
            owner_id=account.owner_id,
            balance_fen=balance_fen,
            balance_yuan=format_yuan(balance_fen),
            created_at=account.created_at,
        )


class LedgerEntryOut(BaseModel):
    id: int
    transaction_id: int
    account_id: int
    amount_fen: int = Field(description="signed fen: + into the account, − out of it")
    amount_yuan: str
    transaction_kind: str
    correlation_key: str
    memo: str
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntry) -> LedgerEntryOut:
        transaction = entry.transaction
        return cls(
            id=entry.id,
            transaction_id=entry.transaction_id,
            account_id=entry.account_id,
            amount_fen=entry.amount_fen,
            amount_yuan=format_yuan(entry.amount_fen),
            transaction_kind=transaction.kind,
            correlation_key=transaction.correlation_key,
            memo=transaction.memo,
            created_at=entry.created_at,
        )


class LedgerLegOut(BaseModel):
    account_id: int
    kind: LedgerAccountKind
    owner_type: LedgerOwnerType
    owner_id: int
    amount_fen: int


class LedgerTransactionOut(BaseModel):
    id: int
    kind: str
    correlation_key: str
    idempotency_key: str
    memo: str
    actor_user_id: int | None
    created_at: datetime
    legs: list[LedgerLegOut]

    @classmethod
    def of(cls, transaction: LedgerTransaction) -> LedgerTransactionOut:
        return cls(
            id=transaction.id,
            kind=transaction.kind,
            correlation_key=transaction.correlation_key,
            idempotency_key=transaction.idempotency_key,
            memo=transaction.memo,
            actor_user_id=transaction.actor_user_id,
            created_at=transaction.created_at,
            legs=[
                LedgerLegOut(
                    account_id=entry.account_id,
                    kind=entry.account.kind,
                    owner_type=entry.account.owner_type,
                    owner_id=entry.account.owner_id,
                    amount_fen=entry.amount_fen,
                )
                for entry in transaction.entries
            ],
        )
