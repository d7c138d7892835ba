"""Pool rules: channel-code rules, account eligibility and the routing order. Pure; no I/O.

The routing decision is split in two: ``route`` (here) says, from a snapshot of the candidate
accounts, which ones may take this scan and in which order to try them; the service then tries
them one by one with a conditional UPDATE, which is what actually guarantees no cap is passed
under concurrency (a snapshot may be stale by the time it is used).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from siyu.errors import ValidationFailed
from siyu.kit.time import to_shanghai
from siyu.models.pool import (
    GROUP_CAPACITY,
    GROUP_CAPACITY_USER_CREATED,
    MINUTES_PER_DAY,
    AccountStatus,
    RoutingStrategy,
)

# Health: an account with this many failures in a row (add requests refused, sends failed) is
# skipped by routing until someone resets it.
MAX_RECENT_FAILURES: Final = 5
RULE_LIST_LIMIT: Final = 1000
STATE_MAX_LENGTH: Final = 32

_LIST_KEYS: Final = {
    "account_ids": int,
    "persona_ids": int,
    "province_codes": str,
    "city_codes": str,
    "district_codes": str,
    "product_lines": str,
}
_KNOWN_KEYS: Final = {
    *_LIST_KEYS,
    "owner_promoter_id",
    "working_from_minute",
    "working_until_minute",
    "weights",
}


class RuleInvalid(ValidationFailed):
    code = "channel_rule_invalid"
    message_en = "Channel code rule is invalid: {problem}."
    message_zh = "活码规则有误：{problem_zh}。"


class WorkingHoursInvalid(ValidationFailed):
    code = "working_hours_invalid"
    message_en = "Working hours must be minutes of the day between 0 and 1440."
    message_zh = "工作时间必须在 00:00 到 24:00 之间。"


@dataclass(frozen=True)
class Rule:
    """A parsed ``channel_code.rule``. ``None`` for a filter = not filtered on it."""

    account_ids: frozenset[int] | None = None
    persona_ids: frozenset[int] | None = None
    province_codes: frozenset[str] | None = None
    city_codes: frozenset[str] | None = None
    district_codes: frozenset[str] | None = None
    product_lines: frozenset[str] | None = None
    filters_owner: bool = False
    owner_promoter_id: int | None = None
    working_from_minute: int = 0
    working_until_minute: int = MINUTES_PER_DAY
    weights: Mapping[int, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key in _LIST_KEYS:
            value = getattr(self, key)
            if value is not None:
                result[key] = sorted(value)
        if self.filters_owner:
            result["owner_promoter_id"] = self.owner_promoter_id
        if (self.working_from_minute, self.working_until_minute) != (0, MINUTES_PER_DAY):
            result["working_from_minute"] = self.working_from_minute
            result["working_until_minute"] = self.working_until_minute
        if self.weights:
            result["weights"] = {str(key): value for key, value in sorted(self.weights.items())}
        return result


def _problem(en: str, zh: str) -> RuleInvalid:
    return RuleInvalid(problem=en, problem_zh=zh)


def check_minute(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MINUTES_PER_DAY:
        raise WorkingHoursInvalid()
    return value


def parse_rule(raw: Mapping[str, Any]) -> Rule:
    """Validate a rule from the API, a form or the database (refuses unknown keys and types)."""
    if not isinstance(raw, Mapping):
        raise _problem("rule must be an object", "规则必须是对象")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise _problem(f"unknown keys {unknown}", f"不认识的字段 {', '.join(unknown)}")
    lists: dict[str, frozenset[Any]] = {}
    for key, item_type in _LIST_KEYS.items():
        if key not in raw or raw[key] is None:
            continue
        value = raw[key]
        if not isinstance(value, list) or len(value) > RULE_LIST_LIMIT:
            raise _problem(
                f"{key} must be a list of at most 1000", f"{key} 必须是不超过 1000 项的列表"
            )
        for item in value:
            if isinstance(item, bool) or not isinstance(item, item_type):
                raise _problem(
                    f"{key} holds a wrong value {item!r}", f"{key} 中有错误的值 {item!r}"
                )
            if item_type is str and key.endswith("_codes") and not _is_division_code(str(item)):
                raise _problem(
                    f"{key} must be 6-digit division codes, got {item!r}",
                    f"地区编码必须是 6 位数字，收到“{item}”",
                )
        lists[key] = frozenset(value)
    filters_owner = "owner_promoter_id" in raw
    owner = raw.get("owner_promoter_id")
    if owner is not None and (isinstance(owner, bool) or not isinstance(owner, int)):
        raise _problem("owner_promoter_id must be an id or null", "归属推手必须是编号或空")
    working_from = check_minute(raw.get("working_from_minute", 0))
    working_until = check_minute(raw.get("working_until_minute", MINUTES_PER_DAY))
    weights_raw = raw.get("weights") or {}
    if not isinstance(weights_raw, Mapping):
        raise _problem("weights must be an object", "权重必须是对象")
    weights: dict[int, int] = {}
    for key, value in weights_raw.items():
        try:
            account_id = int(key)
        except (TypeError, ValueError):
            raise _problem(
                f"weights key {key!r} is not an id", "权重的键必须是运营号编号"
            ) from None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
            raise _problem("weights must be integers 0–10000", "权重必须是 0 到 10000 的整数")
        weights[account_id] = value
    return Rule(
        account_ids=lists.get("account_ids"),
        persona_ids=lists.get("persona_ids"),
        province_codes=lists.get("province_codes"),
        city_codes=lists.get("city_codes"),
        district_codes=lists.get("district_codes"),
        product_lines=lists.get("product_lines"),
        filters_owner=filters_owner,
        owner_promoter_id=owner,
        working_from_minute=working_from,
        working_until_minute=working_until,
        weights=weights,
    )


def _is_division_code(value: str) -> bool:
    return len(value) == 6 and value.isascii() and value.isdigit()


@dataclass(frozen=True)
class AccountSnapshot:
    """What routing needs to know about one account, read at one moment."""

    id: int
    status: AccountStatus = AccountStatus.ACTIVE
    deleted: bool = False
    friends_used: int = 0
    max_friends: int = 10_000
    adds_day: date | None = None
    passive_adds_today: int = 0
    passive_adds_per_day: int = 200
    working_from_minute: int = 0
    working_until_minute: int = MINUTES_PER_DAY
    recent_failures: int = 0
    restricted: bool = False
    province_code: str = ""
    city_code: str = ""
    district_code: str = ""
    product_lines: frozenset[str] = frozenset()
    persona_id: int | None = None
    owner_promoter_id: int | None = None
    weight: int = 1

    def adds_on(self, day: date) -> int:
        return self.passive_adds_today if self.adds_day == day else 0


def in_window(minute: int, start: int, until: int) -> bool:
    """Is ``minute`` (0–1439) inside [start, until)? until < start wraps past midnight;
    start == until is an empty window except 0–1440 (all day)."""
    if start <= until:
        return start <= minute < until
    return minute >= start or minute < until


def minute_of_day(moment: datetime) -> int:
    local = to_shanghai(moment)
    return local.hour * 60 + local.minute


def matches(rule: Rule, account: AccountSnapshot) -> bool:
    """Does the account belong to the code's candidates (its filters only, not caps)?"""
    if rule.account_ids is not None and account.id not in rule.account_ids:
        return False
    if rule.persona_ids is not None and account.persona_id not in rule.persona_ids:
        return False
    if rule.province_codes is not None and account.province_code not in rule.province_codes:
        return False
    if rule.city_codes is not None and account.city_code not in rule.city_codes:
        return False
    if rule.district_codes is not None and account.district_code not in rule.district_codes:
        return False
    if rule.product_lines is not None and not (rule.product_lines & account.product_lines):
        return False
    return not (rule.filters_owner and account.owner_promoter_id != rule.owner_promoter_id)


