"""The segment rule language: conditions over contacts, combined with AND / OR groups.

A rule is JSON such as::

    {"op": "and", "conditions": [
        {"kind": "tier", "tiers": ["tier_3", "tier_4", "tier_5", "tier_6"]},
        {"kind": "lifecycle", "stages": ["customer", "repeat"]},
        {"op": "or", "conditions": [
            {"kind": "tag", "tag_ids": [3], "match": "any"},
            {"kind": "spend", "min_fen": 10000}
        ]}
    ]}

An empty root group matches every contact in the segment's scope. Limits: 50 conditions, groups
nested 3 deep, 500 values per list. ``siyu.segments.repository.compile_rule`` turns a rule into
one SQL condition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from siyu.models.pool import ContactSourceKind, ContactState, LifecycleStage
from siyu.regions import service as regions
from siyu.regions.rules import CityTier

MAX_CONDITIONS = 50
MAX_DEPTH = 3
MAX_VALUES = 500
MAX_DAYS = 3650
MAX_HOURS = 24 * 90
MAX_FEN = 10**12

Days = Annotated[StrictInt, Field(ge=1, le=MAX_DAYS)]
Id = Annotated[StrictInt, Field(ge=1)]
Fen = Annotated[StrictInt, Field(ge=0, le=MAX_FEN)]


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagCondition(_Condition):
    """Has any / all / none of the tags."""

    kind: Literal["tag"]
    tag_ids: list[Id] = Field(min_length=1, max_length=MAX_VALUES)
    match: Literal["any", "all", "none"] = "any"


class RegionCondition(_Condition):
    """Lives in any of the regions (province, city or district codes; a province covers its
    cities and districts)."""

    kind: Literal["region"]
    codes: list[str] = Field(min_length=1, max_length=MAX_VALUES)
    negate: StrictBool = False

    @field_validator("codes")
    @classmethod
    def _known_codes(cls, codes: list[str]) -> list[str]:
        return sorted({regions.validate_code(code) for code in codes})


class TierCondition(_Condition):
    """Lives in a city of any of the tiers (一线 … 六线); contacts without a city never match."""

    kind: Literal["tier"]
    tiers: list[CityTier] = Field(min_length=1, max_length=len(CityTier))


class LifecycleCondition(_Condition):
    kind: Literal["lifecycle"]
    stages: list[LifecycleStage] = Field(min_length=1, max_length=len(LifecycleStage))


class SourceCondition(_Condition):
    """Came from any of the source kinds (活码, 裂变活动, 快递员 …), optionally specific ids."""

    kind: Literal["source"]
    source_kinds: list[ContactSourceKind] = Field(min_length=1, max_length=len(ContactSourceKind))
    source_ids: list[Id] = Field(default_factory=list, max_length=MAX_VALUES)


class StateCondition(_Condition):
    kind: Literal["state"]
    states: list[ContactState] = Field(min_length=1, max_length=len(ContactState))


class OptOutCondition(_Condition):
    """Has (or has not) opted out of marketing (退订)."""

    kind: Literal["opt_out"]
    opted_out: StrictBool


class LastOrderCondition(_Condition):
    """The consumer's last paid, not cancelled order: ``within`` N days, ``not_within`` (bought
    before, nothing in the last N days: lapsed), ``ever`` or ``never``."""

    kind: Literal["last_order"]
    op: Literal["within", "not_within", "ever", "never"]
    days: Days | None = None

    @model_validator(mode="after")
    def _days_when_needed(self) -> Self:
        if self.op in ("within", "not_within") and self.days is None:
            raise ValueError(f"last_order {self.op} needs days")
        if self.op in ("ever", "never") and self.days is not None:
            raise ValueError(f"last_order {self.op} takes no days")
        return self


class SpendCondition(_Condition):
    """The consumer's spend (paid amount of orders not cancelled, fen), optionally within the
    last N days. No order counts as 0."""

    kind: Literal["spend"]
    min_fen: Fen | None = None
    max_fen: Fen | None = None
    within_days: Days | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_fen is None and self.max_fen is None:
            raise ValueError("spend needs min_fen or max_fen")
        if self.min_fen is not None and self.max_fen is not None and self.min_fen > self.max_fen:
            raise ValueError("spend min_fen is above max_fen")
        return self


class ActivityCondition(_Condition):
    """Last message with the contact ``active_within`` N days, or ``inactive_for`` N days
    (including contacts who never exchanged a message)."""

    kind: Literal["activity"]
    op: Literal["active_within", "inactive_for"]
    days: Days


class ReplyCondition(_Condition):
    """Replied (or not) within N hours of ``since`` (e.g. a campaign start): the filtering rule
    of the seed's 拉黑删除 step is ``replied: false``."""

    kind: Literal["reply"]
    since: AwareDatetime
    within_hours: Annotated[StrictInt, Field(ge=1, le=MAX_HOURS)]
    replied: StrictBool = False


