"""Ledger rules: what a valid posting is, and the standard movements. No I/O, no database.

A posting is a list of legs ``(account key, amount_fen)``: at least two, every amount a non-zero
integer fen (no floats, no bools) within ``MAX_FEN``, summing to exactly zero. Amounts are
signed: ``+`` into the account, ``−`` out of it (see ``siyu.models.ledger`` for the convention).

The validation errors live here rather than at the top of ``service.py`` because these functions
raise them and the service imports this module (the other way round would be circular).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from siyu.errors import ValidationFailed
from siyu.kit.money import MAX_FEN
from siyu.models.ledger import PLATFORM_OWNER_ID, LedgerAccountKind, LedgerOwnerType

KEY_MAX_LENGTH: Final = 200
KIND_MAX_LENGTH: Final = 64
MEMO_MAX_LENGTH: Final = 500

# Which kind of owner each account kind belongs to. A new kind must be added here too.
OWNER_TYPE_OF_KIND: Final[Mapping[LedgerAccountKind, LedgerOwnerType]] = {
    LedgerAccountKind.MERCHANT_PAYABLE: LedgerOwnerType.MERCHANT,
    LedgerAccountKind.PLATFORM_REVENUE: LedgerOwnerType.PLATFORM,
    LedgerAccountKind.PROMOTER_PENDING: LedgerOwnerType.PROMOTER,
    LedgerAccountKind.PROMOTER_AVAILABLE: LedgerOwnerType.PROMOTER,
    LedgerAccountKind.PROMOTER_WITHDRAWING: LedgerOwnerType.PROMOTER,
    LedgerAccountKind.PROMOTER_ON_HOLD: LedgerOwnerType.PROMOTER,
    LedgerAccountKind.PAYOUT_CLEARING: LedgerOwnerType.PLATFORM,
}


class LedgerPostingEmpty(ValidationFailed):
    code = "ledger_posting_empty"
    message_en = "A ledger posting needs at least two legs."
    message_zh = "记账分录至少需要两条（一借一贷），本次未做任何记账。"


class LedgerAmountInvalid(ValidationFailed):
    code = "ledger_amount_invalid"
    message_en = "Ledger amounts must be non-zero integer fen up to {limit}, got {value!r}."
    message_zh = "记账金额必须是非零的整数（单位：分），您给出的是“{value}”，本次未做任何记账。"


class LedgerPostingUnbalanced(ValidationFailed):
    code = "ledger_posting_unbalanced"
    message_en = "A ledger posting must sum to zero; these legs sum to {total} fen."
    message_zh = "借贷不平衡（合计 {total} 分），本次未做任何记账。"


class LedgerAccountKeyInvalid(ValidationFailed):
    code = "ledger_account_key_invalid"
    message_en = "Account {kind} belongs to a {expected} owner, got {owner_type} {owner_id!r}."
    message_zh = "账户类型与归属不匹配（{kind} 应属于 {expected}），本次未做任何记账。"


class LedgerKeyInvalid(ValidationFailed):
    code = "ledger_key_invalid"
    message_en = "{field} must be 1 to {limit} characters."
    message_zh = "{field}不能为空且最多 {limit} 个字符，本次未做任何记账。"


class AccountKey(NamedTuple):
    """Names an account before it exists: the ledger creates it on first use."""

    kind: LedgerAccountKind
    owner_type: LedgerOwnerType
    owner_id: int


class Leg(NamedTuple):
    account: AccountKey
    amount_fen: int


def merchant_payable(merchant_id: int) -> AccountKey:
    return AccountKey(LedgerAccountKind.MERCHANT_PAYABLE, LedgerOwnerType.MERCHANT, merchant_id)


def platform_revenue() -> AccountKey:
    return AccountKey(
        LedgerAccountKind.PLATFORM_REVENUE, LedgerOwnerType.PLATFORM, PLATFORM_OWNER_ID
    )


def payout_clearing() -> AccountKey:
    return AccountKey(
        LedgerAccountKind.PAYOUT_CLEARING, LedgerOwnerType.PLATFORM, PLATFORM_OWNER_ID
    )


def promoter_account(kind: LedgerAccountKind, promoter_id: int) -> AccountKey:
    return check_account_key(AccountKey(kind, LedgerOwnerType.PROMOTER, promoter_id))


def promoter_pending(promoter_id: int) -> AccountKey:
    return promoter_account(LedgerAccountKind.PROMOTER_PENDING, promoter_id)


def promoter_available(promoter_id: int) -> AccountKey:
    return promoter_account(LedgerAccountKind.PROMOTER_AVAILABLE, promoter_id)


def promoter_withdrawing(promoter_id: int) -> AccountKey:
    return promoter_account(LedgerAccountKind.PROMOTER_WITHDRAWING, promoter_id)


def promoter_on_hold(promoter_id: int) -> AccountKey:
    return promoter_account(LedgerAccountKind.PROMOTER_ON_HOLD, promoter_id)


def kinds_of_owner(owner_type: LedgerOwnerType) -> list[LedgerAccountKind]:
    return [kind for kind, owner in OWNER_TYPE_OF_KIND.items() if owner == owner_type]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_account_key(account: object) -> AccountKey:
    if not isinstance(account, tuple) or len(account) != 3:
        raise LedgerAccountKeyInvalid(
            kind=repr(account), expected="?", owner_type="?", owner_id="?"
        )
    kind_value, owner_value, owner_id = account
    try:
        kind = LedgerAccountKind(kind_value)
        owner_type = LedgerOwnerType(owner_value)
    except ValueError as error:
        raise LedgerAccountKeyInvalid(
            kind=kind_value, expected="?", owner_type=owner_value, owner_id=owner_id
        ) from error
    expected = OWNER_TYPE_OF_KIND[kind]
    if isinstance(owner_id, bool) or not isinstance(owner_id, int):
        owner_valid = False
    elif expected == LedgerOwnerType.PLATFORM:
        owner_valid = owner_id == PLATFORM_OWNER_ID
    else:
        owner_valid = owner_id > 0
    if owner_type != expected or not owner_valid:
        raise LedgerAccountKeyInvalid(
            kind=kind.value, expected=expected.value, owner_type=owner_type.value, owner_id=owner_id
        )
    return AccountKey(kind, owner_type, owner_id)


def check_amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value == 0 or abs(value) > MAX_FEN:
        raise LedgerAmountInvalid(value=value, limit=MAX_FEN)
    return value


def check_posting(legs: Iterable[Leg | tuple[AccountKey, int]]) -> tuple[Leg, ...]:
    """Validate and normalise a posting; raise before anything is written."""
    checked: list[Leg] = []
    for leg in legs:
        if not isinstance(leg, tuple) or len(leg) != 2:
            raise LedgerAmountInvalid(value=leg, limit=MAX_FEN)
        account, amount = leg
        checked.append(Leg(check_account_key(account), check_amount(amount)))
    if len(checked) < 2:
        raise LedgerPostingEmpty()
    total = sum(leg.amount_fen for leg in checked)
    if total != 0:
        raise LedgerPostingUnbalanced(total=total)
    return tuple(checked)


@dataclass(frozen=True, eq=False)
class Movement:
    """One business movement to post: its legs, its keys, and optional balance floors.

    ``floors`` maps accounts to the lowest balance each may hold once this movement is posted.
    """

    kind: str
    idempotency_key: str
    correlation_key: str
    legs: tuple[Leg, ...]
    memo: str = ""
    floors: Mapping[AccountKey, int] = field(default_factory=dict)


def movement(
    kind: str,
    idempotency_key: str,
    correlation_key: str,
    legs: Iterable[Leg | tuple[AccountKey, int]],
    memo: str = "",
    floors: Mapping[AccountKey, int] | None = None,
) -> Movement:
    """Build and validate a movement (raises before anything is written)."""
    return check_movement(
        Movement(
            kind, idempotency_key, correlation_key, check_posting(legs), memo, dict(floors or {})
        )
    )


def check_movement(value: Movement) -> Movement:
    floors: dict[AccountKey, int] = {}
    for account, minimum in value.floors.items():
        if isinstance(minimum, bool) or not isinstance(minimum, int) or abs(minimum) > MAX_FEN:
            raise LedgerAmountInvalid(value=minimum, limit=MAX_FEN)
        floors[check_account_key(account)] = minimum
    return Movement(
        kind=check_key(value.kind, "kind", KIND_MAX_LENGTH),
        idempotency_key=check_key(value.idempotency_key, "idempotency_key"),
        correlation_key=check_key(value.correlation_key, "correlation_key"),
        legs=check_posting(value.legs),
        memo=check_memo(value.memo),
        floors=floors,
    )


def check_key(value: object, field: str, limit: int = KEY_MAX_LENGTH) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise LedgerKeyInvalid(field=field, limit=limit)
    return value


def check_memo(value: object) -> str:
    if not isinstance(value, str) or len(value) > MEMO_MAX_LENGTH:
        raise LedgerKeyInvalid(field="memo", limit=MEMO_MAX_LENGTH)
    return value


def transfer(source: AccountKey, destination: AccountKey, amount_fen: int) -> list[Leg]:
    """Move a positive amount from ``source`` to ``destination``: two legs, −amount and +amount."""
    amount = check_amount(amount_fen)
    if amount < 0:
        raise LedgerAmountInvalid(value=amount_fen, limit=MAX_FEN)
    return [Leg(source, -amount), Leg(destination, amount)]


def split(source: AccountKey, shares: Mapping[AccountKey, int]) -> list[Leg]:
    """Take the sum of ``shares`` from ``source`` in one leg and give each destination its share.

    Zero shares are dropped (a record under 1 分 is not created); negative shares are refused.
    """
    legs = [
        Leg(destination, check_amount(amount))
        for destination, amount in shares.items()
        if not (_is_int(amount) and amount == 0)
    ]
    if any(leg.amount_fen < 0 for leg in legs):
        negative = next(leg.amount_fen for leg in legs if leg.amount_fen < 0)
        raise LedgerAmountInvalid(value=negative, limit=MAX_FEN)
    total = sum(leg.amount_fen for leg in legs)
    if total == 0:
        return []
    return [Leg(source, -total), *legs]


def net_by_account(legs: Iterable[Leg]) -> dict[AccountKey, int]:
    """What the posting does to each account's balance."""
    net: dict[AccountKey, int] = {}
    for account, amount in legs:
        net[account] = net.get(account, 0) + amount
    return net


def same_legs(first: Iterable[Leg], second: Iterable[Leg]) -> bool:
    """Equal as multisets: the order legs were given in does not make a different posting."""
    return Counter(first) == Counter(second)
