from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from siyu.kit.pagination import Page, PageRequest
from siyu.ledger.rules import AccountKey, Leg
from siyu.models import (
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerOwnerType,
    LedgerTransaction,
)


@dataclass(frozen=True)
class UnbalancedTransaction:
    transaction_id: int
    total_fen: int
    entry_count: int


def key_of(account: LedgerAccount) -> AccountKey:
    return AccountKey(account.kind, account.owner_type, account.owner_id)


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- accounts ------------------------------------------------------------------------

    def get_account(self, account_id: int) -> LedgerAccount | None:
        return self.session.get(LedgerAccount, account_id)

    def find_account(self, key: AccountKey) -> LedgerAccount | None:
        return self.session.scalar(
            select(LedgerAccount).where(
                LedgerAccount.kind == key.kind,
                LedgerAccount.owner_type == key.owner_type,
                LedgerAccount.owner_id == key.owner_id,
            )
        )

    def find_accounts(self, keys: Iterable[AccountKey]) -> dict[AccountKey, LedgerAccount]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        rows = self.session.scalars(
            select(LedgerAccount).where(
                tuple_(LedgerAccount.kind, LedgerAccount.owner_type, LedgerAccount.owner_id).in_(
                    [tuple(key) for key in wanted]
                )
            )
        )
        return {key_of(account): account for account in rows}

    def get_or_create_account(self, key: AccountKey) -> LedgerAccount:
        """Create the account on first use; a concurrent creator's row wins and is returned."""
        account = self.find_account(key)
        if account is not None:
            return account
        try:
            with self.session.begin_nested():
                account = LedgerAccount(
                    kind=key.kind, owner_type=key.owner_type, owner_id=key.owner_id
                )
                self.session.add(account)
                self.session.flush()
            return account
        except IntegrityError:
            existing = self.find_account(key)
            if existing is None:
                raise
            return existing

    def accounts_of_owner(
        self, owner_type: LedgerOwnerType, owner_id: int
    ) -> Sequence[LedgerAccount]:
        return self.session.scalars(
            select(LedgerAccount)
            .where(LedgerAccount.owner_type == owner_type, LedgerAccount.owner_id == owner_id)
            .order_by(LedgerAccount.id)
        ).all()

    def lock_accounts(self, account_ids: Iterable[int], exclusive: bool) -> None:
        """Lock in id order (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers).

        ``exclusive`` takes FOR UPDATE; otherwise FOR KEY SHARE, the lock the entries' foreign
        key would take anyway, only taken up front and in order.
        """
        ids = sorted(set(account_ids))
        if not ids:
            return
        statement = (
            select(LedgerAccount.id).where(LedgerAccount.id.in_(ids)).order_by(LedgerAccount.id)
        )
        if exclusive:
            statement = statement.with_for_update()
        else:
            statement = statement.with_for_update(read=True, key_share=True)
        self.session.execute(statement).all()

    # --- balances ------------------------------------------------------------------------

    def balance(self, account_id: int) -> int:
        total = self.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
                LedgerEntry.account_id == account_id
            )
        )
        return int(total or 0)

    def balances(self, account_ids: Iterable[int]) -> dict[int, int]:
        ids = list(set(account_ids))
        if not ids:
            return {}
        rows = self.session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount_fen))
            .where(LedgerEntry.account_id.in_(ids))
            .group_by(LedgerEntry.account_id)
        ).all()
        found = {account_id: int(total) for account_id, total in rows}
        return {account_id: found.get(account_id, 0) for account_id in ids}

    def movement_total(self, account_id: int, transaction_kind: str) -> int:
        """What one kind of movement did to one account in all (e.g. every withdrawal.paid)."""
        total = self.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.account_id == account_id, LedgerTransaction.kind == transaction_kind)
        )
        return int(total or 0)

    def trial_balance(self) -> int:
        total = self.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)))
        return int(total or 0)

    def unbalanced_transactions(self) -> list[UnbalancedTransaction]:
        total = func.coalesce(func.sum(LedgerEntry.amount_fen), 0)
        count = func.count(LedgerEntry.id)
        rows = self.session.execute(
            select(LedgerTransaction.id, total, count)
            .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .group_by(LedgerTransaction.id)
            .having((total != 0) | (count < 2))
            .order_by(LedgerTransaction.id)
        ).all()
        return [UnbalancedTransaction(int(row[0]), int(row[1]), int(row[2])) for row in rows]

    # --- transactions and entries -----------------------------------------------------------

    def transaction_by_idempotency_key(self, idempotency_key: str) -> LedgerTransaction | None:
        return self.session.scalar(
            select(LedgerTransaction).where(LedgerTransaction.idempotency_key == idempotency_key)
        )

    def legs_of(self, transaction_id: int) -> list[Leg]:
        rows = self.session.execute(
            select(
                LedgerAccount.kind,
                LedgerAccount.owner_type,
                LedgerAccount.owner_id,
                LedgerEntry.amount_fen,
            )
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerEntry.transaction_id == transaction_id)
            .order_by(LedgerEntry.id)
        ).all()
        return [
            Leg(AccountKey(LedgerAccountKind(kind), LedgerOwnerType(owner_type), owner_id), amount)
            for kind, owner_type, owner_id, amount in rows
        ]

    def insert_transaction(self, transaction: LedgerTransaction) -> bool:
        """Insert with its entries; False when the idempotency key is already taken."""
        try:
            with self.session.begin_nested():
                self.session.add(transaction)
                self.session.flush()
        except IntegrityError:
            if self.transaction_by_idempotency_key(transaction.idempotency_key) is None:
                raise
            return False
        return True

    def entries_of_account(self, account_id: int, page: PageRequest) -> Page[LedgerEntry]:
        total = self.session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.account_id == account_id)
        )
        items = self.session.scalars(
            select(LedgerEntry)
            .options(joinedload(LedgerEntry.transaction))
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.id.desc())
            .offset(page.offset)
            .limit(page.size)
        ).all()
        return Page(list(items), int(total or 0), page)
