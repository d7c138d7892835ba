"""Moments (朋友圈, 栏目化): columns, the calendar, publishing through each account's channel,
likes/comments both ways. Never commits. See docs/moments.md.

Publishing: scheduling a post for a column's day creates one publication per account of the
column, due at the slot. ``publish_due`` (job ``moments.publish_due``, every minute) claims each
due publication with a conditional UPDATE (pending → queued), so two workers never publish one
twice, and hands it to the account's backend: the simulator publishes at once (its contacts'
reactions come back as ``moment_interaction`` events), assisted accounts get a copy-ready
``post_moment`` task that marks the publication published when the operator closes it done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.channels.base import MomentContent
from siyu.channels.registry import backend_for
from siyu.compliance import service as compliance
from siyu.compliance.rules import TextKind
from siyu.config import current_settings
from siyu.errors import AppError, Conflict, NotFound, ValidationFailed
from siyu.kit.time import SHANGHAI, utc_now
from siyu.models import (
    AssistedTask,
    AssistedTaskKind,
    AssistedTaskStatus,
    ChannelEvent,
    Contact,
    Persona,
)
from siyu.models.moments import (
    InteractionDirection,
    InteractionKind,
    MomentColumn,
    MomentColumnStatus,
    MomentInteraction,
    MomentPost,
    MomentPostStatus,
    MomentPublication,
    PublicationStatus,
)
from siyu.moments import rules
from siyu.moments.repository import MomentRepository
from siyu.moments.schemas import ColumnIn, InteractionIn, PostIn
from siyu.pool import hooks
from siyu.pool.repository import AccountRepository, ContactRepository


class MomentColumnNotFound(NotFound):
    code = "moment_column_not_found"
    message_en = "Moment column not found."
    message_zh = "找不到该朋友圈栏目。"


class MomentPostNotFound(NotFound):
    code = "moment_post_not_found"
    message_en = "Moment post not found."
    message_zh = "找不到该朋友圈内容。"


class MomentPublicationNotFound(NotFound):
    code = "moment_publication_not_found"
    message_en = "Moment publication not found."
    message_zh = "找不到该账号的发布记录。"


class MomentColumnInvalid(ValidationFailed):
    code = "moment_column_invalid"
    message_en = "Invalid column: {detail}."
    message_zh = "栏目设置有误：{detail_zh}。"


class MomentColumnNoAccounts(ValidationFailed):
    code = "moment_column_no_accounts"
    message_en = "A column needs accounts: pick accounts or a persona (unknown ids: {missing})."
    message_zh = "请为栏目选择运营号或人设（不存在的账号：{missing}）。"


class MomentPostInvalid(ValidationFailed):
    code = "moment_post_invalid"
    message_en = "Invalid post: {detail}."
    message_zh = "朋友圈内容有误：{detail_zh}。"


class MomentScheduleRefused(ValidationFailed):
    code = "moment_schedule_refused"
    message_en = "Cannot schedule the post on {day}: {reason}."
    message_zh = "无法排期到 {day}：{reason_zh}。"


class MomentSlotTaken(Conflict):
    code = "moment_slot_taken"
    message_en = "Column {column} already has a post on {day} (post {post_id})."
    message_zh = "栏目“{column}”在 {day} 已有内容，请编辑或取消原内容后再排期。"


class MomentPostClosed(Conflict):
    code = "moment_post_closed"
    message_en = "The post is already {status}."
    message_zh = "该内容已{status_zh}，不能再修改。"


class MomentInteractionInvalid(ValidationFailed):
    code = "moment_interaction_invalid"
    message_en = "The contact is not a friend of this account."
    message_zh = "该联系人不是此账号的好友。"


_SCHEDULE_REASONS_ZH = {
    "not_a_column_day": "该栏目这一天不发布",
    "slot_passed": "该时段已过",
    "too_far_ahead": f"最多提前 {rules.MAX_DAYS_AHEAD} 天排期",
}
_STATUS_ZH = {"published": "发布", "cancelled": "取消"}


def _platform(actor: Principal) -> None:
    actor.require_platform()


def _uid(actor: Principal) -> int | None:
    # SYSTEM has user_id 0, which is no row in "user": audit it as the system (NULL).
    return actor.user_id or None


# --- columns ----------------------------------------------------------------------------------


def _check_column(session: Session, data: ColumnIn) -> tuple[int, list[int]]:
    try:
        minute = rules.parse_slot(data.slot)
        weekdays = rules.normalise_weekdays(data.weekdays)
    except ValueError as error:
        detail = str(error)
        zh = "发布时间格式为 HH:MM" if "slot" in detail else "请至少选择一个发布日（周一至周日）"
        raise MomentColumnInvalid(detail=detail, detail_zh=zh) from error
    if not data.name.strip():
        raise MomentColumnInvalid(detail="name is required", detail_zh="请填写栏目名称")
    if data.account_ids:
        found = MomentRepository(session).accounts_exist(data.account_ids)
        missing = sorted(set(data.account_ids) - found)
        if missing:
            raise MomentColumnNoAccounts(missing=", ".join(map(str, missing)))
    elif data.persona_id is None:
        raise MomentColumnNoAccounts(missing="—")
    elif session.get(Persona, data.persona_id) is None:
        raise MomentColumnNoAccounts(missing=f"persona {data.persona_id}")
    return minute, weekdays


def create_column(session: Session, actor: Principal, data: ColumnIn) -> MomentColumn:
    _platform(actor)
    minute, weekdays = _check_column(session, data)
    column = MomentColumn(
        name=data.name.strip()[:40],
        slot_minute=minute,
        weekdays=weekdays,
        persona_id=None if data.account_ids else data.persona_id,
        account_ids=sorted(set(data.account_ids)),
        status=MomentColumnStatus.ACTIVE,
        color=data.color,
    )
    MomentRepository(session).add(column)
    audit.record(session, _uid(actor), "moments.column_created", "moment_column", column.id)
    return column


def set_column_status(
    session: Session, actor: Principal, column_id: int, status: MomentColumnStatus
) -> MomentColumn:
    _platform(actor)
    column = get_column(session, actor, column_id)
    column.status = status
    session.flush()
    audit.record(
        session, _uid(actor), "moments.column_status", "moment_column", column.id, status.value
    )
    return column


def get_column(session: Session, actor: Principal, column_id: int) -> MomentColumn:
    _platform(actor)
    column = MomentRepository(session).column(column_id)
    if column is None:
        raise MomentColumnNotFound()
    return column


def list_columns(session: Session, actor: Principal) -> Sequence[MomentColumn]:
    _platform(actor)
    return MomentRepository(session).columns()


def column_accounts(session: Session, column: MomentColumn) -> list[int]:
    return [account.id for account in MomentRepository(session).accounts_for(column)]


# --- posts ------------------------------------------------------------------------------------


def _check_post(data: PostIn) -> None:
    text = data.text.strip()
    if not text:
        raise MomentPostInvalid(detail="text is required", detail_zh="请填写文案")
    if len(text) > rules.MAX_TEXT:
        raise MomentPostInvalid(
            detail=f"text over {rules.MAX_TEXT} characters",
            detail_zh=f"文案不能超过 {rules.MAX_TEXT} 字",
        )
    if len(data.image_urls) > rules.MAX_IMAGES:
        raise MomentPostInvalid(
            detail=f"at most {rules.MAX_IMAGES} images", detail_zh="朋友圈最多 9 张图片"
        )
    for url in (*data.image_urls, data.link_url):
        if url and not url.startswith(("/", "https://", "http://")):
            raise MomentPostInvalid(
                detail=f"not a link: {url[:40]}", detail_zh="图片和链接须以 https:// 或 / 开头"
            )


def schedule_post(
    session: Session, actor: Principal, data: PostIn, *, now: datetime | None = None
) -> MomentPost:
    """A post for ``data.column_id`` on ``data.publish_on``: linted, one publication per account.

    Refused (nothing written): bad copy, a blocking lint finding without an admin override, a
    day the column does not run / a passed slot, a day that already has a post, no accounts.
    """
    _platform(actor)
    repository = MomentRepository(session)
    column = get_column(session, actor, data.column_id)
    if column.status != MomentColumnStatus.ACTIVE:
        raise MomentPostInvalid(detail="the column is paused", detail_zh="栏目已暂停")
    _check_post(data)
    now = now or utc_now()
    try:
        publish_at = rules.check_schedule(column.weekdays, column.slot_minute, data.publish_on, now)
    except rules.ScheduleRefused as refused:
        raise MomentScheduleRefused(
            day=data.publish_on.isoformat(),
            reason=refused.reason,
            reason_zh=_SCHEDULE_REASONS_ZH[refused.reason],
        ) from refused
    existing = repository.post_of_column_on(column.id, data.publish_on)
    if existing is not None:
        raise MomentSlotTaken(
            column=column.name, day=data.publish_on.isoformat(), post_id=existing.id
        )
    accounts = repository.accounts_for(column)
    if not accounts:
        raise MomentColumnNoAccounts(missing="—")
    text = data.text.strip()
    compliance.require_publishable(
        session,
        actor,
        "\n".join(part for part in (text, data.link_url) if part),
        TextKind.MOMENT,
        object_type="moment_post",
        object_id=None,
        override_reason=data.override_reason,
    )
    post = MomentPost(
        column_id=column.id,
        publish_on=data.publish_on,
        publish_at=publish_at,
        text=text,
        image_urls=list(data.image_urls),
        link_url=data.link_url,
        status=MomentPostStatus.SCHEDULED,
        created_by_user_id=_uid(actor),
    )
    repository.add(post)
    for account in accounts:
        session.add(
            MomentPublication(
                post_id=post.id,
                account_id=account.id,
                due_at=publish_at,
                status=PublicationStatus.PENDING,
                error="",
            )
        )
    session.flush()
    audit.record(session, _uid(actor), "moments.post_scheduled", "moment_post", post.id)
    return post


def cancel_post(session: Session, actor: Principal, post_id: int) -> MomentPost:
    """Cancel what has not gone out yet; publications already out stay published."""
    _platform(actor)
    repository = MomentRepository(session)
    post = repository.post_for_update(post_id)
    if post is None:
        raise MomentPostNotFound()
    if post.status != MomentPostStatus.SCHEDULED:
        raise MomentPostClosed(status=post.status.value, status_zh=_STATUS_ZH[post.status.value])
    for publication in repository.publications_of(post.id):
        if repository.claim(publication.id, PublicationStatus.CANCELLED):
            continue
        if publication.status == PublicationStatus.QUEUED and publication.task_id is not None:
            task = session.get(AssistedTask, publication.task_id)
            if task is not None and task.status == AssistedTaskStatus.OPEN:
                task.status = AssistedTaskStatus.CANCELLED
                task.completed_at = utc_now()
                publication.status = PublicationStatus.CANCELLED
    post.status = MomentPostStatus.CANCELLED
    session.flush()
    session.expire_all()
    audit.record(session, _uid(actor), "moments.post_cancelled", "moment_post", post.id)
    return post


def get_post(session: Session, actor: Principal, post_id: int) -> MomentPost:
    _platform(actor)
    post = MomentRepository(session).post(post_id)
    if post is None:
        raise MomentPostNotFound()
    return post


@dataclass(frozen=True)
class PublicationView:
    publication: MomentPublication
    likes: int
    comments: int


def publications(session: Session, actor: Principal, post_id: int) -> list[PublicationView]:
    get_post(session, actor, post_id)
    repository = MomentRepository(session)
    rows = repository.publications_of(post_id)
    counts = repository.interaction_counts([row.id for row in rows])
    return [
        PublicationView(
            row,
            counts.get(row.id, {}).get(InteractionKind.LIKE.value, 0),
            counts.get(row.id, {}).get(InteractionKind.COMMENT.value, 0),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class CalendarCell:
    column: MomentColumn
    day: date
    runs: bool
    post: MomentPost | None


@dataclass(frozen=True)
class Calendar:
    days: list[date]
    rows: list[tuple[MomentColumn, list[CalendarCell]]]


def calendar(session: Session, actor: Principal, day: date) -> Calendar:
    """The week of ``day``: one row per column, one cell per day."""
    _platform(actor)
    repository = MomentRepository(session)
    days = rules.week_of(day)
    posts: dict[tuple[int, date], MomentPost] = {}
    for post in repository.posts_between(days[0], days[-1]):
        if post.status != MomentPostStatus.CANCELLED or (post.column_id, post.publish_on) not in (
            posts
        ):
            posts[(post.column_id, post.publish_on)] = post
    rows = [
        (
            column,
            [
                CalendarCell(
                    column,
                    cell_day,
                    rules.runs_on(column.weekdays, cell_day),
                    posts.get((column.id, cell_day)),
                )
                for cell_day in days
            ],
        )
        for column in repository.columns()
    ]
    return Calendar(days, rows)


# --- publishing -------------------------------------------------------------------------------


def publish(session: Session, publication_id: int) -> str:
    """Hand one due publication to its account's backend, exactly once. Returns the outcome."""
    repository = MomentRepository(session)
    publication = repository.publication(publication_id)
    if publication is None:
        return "missing"
    if not repository.claim(publication_id, PublicationStatus.QUEUED):
        return "already"
    session.refresh(publication)
    post = repository.post(publication.post_id)
    account = AccountRepository(session).get(publication.account_id)
    assert post is not None
    if (
        account is None
        or account.deleted_at is not None
        or account.status.value
        not in (
            "active",
            "resting",
        )
    ):
        publication.status = PublicationStatus.FAILED
        publication.error = "account not available"
        session.flush()
        _close_post_if_done(session, post)
        return "failed"
    content = MomentContent(
        publication_id=publication.id,
        text=post.text,
        image_urls=tuple(post.image_urls),
        link_url=post.link_url,
    )
    try:
        with session.begin_nested():
            result = backend_for(account).post_moment(session, account, content)
    except AppError as error:
        publication.status = PublicationStatus.FAILED
        publication.error = error.en[:200]
        session.flush()
        _close_post_if_done(session, post)
        return "failed"
    if result.status == "sent":
        publication.status = PublicationStatus.PUBLISHED
        publication.published_at = utc_now()
        publication.external_id = str(result.extra.get("external_id") or "") or None
    else:
        publication.task_id = result.task_id
    session.flush()
    _close_post_if_done(session, post)
    return publication.status.value


