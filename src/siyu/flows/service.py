"""Scripts, flows and conversations. Never commits.

``actor`` is the ``Principal`` asking, or ``None`` for the system (jobs, campaigns, the demo).
Scripts and flows are managed by platform staff. Conversations are read by platform staff, and
by a promoter for their own contacts (others are not found).

Public API for other domains: ``start_conversation``, ``install_template``, ``publish_flow``;
the pool's message hook (registered at import) drives conversations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.compliance import service as compliance
from siyu.compliance.rules import Finding, TextKind
from siyu.errors import AppError, Conflict, NotFound, ValidationFailed
from siyu.flows import actions, builtin, engine, rules
from siyu.flows.repository import ConversationRepository, FlowRepository, ScriptRepository
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import utc_now
from siyu.models import ChannelMessage, Consumer, Contact, ContactState
from siyu.models.flows import (
    OPEN_CONVERSATION_STATUSES,
    Conversation,
    ConversationStatus,
    ConversationTurn,
    Flow,
    FlowStatus,
    FlowVersion,
    Script,
    ScriptVersion,
)
from siyu.pool import hooks
from siyu.pool.events import opt_out_keywords
from siyu.pool.service import scope_of
from siyu.privacy import service as privacy

logger = logging.getLogger("siyu.flows")

assert builtin.DEFAULT_INVITE_TEXT  # the generic actions register at import

SAMPLE_VARIABLES: dict[str, str] = {
    "昵称": "小王",
    "区县": "章贡区",
    "款式列表": "1. 曜石黑 20 寸\n2. 星空银 24 寸\n3. 樱花粉 20 寸",
    "款式": "星空银 24 寸",
    "款式编号": "2",
    "剩余名额": "12",
    "奖品": "拉杆箱",
    "链接": "https://siyu.example/c/abcd1234?state=p1",
    "海报": "https://siyu.example/h5/campaigns/1/poster.png",
    "我的活动": "https://siyu.example/h5/campaigns/1",
    "上传链接": "https://siyu.example/h5/campaigns/1#proof",
    "群链接": "https://siyu.example/g/abcd1234",
    "群名": "福利优惠券群1",
}
TIMER_BATCH = 500
HISTORY_MARGIN = timedelta(minutes=1)
TIMER_RETRY = timedelta(minutes=15)


class ScriptNotFound(NotFound):
    code = "script_not_found"
    message_en = "Script not found."
    message_zh = "找不到该话术。"


class ScriptInvalid(ValidationFailed):
    code = "script_invalid"
    message_en = "A script needs a name and a body."
    message_zh = "请填写话术名称和内容。"


class FlowNotFound(NotFound):
    code = "flow_not_found"
    message_en = "Flow not found."
    message_zh = "找不到该流程。"


class FlowDefinitionInvalid(ValidationFailed):
    code = "flow_definition_invalid"
    message_en = "The flow has problems: {problems}"
    message_zh = "流程有误：{problems}"


class FlowActionsUnknown(ValidationFailed):
    code = "flow_actions_unknown"
    message_en = "The flow uses actions that are not registered: {names}"
    message_zh = "流程使用了尚未注册的动作：{names}（相关功能上线后才能发布或启动）。"


class FlowScriptsMissing(ValidationFailed):
    code = "flow_scripts_missing"
    message_en = "The flow uses scripts that do not exist or are archived: {ids}"
    message_zh = "流程引用的话术不存在或已归档：{ids}"


class FlowNotPublished(Conflict):
    code = "flow_not_published"
    message_en = "The flow has no published version."
    message_zh = "该流程还没有发布，请先发布。"


class FlowArchived(Conflict):
    code = "flow_archived"
    message_en = "The flow is archived."
    message_zh = "该流程已归档。"


class FlowTemplateUnknown(ValidationFailed):
    code = "flow_template_unknown"
    message_en = "Unknown flow template {key!r}; available: {keys}."
    message_zh = "没有名为“{key}”的流程模板，可用模板：{keys}。"


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    message_en = "Conversation not found."
    message_zh = "找不到该会话，或您没有查看权限。"


class ConversationClosed(Conflict):
    code = "conversation_closed"
    message_en = "The conversation is already {status}."
    message_zh = "该会话已结束（{status_zh}）。"


class ContactUnreachable(Conflict):
    code = "conversation_contact_unreachable"
    message_en = "The contact was removed or opted out; no conversation can start."
    message_zh = "该联系人已删除好友或已退订，不能开始会话。"


class SimulatorOnly(Conflict):
    code = "conversation_simulator_only"
    message_en = "Replies can be simulated only on simulator accounts (this one is {backend})."
    message_zh = "只有模拟器渠道的运营号可以模拟客户回复（该号使用“{backend}”）。"


class ReplyTextRequired(ValidationFailed):
    code = "conversation_reply_required"
    message_en = "A simulated reply needs 1 to 500 characters."
    message_zh = "请填写模拟的客户回复（1–500 字）。"


class StepUnknown(ValidationFailed):
    code = "conversation_step_unknown"
    message_en = "Step {step_id!r} is not in the conversation's flow version."
    message_zh = "会话所在的流程版本中没有步骤“{step_id}”。"


def _require_staff(actor: Principal | None) -> None:
    if actor is not None:
        actor.require_platform()


def _user_id(actor: Principal | None) -> int | None:
    return actor.user_id if actor is not None and actor.user_id > 0 else None


# --- scripts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    text: str
    missing: list[str]
    findings: list[Finding]

    @property
    def publishable(self) -> bool:
        return not any(finding.blocking for finding in self.findings)


def preview(body: str, variables: Mapping[str, str] | None = None) -> Preview:
    """The script filled with sample (or given) values, and the compliance lint of its body."""
    values = {**SAMPLE_VARIABLES, **(variables or {})}
    text, missing = rules.render(body, values)
    return Preview(text, missing, compliance.lint_text(body, TextKind.SCRIPT))


def _check_body(
    session: Session,
    actor: Principal | None,
    body: str,
    script_id: int | None,
    override_reason: str | None,
) -> list[Finding]:
    """Every body is linted; a blocking finding needs a person (an admin) to override, so the
    system (templates installed by a job or the demo) cannot save one."""
    from siyu.auth.principal import SYSTEM

    return compliance.require_publishable(
        session,
        actor or SYSTEM,
        body,
        TextKind.SCRIPT,
        object_type="script",
        object_id=script_id,
        override_reason=override_reason if actor is not None else None,
    )


def _new_version(
    session: Session,
    actor: Principal | None,
    script: Script,
    version: int,
    body: str,
    findings: Sequence[Finding],
    override_reason: str | None,
) -> ScriptVersion:
    blocked = any(finding.blocking for finding in findings)
    return ScriptRepository(session).add_version(
        ScriptVersion(
            script_id=script.id,
            version=version,
            body=body,
            variables=rules.placeholders(body),
            finding_rule_ids=sorted({finding.rule_id for finding in findings}),
            override_reason=(override_reason or "").strip()[:500] if blocked else "",
            created_by_user_id=_user_id(actor),
            created_at=utc_now(),
        )
    )


def create_script(
    session: Session,
    actor: Principal | None,
    name: str,
    body: str,
    *,
    category: str = "通用",
    persona_id: int | None = None,
    override_reason: str | None = None,
    template_key: str = "",
) -> Script:
    _require_staff(actor)
    name, body, category = name.strip(), body.strip(), (category.strip() or "通用")
    if not name or not body:
        raise ScriptInvalid()
    # The row first, so an override's audit names the script; a refusal undoes it.
    with session.begin_nested():
        script = ScriptRepository(session).add(
            Script(
                name=name[:80],
                category=category[:32],
                persona_id=persona_id,
                current_version=1,
                template_key=template_key,
                created_by_user_id=_user_id(actor),
            )
        )
        findings = _check_body(session, actor, body, script.id, override_reason)
    _new_version(session, actor, script, 1, body, findings, override_reason)
    audit.record(session, _user_id(actor), "flows.script_created", "script", script.id)
    return script


def update_script(
    session: Session,
    actor: Principal | None,
    script_id: int,
    *,
    name: str | None = None,
    category: str | None = None,
    body: str | None = None,
    persona_id: int | None = None,
    override_reason: str | None = None,
) -> Script:
    """A new body is a new version (running flows keep the version they pinned)."""
    _require_staff(actor)
    repository = ScriptRepository(session)
    script = repository.get_for_update(script_id)
    if script is None:
        raise ScriptNotFound()
    if name is not None and not name.strip():
        raise ScriptInvalid()
    new_body: str | None = None
    findings: list[Finding] = []
    if body is not None:
        new_body = body.strip()
        if not new_body:
            raise ScriptInvalid()
        current = repository.version(script.id, script.current_version)
        if current is not None and current.body == new_body:
            new_body = None
        else:
            # Checked before anything changes: a refused edit leaves the script as it was.
            findings = _check_body(session, actor, new_body, script.id, override_reason)
    if name is not None:
        script.name = name.strip()[:80]
    if category is not None:
        script.category = category.strip()[:32] or "通用"
    if persona_id is not None:
        script.persona_id = persona_id or None
    if new_body is not None:
        script.current_version += 1
        _new_version(
            session, actor, script, script.current_version, new_body, findings, override_reason
        )
        audit.record(
            session,
            _user_id(actor),
            "flows.script_versioned",
            "script",
            script.id,
            version=script.current_version,
        )
    session.flush()
    return script


def archive_script(session: Session, actor: Principal | None, script_id: int) -> Script:
    _require_staff(actor)
    script = get_script(session, actor, script_id)
    if script.archived_at is None:
        script.archived_at = utc_now()
        session.flush()
    return script


def get_script(session: Session, actor: Principal | None, script_id: int) -> Script:
    _require_staff(actor)
    script = ScriptRepository(session).get(script_id)
    if script is None:
        raise ScriptNotFound()
    return script


def current_body(session: Session, script: Script) -> ScriptVersion:
    version = ScriptRepository(session).version(script.id, script.current_version)
    assert version is not None
    return version


def script_versions(
    session: Session, actor: Principal | None, script_id: int
) -> list[ScriptVersion]:
    script = get_script(session, actor, script_id)
    return list(ScriptRepository(session).versions(script.id))


def list_scripts(
    session: Session, actor: Principal | None, category: str | None = None
) -> list[tuple[Script, ScriptVersion]]:
    _require_staff(actor)
    repository = ScriptRepository(session)
    scripts = list(repository.listing(category or None))
    current = repository.current_versions([script.id for script in scripts])
    return [(script, current[script.id]) for script in scripts if script.id in current]


def script_categories(session: Session, actor: Principal | None) -> list[str]:
    _require_staff(actor)
    return ScriptRepository(session).categories()


# --- flows ------------------------------------------------------------------------------------


def _clean_definition(
    steps: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]
) -> dict[str, Any]:
    definition = {"steps": [dict(step) for step in steps], "settings": dict(settings)}
    found = rules.problems(definition)
    if found:
        raise FlowDefinitionInvalid(problems="; ".join(found[:10]))
    return definition


def create_flow(
    session: Session,
    actor: Principal | None,
    name: str,
    steps: Sequence[Mapping[str, Any]],
    *,
    settings: Mapping[str, Any] | None = None,
    description: str = "",
    template_key: str = "",
) -> Flow:
    """A draft; structure is checked now, action names and scripts when it is published."""
    _require_staff(actor)
    if not name.strip():
        raise FlowDefinitionInvalid(problems="a flow needs a name")
    definition = _clean_definition(steps, settings or {})
    flow = FlowRepository(session).add(
        Flow(
            name=name.strip()[:80],
            description=description.strip()[:500],
            status=FlowStatus.DRAFT,
            draft=definition,
            versions_count=0,
            template_key=template_key,
            created_by_user_id=_user_id(actor),
        )
    )
    audit.record(session, _user_id(actor), "flows.flow_created", "flow", flow.id)
    return flow


def update_flow(
    session: Session,
    actor: Principal | None,
    flow_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    steps: Sequence[Mapping[str, Any]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Flow:
    """Changes the draft only: running conversations and new starts use the published version
    until the draft is published."""
    _require_staff(actor)
    flow = FlowRepository(session).get_for_update(flow_id)
    if flow is None:
        raise FlowNotFound()
    if flow.status == FlowStatus.ARCHIVED:
        raise FlowArchived()
    if name is not None and name.strip():
        flow.name = name.strip()[:80]
    if description is not None:
        flow.description = description.strip()[:500]
    if steps is not None or settings is not None:
        flow.draft = _clean_definition(
            steps if steps is not None else rules.steps_of(flow.draft),
            settings if settings is not None else dict(flow.draft.get("settings") or {}),
        )
    session.flush()
    return flow


def get_flow(session: Session, actor: Principal | None, flow_id: int) -> Flow:
    _require_staff(actor)
    flow = FlowRepository(session).get(flow_id)
    if flow is None:
        raise FlowNotFound()
    return flow


def list_flows(session: Session, actor: Principal | None) -> list[Flow]:
    _require_staff(actor)
    return list(FlowRepository(session).listing())


def flow_versions(session: Session, actor: Principal | None, flow_id: int) -> list[FlowVersion]:
    flow = get_flow(session, actor, flow_id)
    return list(FlowRepository(session).versions(flow.id))


def conversation_counts(session: Session, flow_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    return FlowRepository(session).conversation_counts(flow_ids)


def unknown_actions(definition: Mapping[str, Any]) -> list[str]:
    return rules.unknown_actions(definition, actions.names())


def _pin_scripts(session: Session, definition: dict[str, Any]) -> dict[str, Any]:
    """Every script reference gets the script's current version id and text."""
    ids = rules.script_ids_used(definition)
    repository = ScriptRepository(session)
    current = repository.current_versions(ids)
    missing = [
        script_id
        for script_id in ids
        if script_id not in current
        or (script := repository.get(script_id)) is None
        or script.archived_at is not None
    ]
    if missing:
        raise FlowScriptsMissing(ids=", ".join(str(value) for value in missing))
    pinned_steps = []
    for step in rules.steps_of(definition):
        for key, body_key in (
            ("script_id", "body"),
            ("reminder_script_id", "reminder_body"),
            ("retry_script_id", "retry_body"),
        ):
            value = step.get(key)
            if isinstance(value, int):
                step[body_key] = current[value].body
                step[key.replace("script_id", "script_version_id")] = current[value].id
        pinned_steps.append(step)
    settings = dict(definition.get("settings") or {})
    retry = settings.get("retry_script_id")
    if isinstance(retry, int):
        settings["retry_body"] = current[retry].body
        settings["retry_script_version_id"] = current[retry].id
    return {"steps": pinned_steps, "settings": settings}


