"""The ledger: post balanced movements exactly once, derive balances from entries. Never commits.

``post`` (one movement) and ``post_many`` (several in one unit of work) are the only writers.
They validate everything first (``rules``), create missing accounts, lock the accounts in id
order, then insert each transaction and its entries under a unique idempotency key. A replay of
the same key with the same posting returns the first transaction (one effect however often a
webhook or job retries); the same key with a different posting is refused with 409 and writes
nothing.

Locks. Balances are sums over append-only rows, so a plain posting needs no exclusive lock for
correctness; taking FOR UPDATE on every account would serialise every commission in the system on
the one ``platform_revenue`` row. So a plain posting takes FOR KEY SHARE (the lock its entries'
foreign keys take anyway, only up front and in id order, so two postings cannot deadlock), and a
posting with ``floors`` (a withdrawal: "available must not go below 0") takes FOR UPDATE on all
its accounts in id order, re-reads the balances under the lock, and only then writes. On SQLite
``BEGIN IMMEDIATE`` already serialises writers and the lock clauses compile to nothing.

Reading: a promoter sees only its own accounts, a merchant only its own, platform staff and the
system (``actor=None``) all; anything else is reported as not found, never as forbidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.errors import Conflict, NotFound
from siyu.kit.money import MAX_FEN, format_yuan
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.ledger import rules
from siyu.ledger.repository import LedgerRepository, UnbalancedTransaction
from siyu.ledger.rules import AccountKey, Leg, Movement
from siyu.models import (
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerOwnerType,
    LedgerTransaction,
    Role,
)


class IdempotencyKeyConflict(Conflict):
    code = "idempotency_key_conflict"
    message_en = "Idempotency key {key!r} was already used for a different ledger posting."
    message_zh = "该操作编号已用于另一笔不同的记账，本次未做任何改动。请核对后使用新的编号。"


class InsufficientBalance(Conflict):
    code = "insufficient_balance"
    message_en = "Account {kind} holds {balance_fen} fen; this needs at least {required_fen} fen."
    message_zh = "余额不足：当前 {balance_yuan} 元，需要至少 {required_yuan} 元，本次未做任何改动。"


class LedgerAccountNotFound(NotFound):
    code = "ledger_account_not_found"
    message_en = "Ledger account not found."
    message_zh = "找不到该账户，它可能不存在，或不属于您的账号。"


@dataclass(frozen=True)
class _Scope:
    everything: bool
    owner: tuple[LedgerOwnerType, int] | None = None

    def allows(self, owner_type: LedgerOwnerType, owner_id: int) -> bool:
        return self.everything or self.owner == (owner_type, owner_id)


def _scope(actor: Principal | None) -> _Scope:
    if actor is None or actor.is_platform:
        return _Scope(everything=True)
    if actor.role == Role.PROMOTER and actor.promoter_id is not None:
        return _Scope(everything=False, owner=(LedgerOwnerType.PROMOTER, actor.promoter_id))
    if actor.role == Role.MERCHANT and actor.merchant_id is not None:
        return _Scope(everything=False, owner=(LedgerOwnerType.MERCHANT, actor.merchant_id))
    return _Scope(everything=False)


# --- writing ---------------------------------------------------------------------------------


def post(
    session: Session,
    kind: str,
    idempotency_key: str,
    correlation_key: str,
    legs: Iterable[Leg | tuple[AccountKey, int]],
    memo: str = "",
    *,
    actor_user_id: int | None = None,
    floors: Mapping[AccountKey, int] | None = None,
) -> LedgerTransaction:
    """Record one balanced movement exactly once and return its transaction.

    ``floors`` maps accounts to the lowest balance they may hold after this posting (checked
    under exclusive locks; ``InsufficientBalance`` otherwise). Balances may go negative where no
    floor is asked for: a reversal after settlement nets against future earnings (product.md §3).
    """
    movement = rules.movement(kind, idempotency_key, correlation_key, legs, memo, floors)
    return post_many(session, [movement], actor_user_id=actor_user_id)[0]


def post_many(
    session: Session, movements: Sequence[Movement], *, actor_user_id: int | None = None
) -> list[LedgerTransaction]:
    """Post several movements in one unit of work, taking all their locks at once in id order.

    Use this, not several ``post`` calls, when one unit of work makes more than one movement:
    separate calls lock in several rounds, which can deadlock against another unit of work that
    touches the same accounts in another order (PostgreSQL then aborts one of them).
    """
    checked = [rules.check_movement(movement) for movement in movements]
    repository = LedgerRepository(session)
    results: dict[int, LedgerTransaction] = {}
    pending: list[tuple[int, Movement]] = []
    # Check, then do: a replay that conflicts is refused before anything is written.
    for index, movement in enumerate(checked):
        existing = repository.transaction_by_idempotency_key(movement.idempotency_key)
        if existing is None:
            pending.append((index, movement))
        else:
            results[index] = _replayed(repository, existing, movement)
    if pending:
        keys = {key for _index, movement in pending for key in _keys(movement)}
        accounts = repository.find_accounts(keys)
        for key in sorted(keys - accounts.keys()):
            accounts[key] = repository.get_or_create_account(key)
        exclusive = any(movement.floors for _index, movement in pending)
        repository.lock_accounts((account.id for account in accounts.values()), exclusive)
        inserted: dict[str, LedgerTransaction] = {}
        for index, movement in pending:
            results[index] = _post_locked(
                repository, accounts, movement, inserted, exclusive, actor_user_id
            )
    return [results[index] for index in range(len(checked))]


def _post_locked(
    repository: LedgerRepository,
    accounts: Mapping[AccountKey, LedgerAccount],
    movement: Movement,
    inserted: dict[str, LedgerTransaction],
    recheck: bool,
    actor_user_id: int | None,
) -> LedgerTransaction:
    earlier = inserted.get(movement.idempotency_key)
    if earlier is None and recheck:
        # A concurrent request may have posted this key while we waited for the locks.
        earlier = repository.transaction_by_idempotency_key(movement.idempotency_key)
    if earlier is not None:
        return _replayed(repository, earlier, movement)
    net = rules.net_by_account(movement.legs)
    for key, minimum in sorted(movement.floors.items()):
        _require_at_least(repository, accounts[key], minimum - net.get(key, 0))

    now = utc_now()
    transaction = LedgerTransaction(
        kind=movement.kind,
        idempotency_key=movement.idempotency_key,
        correlation_key=movement.correlation_key,
        memo=movement.memo,
        actor_user_id=actor_user_id,
        created_at=now,
        entries=[
            LedgerEntry(account=accounts[leg.account], amount_fen=leg.amount_fen, created_at=now)
            for leg in movement.legs
        ],
    )
    if repository.insert_transaction(transaction):
        inserted[movement.idempotency_key] = transaction
        return transaction
    # Lost the race to a concurrent request with the same key; it committed first.
    winner = repository.transaction_by_idempotency_key(movement.idempotency_key)
    assert winner is not None  # insert_transaction re-raises when no row holds the key
    return _replayed(repository, winner, movement)


def _keys(movement: Movement) -> set[AccountKey]:
    return {*(leg.account for leg in movement.legs), *movement.floors}


def _check_floor(minimum: object) -> int:
    if isinstance(minimum, bool) or not isinstance(minimum, int):
        raise rules.LedgerAmountInvalid(value=minimum, limit=MAX_FEN)
    return minimum


def _replayed(
    repository: LedgerRepository, existing: LedgerTransaction, movement: Movement
) -> LedgerTransaction:
    same = (
        existing.kind == movement.kind
        and existing.correlation_key == movement.correlation_key
        and rules.same_legs(repository.legs_of(existing.id), movement.legs)
    )
    if not same:
        raise IdempotencyKeyConflict(key=existing.idempotency_key)
    return existing


def _require_at_least(repository: LedgerRepository, account: LedgerAccount, minimum: int) -> int:
    current = repository.balance(account.id)
    if current < minimum:
        raise _insufficient(account.kind, current, minimum)
    return current


def _insufficient(kind: LedgerAccountKind, current: int, minimum: int) -> InsufficientBalance:
    return InsufficientBalance(
        kind=kind.value,
        balance_fen=current,
        required_fen=minimum,
        balance_yuan=format_yuan(current),
        required_yuan=format_yuan(minimum),
    )


def require_balance_at_least(session: Session, account: AccountKey, amount_fen: int) -> int:
    """Lock one account (FOR UPDATE) and return its balance, or raise ``InsufficientBalance``.

    The lock holds until the caller's transaction ends. When the movement that follows touches
    several accounts, pass ``floors`` to ``post`` instead: it locks them all in id order, where
    locking this one first could deadlock against a posting that locks in id order.
    """
    key = rules.check_account_key(account)
    minimum = _check_floor(amount_fen)
    repository = LedgerRepository(session)
    found = repository.find_account(key)
    if found is None:
        if minimum > 0:
            raise _insufficient(key.kind, 0, minimum)
        return 0
    repository.lock_accounts([found.id], exclusive=True)
    return _require_at_least(repository, found, minimum)


# --- reading ---------------------------------------------------------------------------------


def balance(session: Session, account: AccountKey | LedgerAccount) -> int:
    """The sum of the account's entries (0 for an account never used)."""
    repository = LedgerRepository(session)
    if isinstance(account, LedgerAccount):
        return repository.balance(account.id)
    found = repository.find_account(rules.check_account_key(account))
    return 0 if found is None else repository.balance(found.id)