def _close_post_if_done(session: Session, post: MomentPost) -> None:
    if post.status == MomentPostStatus.SCHEDULED and not MomentRepository(
        session
    ).open_publications(post.id):
        post.status = MomentPostStatus.PUBLISHED
        session.flush()


def due_publications(session: Session, now: datetime | None = None, limit: int = 500) -> list[int]:
    return MomentRepository(session).due_publications(now or utc_now(), limit)


def _on_task_closed(session: Session, task: AssistedTask) -> None:
    """An operator closed a post_moment / interact_moment task."""
    if task.kind == AssistedTaskKind.POST_MOMENT and task.source_id is not None:
        publication = MomentRepository(session).publication(task.source_id)
        if publication is None or publication.status != PublicationStatus.QUEUED:
            return
        if task.status == AssistedTaskStatus.DONE:
            publication.status = PublicationStatus.PUBLISHED
            publication.published_at = task.completed_at or utc_now()
        else:
            publication.status = (
                PublicationStatus.FAILED
                if task.status == AssistedTaskStatus.FAILED
                else PublicationStatus.CANCELLED
            )
            publication.error = task.result_notes[:200]
        session.flush()
        post = MomentRepository(session).post(publication.post_id)
        if post is not None:
            _close_post_if_done(session, post)
    elif (
        task.kind == AssistedTaskKind.INTERACT_MOMENT
        and task.status == AssistedTaskStatus.DONE
        and task.contact_id is not None
    ):
        _record_outgoing(
            session,
            task.account_id,
            task.contact_id,
            str(task.payload.get("comment", "")),
            f"task:{task.id}",
            task.completed_at or utc_now(),
        )


