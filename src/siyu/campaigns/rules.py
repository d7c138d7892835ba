"""Pure campaign rules: tiers and inventory checks, progress, claim and referral decisions, the
structural risk rule, style replies and the participant's signed link token. No I/O."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from siyu.models.campaigns import (
    CampaignRisk,
    CampaignStatus,
    CampaignTrigger,
    ParticipantStatus,
    ReferralStatus,
    RewardKind,
)

MAX_TIERS: Final = 5
MAX_THRESHOLD: Final = 100_000
MAX_STOCK: Final = 10_000_000
MAX_DISTRICTS: Final = 200
MAX_STYLES: Final = 20
MAX_INVITES_PER_DEVICE: Final = 100
MAX_INVALIDATION_DAYS: Final = 90

# The structural rule: a reward for a shared screenshot is what 《微信外部链接内容管理规范》 3.1
# forbids, whatever the copy says; the text rules cannot see it.
SHARE_PROOF_RULE: Final = "campaign_share_proof_trigger"
STRUCTURAL_RULE_LABELS: Final = {
    SHARE_PROOF_RULE: "奖励依赖分享截图（分享 + 截图领奖品，属诱导分享）",
}
# Compliance categories whose blocking findings make a campaign high risk (reward depends on
# sharing or following: 集赞/助力/砍价/分享截图/关注后领取).
HIGH_RISK_CATEGORIES: Final = frozenset({"induced_sharing", "induced_following"})


class ClaimOutcome(enum.StrEnum):
    ISSUED = "issued"
    ALREADY = "already"
    SOLD_OUT = "sold_out"
    NOT_ELIGIBLE = "not_eligible"  # below the threshold
    NOT_RUNNING = "not_running"  # before the start, after the end, paused
    DISQUALIFIED = "disqualified"
    DISTRICT_NOT_IN_CAMPAIGN = "not_in_campaign"
    COUPON_LIMIT = "coupon_limit"  # the coupon batch's per-user limit is reached


# --- input checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TierTerms:
    name: str
    threshold: int
    kind: RewardKind
    coupon_batch_id: int | None
    unit_cost_fen: int
    is_bonus: bool
    total: int
    districts: tuple[tuple[str, int], ...]  # (district code, stock)


class TermsProblem(enum.StrEnum):
    NO_TIERS = "no_tiers"
    TOO_MANY_TIERS = "too_many_tiers"
    TIER_NAME = "tier_name"
    THRESHOLD = "threshold"
    THRESHOLD_ORDER = "threshold_order"
    COUPON_BATCH = "coupon_batch"
    COST = "cost"
    STOCK = "stock"
    DISTRICT_CODE = "district_code"
    DISTRICT_DUPLICATE = "district_duplicate"
    DISTRICTS_OVER_TOTAL = "districts_over_total"
    TOO_MANY_DISTRICTS = "too_many_districts"
    WINDOW = "window"
    STYLES = "styles"
    DEVICE_CAP = "device_cap"
    INVALIDATION_DAYS = "invalidation_days"


@dataclass(frozen=True)
class Problem:
    kind: TermsProblem
    tier: int | None = None  # 1-based tier position
    detail: str = ""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_district_code(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit() and not code.endswith("00")


def check_tiers(tiers: Sequence[TierTerms]) -> list[Problem]:
    """Every problem of the tiers and their stock, in tier order (empty = fine).

    Thresholds strictly increase (a bonus tier is a higher threshold, never a tie); district
    stocks never add up to more than the tier's total (the total is what the sponsor ships)."""
    problems: list[Problem] = []
    if not tiers:
        return [Problem(TermsProblem.NO_TIERS)]
    if len(tiers) > MAX_TIERS:
        problems.append(Problem(TermsProblem.TOO_MANY_TIERS))
    previous = -1
    for position, tier in enumerate(tiers, start=1):
        if not tier.name.strip() or len(tier.name.strip()) > 80:
            problems.append(Problem(TermsProblem.TIER_NAME, position))
        if not _is_int(tier.threshold) or not 1 <= tier.threshold <= MAX_THRESHOLD:
            problems.append(Problem(TermsProblem.THRESHOLD, position))
        elif tier.threshold <= previous:
            problems.append(Problem(TermsProblem.THRESHOLD_ORDER, position))
        if _is_int(tier.threshold):
            previous = max(previous, tier.threshold)
        if (tier.kind == RewardKind.COUPON) != (tier.coupon_batch_id is not None):
            problems.append(Problem(TermsProblem.COUPON_BATCH, position))
        if not _is_int(tier.unit_cost_fen) or tier.unit_cost_fen < 0:
            problems.append(Problem(TermsProblem.COST, position))
        if not _is_int(tier.total) or not 0 <= tier.total <= MAX_STOCK:
            problems.append(Problem(TermsProblem.STOCK, position))
            continue
        if len(tier.districts) > MAX_DISTRICTS:
            problems.append(Problem(TermsProblem.TOO_MANY_DISTRICTS, position))
        seen: set[str] = set()
        share = 0
        for code, stock in tier.districts:
            if not is_district_code(code):
                problems.append(Problem(TermsProblem.DISTRICT_CODE, position, code[:12]))
            elif code in seen:
                problems.append(Problem(TermsProblem.DISTRICT_DUPLICATE, position, code))
            seen.add(code)
            if not _is_int(stock) or not 0 <= stock <= MAX_STOCK:
                problems.append(Problem(TermsProblem.STOCK, position, code[:12]))
            else:
                share += stock
        if share > tier.total:
            problems.append(Problem(TermsProblem.DISTRICTS_OVER_TOTAL, position))
    return problems