def movement_total(session: Session, account: AccountKey, transaction_kind: str) -> int:
    """The sum of an account's entries in transactions of one kind (0 for an unused account)."""
    repository = LedgerRepository(session)
    found = repository.find_account(rules.check_account_key(account))
    return 0 if found is None else repository.movement_total(found.id, transaction_kind)


def balances_for_owner(
    session: Session, actor: Principal | None, owner_type: LedgerOwnerType, owner_id: int
) -> dict[LedgerAccountKind, int]:
    """Every account kind an owner of this type can have, with its balance (0 if unused)."""
    if not _scope(actor).allows(owner_type, owner_id):
        raise LedgerAccountNotFound()
    repository = LedgerRepository(session)
    accounts = repository.accounts_of_owner(owner_type, owner_id)
    sums = repository.balances(account.id for account in accounts)
    result = dict.fromkeys(rules.kinds_of_owner(owner_type), 0)
    for account in accounts:
        result[account.kind] = sums[account.id]
    return result


def get_account(session: Session, actor: Principal | None, account_id: int) -> LedgerAccount:
    account = LedgerRepository(session).get_account(account_id)
    if account is None or not _scope(actor).allows(account.owner_type, account.owner_id):
        raise LedgerAccountNotFound()
    return account


def account_of(session: Session, actor: Principal | None, key: AccountKey) -> LedgerAccount:
    """The account behind a key, if the actor may see it and it has been used."""
    key = rules.check_account_key(key)
    if not _scope(actor).allows(key.owner_type, key.owner_id):
        raise LedgerAccountNotFound()
    account = LedgerRepository(session).find_account(key)
    if account is None:
        raise LedgerAccountNotFound()
    return account


def entries_for_account(
    session: Session, actor: Principal | None, account_id: int, page: PageRequest
) -> Page[LedgerEntry]:
    """The account's entries, newest first, each with its transaction loaded."""
    account = get_account(session, actor, account_id)
    return LedgerRepository(session).entries_of_account(account.id, page)


def legs_of(session: Session, transaction: LedgerTransaction) -> list[Leg]:
    return LedgerRepository(session).legs_of(transaction.id)


def trial_balance(session: Session) -> int:
    """The sum of every entry in the ledger. Anything but 0 is a bug."""
    return LedgerRepository(session).trial_balance()


def check_balanced(session: Session) -> list[UnbalancedTransaction]:
    """Transactions whose entries do not sum to zero or that have fewer than two (expect none)."""
    return LedgerRepository(session).unbalanced_transactions()