def publish_flow(session: Session, actor: Principal | None, flow_id: int) -> FlowVersion:
    """Freeze the draft into a new version; new conversations start on it, running ones stay
    on theirs. Refused while the flow names an action nobody registered."""
    _require_staff(actor)
    repository = FlowRepository(session)
    flow = repository.get_for_update(flow_id)
    if flow is None:
        raise FlowNotFound()
    if flow.status == FlowStatus.ARCHIVED:
        raise FlowArchived()
    found = rules.problems(flow.draft)
    if found:
        raise FlowDefinitionInvalid(problems="; ".join(found[:10]))
    unknown = unknown_actions(flow.draft)
    if unknown:
        raise FlowActionsUnknown(names=", ".join(unknown))
    definition = _pin_scripts(session, flow.draft)
    flow.versions_count += 1
    version = repository.add_version(
        FlowVersion(
            flow_id=flow.id,
            version=flow.versions_count,
            definition=definition,
            published_by_user_id=_user_id(actor),
            published_at=utc_now(),
        )
    )
    flow.current_version_id = version.id
    flow.status = FlowStatus.PUBLISHED
    session.flush()
    audit.record(
        session, _user_id(actor), "flows.flow_published", "flow", flow.id, version=version.version
    )
    return version


def archive_flow(session: Session, actor: Principal | None, flow_id: int) -> Flow:
    """No new starts; running conversations finish on their version."""
    _require_staff(actor)
    flow = FlowRepository(session).get_for_update(flow_id)
    if flow is None:
        raise FlowNotFound()
    flow.status = FlowStatus.ARCHIVED
    session.flush()
    return flow


