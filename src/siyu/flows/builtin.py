"""The generic flow actions: ``contact.tag``, ``contact.set_stage``, ``group.invite`` and
``handover``. Campaign actions (``campaign.*``) are registered by siyu.campaigns.

Params (strings may use {variables}):
- ``contact.tag``: ``{"tag": "拉杆箱"}`` or ``{"tags": ["a", "b"]}`` → outcome ``tagged``.
- ``contact.set_stage``: ``{"stage": "engaged"}`` (a LifecycleStage value) → ``set`` /
  ``invalid_stage``.
- ``group.invite``: ``{"group_code_id": 7, "text": "点击加入优惠券群：{链接}"}`` → sends the group
  code's link (/g/<code>) as a text (assisted: a copy-ready task) and sets {链接} and {群名};
  outcome ``sent``, ``closed`` (code paused/archived) or ``not_found``.
- ``handover``: ``{"note": "…"}`` → an assisted task of kind OTHER, the conversation parked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.config import current_settings
from siyu.errors import AppError
from siyu.flows import actions
from siyu.flows.actions import ActionContext, ActionResult
from siyu.models import ChannelCodeStatus, LifecycleStage

DEFAULT_INVITE_TEXT = "点击链接加入{群名}：{链接}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    if isinstance(value, str):
        return [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]
    return []


@actions.action("contact.tag")
def tag_contact(session: Session, context: ActionContext) -> ActionResult:
    from siyu.pool import service as pool
    from siyu.segments import tags

    contact = pool.get_contact(session, None, context.contact_id)
    names = _strings(context.params.get("tags")) + _strings(context.params.get("tag"))
    for name in dict.fromkeys(names):
        try:
            tag = tags.find_or_create_event_tag(session, contact.owner_promoter_id, name)
        except AppError:
            continue
        tags.tag_contacts(session, None, tag.id, [contact.id], source="flow")
    return ActionResult("tagged")


@actions.action("contact.set_stage")
def set_stage(session: Session, context: ActionContext) -> ActionResult:
    from siyu.pool import service as pool

    stage = str(context.params.get("stage") or "")
    if stage not in LifecycleStage.__members__.values() or stage == LifecycleStage.REMOVED:
        return ActionResult("invalid_stage")
    contact = pool.get_contact(session, None, context.contact_id)
    contact.lifecycle_stage = LifecycleStage(stage)
    session.flush()
    return ActionResult("set")


@actions.action("group.invite")
def invite_to_group(session: Session, context: ActionContext) -> ActionResult:
    from siyu.pool import groups

    raw = context.params.get("group_code_id")
    text_id = str(raw if raw is not None else "")
    if not text_id.isdigit():
        return ActionResult("not_found")
    try:
        group_code = groups.get_group_code(session, None, int(text_id))
    except AppError:
        return ActionResult("not_found")
    if group_code.status != ChannelCodeStatus.ACTIVE:
        return ActionResult("closed")
    link = f"{current_settings().base_url.rstrip('/')}/g/{group_code.code}"
    values = {"链接": link, "群名": group_code.name}
    template = str(context.params.get("text") or DEFAULT_INVITE_TEXT)
    text = template
    for key, value in {**context.variables, **values}.items():
        text = text.replace("{" + key + "}", value)
    return ActionResult("sent", values, reply=text)


@actions.action("handover")
def handover(session: Session, context: ActionContext) -> ActionResult:
    return ActionResult("handover")
