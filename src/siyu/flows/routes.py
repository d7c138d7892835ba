"""JSON API: /api/v1/scripts, /api/v1/flows, /api/v1/conversations."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.flows import service
from siyu.flows.schemas import (
    ConversationOut,
    ConversationResume,
    ConversationStart,
    FindingOut,
    FlowIn,
    FlowOut,
    FlowVersionOut,
    MessageOut,
    PreviewIn,
    PreviewOut,
    ScriptCreate,
    ScriptOut,
    ScriptUpdate,
    ScriptVersionOut,
    TemplateInstall,
    TurnOut,
)
from siyu.kit.pagination import PageRequest
from siyu.models.flows import Conversation, ConversationStatus, Flow, Script, ScriptVersion
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["flows"])


def _version_out(version: ScriptVersion) -> ScriptVersionOut:
    return ScriptVersionOut(
        version=version.version,
        body=version.body,
        variables=list(version.variables or []),
        finding_rule_ids=list(version.finding_rule_ids or []),
        override_reason=version.override_reason,
        created_at=version.created_at,
    )


def _script_out(
    script: Script, current: ScriptVersion, versions: list[ScriptVersion] | None = None
) -> ScriptOut:
    return ScriptOut(
        id=script.id,
        name=script.name,
        category=script.category,
        persona_id=script.persona_id,
        current_version=script.current_version,
        body=current.body,
        variables=list(current.variables or []),
        archived=script.archived_at is not None,
        versions=[_version_out(version) for version in versions or []],
    )


@router.get("/scripts")
def list_scripts(user: ApiUser, session: DbSession, category: str = "") -> list[ScriptOut]:
    return [
        _script_out(script, current)
        for script, current in service.list_scripts(session, user, category or None)
    ]


@router.post("/scripts", status_code=201)
def create_script(data: ScriptCreate, user: ApiUser, session: DbSession) -> ScriptOut:
    script = service.create_script(
        session,
        user,
        data.name,
        data.body,
        category=data.category,
        persona_id=data.persona_id,
        override_reason=data.override_reason,
    )
    return _script_out(script, service.current_body(session, script))


@router.get("/scripts/{script_id}")
def get_script(script_id: int, user: ApiUser, session: DbSession) -> ScriptOut:
    script = service.get_script(session, user, script_id)
    versions = service.script_versions(session, user, script_id)
    return _script_out(script, service.current_body(session, script), versions)


@router.patch("/scripts/{script_id}")
def update_script(
    script_id: int, data: ScriptUpdate, user: ApiUser, session: DbSession
) -> ScriptOut:
    script = service.update_script(
        session,
        user,
        script_id,
        name=data.name,
        category=data.category,
        body=data.body,
        persona_id=data.persona_id,
        override_reason=data.override_reason,
    )
    versions = service.script_versions(session, user, script_id)
    return _script_out(script, service.current_body(session, script), versions)


@router.post("/scripts/{script_id}/archive")
def archive_script(script_id: int, user: ApiUser, session: DbSession) -> ScriptOut:
    """Out of the library lists and unusable in new publishes; published flows keep its text."""
    script = service.archive_script(session, user, script_id)
    return _script_out(script, service.current_body(session, script))


@router.post("/scripts/preview")
def preview_script(data: PreviewIn, user: ApiUser, session: DbSession) -> PreviewOut:
    user.require_platform()
    result = service.preview(data.body, data.variables)
    return PreviewOut(
        text=result.text,
        missing=result.missing,
        findings=[
            FindingOut(
                rule_id=finding.rule_id,
                category=finding.category.value,
                severity=finding.severity.name.lower(),
                excerpt=finding.excerpt,
                suggestion=finding.suggestion_zh,
            )
            for finding in result.findings
        ],
        publishable=result.publishable,
    )


def _flow_out(flow: Flow, versions: list[FlowVersionOut] | None = None) -> FlowOut:
    return FlowOut(
        id=flow.id,
        name=flow.name,
        description=flow.description,
        status=flow.status,
        template_key=flow.template_key,
        current_version_id=flow.current_version_id,
        versions_count=flow.versions_count,
        draft=flow.draft,
        unknown_actions=service.unknown_actions(flow.draft),
        versions=versions or [],
    )


@router.get("/flows")
def list_flows(user: ApiUser, session: DbSession) -> list[FlowOut]:
    return [_flow_out(flow) for flow in service.list_flows(session, user)]


@router.post("/flows", status_code=201)
def create_flow(data: FlowIn, user: ApiUser, session: DbSession) -> FlowOut:
    flow = service.create_flow(
        session, user, data.name, data.steps, settings=data.settings, description=data.description
    )
    return _flow_out(flow)


@router.post("/flows/templates", status_code=201)
def install_template(data: TemplateInstall, user: ApiUser, session: DbSession) -> FlowOut:
    flow = service.install_template(
        session, user, data.template, override_reason=data.override_reason
    )
    return _flow_out(flow)


@router.get("/flows/{flow_id}")
def get_flow(flow_id: int, user: ApiUser, session: DbSession) -> FlowOut:
    flow = service.get_flow(session, user, flow_id)
    versions = [
        FlowVersionOut(
            id=version.id,
            version=version.version,
            published_at=version.published_at,
            definition=version.definition,
        )
        for version in service.flow_versions(session, user, flow_id)
    ]
    return _flow_out(flow, versions)


@router.put("/flows/{flow_id}")
def update_flow(flow_id: int, data: FlowIn, user: ApiUser, session: DbSession) -> FlowOut:
    flow = service.update_flow(
        session,
        user,
        flow_id,
        name=data.name,
        description=data.description,
        steps=data.steps,
        settings=data.settings,
    )
    return _flow_out(flow)


@router.post("/flows/{flow_id}/publish", status_code=201)
def publish_flow(flow_id: int, user: ApiUser, session: DbSession) -> FlowVersionOut:
    version = service.publish_flow(session, user, flow_id)
    return FlowVersionOut(
        id=version.id,
        version=version.version,
        published_at=version.published_at,
        definition=version.definition,
    )


@router.post("/flows/{flow_id}/archive")
def archive_flow(flow_id: int, user: ApiUser, session: DbSession) -> FlowOut:
    return _flow_out(service.archive_flow(session, user, flow_id))


def conversation_out(
    conversation: Conversation, history: service.History | None = None
) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        flow_id=conversation.flow_id,
        flow_version_id=conversation.flow_version_id,
        contact_id=conversation.contact_id,
        account_id=conversation.account_id,
        campaign_id=conversation.campaign_id,
        status=conversation.status,
        step_id=conversation.step_id,
        variables={k: v for k, v in (conversation.variables or {}).items() if k != "_reply"},
        retries=conversation.retries,
        reminders_sent=conversation.reminders_sent,
        due_at=conversation.due_at,
        last_message_text=conversation.last_message_text,
        held=list(conversation.held or []),
        error=conversation.error,
        started_at=conversation.started_at,
        ended_at=conversation.ended_at,
        turns=None
        if history is None
        else [
            TurnOut(
                step_id=turn.step_id,
                kind=turn.kind,
                text=turn.text,
                outcome=turn.outcome,
                created_at=turn.created_at,
            )
            for turn in history.turns
        ],
        messages=None
        if history is None
        else [
            MessageOut(
                direction=message.direction,
                kind=message.kind,
                text=str(message.body.get("text") or message.body.get("url") or ""),
                sent_at=message.sent_at,
                assisted_task_id=message.assisted_task_id,
            )
            for message in history.messages
        ],
    )


@router.get("/conversations")
def list_conversations(
    user: ApiUser,
    session: DbSession,
    flow_id: int | None = None,
    status: ConversationStatus | None = None,
    page: int = 1,
    size: int = 50,
) -> list[ConversationOut]:
    listed = service.list_conversations(
        session, user, PageRequest(page, size), flow_id, status, purpose="api.conversations"
    )
    return [conversation_out(conversation) for conversation in listed.items]


@router.post("/conversations", status_code=201)
def start_conversation(
    data: ConversationStart, user: ApiUser, session: DbSession
) -> ConversationOut:
    user.require_platform()
    conversation = service.start_conversation(
        session,
        data.flow_id,
        data.contact_id,
        campaign_id=data.campaign_id,
        variables=data.variables,
    )
    return conversation_out(conversation)


@router.get("/conversations/{conversation_id}")
def get_conversation(conversation_id: int, user: ApiUser, session: DbSession) -> ConversationOut:
    history = service.conversation_history(session, user, conversation_id, "api.conversation")
    return conversation_out(history.conversation, history)


@router.post("/conversations/{conversation_id}/resume")
def resume_conversation(
    conversation_id: int, data: ConversationResume, user: ApiUser, session: DbSession
) -> ConversationOut:
    return conversation_out(
        service.resume_conversation(session, user, conversation_id, data.step_id)
    )


@router.post("/conversations/{conversation_id}/cancel")
def cancel_conversation(conversation_id: int, user: ApiUser, session: DbSession) -> ConversationOut:
    return conversation_out(service.cancel_conversation(session, user, conversation_id))