def install_template(
    session: Session,
    actor: Principal | None,
    key: str,
    *,
    override_reason: str | None = None,
    publish: bool = True,
) -> Flow:
    """Install a shipped flow (its scripts and a flow). ``publish``: publish it too when every
    action it names is registered; otherwise it stays a draft (e.g. before siyu.campaigns is
    deployed) and publishing later reports the missing actions."""
    from siyu.flows import templates

    _require_staff(actor)
    template = templates.TEMPLATES.get(key)
    if template is None:
        raise FlowTemplateUnknown(key=key, keys=", ".join(sorted(templates.TEMPLATES)))
    script_ids: dict[str, int] = {}
    with session.begin_nested():  # all or nothing: a blocked script installs no part of it
        for script_key, (name, body) in template.scripts.items():
            script = create_script(
                session,
                actor,
                name,
                body,
                category=template.category,
                override_reason=override_reason,
                template_key=f"{key}.{script_key}",
            )
            script_ids[script_key] = script.id
        flow = create_flow(
            session,
            actor,
            template.name,
            template.steps(script_ids),
            settings=template.settings,
            description=template.description,
            template_key=key,
        )
    if publish and not unknown_actions(flow.draft):
        publish_flow(session, actor, flow.id)
    return flow


# --- conversations ----------------------------------------------------------------------------


