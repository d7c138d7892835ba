"""Pure rules of scripts and flows: placeholders, reply matching, the step definition and its
validation, timers and per-channel reply limits. No I/O.

A flow definition (``flow.draft``, frozen into ``flow_version.definition``)::

    {"settings": {"retry_text": "请回复数字 1-5", "max_retries": 3, "on_retries_exhausted": ""},
     "steps": [
        {"id": "hello", "type": "send", "script_id": 3},
        {"id": "ask", "type": "wait", "save_as": "区县",
         "match": [{"kind": "any", "next": "quota"}],
         "timeout_minutes": 1440, "reminder_minutes": 60, "max_reminders": 1,
         "reminder_text": "还在吗？", "on_timeout": "bye"},
        {"id": "quota", "type": "action", "action": "campaign.check_quota",
         "params": {"district": "{区县}"}, "on": {"available": "styles", "sold_out": "sorry"}},
        {"id": "vip", "type": "branch",
         "branches": [{"var": "款式", "op": "eq", "value": "1", "next": "one"}], "next": "other"},
        {"id": "human", "type": "handover", "text": "客户要求人工"},
        {"id": "bye", "type": "end"}]}

A step's ``next`` (empty = the following step) is where it goes when nothing else decides.
``send`` steps carry ``script_id`` (a library script) or ``text`` (inline); publishing pins the
script's current version and text into ``body``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

STEP_TYPES = ("send", "wait", "action", "branch", "handover", "end")
STEP_TYPE_LABELS = {
    "send": "发送话术",
    "wait": "等待回复",
    "action": "执行动作",
    "branch": "条件分支",
    "handover": "转人工",
    "end": "结束",
}
MATCH_KINDS = ("number", "keyword", "pattern", "any")
BRANCH_OPS = ("eq", "ne", "in", "empty", "present")
STEP_ID_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
VARIABLE_PATTERN = re.compile(r"\{([^{}\s]{1,20})\}")
MAX_STEPS = 100
MAX_PATTERN_LENGTH = 200
MAX_MATCHED_TEXT = 500
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_TEXT = "抱歉，没有看懂您的回复，请按提示再回复一次。"
# Steps run back to back (send, action, branch) before the engine gives up on a loop.
MAX_STEPS_PER_ADVANCE = 50

_CHINESE_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def normalise(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII), trimmed, lower case."""
    return unicodedata.normalize("NFKC", text).strip().lower()


# --- placeholders -----------------------------------------------------------------------------


def placeholders(body: str) -> list[str]:
    """The ``{name}`` placeholders of a script, in first-use order."""
    return list(dict.fromkeys(VARIABLE_PATTERN.findall(body)))