def refusal(account: AccountSnapshot, now: datetime) -> str | None:
    """Why this account cannot take a new add right now, or None when it can."""
    return _refusal(account, to_shanghai(now).date(), minute_of_day(now))


def _refusal(account: AccountSnapshot, today: date, minute: int) -> str | None:
    if account.deleted:
        return "deleted"
    if account.status != AccountStatus.ACTIVE:
        return f"status:{account.status.value}"
    if account.restricted or account.recent_failures >= MAX_RECENT_FAILURES:
        return "unhealthy"
    if account.friends_used >= account.max_friends:
        return "friends_full"
    if account.adds_on(today) >= account.passive_adds_per_day:
        return "daily_adds_full"
    if not in_window(minute, account.working_from_minute, account.working_until_minute):
        return "outside_working_hours"
    return None


@dataclass(frozen=True)
class RoutingPlan:
    """Accounts to try in order; spares after them. ``reason`` explains an empty plan."""

    ordered: tuple[int, ...]
    spares: tuple[int, ...]
    candidates_count: int
    reason: str = ""


def _load(account: AccountSnapshot) -> float:
    if account.max_friends <= 0:
        return 1.0
    return account.friends_used / account.max_friends


def order_candidates(
    accounts: Sequence[AccountSnapshot],
    strategy: RoutingStrategy,
    rng: random.Random,
    last_account_id: int = 0,
    weights: Mapping[int, int] | None = None,
) -> list[int]:
    """The try order for eligible accounts.

    - least_loaded: lowest friends_used/max_friends first; ties in random order so concurrent
      scanners do not all queue on the same row.
    - round_robin: ascending id, starting after ``last_account_id`` and wrapping.
    - weighted: weighted random order without replacement (Efraimidis–Spirakis); weight 0 goes
      last. Weights from the rule override the account's own.
    """
    if strategy == RoutingStrategy.ROUND_ROBIN:
        ids = sorted(account.id for account in accounts)
        after = [account_id for account_id in ids if account_id > last_account_id]
        return after + [account_id for account_id in ids if account_id <= last_account_id]
    if strategy == RoutingStrategy.WEIGHTED:
        keyed: list[tuple[int, float, int]] = []
        for account in sorted(accounts, key=lambda account: account.id):
            weight = (weights or {}).get(account.id, account.weight)
            draw = rng.random()
            if weight > 0:
                keyed.append((0, -(draw ** (1.0 / weight)), account.id))
            else:
                keyed.append((1, draw, account.id))
        return [account_id for _group, _key, account_id in sorted(keyed)]
    # Draws in id order (the SQL window comes in random order): the same candidates and the
    # same seeded generator give the same order (simulations are deterministic for a seed).
    by_id = sorted(accounts, key=lambda account: account.id)
    jittered = [(_load(account), rng.random(), account.id) for account in by_id]
    return [account_id for _load_value, _draw, account_id in sorted(jittered)]