def _open_key(flow_id: int, contact_id: int) -> str:
    return f"{flow_id}:{contact_id}"


def start_conversation(
    session: Session,
    flow_id: int,
    contact_id: int,
    *,
    campaign_id: int | None = None,
    variables: Mapping[str, str] | None = None,
) -> Conversation:
    """Start the flow's current version for the contact and run it to its first wait.
    Idempotent: while a conversation of this flow with this contact is open, it is returned."""
    from siyu.pool import service as pool

    repository = ConversationRepository(session)
    open_key = _open_key(flow_id, contact_id)
    existing = repository.by_open_key(open_key)
    if existing is not None:
        return existing
    flow = FlowRepository(session).get(flow_id)
    if flow is None:
        raise FlowNotFound()
    if flow.status == FlowStatus.ARCHIVED:
        raise FlowArchived()
    if flow.current_version_id is None:
        raise FlowNotPublished()
    definition = engine.definition_of(session, flow.current_version_id)
    unknown = rules.unknown_actions({"steps": list(definition.steps.values())}, actions.names())
    if unknown:
        raise FlowActionsUnknown(names=", ".join(unknown))
    contact = pool.get_contact(session, None, contact_id)
    if contact.state == ContactState.REMOVED or contact.marketing_opt_out:
        raise ContactUnreachable()
    consumer = session.get(Consumer, contact.consumer_id)
    values = {"昵称": consumer.nickname if consumer and consumer.nickname else "亲"}
    values.update({str(k): str(v) for k, v in (variables or {}).items()})
    now = utc_now()
    conversation = Conversation(
        flow_id=flow.id,
        flow_version_id=flow.current_version_id,
        contact_id=contact.id,
        consumer_id=contact.consumer_id,
        account_id=contact.account_id,
        campaign_id=campaign_id,
        open_key=open_key,
        status=ConversationStatus.RUNNING,
        step_id=definition.first,
        variables=values,
        retries=0,
        reminders_sent=0,
        replies_in_window=0,
        held=[],
        last_message_text="",
        error="",
        started_at=now,
    )
    try:
        with session.begin_nested():
            repository.add(conversation)
    except IntegrityError:
        found = repository.by_open_key(open_key)
        if found is None:
            raise
        return found
    _forget_prefetched(session, contact.id)
    runner = engine.Runner(session, conversation, contact, now)
    runner.turn("start", "", f"v{definition.version_id}")
    runner.start()
    session.flush()
    return conversation


