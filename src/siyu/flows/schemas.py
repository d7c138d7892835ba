"""API shapes of scripts, flows and conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from siyu.models.flows import ConversationStatus, FlowStatus

_INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ScriptCreate(BaseModel):
    model_config = _INPUT

    name: str = Field(max_length=80)
    category: str = Field(default="通用", max_length=32)
    body: str = Field(max_length=5000)
    persona_id: StrictInt | None = None
    override_reason: str | None = Field(
        default=None, max_length=500, description="admin only: publish despite blocking findings"
    )


class ScriptUpdate(BaseModel):
    """A changed body is a new version; name, category and persona change in place."""

    model_config = _INPUT

    name: str | None = Field(default=None, max_length=80)
    category: str | None = Field(default=None, max_length=32)
    body: str | None = Field(default=None, max_length=5000)
    persona_id: StrictInt | None = None
    override_reason: str | None = Field(default=None, max_length=500)


class ScriptVersionOut(BaseModel):
    version: int
    body: str
    variables: list[str]
    finding_rule_ids: list[str]
    override_reason: str
    created_at: datetime


class ScriptOut(BaseModel):
    id: int
    name: str
    category: str
    persona_id: int | None
    current_version: int
    body: str
    variables: list[str]
    archived: bool
    versions: list[ScriptVersionOut] = Field(default_factory=list)


class PreviewIn(BaseModel):
    model_config = _INPUT

    body: str = Field(max_length=5000)
    variables: dict[str, str] | None = None


class FindingOut(BaseModel):
    rule_id: str
    category: str
    severity: str
    excerpt: str
    suggestion: str


class PreviewOut(BaseModel):
    text: str
    missing: list[str]
    findings: list[FindingOut]
    publishable: bool


class FlowIn(BaseModel):
    model_config = _INPUT

    name: str = Field(max_length=80)
    description: str = Field(default="", max_length=500)
    steps: list[dict[str, Any]] = Field(max_length=100)
    settings: dict[str, Any] = Field(default_factory=dict)


class FlowVersionOut(BaseModel):
    id: int
    version: int
    published_at: datetime
    definition: dict[str, Any]


class FlowOut(BaseModel):
    id: int
    name: str
    description: str
    status: FlowStatus
    template_key: str
    current_version_id: int | None
    versions_count: int
    draft: dict[str, Any]
    unknown_actions: list[str]
    versions: list[FlowVersionOut] = Field(default_factory=list)


class TemplateInstall(BaseModel):
    model_config = _INPUT

    template: str = Field(max_length=32)
    override_reason: str | None = Field(default=None, max_length=500)


class ConversationStart(BaseModel):
    model_config = _INPUT

    flow_id: StrictInt
    contact_id: StrictInt
    campaign_id: StrictInt | None = None
    variables: dict[str, str] | None = None


class ConversationResume(BaseModel):
    model_config = _INPUT

    step_id: str = Field(default="", max_length=40, description="'' = the current step")


class TurnOut(BaseModel):
    step_id: str
    kind: str
    text: str
    outcome: str
    created_at: datetime


class MessageOut(BaseModel):
    direction: str
    kind: str
    text: str
    sent_at: datetime
    assisted_task_id: int | None


class ConversationOut(BaseModel):
    id: int
    flow_id: int
    flow_version_id: int
    contact_id: int
    account_id: int
    campaign_id: int | None
    status: ConversationStatus
    step_id: str
    variables: dict[str, str]
    retries: int
    reminders_sent: int
    due_at: datetime | None
    last_message_text: str
    held: list[str]
    error: str
    started_at: datetime
    ended_at: datetime | None
    turns: list[TurnOut] | None = None
    messages: list[MessageOut] | None = None
