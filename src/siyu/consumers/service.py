"""Find-or-create consumers and keep their binding (锁粉). Never commits.

A consumer is found by the keyed blind index of the phone (the phone itself is stored encrypted)
or by WeChat union id. Two checkouts by the same new phone may race: the insert runs in a
savepoint, and the loser of the unique index re-reads the winner's row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.commissions.attribution import consumer_binding
from siyu.consumers.repository import ConsumerRepository
from siyu.errors import ValidationFailed
from siyu.kit import crypto
from siyu.kit.time import utc_now
from siyu.models import Consumer, Promoter, PromoterStatus
from siyu.models.promoters import BindingMode

NICKNAME_MAX_LENGTH = 64
UNION_ID_MAX_LENGTH = 64


class ConsumerIdentityRequired(ValidationFailed):
    code = "consumer_identity_required"
    message_en = "A buyer needs a phone number or a WeChat union id."
    message_zh = "请填写买家手机号。"


class UnionIdInvalid(ValidationFailed):
    code = "union_id_invalid"
    message_en = "union_id must be 1–64 characters."
    message_zh = "微信 UnionID 格式不正确。"


@dataclass(frozen=True)
class ConsumerIdentity:
    phone: str | None = None
    union_id: str | None = None
    nickname: str = ""


def phone_index_of(consumer: Consumer) -> str | None:
    return consumer.phone_index


def masked_phone(consumer: Consumer) -> str:
    if not consumer.phone_encrypted:
        return "—"
    return crypto.mask_phone(crypto.decrypt(consumer.phone_encrypted))


def find_or_create(session: Session, identity: ConsumerIdentity) -> Consumer:
    """The consumer with this phone (preferred) or union id; created when new."""
    return find_or_create_flagged(session, identity)[0]


def find_or_create_flagged(session: Session, identity: ConsumerIdentity) -> tuple[Consumer, bool]:
    """``find_or_create`` that also says whether this call created the row (``True``): a row
    created in this transaction is invisible to others, so callers may skip locking it."""
    phone = crypto.normalize_phone(identity.phone) if identity.phone else None
    union_id = (identity.union_id or "").strip() or None
    if phone is None and union_id is None:
        raise ConsumerIdentityRequired()
    if union_id is not None and len(union_id) > UNION_ID_MAX_LENGTH:
        raise UnionIdInvalid()
    nickname = identity.nickname.strip()[:NICKNAME_MAX_LENGTH]
    repository = ConsumerRepository(session)
    phone_index = crypto.blind_index(phone) if phone else None
    found = _find(repository, phone_index, union_id)
    if found is not None:
        if nickname and not found.nickname:
            found.nickname = nickname
        return found, False
    consumer = Consumer(
        nickname=nickname,
        union_id=union_id,
        phone_encrypted=crypto.encrypt(phone) if phone else None,
        phone_index=phone_index,
    )
    try:
        with session.begin_nested():
            repository.add(consumer)
    except IntegrityError:
        # A concurrent checkout created the same person first: use that row.
        found = _find(repository, phone_index, union_id)
        if found is None:
            raise
        return found, False
    return consumer, True


def find_or_create_id(session: Session, identity: ConsumerIdentity) -> tuple[int, bool]:
    """The id of the consumer with this phone or union id, and whether this call created it.

    The hot path of a channel-code scan: no ORM objects, and a concurrent creator of the same
    person is absorbed by ``INSERT … ON CONFLICT DO NOTHING`` instead of a savepoint. Unlike
    ``find_or_create`` it never fills in a missing nickname of an existing consumer.
    """
    phone = crypto.normalize_phone(identity.phone) if identity.phone else None
    union_id = (identity.union_id or "").strip() or None
    if phone is None and union_id is None:
        raise ConsumerIdentityRequired()
    if union_id is not None and len(union_id) > UNION_ID_MAX_LENGTH:
        raise UnionIdInvalid()
    repository = ConsumerRepository(session)
    phone_index = crypto.blind_index(phone) if phone else None
    # Insert first: most scanners are new people, and a conflict is the cheap way to find out.
    created = repository.insert_ignoring_conflict(
        nickname=identity.nickname.strip()[:NICKNAME_MAX_LENGTH],
        union_id=union_id,
        phone_encrypted=crypto.encrypt(phone) if phone else None,
        phone_index=phone_index,
    )
    if created is not None:
        return created, True
    found = repository.id_by_identity(phone_index, union_id)
    if found is None:
        raise RuntimeError("consumer insert conflicted but no consumer was found")
    return found, False


def _find(
    repository: ConsumerRepository, phone_index: str | None, union_id: str | None
) -> Consumer | None:
    if phone_index is not None:
        found = repository.by_phone_index(phone_index)
        if found is not None:
            return found
    if union_id is not None:
        return repository.by_union_id(union_id)
    return None


def lock(session: Session, consumer_id: int) -> Consumer:
    consumer = ConsumerRepository(session).lock(consumer_id)
    assert consumer is not None, "a consumer found in this transaction cannot vanish"
    return consumer


def buyer_promoter_id(session: Session, consumer: Consumer) -> int | None:
    """The buyer's own promoter id when the buyer's phone is a promoter's (self-purchase)."""
    return ConsumerRepository(session).promoter_id_for_phone_index(consumer.phone_index)


def is_new(session: Session, consumer: Consumer) -> bool:
    """New = no order yet (read before this order is written)."""
    return not ConsumerRepository(session).has_orders(consumer.id)


def update_binding(
    session: Session,
    consumer: Consumer,
    *,
    mode: BindingMode,
    candidate: Promoter | None,
    consumer_is_new: bool,
    buyer_promoter: int | None,
    source: str,
) -> bool:
    """Apply the binding rule to this order's attributed promoter. True when it changed."""
    new_promoter_id = consumer_binding(
        mode=mode,
        current_promoter_id=consumer.bound_promoter_id,
        candidate_promoter_id=candidate.id if candidate is not None else None,
        is_new=consumer_is_new,
        buyer_promoter_id=buyer_promoter,
        candidate_is_active=candidate is not None and candidate.status == PromoterStatus.ACTIVE,
    )
    if new_promoter_id is None:
        return False
    consumer.bound_promoter_id = new_promoter_id
    consumer.bound_at = utc_now()
    consumer.binding_source = source
    session.flush()
    return True