def _visible_conversation(
    session: Session, actor: Principal | None, conversation: Conversation | None
) -> Conversation:
    if conversation is None:
        raise ConversationNotFound()
    scope = scope_of(actor)
    if scope.only_owner:
        contact = session.get(Contact, conversation.contact_id)
        if contact is None or contact.owner_promoter_id != scope.owner_promoter_id:
            raise ConversationNotFound()
    return conversation


def get_conversation(
    session: Session, actor: Principal | None, conversation_id: int
) -> Conversation:
    return _visible_conversation(
        session, actor, ConversationRepository(session).get(conversation_id)
    )


def list_conversations(
    session: Session,
    actor: Principal | None,
    page: PageRequest,
    flow_id: int | None = None,
    status: ConversationStatus | None = None,
    purpose: str = "",
) -> Page[Conversation]:
    """``purpose`` set: the caller shows the list (variables such as 昵称, the last message),
    so the read is logged for each listed consumer."""
    scope = scope_of(actor)
    listed = ConversationRepository(session).listing(
        page, flow_id, status, scope.owner_promoter_id, scope.only_owner
    )
    if purpose:
        privacy.record_reads(
            session, actor, [c.consumer_id for c in listed.items], purpose, "nickname,messages"
        )
    return listed


@dataclass(frozen=True)
class History:
    conversation: Conversation
    turns: list[ConversationTurn]
    messages: list[ChannelMessage]