class AddedCondition(_Condition):
    """Friend added at or after ``after`` and/or before ``before``."""

    kind: Literal["added"]
    after: AwareDatetime | None = None
    before: AwareDatetime | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.after is None and self.before is None:
            raise ValueError("added needs after or before")
        if self.after is not None and self.before is not None and self.after >= self.before:
            raise ValueError("added after must be earlier than before")
        return self


class AccountCondition(_Condition):
    kind: Literal["account"]
    account_ids: list[Id] = Field(min_length=1, max_length=MAX_VALUES)


class GroupCondition(_Condition):
    """Is (or is not) currently a member of any of the groups."""

    kind: Literal["group"]
    group_ids: list[Id] = Field(min_length=1, max_length=MAX_VALUES)
    member: StrictBool = True


Condition = Annotated[
    TagCondition
    | RegionCondition
    | TierCondition
    | LifecycleCondition
    | SourceCondition
    | StateCondition
    | OptOutCondition
    | LastOrderCondition
    | SpendCondition
    | ActivityCondition
    | ReplyCondition
    | AddedCondition
    | AccountCondition
    | GroupCondition,
    Field(discriminator="kind"),
]

CONDITION_KINDS = (
    "tag",
    "region",
    "tier",
    "lifecycle",
    "source",
    "state",
    "opt_out",
    "last_order",
    "spend",
    "activity",
    "reply",
    "added",
    "account",
    "group",
)


class RuleGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["and", "or"] = "and"
    conditions: list[Condition | RuleGroup] = Field(default_factory=list)


class SegmentRule(RuleGroup):
    """The root group; checks the limits over the whole tree."""

    @model_validator(mode="after")
    def _limits(self) -> Self:
        total, depth = _measure(self, 1)
        if total > MAX_CONDITIONS:
            raise ValueError(f"a rule has at most {MAX_CONDITIONS} conditions, got {total}")
        if depth > MAX_DEPTH:
            raise ValueError(f"groups nest at most {MAX_DEPTH} deep")
        return self

    def conditions_of(self, kind: str) -> list[Any]:
        found: list[Any] = []
        _collect(self, kind, found)
        return found

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)


def _measure(group: RuleGroup, depth: int) -> tuple[int, int]:
    total, deepest = 0, depth
    for item in group.conditions:
        if isinstance(item, RuleGroup):
            if not item.conditions:
                raise ValueError("a nested group needs at least one condition")
            count, level = _measure(item, depth + 1)
            total += count
            deepest = max(deepest, level)
        else:
            total += 1
    return total, deepest


def _collect(group: RuleGroup, kind: str, found: list[Any]) -> None:
    for item in group.conditions:
        if isinstance(item, RuleGroup):
            _collect(item, kind, found)
        elif item.kind == kind:
            found.append(item)


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=500)
    rule: SegmentRule = Field(default_factory=SegmentRule)
    all_owners: StrictBool = False
    owner_promoter_id: Id | None = Field(
        default=None, description="platform staff creating a segment for a promoter"
    )


class SegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    owner_promoter_id: int | None
    all_owners: bool
    rule: dict[str, Any]
    last_count: int | None
    last_counted_at: datetime | None
    created_at: datetime


class CountOut(BaseModel):
    count: int
    reachable: int


class SnapshotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    segment_id: int
    purpose: str
    member_count: int
    created_at: datetime
