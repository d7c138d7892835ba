"""API shapes for the pool. Caps and counters are ``StrictInt``; ranges are checked in the
service so the console, the demo loader and the API get the same errors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from siyu.models import (
    AccountKind,
    AccountStatus,
    AssistedTaskKind,
    AssistedTaskStatus,
    ContactState,
    GroupPurpose,
    LifecycleStage,
    RoutingStrategy,
    ScanOutcome,
)

_INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PersonaCreate(BaseModel):
    model_config = _INPUT

    name: str = Field(max_length=64)
    nickname: str = Field(max_length=64)
    avatar_url: str = Field(default="", max_length=500)
    signature: str = Field(default="", max_length=200)


class AccountCreate(BaseModel):
    """Caps left out take product.md's defaults for the kind."""

    model_config = _INPUT

    name: str = Field(max_length=64)
    kind: AccountKind
    owner_promoter_id: StrictInt | None = Field(
        default=None, description="NULL = platform; a promoter's own account by default"
    )
    persona_id: StrictInt | None = None
    external_id: str | None = Field(default=None, max_length=64)
    channel_backend: str = Field(default="", max_length=16)
    province_code: str = Field(default="", max_length=6)
    city_code: str = Field(default="", max_length=6)
    district_code: str = Field(default="", max_length=6)
    product_lines: list[str] = Field(default_factory=list, max_length=50)
    working_from_minute: StrictInt = 0
    working_until_minute: StrictInt = 1440
    weight: StrictInt = 1
    max_friends: StrictInt | None = None
    passive_adds_per_day: StrictInt | None = None
    active_adds_per_day: StrictInt | None = None
    registered_on: date | None = None


class AccountUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = _INPUT

    name: str | None = Field(default=None, max_length=64)
    persona_id: StrictInt | None = None
    province_code: str | None = Field(default=None, max_length=6)
    city_code: str | None = Field(default=None, max_length=6)
    district_code: str | None = Field(default=None, max_length=6)
    product_lines: list[str] | None = Field(default=None, max_length=50)
    working_from_minute: StrictInt | None = None
    working_until_minute: StrictInt | None = None
    weight: StrictInt | None = None
    max_friends: StrictInt | None = None
    passive_adds_per_day: StrictInt | None = None
    active_adds_per_day: StrictInt | None = None


class AccountStatusChange(BaseModel):
    model_config = _INPUT

    status: AccountStatus
    reason: str = Field(min_length=1, max_length=500)


class AccountOut(BaseModel):
    id: int
    name: str
    kind: AccountKind
    owner_promoter_id: int | None
    persona_id: int | None
    external_id: str | None
    province_code: str
    city_code: str
    district_code: str
    product_lines: list[str]
    working_from_minute: int
    working_until_minute: int
    weight: int
    max_friends: int
    passive_adds_per_day: int
    active_adds_per_day: int
    friends_used: int
    friends_free: int
    passive_adds_today: int
    active_adds_today: int
    status: AccountStatus
    status_reason: str
    recent_failures: int
    restriction_flags: list[str]
    healthy: bool
    created_at: datetime


class FleetCapacityOut(BaseModel):
    accounts: int
    active_accounts: int
    friends_used: int
    friends_capacity: int
    friends_free: int
    passive_adds_today: int
    passive_adds_capacity_today: int
    unhealthy_accounts: int


class CodeCreate(BaseModel):
    model_config = _INPUT

    name: str = Field(max_length=64)
    owner_promoter_id: StrictInt | None = None
    rule: dict[str, Any] = Field(default_factory=dict)
    strategy: RoutingStrategy = RoutingStrategy.LEAST_LOADED
    spare_account_ids: list[StrictInt] = Field(default_factory=list, max_length=100)
    welcome_script: str = Field(default="", max_length=2000)
    tag_names: list[str] = Field(default_factory=list, max_length=20)
    source_label: str = Field(default="", max_length=64)


class PersonalCodeCreate(BaseModel):
    model_config = _INPUT

    referrer_promoter_id: StrictInt | None = None
    referrer_consumer_id: StrictInt | None = None


class CodeOut(BaseModel):
    id: int
    code: str
    name: str
    owner_promoter_id: int | None
    rule: dict[str, Any]
    strategy: RoutingStrategy
    spare_account_ids: list[int]
    welcome_script: str
    tag_names: list[str]
    source_label: str
    status: str
    parent_id: int | None
    state: str | None
    url: str
    qr_url: str


class ScanIn(BaseModel):
    model_config = _INPUT

    union_id: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    nickname: str = Field(default="", max_length=64)
    state: str | None = Field(default=None, max_length=200)


class ScanOut(BaseModel):
    scan_id: int
    outcome: ScanOutcome
    account_id: int | None
    contact_id: int | None
    reason: str


class ContactOut(BaseModel):
    id: int
    consumer_id: int
    account_id: int
    state: ContactState
    lifecycle_stage: LifecycleStage
    source_kind: str
    source_id: int | None
    referrer_promoter_id: int | None
    phone_masked: str
    consent: bool
    marketing_opt_out: bool
    added_at: datetime
    confirmed_at: datetime | None


class EventIn(BaseModel):
    """One event from a channel backend (the simulator's and tests' entry point)."""

    model_config = _INPUT

    backend: str = Field(max_length=16)
    external_event_id: str = Field(min_length=1, max_length=128)
    kind: str = Field(max_length=32)
    account_id: StrictInt | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class GroupCreate(BaseModel):
    model_config = _INPUT

    account_id: StrictInt
    name: str = Field(max_length=64)
    purpose: GroupPurpose = GroupPurpose.GENERAL
    created_by_wechat_user: bool = False


class GroupCodeCreate(BaseModel):
    model_config = _INPUT

    account_id: StrictInt
    name: str = Field(max_length=64)
    name_template: str = Field(max_length=60)
    capacity: StrictInt | None = None
    purpose: GroupPurpose = GroupPurpose.COUPON
    max_groups: StrictInt = 100
    welcome_script: str = Field(default="", max_length=2000)
    tag_names: list[str] = Field(default_factory=list, max_length=20)
    source_label: str = Field(default="", max_length=64)


class TaskOut(BaseModel):
    id: int
    account_id: int
    kind: AssistedTaskKind
    title: str
    script_text: str
    due_at: datetime
    status: AssistedTaskStatus
    contact_id: int | None
    group_id: int | None
    result_notes: str
    reply_text: str


class TaskResult(BaseModel):
    model_config = _INPUT

    status: AssistedTaskStatus
    result_notes: str = Field(default="", max_length=500)
    reply_text: str = Field(default="", max_length=5000)