# --- interactions -----------------------------------------------------------------------------


def _record_outgoing(
    session: Session, account_id: int, contact_id: int, comment: str, key: str, at: datetime
) -> None:
    repository = MomentRepository(session)
    repository.add_interaction(
        MomentInteraction(
            account_id=account_id,
            publication_id=None,
            contact_id=contact_id,
            direction=InteractionDirection.OUT,
            kind=InteractionKind.LIKE,
            text="",
            occurred_at=at,
            source_key=f"{key}:like",
            detail={},
        )
    )
    if comment:
        repository.add_interaction(
            MomentInteraction(
                account_id=account_id,
                publication_id=None,
                contact_id=contact_id,
                direction=InteractionDirection.OUT,
                kind=InteractionKind.COMMENT,
                text=comment[:500],
                occurred_at=at,
                source_key=f"{key}:comment",
                detail={},
            )
        )


def _interaction_event(session: Session, event: ChannelEvent) -> str:
    """A ``moment_interaction`` event: a contact liked / commented on one of our posts."""
    payload = event.payload or {}
    try:
        publication_id = int(payload["publication_id"])
        contact_id = int(payload["contact_id"])
        kind = InteractionKind(str(payload.get("interaction", "")))
    except (KeyError, TypeError, ValueError):
        return "ignored: malformed moment interaction"
    publication = MomentRepository(session).publication(publication_id)
    contact = ContactRepository(session).get(contact_id)
    if publication is None or contact is None or contact.account_id != publication.account_id:
        return "ignored: unknown publication or contact"
    recorded = MomentRepository(session).add_interaction(
        MomentInteraction(
            account_id=publication.account_id,
            publication_id=publication.id,
            contact_id=contact.id,
            direction=InteractionDirection.IN,
            kind=kind,
            text=str(payload.get("text") or "")[:500],
            occurred_at=event.received_at,
            source_key=f"event:{event.backend}:{event.external_event_id}",
            detail={},
        )
    )
    return f"moment {kind.value} recorded" if recorded else "already recorded"