def conversation_history(
    session: Session, actor: Principal | None, conversation_id: int, purpose: str
) -> History:
    """The conversation's turns and the messages exchanged while it ran; the read of the
    contact's chat is logged (personal data)."""
    conversation = get_conversation(session, actor, conversation_id)
    repository = ConversationRepository(session)
    turns = list(repository.turns(conversation.id))
    messages = list(
        repository.messages(
            conversation.contact_id,
            conversation.started_at,
            # A backend stamps a message when it sends it, a moment after the engine's clock.
            conversation.ended_at + HISTORY_MARGIN if conversation.ended_at else None,
        )
    )
    privacy.record_reads(session, actor, [conversation.consumer_id], purpose, "nickname,messages")
    return History(conversation, turns, messages)


def _locked(session: Session, actor: Principal | None, conversation_id: int) -> Conversation:
    get_conversation(session, actor, conversation_id)
    conversation = ConversationRepository(session).get_for_update(conversation_id)
    assert conversation is not None
    return conversation


def _contact_of(session: Session, conversation: Conversation) -> Contact:
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None
    return contact


def cancel_conversation(
    session: Session, actor: Principal | None, conversation_id: int
) -> Conversation:
    _require_staff(actor)
    conversation = _locked(session, actor, conversation_id)
    if conversation.open_key is None:
        raise ConversationClosed(
            status=conversation.status.value,
            status_zh=_status_zh(conversation.status),
        )
    runner = engine.Runner(session, conversation, _contact_of(session, conversation), utc_now())
    runner.close(ConversationStatus.CANCELLED, "cancelled by staff")
    audit.record(
        session, _user_id(actor), "flows.conversation_cancelled", "conversation", conversation.id
    )
    return conversation


def resume_conversation(
    session: Session, actor: Principal | None, conversation_id: int, step_id: str = ""
) -> Conversation:
    """After a handover: continue at ``step_id`` (default: the step it stopped at)."""
    _require_staff(actor)
    conversation = _locked(session, actor, conversation_id)
    if conversation.open_key is None:
        raise ConversationClosed(
            status=conversation.status.value,
            status_zh=_status_zh(conversation.status),
        )
    runner = engine.Runner(session, conversation, _contact_of(session, conversation), utc_now())
    target = step_id.strip() or conversation.step_id
    if target not in runner.definition.steps:
        raise StepUnknown(step_id=target)
    runner.turn("resume", "", target)
    runner.resume(target)
    audit.record(
        session,
        _user_id(actor),
        "flows.conversation_resumed",
        "conversation",
        conversation.id,
        step_id=target,
    )
    session.flush()
    return conversation


def is_simulated(session: Session, conversation: Conversation) -> bool:
    from siyu.channels.registry import backend_name_for

    return backend_name_for(engine.account_of(session, conversation.account_id)) == "simulator"


def simulate_reply(
    session: Session, actor: Principal | None, conversation_id: int, text: str
) -> int:
    """Staff play the customer on a simulator account (demos, trying a flow): the reply goes
    into the event inbox like any backend's and is processed by the event job. Returns the
    event id."""
    from siyu.channels.registry import backend_name_for
    from siyu.pool import events
    from siyu.pool.schemas import EventIn

    _require_staff(actor)
    conversation = get_conversation(session, actor, conversation_id)
    text = text.strip()
    if not 1 <= len(text) <= 500:
        raise ReplyTextRequired()
    account = engine.account_of(session, conversation.account_id)
    backend = backend_name_for(account)
    if backend != "simulator":
        raise SimulatorOnly(backend=backend)
    event, _ = events.receive(
        session,
        EventIn(
            backend="simulator",
            external_event_id=f"console:{conversation.id}:{utc_now().isoformat()}",
            kind="message",
            account_id=conversation.account_id,
            payload={"contact_id": conversation.contact_id, "text": text},
        ),
    )
    return event.id


def _status_zh(status: ConversationStatus) -> str:
    from siyu.models.flows import CONVERSATION_STATUS_LABELS

    return CONVERSATION_STATUS_LABELS[status]


PREFETCH_KEY = "flows.prefetched"


@dataclass
class _Prefetched:
    """A batch's open conversations by contact (newest first) and the taken (conversation,
    event) pairs, read and locked in two statements by ``prefetch_messages``; the batch's
    turns are written together when it is over."""

    open_by_contact: dict[int, list[Conversation]]
    taken: set[tuple[int, int]]
    turns: list[dict[str, Any]]


