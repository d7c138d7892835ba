"""The personal-data access log and the full-phone reveal. Never commits.

Every page or API that shows a consumer's personal data to a user (phone, even masked, nickname,
region) calls ``record_reads`` with the consumers on it; the rows are written in the request's
transaction. The full phone number is shown only through ``reveal_phone``: platform staff only,
with a stated purpose, logged as ``phone_full``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.errors import NotFound, ValidationFailed
from siyu.kit import crypto
from siyu.kit.pagination import Page, PageRequest
from siyu.models import Consumer, PersonalDataAccess
from siyu.privacy.repository import PrivacyRepository

CONSUMER = "consumer"
PURPOSE_MAX_LENGTH = 64


class RevealReasonRequired(ValidationFailed):
    code = "reveal_reason_required"
    message_en = "A reason (2 to 64 characters) is required to see a full phone number."
    message_zh = "查看完整手机号需填写用途（2–64 字），该操作会被记录。"


class PhoneNotOnFile(NotFound):
    code = "phone_not_on_file"
    message_en = "This consumer has no phone number on file."
    message_zh = "该用户没有登记手机号。"


def record_reads(
    session: Session,
    actor: Principal | None,
    subject_ids: Iterable[int | None],
    purpose: str,
    fields: str = "phone_masked,nickname",
    subject_type: str = CONSUMER,
) -> int:
    """Log that ``actor`` was shown these subjects' data; returns how many rows were written.

    ``actor`` None (the buyer's own page, a job) logs nothing. Duplicates within one read are
    logged once.
    """
    if actor is None or actor.user_id <= 0:
        return 0
    unique = sorted({subject_id for subject_id in subject_ids if subject_id is not None})
    PrivacyRepository(session).add_many(
        actor.user_id, subject_type, unique, purpose[:PURPOSE_MAX_LENGTH], fields[:120]
    )
    return len(unique)


def reveal_phone(session: Session, actor: Principal, consumer_id: int, reason: str) -> str:
    """The full phone number, for platform staff with a reason; the read is logged."""
    actor.require_platform()
    text = (reason or "").strip()
    if not 2 <= len(text) <= PURPOSE_MAX_LENGTH:
        raise RevealReasonRequired()
    consumer = session.get(Consumer, consumer_id)
    if consumer is None or not consumer.phone_encrypted:
        raise PhoneNotOnFile()
    record_reads(session, actor, [consumer_id], f"reveal:{text}", "phone_full")
    return crypto.decrypt(consumer.phone_encrypted)


def phones_for_own_work(
    session: Session, actor: Principal, consumer_ids: Iterable[int | None], purpose: str
) -> dict[int, str]:
    """Full phone numbers an operator needs for its own task (a courier adding the customer it
    delivered to); the caller has scoped the tasks to the actor. Each one is logged as
    ``phone_full``; the number is never copied into the task itself."""
    wanted = sorted({consumer_id for consumer_id in consumer_ids if consumer_id is not None})
    phones: dict[int, str] = {}
    for consumer_id in wanted:
        consumer = session.get(Consumer, consumer_id)
        if consumer is not None and consumer.phone_encrypted:
            phones[consumer_id] = crypto.decrypt(consumer.phone_encrypted)
    record_reads(session, actor, phones, purpose, "phone_full")
    return phones


def access_log(
    session: Session,
    actor: Principal,
    page: PageRequest,
    *,
    subject_id: int | None = None,
    actor_user_id: int | None = None,
) -> Page[PersonalDataAccess]:
    """Platform admins only: who saw whose data."""
    actor.require_admin()
    return PrivacyRepository(session).search(
        page,
        subject_type=CONSUMER if subject_id is not None else None,
        subject_id=subject_id,
        actor_user_id=actor_user_id,
    )


def usernames(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    return PrivacyRepository(session).usernames(sorted(set(user_ids)))