def record_interaction(
    session: Session, actor: Principal, publication_id: int, data: InteractionIn
) -> MomentInteraction:
    """An operator records a like/comment they saw on an assisted account's post."""
    _platform(actor)
    repository = MomentRepository(session)
    publication = repository.publication(publication_id)
    if publication is None:
        raise MomentPublicationNotFound()
    contact = ContactRepository(session).get(data.contact_id)
    if contact is None or contact.account_id != publication.account_id:
        raise MomentInteractionInvalid()
    now = utc_now()
    interaction = MomentInteraction(
        account_id=publication.account_id,
        publication_id=publication.id,
        contact_id=contact.id,
        direction=InteractionDirection.IN,
        kind=data.kind,
        text=data.text.strip()[:500],
        occurred_at=now,
        source_key=f"manual:{actor.user_id}:{publication.id}:{contact.id}:{data.kind.value}:"
        f"{now.timestamp():.6f}",
        detail={"recorded_by": _uid(actor)},
    )
    repository.add_interaction(interaction)
    return interaction


def _day_start(now: datetime) -> datetime:
    local = now.astimezone(SHANGHAI)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class InteractionPlan:
    account_id: int
    likes: int
    comments: int


def plan_interactions(
    session: Session, account_id: int, now: datetime | None = None
) -> InteractionPlan:
    """Today's likes/comments on the account's contacts' moments, within the daily caps.

    Idempotent for a day: tasks are keyed by (account, contact, day); what was already done
    today counts against the caps.
    """
    settings = current_settings()
    now = now or utc_now()
    account = AccountRepository(session).get(account_id)
    if account is None or account.deleted_at is not None or account.status.value != "active":
        return InteractionPlan(account_id, 0, 0)
    repository = MomentRepository(session)
    day_start = _day_start(now)
    done = repository.outgoing_since(account_id, day_start)
    like_room = rules.remaining(settings.moment_likes_per_day, done.get("like", 0))
    comment_room = rules.remaining(settings.moment_comments_per_day, done.get("comment", 0))
    if like_room == 0:
        return InteractionPlan(account_id, 0, 0)
    pool = ContactRepository(session).recently_active(account_id, max(50, like_room * 4))
    last = repository.last_outgoing(account_id, [contact.id for contact in pool])
    candidates = [
        rules.Candidate(contact.id, contact.last_message_at, last.get(contact.id))
        for contact in pool
        if not contact.marketing_opt_out
    ]
    day = day_start.date()
    chosen = rules.pick_interaction_targets(
        candidates, like_room, now, settings.moment_interaction_rest_days, f"{account_id}:{day}"
    )
    backend = backend_for(account)
    contacts = {contact.id: contact for contact in pool}
    likes = comments = 0
    for index, contact_id in enumerate(chosen):
        contact: Contact = contacts[contact_id]
        comment = rules.suggested_comment(contact_id, day) if index < comment_room else ""
        key = f"moment-interact:{account_id}:{contact_id}:{day.isoformat()}"
        try:
            with session.begin_nested():
                result = backend.interact_moment(session, account, contact, comment, key)
        except AppError:
            break
        if result.status == "sent":
            _record_outgoing(session, account_id, contact_id, comment, key, now)
        likes += 1
        comments += 1 if comment else 0
    return InteractionPlan(account_id, likes, comments)


def live_account_ids(session: Session) -> list[int]:
    return MomentRepository(session).live_accounts()


def next_slot_days(column: MomentColumn, start: date, count: int) -> list[date]:
    """The next ``count`` days (from ``start``) the column runs on."""
    days: list[date] = []
    day = start
    while len(days) < count:
        if rules.runs_on(column.weekdays, day):
            days.append(day)
        day += timedelta(days=1)
    return days


hooks.register_event_kind("moment_interaction", _interaction_event)
hooks.register_task_closed(_on_task_closed)