def prefetch_messages(session: Session, pairs: Sequence[tuple[int, int]]) -> Callable[[bool], None]:
    """Pool hook before a batch of messages (``events.process_many``)."""
    repository = ConversationRepository(session)
    contact_ids = sorted({contact_id for contact_id, _ in pairs})
    open_by_contact: dict[int, list[Conversation]] = {contact_id: [] for contact_id in contact_ids}
    found = repository.open_for_contacts_for_update(contact_ids)
    for conversation in found:
        open_by_contact.setdefault(conversation.contact_id, []).insert(0, conversation)
    taken = repository.taken_events(
        [conversation.id for conversation in found], sorted({event_id for _, event_id in pairs})
    )
    prefetched = _Prefetched(open_by_contact, taken, [])
    session.info[PREFETCH_KEY] = prefetched
    session.info[engine.TURN_BUFFER_KEY] = prefetched.turns

    def done(completed: bool) -> None:
        session.info.pop(PREFETCH_KEY, None)
        session.info.pop(engine.TURN_BUFFER_KEY, None)
        if completed and prefetched.turns:
            repository.add_turns(prefetched.turns)

    return done


def _forget_prefetched(session: Session, contact_id: int) -> None:
    prefetched: _Prefetched | None = session.info.get(PREFETCH_KEY)
    if prefetched is not None:
        prefetched.open_by_contact.pop(contact_id, None)


def on_message(session: Session, contact: Contact, event_id: int, text: str) -> None:
    """Pool hook: a customer message drives the contact's newest open conversation, once.

    The conversation rows are locked and the turn for (conversation, event) is looked up: a
    replayed event, or a second worker holding the same event, finds it and changes nothing."""
    repository = ConversationRepository(session)
    prefetched: _Prefetched | None = session.info.get(PREFETCH_KEY)
    if prefetched is not None and contact.id in prefetched.open_by_contact:
        candidates = prefetched.open_by_contact[contact.id]
        conversations = [c for c in candidates if c.status in OPEN_CONVERSATION_STATUSES]
    else:
        conversations = list(repository.open_for_contact_for_update(contact.id))
    if not conversations:
        return
    now = utc_now()
    if contact.marketing_opt_out and text.strip().casefold() in opt_out_keywords():
        for conversation in conversations:
            engine.Runner(session, conversation, contact, now).close(
                ConversationStatus.CANCELLED, "opted out"
            )
        session.flush()
        return
    waiting = [c for c in conversations if c.status == ConversationStatus.WAITING]
    conversation = (waiting or conversations)[0]
    if conversation.last_event_id == event_id:
        return
    if prefetched is not None and contact.id in prefetched.open_by_contact:
        if (conversation.id, event_id) in prefetched.taken:
            return
    elif repository.event_taken(conversation.id, event_id):
        return
    engine.Runner(session, conversation, contact, now).inbound(text, event_id)


hooks.register_message_received(on_message)
hooks.register_messages_prefetch(prefetch_messages)


def fire_timer(session: Session, conversation_id: int, now: datetime | None = None) -> str:
    """One conversation's due reminder or timeout; idempotent (the row is locked, then the
    timer is recomputed from what is stored)."""
    conversation = ConversationRepository(session).get_for_update(conversation_id)
    if conversation is None:
        return "missing"
    moment = now or utc_now()
    if (
        conversation.status != ConversationStatus.WAITING
        or conversation.due_at is None
        or conversation.due_at > moment
    ):
        return "not due"
    outcome = engine.Runner(
        session, conversation, _contact_of(session, conversation), moment
    ).timer()
    session.flush()
    return outcome


def fire_due_timers(session: Session, now: datetime | None = None, limit: int = TIMER_BATCH) -> int:
    """Every due timer (up to ``limit``); returns how many fired."""
    moment = now or utc_now()
    fired = 0
    repository = ConversationRepository(session)
    for conversation_id in repository.due_ids(moment, limit):
        try:
            with session.begin_nested():
                outcome = fire_timer(session, conversation_id, moment)
        except AppError as error:
            # E.g. the channel refuses to send: try again later; one conversation's failure
            # must not hold up every other timer (the job runs them all in one transaction).
            logger.warning("conversation %s timer failed: %s", conversation_id, error.en)
            failed = repository.get_for_update(conversation_id)
            if failed is not None:
                failed.due_at = moment + TIMER_RETRY
                failed.error = error.en[:500]
            continue
        if outcome in ("reminded", "timed out"):
            fired += 1
    return fired
