"""The operator inbox (assisted mode): tasks a person does by hand. Never commits.

Completing a task reports what happened through the event inbox, exactly as a backend callback
would: an accepted add becomes ``friend_added``, a removal ``friend_removed``, a recorded reply a
``message``. A failed add counts against the account's health.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.errors import Conflict, NotFound, ValidationFailed
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import SHANGHAI, utc_now
from siyu.models import (
    AssistedTask,
    AssistedTaskKind,
    AssistedTaskStatus,
    ChannelMessage,
    Contact,
    OperatorAccount,
    WechatGroup,
)
from siyu.pool import events, hooks
from siyu.pool.repository import AccountRepository, TaskRepository
from siyu.pool.schemas import EventIn

BACKEND = "assisted"


class TaskNotFound(NotFound):
    code = "assisted_task_not_found"
    message_en = "Task not found."
    message_zh = "找不到该任务，或它不属于您。"


class TaskAlreadyClosed(Conflict):
    code = "assisted_task_closed"
    message_en = "The task is already {status}."
    message_zh = "该任务已处理（{status_zh}），无需重复提交。"


class TaskResultInvalid(ValidationFailed):
    code = "assisted_task_result_invalid"
    message_en = "A task is closed as done, failed or cancelled."
    message_zh = "请选择“已完成”“失败”或“取消”。"


def create_task(
    session: Session,
    account: OperatorAccount,
    kind: AssistedTaskKind,
    script_text: str,
    due_at: datetime,
    contact: Contact | None = None,
    group: WechatGroup | None = None,
    consumer_id: int | None = None,
    title: str = "",
    payload: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    source_kind: str = "",
    source_id: int | None = None,
) -> AssistedTask:
    """Create a task, or return the one already made under ``idempotency_key``."""
    repository = TaskRepository(session)
    if idempotency_key is not None:
        existing = repository.by_key(idempotency_key)
        if existing is not None:
            return existing
    task = AssistedTask(
        account_id=account.id,
        owner_promoter_id=account.owner_promoter_id,
        kind=kind,
        contact_id=contact.id if contact else None,
        consumer_id=contact.consumer_id if contact else consumer_id,
        group_id=group.id if group else None,
        title=title[:120],
        script_text=script_text,
        payload=payload or {},
        due_at=due_at,
        status=AssistedTaskStatus.OPEN,
        source_kind=source_kind,
        source_id=source_id,
        idempotency_key=idempotency_key,
        result_notes="",
        reply_text="",
    )
    try:
        with session.begin_nested():
            repository.add(task)
    except IntegrityError:
        if idempotency_key is None:
            raise
        found = repository.by_key(idempotency_key)
        if found is None:
            raise
        return found
    return task


def _scope(actor: Principal | None) -> tuple[bool, int | None]:
    from siyu.pool.service import scope_of

    scope = scope_of(actor)
    return scope.only_owner, scope.owner_promoter_id


def get_task(session: Session, actor: Principal | None, task_id: int) -> AssistedTask:
    only_owner, owner = _scope(actor)
    task = TaskRepository(session).get(task_id)
    if task is None or (only_owner and task.owner_promoter_id != owner):
        raise TaskNotFound()
    return task


def list_tasks(
    session: Session,
    actor: Principal | None,
    page: PageRequest,
    status: AssistedTaskStatus | None = AssistedTaskStatus.OPEN,
    today_only: bool = False,
    account_id: int | None = None,
) -> Page[AssistedTask]:
    only_owner, owner = _scope(actor)
    due_before = None
    if today_only:
        local = utc_now().astimezone(SHANGHAI)
        due_before = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return TaskRepository(session).listing(page, owner, only_owner, status, due_before, account_id)


_STATUS_ZH = {"done": "已完成", "failed": "失败", "cancelled": "已取消", "open": "待处理"}


def complete_task(
    session: Session,
    actor: Principal | None,
    task_id: int,
    status: AssistedTaskStatus,
    result_notes: str = "",
    reply_text: str = "",
) -> AssistedTask:
    get_task(session, actor, task_id)
    if status == AssistedTaskStatus.OPEN:
        raise TaskResultInvalid()
    task = TaskRepository(session).get_for_update(task_id)
    assert task is not None
    if task.status != AssistedTaskStatus.OPEN:
        raise TaskAlreadyClosed(status=task.status.value, status_zh=_STATUS_ZH[task.status.value])
    now = utc_now()
    task.status = status
    task.result_notes = result_notes.strip()[:500]
    task.reply_text = reply_text.strip()[:5000]
    task.completed_at = now
    task.completed_by_user_id = actor.user_id if actor else None
    session.flush()
    accounts = AccountRepository(session)
    is_add = task.kind in (AssistedTaskKind.ACCEPT_FRIEND, AssistedTaskKind.ADD_FRIEND)
    if status == AssistedTaskStatus.DONE:
        if is_add and task.contact_id is not None:
            events.receive(
                session,
                EventIn(
                    backend=BACKEND,
                    external_event_id=f"task:{task.id}:added",
                    kind="friend_added",
                    account_id=task.account_id,
                    payload={"contact_id": task.contact_id},
                ),
            )
        elif task.kind == AssistedTaskKind.REMOVE_CONTACT and task.contact_id is not None:
            events.receive(
                session,
                EventIn(
                    backend=BACKEND,
                    external_event_id=f"task:{task.id}:removed",
                    kind="friend_removed",
                    account_id=task.account_id,
                    payload={"contact_id": task.contact_id},
                ),
            )
        elif task.kind in (AssistedTaskKind.SEND_MESSAGE, AssistedTaskKind.SEND_TO_GROUP):
            session.add(
                ChannelMessage(
                    backend=BACKEND,
                    account_id=task.account_id,
                    contact_id=task.contact_id,
                    group_id=task.group_id,
                    direction="out",
                    kind=str((task.payload.get("message") or {}).get("kind", "text")),
                    body=dict(task.payload.get("message") or {"text": task.script_text}),
                    sent_at=now,
                    assisted_task_id=task.id,
                )
            )
        if task.reply_text and task.contact_id is not None:
            events.receive(
                session,
                EventIn(
                    backend=BACKEND,
                    external_event_id=f"task:{task.id}:reply",
                    kind="message",
                    account_id=task.account_id,
                    payload={"contact_id": task.contact_id, "text": task.reply_text},
                ),
            )
    elif status == AssistedTaskStatus.FAILED and is_add:
        accounts.record_failure(task.account_id, now)
    hooks.on_task_closed(session, task)
    audit.record(
        session,
        actor.user_id if actor else None,
        "pool.task_closed",
        "assisted_task",
        task.id,
        status=status.value,
    )
    return task