def route(
    rule: Rule,
    strategy: RoutingStrategy,
    accounts: Sequence[AccountSnapshot],
    spares: Sequence[AccountSnapshot],
    now: datetime,
    rng: random.Random,
    last_account_id: int = 0,
) -> RoutingPlan:
    """The routing decision for one scan at ``now`` (UTC) from a snapshot of accounts.

    Candidates = accounts matching the rule that are under every cap, inside their and the
    code's working hours, active and healthy. Spares (in the order given) skip the rule filters
    and the code's hours but not the caps, status or health.
    """
    today, minute = to_shanghai(now).date(), minute_of_day(now)
    if not in_window(minute, rule.working_from_minute, rule.working_until_minute):
        return RoutingPlan((), (), 0, "outside_code_hours")
    matching = [account for account in accounts if matches(rule, account)]
    eligible = [account for account in matching if _refusal(account, today, minute) is None]
    ordered = order_candidates(eligible, strategy, rng, last_account_id, rule.weights)
    seen = set(ordered)
    spare_ids: list[int] = []
    for spare in spares:
        if spare.id not in seen and _refusal(spare, today, minute) is None:
            spare_ids.append(spare.id)
            seen.add(spare.id)
    reason = ""
    if not ordered and not spare_ids:
        reason = "no_candidates" if not matching else "all_full"
    return RoutingPlan(tuple(ordered), tuple(spare_ids), len(eligible), reason)


def parse_state(raw: str | None) -> str | None:
    """A personal code's state parameter, or None when absent or malformed (logged upstream)."""
    if raw is None:
        return None
    value = raw.strip()
    if not value or len(value) > STATE_MAX_LENGTH:
        return None
    if not all(
        character.isascii() and (character.isalnum() or character in "-_") for character in value
    ):
        return None
    return value


def group_capacity(created_by_wechat_user: bool) -> int:
    return GROUP_CAPACITY_USER_CREATED if created_by_wechat_user else GROUP_CAPACITY


def group_name(template: str, sequence: int) -> str:
    """``双十一内购优惠券群{n}`` -> ``双十一内购优惠券群3``; without {n} the number is appended."""
    if "{n}" in template:
        return template.replace("{n}", str(sequence))
    return f"{template}{sequence}"