def render(body: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    """The text with placeholders filled; placeholders without a value stay as written and are
    returned (the preview shows them, the engine records them)."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return VARIABLE_PATTERN.sub(fill, body), missing


def render_params(params: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    """Action params with ``{variables}`` substituted in string values (one level deep)."""
    return {
        key: render(value, variables)[0] if isinstance(value, str) else value
        for key, value in params.items()
    }


# --- reply matching ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchRule:
    kind: str  # number / keyword / pattern / any
    next: str = ""
    minimum: int | None = None  # number
    maximum: int | None = None
    words: tuple[str, ...] = ()  # keyword
    pattern: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "next": self.next}
        if self.kind == "number":
            data["min"] = self.minimum
            data["max"] = self.maximum
        elif self.kind == "keyword":
            data["words"] = list(self.words)
        elif self.kind == "pattern":
            data["pattern"] = self.pattern
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchRule:
        kind = str(data.get("kind", ""))
        minimum = data.get("min")
        maximum = data.get("max")
        return cls(
            kind=kind,
            next=str(data.get("next") or ""),
            minimum=minimum if isinstance(minimum, int) else None,
            maximum=maximum if isinstance(maximum, int) else None,
            words=tuple(str(word) for word in data.get("words") or ()),
            pattern=str(data.get("pattern") or ""),
        )


@dataclass(frozen=True)
class Match:
    rule_index: int
    next: str
    value: str  # what is saved under the wait's ``save_as``: the number, the word, the text


def parse_number(text: str) -> int | None:
    """The one number in a reply: "3", "３", "3号", "第3款", "要三号" → 3. Two numbers or none
    → None (ambiguous replies are not guessed)."""
    cleaned = normalise(text)
    digits = re.findall(r"\d+", cleaned)
    if len(digits) == 1:
        return int(digits[0]) if len(digits[0]) <= 9 else None
    if digits:
        return None
    numerals = [char for char in cleaned if char in _CHINESE_DIGITS or char == "十"]
    if not numerals:
        return None
    joined = "".join(numerals)
    if len(joined) == 1:
        return 10 if joined == "十" else _CHINESE_DIGITS[joined]
    # 十一…十九, 二十…九十九
    found = re.fullmatch(r"([一二两三四五六七八九])?十([一二三四五六七八九])?", joined)
    if found is None:
        return None
    tens = _CHINESE_DIGITS[found.group(1)] if found.group(1) else 1
    ones = _CHINESE_DIGITS[found.group(2)] if found.group(2) else 0
    return tens * 10 + ones


def match_rule(rule: MatchRule, text: str) -> str | None:
    """The value the rule takes from ``text``, or None when it does not match."""
    cleaned = normalise(text)[:MAX_MATCHED_TEXT]
    if not cleaned:
        return None
    if rule.kind == "any":
        return text.strip()[:MAX_MATCHED_TEXT]
    if rule.kind == "number":
        number = parse_number(cleaned)
        if number is None:
            return None
        if rule.minimum is not None and number < rule.minimum:
            return None
        if rule.maximum is not None and number > rule.maximum:
            return None
        return str(number)
    if rule.kind == "keyword":
        for word in rule.words:
            if word and normalise(word) in cleaned:
                return word
        return None
    if rule.kind == "pattern":
        found = _compiled(rule.pattern).search(cleaned)
        return found.group(0) if found else None
    return None


_pattern_cache: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _pattern_cache.get(pattern)
    if compiled is None:
        compiled = re.compile(pattern, re.IGNORECASE)
        if len(_pattern_cache) < 1000:
            _pattern_cache[pattern] = compiled
    return compiled


def match_reply(rules: Sequence[MatchRule], text: str) -> Match | None:
    """The first rule (in order) that matches the reply."""
    for index, rule in enumerate(rules):
        value = match_rule(rule, text)
        if value is not None:
            return Match(index, rule.next, value)
    return None


# The editor's one-line-per-rule form: ``1-5 -> take_style``, ``有,要 -> yes``,
# ``/^\d{11}$/ -> phone``, ``* -> anything``. ``#`` before a number range is optional.
_ARROW = re.compile(r"\s*(?:->|→|=>)\s*")


class RuleSyntaxError(ValueError):
    pass


def parse_match_rules(text: str) -> list[MatchRule]:
    rules: list[MatchRule] = []
    for raw in re.split(r"[\n;；]", text):
        line = raw.strip()
        if not line:
            continue
        parts = _ARROW.split(line, maxsplit=1)
        left = parts[0].strip()
        target = parts[1].strip() if len(parts) == 2 else ""
        rules.append(_parse_rule(left, target, line))
    return rules


def _parse_rule(left: str, target: str, line: str) -> MatchRule:
    if left in ("*", "任意", "any"):
        return MatchRule("any", target)
    if len(left) >= 2 and left.startswith("/") and left.endswith("/"):
        pattern = left[1:-1]
        check_pattern(pattern)
        return MatchRule("pattern", target, pattern=pattern)
    numbers = re.fullmatch(r"#?\s*(\d{1,6})\s*(?:-|~|～|到)\s*(\d{1,6})", normalise(left))
    if numbers:
        low, high = int(numbers.group(1)), int(numbers.group(2))
        if low > high:
            raise RuleSyntaxError(f"number range {low}-{high} is reversed in {line!r}")
        return MatchRule("number", target, minimum=low, maximum=high)
    single = re.fullmatch(r"#\s*(\d{1,6})|#", normalise(left))
    if single:
        value = int(single.group(1)) if single.group(1) else None
        return MatchRule("number", target, minimum=value, maximum=value)
    words = tuple(word.strip() for word in re.split(r"[,，、|]", left) if word.strip())
    if not words:
        raise RuleSyntaxError(f"empty rule in {line!r}")
    return MatchRule("keyword", target, words=words)


def check_pattern(pattern: str) -> None:
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise RuleSyntaxError(f"a pattern must be 1 to {MAX_PATTERN_LENGTH} characters")
    try:
        re.compile(pattern)
    except re.error as error:
        raise RuleSyntaxError(f"invalid pattern /{pattern}/: {error}") from error


def format_match_rules(rules: Iterable[MatchRule]) -> str:
    lines = []
    for rule in rules:
        if rule.kind == "any":
            left = "*"
        elif rule.kind == "pattern":
            left = f"/{rule.pattern}/"
        elif rule.kind == "number":
            if rule.minimum is None and rule.maximum is None:
                left = "#"
            elif rule.minimum == rule.maximum:
                left = f"#{rule.minimum}"
            else:
                left = f"{rule.minimum if rule.minimum is not None else 0}-{rule.maximum}"
        else:
            left = ",".join(rule.words)
        lines.append(f"{left} -> {rule.next}" if rule.next else left)
    return "\n".join(lines)


def parse_outcomes(text: str) -> dict[str, str]:
    """``available -> styles, sold_out -> sorry`` → {"available": "styles", ...}."""
    outcomes: dict[str, str] = {}
    for raw in re.split(r"[\n,，;；]", text):
        line = raw.strip()
        if not line:
            continue
        parts = _ARROW.split(line, maxsplit=1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise RuleSyntaxError(f"expected 'outcome -> step' in {line!r}")
        outcomes[parts[0].strip()] = parts[1].strip()
    return outcomes


def format_outcomes(outcomes: Mapping[str, str]) -> str:
    return ", ".join(f"{key} -> {value}" for key, value in outcomes.items())


# --- branches ---------------------------------------------------------------------------------


def condition_holds(condition: Mapping[str, Any], variables: Mapping[str, str]) -> bool:
    name = str(condition.get("var") or "")
    op = str(condition.get("op") or "eq")
    value = condition.get("value")
    current = variables.get(name)
    if op == "present":
        return bool(current)
    if op == "empty":
        return not current
    if op == "in":
        options = value if isinstance(value, list) else str(value or "").split(",")
        return current is not None and current in [str(option).strip() for option in options]
    if op == "ne":
        return current != str(value if value is not None else "")
    return current == str(value if value is not None else "")


def choose_branch(step: Mapping[str, Any], variables: Mapping[str, str]) -> str:
    for branch in step.get("branches") or []:
        if condition_holds(branch, variables):
            return str(branch.get("next") or "")
    return str(step.get("next") or "")


def parse_branches(text: str) -> list[dict[str, Any]]:
    """``款式 = 1 -> one``, ``区县 in 章贡区,南康区 -> near``, ``链接 empty -> nolink``."""
    branches: list[dict[str, Any]] = []
    for raw in re.split(r"[\n;；]", text):
        line = raw.strip()
        if not line:
            continue
        parts = _ARROW.split(line, maxsplit=1)
        if len(parts) != 2:
            raise RuleSyntaxError(f"expected 'condition -> step' in {line!r}")
        condition, target = parts[0].strip(), parts[1].strip()
        found = re.fullmatch(r"(\S+)\s*(=|!=|≠|\bin\b|\bempty\b|\bpresent\b)\s*(.*)", condition)
        if found is None:
            raise RuleSyntaxError(f"cannot read condition {condition!r}")
        name, symbol, value = found.group(1), found.group(2), found.group(3).strip()
        op = {"=": "eq", "!=": "ne", "≠": "ne"}.get(symbol, symbol)
        branch: dict[str, Any] = {"var": name, "op": op, "next": target}
        if op == "in":
            branch["value"] = [part.strip() for part in re.split(r"[,，、]", value) if part]
        elif op in ("eq", "ne"):
            branch["value"] = value
        branches.append(branch)
    return branches


def format_branches(branches: Iterable[Mapping[str, Any]]) -> str:
    lines = []
    for branch in branches:
        op = branch.get("op", "eq")
        value = branch.get("value")
        if op == "in":
            condition = f"{branch['var']} in {','.join(str(v) for v in value or [])}"
        elif op in ("empty", "present"):
            condition = f"{branch['var']} {op}"
        else:
            condition = f"{branch['var']} {'=' if op == 'eq' else '!='} {value}"
        lines.append(f"{condition} -> {branch.get('next', '')}")
    return "\n".join(lines)


# --- the definition ---------------------------------------------------------------------------


def steps_of(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(step) for step in definition.get("steps") or []]


def step_index(definition: Mapping[str, Any]) -> dict[str, int]:
    return {str(step.get("id")): index for index, step in enumerate(steps_of(definition))}


def following(definition: Mapping[str, Any], step_id: str) -> str:
    """The step after ``step_id`` in list order ('' after the last)."""
    steps = steps_of(definition)
    index = step_index(definition).get(step_id)
    if index is None or index + 1 >= len(steps):
        return ""
    return str(steps[index + 1]["id"])


def targets(step: Mapping[str, Any]) -> list[str]:
    """Every step id a step can go to (besides the following one)."""
    found = [str(step.get("next") or "")]
    if step.get("type") == "wait":
        found += [str(rule.get("next") or "") for rule in step.get("match") or []]
        found += [str(step.get("on_timeout") or ""), str(step.get("on_retries_exhausted") or "")]
    if step.get("type") == "action":
        found += [str(value) for value in (step.get("on") or {}).values()]
    if step.get("type") == "branch":
        found += [str(branch.get("next") or "") for branch in step.get("branches") or []]
    return [target for target in found if target]


def actions_used(definition: Mapping[str, Any]) -> list[str]:
    return sorted(
        {
            str(step.get("action"))
            for step in steps_of(definition)
            if step.get("type") == "action" and step.get("action")
        }
    )


def unknown_actions(definition: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    registered = set(known)
    return [name for name in actions_used(definition) if name not in registered]


def script_ids_used(definition: Mapping[str, Any]) -> list[int]:
    found: set[int] = set()
    for step in steps_of(definition):
        for key in ("script_id", "reminder_script_id", "retry_script_id"):
            value = step.get(key)
            if isinstance(value, int):
                found.add(value)
    retry = (definition.get("settings") or {}).get("retry_script_id")
    if isinstance(retry, int):
        found.add(retry)
    return sorted(found)


def problems(definition: Mapping[str, Any]) -> list[str]:
    """Structural problems (English, for the API; the console shows them as they are).
    Action names are checked separately (``unknown_actions``), at publish and start time."""
    found: list[str] = []
    steps = steps_of(definition)
    if not steps:
        return ["a flow needs at least one step"]
    if len(steps) > MAX_STEPS:
        found.append(f"a flow has at most {MAX_STEPS} steps")
    ids = [str(step.get("id") or "") for step in steps]
    for step_id in ids:
        if not STEP_ID_PATTERN.match(step_id):
            found.append(f"step id {step_id!r} must be 1-40 letters, digits, '-' or '_'")
    duplicates = sorted({step_id for step_id in ids if ids.count(step_id) > 1})
    for step_id in duplicates:
        found.append(f"step id {step_id!r} is used twice")
    known = set(ids)
    exhausted = str((definition.get("settings") or {}).get("on_retries_exhausted") or "")
    if exhausted and exhausted not in known:
        found.append(f"settings: on_retries_exhausted goes to unknown step {exhausted!r}")
    for step in steps:
        step_id = str(step.get("id") or "")
        kind = step.get("type")
        if kind not in STEP_TYPES:
            found.append(f"step {step_id!r}: unknown type {kind!r}")
            continue
        for target in targets(step):
            if target not in known:
                found.append(f"step {step_id!r} goes to unknown step {target!r}")
        if kind == "send" and not step.get("script_id") and not str(step.get("text") or ""):
            found.append(f"step {step_id!r}: a send step needs a script or a text")
        if kind == "wait":
            rules = step.get("match") or []
            if not rules:
                found.append(f"step {step_id!r}: a wait step needs at least one match rule")
            for rule in rules:
                if rule.get("kind") not in MATCH_KINDS:
                    found.append(f"step {step_id!r}: unknown match kind {rule.get('kind')!r}")
                if rule.get("kind") == "pattern":
                    try:
                        check_pattern(str(rule.get("pattern") or ""))
                    except RuleSyntaxError as error:
                        found.append(f"step {step_id!r}: {error}")
            for key in ("timeout_minutes", "reminder_minutes", "max_reminders"):
                value = step.get(key)
                if value is not None and (not isinstance(value, int) or value < 0):
                    found.append(f"step {step_id!r}: {key} must be a whole number ≥ 0")
        if kind == "action" and not str(step.get("action") or ""):
            found.append(f"step {step_id!r}: an action step needs an action name")
        if kind == "branch":
            for branch in step.get("branches") or []:
                if branch.get("op", "eq") not in BRANCH_OPS or not branch.get("var"):
                    found.append(f"step {step_id!r}: a branch needs a variable and an operator")
    return found


# --- timers -----------------------------------------------------------------------------------


def next_timer(
    step: Mapping[str, Any], waiting_since: datetime, reminders_sent: int
) -> tuple[datetime | None, str]:
    """When the wait's next timer fires and what it is: ``("reminder")`` every
    ``reminder_minutes`` up to ``max_reminders`` (default 1) while before the timeout, then
    ``("timeout")`` at ``timeout_minutes``. ``(None, "")``: the wait never times out."""
    timeout = step.get("timeout_minutes")
    reminder = step.get("reminder_minutes")
    limit = step.get("max_reminders")
    max_reminders = limit if isinstance(limit, int) else 1
    timeout_at = (
        waiting_since + timedelta(minutes=timeout) if isinstance(timeout, int) and timeout else None
    )
    if isinstance(reminder, int) and reminder > 0 and reminders_sent < max_reminders:
        reminder_at = waiting_since + timedelta(minutes=reminder * (reminders_sent + 1))
        if timeout_at is None or reminder_at < timeout_at:
            return reminder_at, "reminder"
    if timeout_at is not None:
        return timeout_at, "timeout"
    return None, ""


# --- reply limits -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyPolicy:
    """How many messages a backend lets siyu send after a customer's message, and for how long.
    ``None`` = no limit. WeCom 微信客服: 5 within 48 hours of each customer message."""

    max_replies: int | None = None
    window: timedelta | None = None

    @property
    def unlimited(self) -> bool:
        return self.max_replies is None and self.window is None


UNLIMITED = ReplyPolicy()
WECOM_KEFU = ReplyPolicy(max_replies=5, window=timedelta(hours=48))


def reply_allowed(
    policy: ReplyPolicy,
    last_inbound_at: datetime | None,
    replies_in_window: int,
    now: datetime,
) -> bool:
    """May one more message go out now? With a window, only after a customer message and
    before the window closes; with a count, only while fewer were sent since that message."""
    if policy.unlimited:
        return True
    if policy.window is not None and (
        last_inbound_at is None or now >= last_inbound_at + policy.window
    ):
        return False
    return policy.max_replies is None or replies_in_window < policy.max_replies