def check_window(starts_at: datetime | None, ends_at: datetime | None) -> bool:
    """Both or neither may be open; when both are set the end is after the start."""
    return starts_at is None or ends_at is None or ends_at > starts_at


def clean_styles(values: Iterable[str]) -> list[str]:
    return [value.strip()[:64] for value in values if value.strip()]


# --- compliance -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskAssessment:
    risk: CampaignRisk
    rules: tuple[str, ...]  # matched rule ids, structural first, then text rules in order


def assess_risk(
    trigger: CampaignTrigger, findings: Iterable[tuple[str, str, bool]]
) -> RiskAssessment:
    """``findings``: (rule id, category, blocking) of the lint over the rules and poster text.

    High risk: the trigger is share_proof (structural), or a blocking induced-sharing/following
    finding (the reward depends on sharing, following, 集赞, 助力, 砍价 or a screenshot)."""
    matched: list[str] = []
    if trigger == CampaignTrigger.SHARE_PROOF:
        matched.append(SHARE_PROOF_RULE)
    for rule_id, category, blocking in findings:
        if blocking and category in HIGH_RISK_CATEGORIES and rule_id not in matched:
            matched.append(rule_id)
    return RiskAssessment(CampaignRisk.HIGH if matched else CampaignRisk.LOW, tuple(matched))


def acknowledgement_needed(
    risk: CampaignRisk, rules: Sequence[str], acknowledged_rules: Sequence[str] | None
) -> bool:
    """A high-risk campaign needs an acknowledgement covering every rule it matches now (an edit
    that matches a new rule needs a new one)."""
    if risk != CampaignRisk.HIGH:
        return False
    return acknowledged_rules is None or not set(rules) <= set(acknowledged_rules)


# --- progress and claims ----------------------------------------------------------------------


@dataclass(frozen=True)
class TierView:
    id: int
    threshold: int
    is_bonus: bool


@dataclass(frozen=True)
class Progress:
    count: int
    reached: tuple[int, ...]  # tier ids whose threshold is reached
    next_tier_id: int | None
    next_threshold: int | None
    remaining: int  # to the next threshold, 0 when every tier is reached


def progress(count: int, tiers: Sequence[TierView]) -> Progress:
    ordered = sorted(tiers, key=lambda tier: (tier.threshold, tier.id))
    reached = tuple(tier.id for tier in ordered if count >= tier.threshold)
    upcoming = [tier for tier in ordered if count < tier.threshold]
    if not upcoming:
        return Progress(count, reached, None, None, 0)
    return Progress(
        count, reached, upcoming[0].id, upcoming[0].threshold, upcoming[0].threshold - count
    )


def is_running(
    status: CampaignStatus,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
) -> bool:
    if status != CampaignStatus.RUNNING:
        return False
    if starts_at is not None and now < starts_at:
        return False
    return ends_at is None or now < ends_at


def claim_decision(
    *,
    running: bool,
    participant_status: ParticipantStatus,
    count: int,
    threshold: int,
    already_issued: bool,
    tier_districts: Sequence[str],
    district_code: str,
) -> ClaimOutcome | None:
    """The refusal for a claim, or None when the claim may try to take stock.

    Order matters for what people are told: a second claim says "already" even after the end."""
    if already_issued:
        return ClaimOutcome.ALREADY
    if participant_status != ParticipantStatus.ACTIVE:
        return ClaimOutcome.DISQUALIFIED
    if not running:
        return ClaimOutcome.NOT_RUNNING
    if count < threshold:
        return ClaimOutcome.NOT_ELIGIBLE
    if tier_districts and district_code not in tier_districts:
        return ClaimOutcome.DISTRICT_NOT_IN_CAMPAIGN
    return None


def best_claimable(
    count: int, tiers: Sequence[TierView], issued_tier_ids: Iterable[int]
) -> TierView | None:
    """The lowest reached tier not yet issued (the flow's "issue my reward" step)."""
    issued = set(issued_tier_ids)
    for tier in sorted(tiers, key=lambda tier: (tier.threshold, tier.id)):
        if count >= tier.threshold and tier.id not in issued:
            return tier
    return None


# --- referrals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralDecision:
    status: ReferralStatus
    reason: str


def referral_decision(
    *,
    inviter_consumer_id: int,
    invitee_consumer_id: int,
    invitee_is_participant_before: bool,
    invitee_had_contact_before: bool,
    device_invites: int,
    max_invites_per_device: int,
    needs_purchase: bool,
) -> ReferralDecision:
    """What a new add through a participant's personal code counts as.

    ``device_invites``: the inviter's invites already recorded from the same device (pending or
    verified); the add that would exceed the cap is rejected."""
    if inviter_consumer_id == invitee_consumer_id:
        return ReferralDecision(ReferralStatus.REJECTED, "self_invite")
    if invitee_is_participant_before or invitee_had_contact_before:
        return ReferralDecision(ReferralStatus.REJECTED, "not_new")
    if device_invites >= max_invites_per_device:
        return ReferralDecision(ReferralStatus.REJECTED, "device_cap")
    if needs_purchase:
        return ReferralDecision(ReferralStatus.PENDING, "waiting_first_purchase")
    return ReferralDecision(ReferralStatus.VERIFIED, "")


REFERRAL_REASON_LABELS: Final = {
    "self_invite": "邀请自己，不计入",
    "not_new": "不是新朋友（之前已添加过或已参加活动），不计入",
    "device_cap": "同一设备邀请过多，不计入",
    "waiting_first_purchase": "等待首单",
    "contact_removed": "对方已删除好友",
    "left_groups": "对方已退出全部社群",
    "": "",
}


def invalidates(verified_at: datetime | None, now: datetime, invalidation_days: int | None) -> bool:
    """An invitee leaving invalidates the invite only within N days of its verification."""
    if invalidation_days is None or verified_at is None:
        return False
    return now - verified_at <= timedelta(days=invalidation_days)


# --- replies ----------------------------------------------------------------------------------

_CHINESE_DIGITS: Final = {
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
    "十": 10,
}
_NUMBER = re.compile(r"(\d{1,3}|[一二两三四五六七八九十])\s*(?:号|款|#)?")


def choose_style(styles: Sequence[str], reply: str) -> int | None:
    """The 1-based style number a reply names ("1", "１号", "2号款", "三号", or the style's
    name), or None when it names none of them (out of range, several numbers, chatter)."""
    text = unicodedata.normalize("NFKC", reply).strip()
    if not text or not styles:
        return None
    for index, style in enumerate(styles, start=1):
        if unicodedata.normalize("NFKC", style).strip() == text:
            return index
    found = _NUMBER.findall(text)
    if len(found) != 1:
        return None
    raw = found[0]
    number = int(raw) if raw.isdigit() else _CHINESE_DIGITS[raw]
    return number if 1 <= number <= len(styles) else None


# --- the participant's signed link --------------------------------------------------------------


def participant_token(secret: str, campaign_id: int, participant_id: int) -> str:
    """``<participant id>.<mac>``: the H5 link a participant gets (no log-in for consumers)."""
    key = hashlib.sha256(("campaign-participant:" + secret).encode()).digest()
    mac = hmac.new(key, f"{campaign_id}:{participant_id}".encode(), hashlib.sha256).hexdigest()
    return f"{participant_id}.{mac[:32]}"


def read_token(secret: str, campaign_id: int, token: str) -> int | None:
    """The participant id a token was signed for, or None when it is not this campaign's."""
    raw_id, _, _mac = token.partition(".")
    if not raw_id.isdigit() or len(raw_id) > 19:
        return None
    participant_id = int(raw_id)
    expected = participant_token(secret, campaign_id, participant_id)
    return participant_id if hmac.compare_digest(expected, token) else None
