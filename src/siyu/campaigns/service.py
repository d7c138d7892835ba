"""Fission campaigns: building, the compliance/risk check, launch/pause/end, participants and
their referral tree, screenshot proofs, rewards and fulfilment. Never commits.

``actor`` is the ``Principal`` asking, or ``None`` for the system (jobs, hooks, flows, the demo).
Platform staff manage every campaign; a merchant reads the campaigns it sponsors; others are
refused. Consumers never log in: their H5 pages carry a signed participant token
(``participant_link``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.principal import Principal
from siyu.campaigns import rules
from siyu.campaigns.repository import CampaignRepository
from siyu.campaigns.rules import ClaimOutcome, TierTerms, TierView
from siyu.campaigns.schemas import CampaignIn, TierIn
from siyu.catalog import rules as catalog_rules
from siyu.compliance import service as compliance
from siyu.compliance.rules import Finding, TextKind
from siyu.config import current_settings
from siyu.consumers import service as consumers
from siyu.errors import AppError, Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.jobs import enqueue
from siyu.kit import crypto
from siyu.kit.pagination import Page, PageRequest
from siyu.kit.time import ensure_aware, utc_now
from siyu.models import (
    ChannelCode,
    Contact,
    ContactSourceKind,
    CouponBatch,
    GroupCode,
    Merchant,
    Order,
    Role,
)
from siyu.models.campaigns import (
    ALL_DISTRICTS,
    Campaign,
    CampaignInventory,
    CampaignParticipant,
    CampaignProof,
    CampaignReferral,
    CampaignReward,
    CampaignRewardTier,
    CampaignRisk,
    CampaignStatus,
    CampaignTrigger,
    FulfilmentStatus,
    ParticipantStatus,
    ProofStatus,
    ReferralKind,
    ReferralStatus,
    RewardFulfilment,
    RewardKind,
    RewardStatus,
)
from siyu.models.segments import ReleaseRule

logger = logging.getLogger("siyu.campaigns")

MAX_PENDING_PROOFS = 3
INVITE_BATCH = 500
PROOF_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif"}
PROOF_CONTENT_TYPES["webp"] = "image/webp"
ACK_MIN, ACK_MAX = 5, 500
DEFAULT_GROUP_INVITE = "活动已结束，感谢参与！邀请您加入福利群，每天有专属优惠券：{群链接}"


# --- errors -----------------------------------------------------------------------------------


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    message_en = "Campaign not found."
    message_zh = "找不到该活动，它可能已删除，或您没有查看权限。"


class CampaignNameRequired(ValidationFailed):
    code = "campaign_name_required"
    message_en = "A campaign needs a name (at most 80 characters)."
    message_zh = "请填写活动名称（最多 80 字）。"


class CampaignTermsInvalid(ValidationFailed):
    code = "campaign_terms_invalid"
    message_en = "Campaign terms are invalid: {problems}."
    message_zh = "活动设置有误：{problems_zh}。"


class CampaignReferenceNotFound(ValidationFailed):
    code = "campaign_reference_not_found"
    message_en = "{field} {value} does not exist."
    message_zh = "{field_zh}（编号 {value}）不存在，请重新选择。"


class CampaignNotEditable(Conflict):
    code = "campaign_not_editable"
    message_en = "A {status} campaign cannot be edited; pause it first."
    message_zh = "活动当前为“{status_zh}”，不能修改，请先暂停。"


class CampaignTiersLocked(Conflict):
    code = "campaign_tiers_locked"
    message_en = "Reward tiers, stock and the trigger cannot change after launch."
    message_zh = "活动上线后不能再修改玩法、奖励档位和名额。"


class CampaignStatusInvalid(Conflict):
    code = "campaign_status_invalid"
    message_en = "A {status} campaign cannot be {action}."
    message_zh = "活动当前为“{status_zh}”，不能{action_zh}。"


class CampaignEntryCodeRequired(ValidationFailed):
    code = "campaign_entry_code_required"
    message_en = "A campaign needs an entry channel code before it can launch."
    message_zh = "上线前请先选择活动入口活码。"


class CampaignWindowPassed(Conflict):
    code = "campaign_window_passed"
    message_en = "The campaign's end time has passed; change the dates to launch it."
    message_zh = "活动结束时间已过，请修改活动时间后再上线。"


class RiskAcknowledgementRequired(ValidationFailed):
    code = "campaign_risk_acknowledgement_required"
    message_en = (
        "This campaign is high risk under WeChat's external-link rules ({rules}); an admin must "
        "acknowledge it with a reason of 5 to 500 characters."
    )
    message_zh = (
        "该活动属于高风险（{labels}），违反《微信外部链接内容管理规范》的可能性大。"
        "需由管理员填写原因（5–500 字）确认后才能上线，该操作将记入审计日志。"
    )


class CampaignNotRunning(Conflict):
    code = "campaign_not_running"
    message_en = "The campaign is not running (not started, paused or ended)."
    message_zh = "活动未开始、已暂停或已结束。"


class DistrictNotInCampaign(ValidationFailed):
    code = "campaign_district_not_in_campaign"
    message_en = "District {district} is not part of this campaign."
    message_zh = "您所在的地区（{district_zh}）不在本次活动范围内。"


class ParticipantNotFound(NotFound):
    code = "campaign_participant_not_found"
    message_en = "Participant not found."
    message_zh = "找不到该参与者。"


class ParticipantLinkInvalid(NotFound):
    code = "campaign_link_invalid"
    message_en = "This campaign link is invalid or belongs to another campaign."
    message_zh = "活动链接无效，请从活动消息中重新打开您的专属链接。"


class ProofNotAccepted(Conflict):
    code = "campaign_proof_not_accepted"
    message_en = "This campaign does not take screenshot proofs."
    message_zh = "本活动不需要上传截图。"


class ProofDuplicate(Conflict):
    code = "campaign_proof_duplicate"
    message_en = "This screenshot was already uploaded in this campaign."
    message_zh = "这张截图已经上传过了，请上传新的截图。"


class TooManyPendingProofs(Conflict):
    code = "campaign_proof_too_many_pending"
    message_en = "{count} screenshots are still waiting for review; wait for the result."
    message_zh = "您还有 {count} 张截图在审核中，请等待审核结果后再上传。"


class ProofNotFound(NotFound):
    code = "campaign_proof_not_found"
    message_en = "Proof not found."
    message_zh = "找不到该截图。"


class ProofAlreadyReviewed(Conflict):
    code = "campaign_proof_already_reviewed"
    message_en = "This proof was already reviewed ({status})."
    message_zh = "该截图已审核（{status_zh}），无需重复操作。"


class ProofReasonRequired(ValidationFailed):
    code = "campaign_proof_reason_required"
    message_en = "A rejection needs a reason (at most 200 characters)."
    message_zh = "驳回请填写原因（最多 200 字），参与者会看到它。"


class RewardNotFound(NotFound):
    code = "campaign_reward_not_found"
    message_en = "Reward not found."
    message_zh = "找不到该奖励。"


class FulfilmentNotFound(NotFound):
    code = "campaign_fulfilment_not_found"
    message_en = "Fulfilment not found."
    message_zh = "找不到该发货记录。"


class ShippingInvalid(ValidationFailed):
    code = "campaign_shipping_invalid"
    message_en = "Shipping needs a carrier and a tracking number."
    message_zh = "请填写快递公司和运单号。"


class FulfilmentStatusInvalid(Conflict):
    code = "campaign_fulfilment_status_invalid"
    message_en = "This reward is already {status}."
    message_zh = "该奖品已是“{status_zh}”状态。"


class ConsigneeInvalid(ValidationFailed):
    code = "campaign_consignee_invalid"
    message_en = "A physical reward needs the consignee's name, phone and address."
    message_zh = "请填写收货人姓名、手机号和收货地址。"


class ClaimRefused(Conflict):
    """A claim that gives nothing; ``outcome`` says why (also the flow's branch)."""

    code = "campaign_claim_refused"
    message_en = "No reward: {outcome}."
    message_zh = "无法领取。"


_CLAIM_MESSAGES: dict[ClaimOutcome, tuple[str, str, str, int]] = {
    ClaimOutcome.ALREADY: (
        "campaign_reward_already_issued",
        "This reward was already issued to the participant.",
        "您已领取过该奖励，每人每档限领一次。",
        409,
    ),
    ClaimOutcome.SOLD_OUT: (
        "campaign_reward_sold_out",
        "No stock left for this reward (in the participant's district).",
        "很抱歉，奖品名额已领完。",
        409,
    ),
    ClaimOutcome.NOT_ELIGIBLE: (
        "campaign_reward_not_eligible",
        "The participant has not reached this tier's threshold.",
        "还未达到领取条件，继续邀请好友吧。",
        409,
    ),
    ClaimOutcome.NOT_RUNNING: (
        "campaign_not_running",
        "The campaign is not running (not started, paused or ended).",
        "活动未开始、已暂停或已结束，不能领取。",
        409,
    ),
    ClaimOutcome.DISQUALIFIED: (
        "campaign_participant_disqualified",
        "The participant was disqualified.",
        "您的参与资格已被取消，如有疑问请联系客服。",
        403,
    ),
    ClaimOutcome.DISTRICT_NOT_IN_CAMPAIGN: (
        "campaign_district_not_in_campaign",
        "The participant's district is not part of this campaign.",
        "您所在的地区不在本次活动范围内。",
        422,
    ),
    ClaimOutcome.COUPON_LIMIT: (
        "coupon_limit_reached",
        "The participant already holds the coupon batch's per-user limit.",
        "您已领过该优惠券，每人限领次数已满。",
        409,
    ),
}


_CLAIM_ERRORS: dict[ClaimOutcome, type[ClaimRefused]] = {
    outcome: type(
        f"ClaimRefused_{outcome.value}",
        (ClaimRefused,),
        {"code": code, "message_en": en, "message_zh": zh, "status": status},
    )
    for outcome, (code, en, zh, status) in _CLAIM_MESSAGES.items()
}


def claim_error(outcome: ClaimOutcome) -> AppError:
    """The error an API or H5 caller gets for a claim that gave nothing."""
    return _CLAIM_ERRORS[outcome](outcome=outcome.value)


_STATUS_ZH = {
    CampaignStatus.DRAFT: "草稿",
    CampaignStatus.RUNNING: "进行中",
    CampaignStatus.PAUSED: "已暂停",
    CampaignStatus.ENDED: "已结束",
    CampaignStatus.ARCHIVED: "已归档",
}
_PROBLEM_ZH = {
    rules.TermsProblem.NO_TIERS: "至少需要一个奖励档位",
    rules.TermsProblem.TOO_MANY_TIERS: f"最多 {rules.MAX_TIERS} 个奖励档位",
    rules.TermsProblem.TIER_NAME: "奖励名称必填（最多 80 字）",
    rules.TermsProblem.THRESHOLD: f"门槛必须是 1–{rules.MAX_THRESHOLD} 的整数",
    rules.TermsProblem.THRESHOLD_ORDER: "各档门槛必须依次递增",
    rules.TermsProblem.COUPON_BATCH: "优惠券奖励必须选择券批次，实物奖励不能选券",
    rules.TermsProblem.COST: "单件成本不能为负",
    rules.TermsProblem.STOCK: "名额必须是不小于 0 的整数",
    rules.TermsProblem.DISTRICT_CODE: "地区必须是区县（6 位代码）",
    rules.TermsProblem.DISTRICT_DUPLICATE: "同一区县重复设置名额",
    rules.TermsProblem.DISTRICTS_OVER_TOTAL: "各区县名额之和超过总名额",
    rules.TermsProblem.TOO_MANY_DISTRICTS: f"每档最多 {rules.MAX_DISTRICTS} 个区县",
    rules.TermsProblem.WINDOW: "结束时间必须晚于开始时间",
    rules.TermsProblem.STYLES: f"款式最多 {rules.MAX_STYLES} 个",
    rules.TermsProblem.DEVICE_CAP: f"同设备邀请上限须在 1–{rules.MAX_INVITES_PER_DEVICE} 之间",
    rules.TermsProblem.INVALIDATION_DAYS: f"失效天数须在 1–{rules.MAX_INVALIDATION_DAYS} 之间",
}


def _terms_error(problems: Sequence[rules.Problem]) -> CampaignTermsInvalid:
    english = "; ".join(
        p.kind.value
        + (f" (tier {p.tier})" if p.tier else "")
        + (f" {p.detail}" if p.detail else "")
        for p in problems
    )
    chinese = "；".join(
        (f"第 {p.tier} 档：" if p.tier else "") + _PROBLEM_ZH[p.kind] for p in problems
    )
    return CampaignTermsInvalid(problems=english.strip(), problems_zh=chinese)


# --- who sees what ----------------------------------------------------------------------------


def _manage(actor: Principal | None) -> None:
    if actor is not None:
        actor.require_platform()


def _can_read(actor: Principal | None, campaign: Campaign) -> bool:
    if actor is None or actor.is_platform:
        return True
    return (
        actor.role == Role.MERCHANT
        and actor.merchant_id is not None
        and campaign.sponsor_merchant_id == actor.merchant_id
    )


def _uid(actor: Principal | None) -> int | None:
    return actor.user_id if actor is not None and actor.user_id > 0 else None


def get_campaign(session: Session, actor: Principal | None, campaign_id: int) -> Campaign:
    if actor is not None and not (actor.is_platform or actor.role == Role.MERCHANT):
        raise PermissionDenied()
    campaign = CampaignRepository(session).get(campaign_id)
    if campaign is None or not _can_read(actor, campaign):
        raise CampaignNotFound()
    return campaign


def list_campaigns(session: Session, actor: Principal | None, page: PageRequest) -> Page[Campaign]:
    if actor is None or actor.is_platform:
        return CampaignRepository(session).listing(page, None)
    if actor.role == Role.MERCHANT and actor.merchant_id is not None:
        return CampaignRepository(session).listing(page, actor.merchant_id)
    raise PermissionDenied()


@dataclass(frozen=True)
class BuilderChoices:
    entry_codes: Sequence[ChannelCode]
    group_codes: Sequence[GroupCode]
    release_rules: Sequence[ReleaseRule]
    coupon_batches: Sequence[CouponBatch]


def builder_choices(session: Session, actor: Principal) -> BuilderChoices:
    actor.require_platform()
    return BuilderChoices(*CampaignRepository(session).builder_choices())


# --- building ---------------------------------------------------------------------------------


def _tier_terms(tiers: Sequence[TierIn]) -> list[TierTerms]:
    return [
        TierTerms(
            name=tier.name,
            threshold=tier.threshold,
            kind=tier.kind,
            coupon_batch_id=tier.coupon_batch_id,
            unit_cost_fen=tier.unit_cost_fen,
            is_bonus=tier.is_bonus,
            total=tier.total,
            districts=tuple((d.district_code, d.total) for d in tier.districts),
        )
        for tier in tiers
    ]


def _unknown_districts(tiers: Sequence[TierIn]) -> list[rules.Problem]:
    """District codes that are well-formed but not a county-level division of the shipped
    region table (999999)."""
    from siyu.regions import service as regions
    from siyu.regions.rules import RegionLevel

    problems = []
    for position, tier in enumerate(tiers, start=1):
        for district in tier.districts:
            if not rules.is_district_code(district.district_code):
                continue  # reported by the pure check
            try:
                known = regions.get(district.district_code).level == RegionLevel.DISTRICT
            except AppError:
                known = False
            if not known:
                problems.append(
                    rules.Problem(
                        rules.TermsProblem.DISTRICT_CODE, position, district.district_code
                    )
                )
    return problems


def _check_terms(session: Session, data: CampaignIn, check_tiers: bool) -> None:
    if not data.name.strip():
        raise CampaignNameRequired()
    problems: list[rules.Problem] = []
    if check_tiers:
        problems.extend(rules.check_tiers(_tier_terms(data.tiers)))
        problems.extend(_unknown_districts(data.tiers))
    if not rules.check_window(data.starts_at, data.ends_at):
        problems.append(rules.Problem(rules.TermsProblem.WINDOW))
    if len(rules.clean_styles(data.styles)) > rules.MAX_STYLES:
        problems.append(rules.Problem(rules.TermsProblem.STYLES))
    if not 1 <= data.max_invites_per_device <= rules.MAX_INVITES_PER_DEVICE:
        problems.append(rules.Problem(rules.TermsProblem.DEVICE_CAP))
    if data.invalidation_days is not None and not (
        1 <= data.invalidation_days <= rules.MAX_INVALIDATION_DAYS
    ):
        problems.append(rules.Problem(rules.TermsProblem.INVALIDATION_DAYS))
    if problems:
        raise _terms_error(problems)
    references: list[tuple[str, str, type[Any], int | None]] = [
        ("sponsor_merchant_id", "赞助商家", Merchant, data.sponsor_merchant_id),
        ("entry_code_id", "入口活码", ChannelCode, data.entry_code_id),
        ("group_code_id", "福利群活码", GroupCode, data.group_code_id),
        ("release_rule_id", "清理规则", ReleaseRule, data.release_rule_id),
    ]
    if check_tiers:
        references.extend(
            ("coupon_batch_id", "优惠券批次", CouponBatch, tier.coupon_batch_id)
            for tier in data.tiers
        )
    for field_name, label, model, value in references:
        if value is None:
            continue
        row = session.get(model, value)
        if row is None or (model is ChannelCode and row.parent_id is not None):
            raise CampaignReferenceNotFound(field=field_name, field_zh=label, value=value)


def _write_tiers(session: Session, campaign: Campaign, tiers: Sequence[TierIn]) -> None:
    repository = CampaignRepository(session)
    for position, data in enumerate(tiers, start=1):
        tier = repository.add(
            CampaignRewardTier(
                campaign_id=campaign.id,
                position=position,
                name=data.name.strip(),
                threshold=data.threshold,
                kind=data.kind,
                coupon_batch_id=data.coupon_batch_id,
                unit_cost_fen=data.unit_cost_fen,
                is_bonus=data.is_bonus,
            )
        )
        # The total row first: claims take it first (one lock order for every claim).
        session.add(
            CampaignInventory(
                campaign_id=campaign.id,
                tier_id=tier.id,
                district_code=ALL_DISTRICTS,
                total=data.total,
                issued=0,
            )
        )
        session.flush()
        for district in sorted(data.districts, key=lambda d: d.district_code):
            session.add(
                CampaignInventory(
                    campaign_id=campaign.id,
                    tier_id=tier.id,
                    district_code=district.district_code,
                    total=district.total,
                    issued=0,
                )
            )
        session.flush()


def _apply(campaign: Campaign, data: CampaignIn) -> None:
    campaign.name = data.name.strip()
    campaign.trigger = data.trigger
    campaign.sponsor_merchant_id = data.sponsor_merchant_id
    campaign.entry_code_id = data.entry_code_id
    campaign.group_code_id = data.group_code_id
    campaign.flow_id = data.flow_id
    campaign.release_rule_id = data.release_rule_id
    campaign.poster = dict(data.poster)
    campaign.rules_text = data.rules_text.strip()
    campaign.group_invite_text = data.group_invite_text.strip()
    campaign.styles = rules.clean_styles(data.styles)
    campaign.starts_at = data.starts_at
    campaign.ends_at = data.ends_at
    campaign.invalidation_days = data.invalidation_days
    campaign.max_invites_per_device = data.max_invites_per_device


def published_text(campaign: Campaign) -> str:
    """What people read: the rules text and the poster's title and text (what the lint checks)."""
    poster = campaign.poster or {}
    parts = [
        str(poster.get("title") or ""),
        str(poster.get("text") or ""),
        campaign.rules_text,
        campaign.group_invite_text,
    ]
    return "\n".join(part for part in parts if part.strip())


@dataclass(frozen=True)
class RiskReport:
    risk: CampaignRisk
    rules: tuple[str, ...]
    findings: list[Finding]
    acknowledgement_needed: bool

    @property
    def labels(self) -> list[str]:
        out: list[str] = []
        for rule_id in self.rules:
            if rule_id in rules.STRUCTURAL_RULE_LABELS:
                out.append(rules.STRUCTURAL_RULE_LABELS[rule_id])
                continue
            out.extend(f.message_zh for f in self.findings if f.rule_id == rule_id)
        return list(dict.fromkeys(out))


def check_risk(campaign: Campaign) -> RiskReport:
    """The lint over the published text plus the structural share-proof rule."""
    findings = compliance.lint_text(published_text(campaign), TextKind.CAMPAIGN)
    assessment = rules.assess_risk(
        campaign.trigger, [(f.rule_id, f.category.value, f.blocking) for f in findings]
    )
    needed = rules.acknowledgement_needed(
        assessment.risk,
        assessment.rules,
        campaign.risk_acknowledged_rules if campaign.risk_acknowledged_at else None,
    )
    return RiskReport(assessment.risk, assessment.rules, findings, needed)


def _store_risk(campaign: Campaign) -> RiskReport:
    report = check_risk(campaign)
    campaign.risk = report.risk
    campaign.risk_rules = list(report.rules)
    if report.acknowledgement_needed and campaign.risk_acknowledged_at is not None:
        # The campaign now matches a rule the acknowledgement did not cover.
        campaign.risk_acknowledged_at = None
        campaign.risk_acknowledged_by_user_id = None
        campaign.risk_acknowledgement = ""
        campaign.risk_acknowledged_rules = []
    return report


def create_campaign(session: Session, actor: Principal | None, data: CampaignIn) -> Campaign:
    _manage(actor)
    _check_terms(session, data, check_tiers=True)
    campaign = Campaign(
        status=CampaignStatus.DRAFT,
        created_by_user_id=_uid(actor),
        risk=CampaignRisk.LOW,
        risk_rules=[],
        risk_acknowledged_rules=[],
        risk_acknowledgement="",
    )
    _apply(campaign, data)
    report = _store_risk(campaign)
    CampaignRepository(session).add(campaign)
    _write_tiers(session, campaign, data.tiers)
    audit.record(
        session,
        _uid(actor),
        "campaign.created",
        "campaign",
        campaign.id,
        trigger=campaign.trigger.value,
        risk=report.risk.value,
        rules=list(report.rules),
    )
    return campaign


def update_campaign(
    session: Session, actor: Principal | None, campaign_id: int, data: CampaignIn
) -> Campaign:
    _manage(actor)
    get_campaign(session, actor, campaign_id)
    campaign = CampaignRepository(session).get_for_update(campaign_id)
    assert campaign is not None
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
        raise CampaignNotEditable(
            status=campaign.status.value, status_zh=_STATUS_ZH[campaign.status]
        )
    draft = campaign.status == CampaignStatus.DRAFT
    if not draft and (data.tiers or data.trigger != campaign.trigger):
        raise CampaignTiersLocked()
    _check_terms(session, data, check_tiers=draft)
    _apply(campaign, data)
    report = _store_risk(campaign)
    if draft:
        CampaignRepository(session).delete_tiers(campaign.id)
        _write_tiers(session, campaign, data.tiers)
    session.flush()
    audit.record(
        session,
        _uid(actor),
        "campaign.updated",
        "campaign",
        campaign.id,
        risk=report.risk.value,
        rules=list(report.rules),
    )
    return campaign


def launch(
    session: Session, actor: Principal, campaign_id: int, acknowledgement: str | None = None
) -> Campaign:
    """Draft or paused → running. A high-risk campaign needs an admin's acknowledgement with a
    reason (audited, naming the rules); blocking copy needs the same admin override."""
    actor.require_platform()
    get_campaign(session, actor, campaign_id)
    campaign = CampaignRepository(session).get_for_update(campaign_id)
    assert campaign is not None
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
        raise CampaignStatusInvalid(
            status=campaign.status.value,
            status_zh=_STATUS_ZH[campaign.status],
            action="launched",
            action_zh="上线",
        )
    if campaign.entry_code_id is None:
        raise CampaignEntryCodeRequired()
    now = utc_now()
    if campaign.ends_at is not None and ensure_aware(campaign.ends_at) <= now:
        raise CampaignWindowPassed()
    report = _store_risk(campaign)
    reason = (acknowledgement or "").strip()
    if report.acknowledgement_needed:
        if not reason:
            raise RiskAcknowledgementRequired(
                rules=", ".join(report.rules), labels="；".join(report.labels)
            )
        if not actor.is_admin:
            raise PermissionDenied()
        if not ACK_MIN <= len(reason) <= ACK_MAX:
            raise RiskAcknowledgementRequired(
                rules=", ".join(report.rules), labels="；".join(report.labels)
            )
    # Blocking copy (absolute terms, 诱导分享 wording…) needs the admin's reason too; the
    # compliance service audits that override itself.
    compliance.require_publishable(
        session,
        actor,
        published_text(campaign) or campaign.name,
        TextKind.CAMPAIGN,
        object_type="campaign",
        object_id=campaign.id,
        override_reason=reason or None,
    )
    if report.acknowledgement_needed:
        campaign.risk_acknowledged_by_user_id = actor.user_id
        campaign.risk_acknowledged_at = now
        campaign.risk_acknowledgement = reason
        campaign.risk_acknowledged_rules = list(report.rules)
        audit.record(
            session,
            actor.user_id,
            "campaign.risk_acknowledged",
            "campaign",
            campaign.id,
            reason,
            rules=list(report.rules),
        )
    previous = campaign.status
    campaign.status = CampaignStatus.RUNNING
    if campaign.launched_at is None:
        campaign.launched_at = now
    session.flush()
    audit.record(
        session,
        actor.user_id,
        "campaign.launched" if previous == CampaignStatus.DRAFT else "campaign.resumed",
        "campaign",
        campaign.id,
        risk=campaign.risk.value,
    )
    return campaign


def pause(session: Session, actor: Principal, campaign_id: int) -> Campaign:
    actor.require_platform()
    get_campaign(session, actor, campaign_id)
    campaign = CampaignRepository(session).get_for_update(campaign_id)
    assert campaign is not None
    if campaign.status != CampaignStatus.RUNNING:
        raise CampaignStatusInvalid(
            status=campaign.status.value,
            status_zh=_STATUS_ZH[campaign.status],
            action="paused",
            action_zh="暂停",
        )
    campaign.status = CampaignStatus.PAUSED
    session.flush()
    audit.record(session, actor.user_id, "campaign.paused", "campaign", campaign.id)
    return campaign


@dataclass(frozen=True)
class EndResult:
    campaign: Campaign
    invitations_queued: bool
    release_rule_queued: bool


def end(session: Session, actor: Principal, campaign_id: int) -> EndResult:
    """Running or paused → ended; queues the coupon-group invitations of the participants and
    the release rule for the non-participants (both jobs are idempotent)."""
    actor.require_platform()
    get_campaign(session, actor, campaign_id)
    campaign = CampaignRepository(session).get_for_update(campaign_id)
    assert campaign is not None
    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
        raise CampaignStatusInvalid(
            status=campaign.status.value,
            status_zh=_STATUS_ZH[campaign.status],
            action="ended",
            action_zh="结束",
        )
    campaign.status = CampaignStatus.ENDED
    campaign.ended_at = utc_now()
    session.flush()
    from siyu.campaigns import tasks

    invitations = campaign.group_code_id is not None
    if invitations:
        enqueue(session, tasks.invite_participants, campaign.id)
    release = campaign.release_rule_id is not None
    if release:
        from siyu.segments import tasks as segment_tasks

        enqueue(session, segment_tasks.run_release_rule, campaign.release_rule_id)
    audit.record(
        session,
        actor.user_id,
        "campaign.ended",
        "campaign",
        campaign.id,
        invitations_queued=invitations,
        release_rule_id=campaign.release_rule_id,
    )
    return EndResult(campaign, invitations, release)


# --- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryLine:
    tier: CampaignRewardTier
    district_code: str
    total: int
    issued: int

    @property
    def left(self) -> int:
        return self.total - self.issued


def tiers_of(session: Session, campaign: Campaign) -> Sequence[CampaignRewardTier]:
    return CampaignRepository(session).tiers(campaign.id)


def inventory_of(session: Session, campaign: Campaign) -> list[InventoryLine]:
    repository = CampaignRepository(session)
    tiers = {tier.id: tier for tier in repository.tiers(campaign.id)}
    return [
        InventoryLine(tiers[row.tier_id], row.district_code, int(row.total), int(row.issued))
        for row in repository.inventory(campaign.id)
        if row.tier_id in tiers
    ]


def campaign_districts(session: Session, campaign: Campaign) -> list[str]:
    """Every district that has stock in some tier of the campaign."""
    return sorted(
        {
            row.district_code
            for row in CampaignRepository(session).inventory(campaign.id)
            if row.district_code != ALL_DISTRICTS
        }
    )


# --- participants -----------------------------------------------------------------------------


def _running(campaign: Campaign, now: datetime | None = None) -> bool:
    return rules.is_running(
        campaign.status,
        ensure_aware(campaign.starts_at) if campaign.starts_at else None,
        ensure_aware(campaign.ends_at) if campaign.ends_at else None,
        now or utc_now(),
    )


def is_running(campaign: Campaign) -> bool:
    """Running and inside its start/end window (what claims, joins and uploads require)."""
    return _running(campaign)


def _check_district(session: Session, campaign: Campaign, district_code: str) -> str:
    code = district_code.strip()
    if not code:
        return ""
    districts = campaign_districts(session, campaign)
    if districts and code not in districts:
        raise DistrictNotInCampaign(district=code, district_zh=_region_label(code))
    return code


def _region_label(code: str) -> str:
    from siyu.regions import service as regions

    try:
        return regions.full_name(code) or code
    except AppError:
        return code


def join(
    session: Session,
    campaign_id: int,
    consumer_id: int,
    *,
    contact_id: int | None = None,
    district_code: str = "",
    actor: Principal | None = None,
) -> tuple[CampaignParticipant, bool]:
    """The consumer takes part: a participant row and a personal code under the entry code
    (every add through it names the participant as referrer). Returns (participant, created);
    joining twice returns the first participation."""
    _manage(actor)
    repository = CampaignRepository(session)
    campaign = repository.get(campaign_id)
    if campaign is None:
        raise CampaignNotFound()
    existing = repository.participant_of(campaign.id, consumer_id)
    if existing is not None:
        return existing, False
    if not _running(campaign):
        raise CampaignNotRunning()
    if campaign.entry_code_id is None:
        raise CampaignEntryCodeRequired()
    consumers.lock(session, consumer_id)
    existing = repository.participant_of(campaign.id, consumer_id)
    if existing is not None:
        return existing, False
    district = _check_district(session, campaign, district_code)
    contact = session.get(Contact, contact_id) if contact_id is not None else None
    if contact is not None and contact.consumer_id != consumer_id:
        raise ParticipantNotFound()
    from siyu.pool import service as pool

    personal = pool.create_personal_code(
        session, None, campaign.entry_code_id, referrer_consumer_id=consumer_id
    )
    referral = repository.referral_of(campaign.id, consumer_id)
    invited_by = (
        referral.inviter_participant_id
        if referral is not None and referral.status != ReferralStatus.REJECTED
        else None
    )
    participant = repository.add(
        CampaignParticipant(
            campaign_id=campaign.id,
            consumer_id=consumer_id,
            contact_id=contact.id if contact else None,
            account_id=contact.account_id if contact else None,
            personal_code_id=personal.id,
            invited_by_participant_id=invited_by,
            district_code=district,
            choice="",
            status=ParticipantStatus.ACTIVE,
            status_reason="",
        )
    )
    return participant, True


def get_participant(
    session: Session, actor: Principal | None, participant_id: int
) -> CampaignParticipant:
    participant = CampaignRepository(session).participant(participant_id)
    if participant is None:
        raise ParticipantNotFound()
    get_campaign(session, actor, participant.campaign_id)
    return participant


def participant_link(participant: CampaignParticipant) -> str:
    token = rules.participant_token(
        current_settings().resolved_secret_key, participant.campaign_id, participant.id
    )
    return f"/h5/campaigns/{participant.campaign_id}?t={token}"


def participant_from_token(
    session: Session, campaign_id: int, token: str
) -> tuple[Campaign, CampaignParticipant]:
    """The H5 pages' caller: the participant a signed link names, in this campaign."""
    participant_id = rules.read_token(current_settings().resolved_secret_key, campaign_id, token)
    repository = CampaignRepository(session)
    participant = repository.participant(participant_id) if participant_id is not None else None
    if participant is None or participant.campaign_id != campaign_id:
        raise ParticipantLinkInvalid()
    campaign = repository.get(campaign_id)
    assert campaign is not None
    return campaign, participant


def personal_code_of(session: Session, participant: CampaignParticipant) -> ChannelCode | None:
    if participant.personal_code_id is None:
        return None
    return session.get(ChannelCode, participant.personal_code_id)


def invite_url(session: Session, participant: CampaignParticipant) -> str:
    """The path a participant's poster QR points at (their personal code)."""
    code = personal_code_of(session, participant)
    return f"/c/{code.code}" if code is not None else ""


def disqualify(
    session: Session, actor: Principal, participant_id: int, reason: str
) -> CampaignParticipant:
    actor.require_platform()
    get_participant(session, actor, participant_id)
    participant = CampaignRepository(session).participant_for_update(participant_id)
    assert participant is not None
    if not reason.strip():
        raise ValidationFailed(field="reason")
    participant.status = ParticipantStatus.DISQUALIFIED
    participant.status_reason = reason.strip()[:200]
    session.flush()
    audit.record(
        session,
        actor.user_id,
        "campaign.participant_disqualified",
        "campaign_participant",
        participant.id,
        reason.strip()[:200],
    )
    return participant


_NOT_COUNTED = (ReferralStatus.REJECTED, ReferralStatus.INVALIDATED)


@dataclass(frozen=True)
class ParticipantProgress:
    count: int
    verified_invites: int
    pending_invites: int
    rejected_invites: int
    progress: rules.Progress
    tiers: Sequence[CampaignRewardTier]
    issued_tier_ids: frozenset[int]


def progress_count(session: Session, campaign: Campaign, participant_id: int) -> int:
    repository = CampaignRepository(session)
    if campaign.trigger == CampaignTrigger.SHARE_PROOF:
        return repository.approved_proofs(participant_id)
    kind = (
        ReferralKind.FIRST_PURCHASE
        if campaign.trigger == CampaignTrigger.FIRST_PURCHASE
        else ReferralKind.FRIEND_ADD
    )
    return repository.verified_count(participant_id, kind)


def _views(tiers: Sequence[CampaignRewardTier]) -> list[TierView]:
    return [TierView(tier.id, tier.threshold, tier.is_bonus) for tier in tiers]


def participant_progress(
    session: Session, campaign: Campaign, participant: CampaignParticipant
) -> ParticipantProgress:
    repository = CampaignRepository(session)
    tiers = repository.tiers(campaign.id)
    count = progress_count(session, campaign, participant.id)
    referrals = repository.referrals_by_inviter(participant.id)
    return ParticipantProgress(
        count=count,
        verified_invites=sum(1 for r in referrals if r.status == ReferralStatus.VERIFIED),
        pending_invites=sum(1 for r in referrals if r.status == ReferralStatus.PENDING),
        rejected_invites=sum(
            1
            for r in referrals
            if r.status in (ReferralStatus.REJECTED, ReferralStatus.INVALIDATED)
        ),
        progress=rules.progress(count, _views(tiers)),
        tiers=tiers,
        issued_tier_ids=frozenset(r.tier_id for r in repository.rewards_of(participant.id)),
    )


def _note_progress(session: Session, campaign: Campaign, participant_id: int) -> None:
    """Milestone: the first time a participant reaches a tier's threshold."""
    repository = CampaignRepository(session)
    participant = repository.participant(participant_id)
    if participant is None or participant.qualified_at is not None:
        return
    count = progress_count(session, campaign, participant_id)
    if rules.progress(count, _views(repository.tiers(campaign.id))).reached:
        participant.qualified_at = utc_now()
        session.flush()


@dataclass
class ParticipantRow:
    participant: CampaignParticipant
    nickname: str
    count: int
    verified: int
    rejected: int

    @property
    def link(self) -> str:
        """The participant's H5 page (what the flow sends them), for staff to open or resend."""
        return participant_link(self.participant)


def list_participants(
    session: Session, actor: Principal | None, campaign_id: int, page: PageRequest
) -> Page[ParticipantRow]:
    """Participants with their counts; the nicknames shown are a logged personal-data read."""
    from siyu.privacy import service as privacy

    campaign = get_campaign(session, actor, campaign_id)
    repository = CampaignRepository(session)
    found = repository.participants(campaign.id, page)
    ids = [p.id for p in found.items]
    referrals = repository.referrals_by_inviters(ids)
    names = repository.nicknames(p.consumer_id for p in found.items)
    rows = []
    for participant in found.items:
        mine = [r for r in referrals if r.inviter_participant_id == participant.id]
        rows.append(
            ParticipantRow(
                participant,
                names.get(participant.consumer_id, ""),
                progress_count(session, campaign, participant.id),
                sum(1 for r in mine if r.status == ReferralStatus.VERIFIED),
                sum(
                    1
                    for r in mine
                    if r.status in (ReferralStatus.REJECTED, ReferralStatus.INVALIDATED)
                ),
            )
        )
    privacy.record_reads(
        session, actor, [p.consumer_id for p in found.items], "campaign.participants", "nickname"
    )
    return Page(rows, found.total, found.request)


@dataclass
class TreeNode:
    consumer_id: int
    nickname: str
    participant_id: int | None
    status: str
    reason: str
    children: list[TreeNode] = field(default_factory=list)


MAX_TREE_DEPTH = 4
MAX_TREE_NODES = 500


def referral_tree(session: Session, actor: Principal | None, participant_id: int) -> TreeNode:
    """Who this participant invited, and whom those invited in turn (depth ≤ 4)."""
    from siyu.privacy import service as privacy

    root = get_participant(session, actor, participant_id)
    repository = CampaignRepository(session)
    seen: list[int] = [root.consumer_id]
    node = TreeNode(root.consumer_id, "", root.id, "participant", "")
    frontier = [(node, root)]
    for _depth in range(MAX_TREE_DEPTH):
        next_frontier: list[tuple[TreeNode, CampaignParticipant]] = []
        referrals = repository.referrals_by_inviters([p.id for _n, p in frontier])
        by_inviter: dict[int, list[CampaignReferral]] = {}
        for referral in referrals:
            by_inviter.setdefault(referral.inviter_participant_id, []).append(referral)
        for parent, participant in frontier:
            for referral in by_inviter.get(participant.id, []):
                if len(seen) >= MAX_TREE_NODES:
                    break
                child_participant = repository.participant_of(
                    root.campaign_id, referral.invitee_consumer_id
                )
                child = TreeNode(
                    referral.invitee_consumer_id,
                    "",
                    child_participant.id if child_participant else None,
                    referral.status.value,
                    referral.reason,
                )
                seen.append(referral.invitee_consumer_id)
                parent.children.append(child)
                if child_participant is not None:
                    next_frontier.append((child, child_participant))
        frontier = next_frontier
        if not frontier:
            break
    names = repository.nicknames(seen)

    def name(tree: TreeNode) -> None:
        tree.nickname = names.get(tree.consumer_id, "")
        for child in tree.children:
            name(child)

    name(node)
    privacy.record_reads(session, actor, seen, "campaign.referral_tree", "nickname")
    return node


# --- referrals from the pool's hooks ----------------------------------------------------------


def _device_hash(raw: str | None) -> str | None:
    if not raw:
        return None
    from siyu.commissions.rules import NetworkKind
    from siyu.commissions.service import network_hash

    return network_hash(NetworkKind.DEVICE, raw)


def note_scan(
    session: Session,
    consumer_id: int | None,
    code_id: int,
    referrer_consumer_id: int | None,
    contact_id: int | None,
    device_raw: str | None,
) -> CampaignReferral | None:
    """A scan of a participant's personal code on the H5 path (which knows the browser's
    device): record the invite as pending with the device's keyed hash, so the per-device cap
    can count it when the add is confirmed. Nothing for scans without a referrer."""
    if consumer_id is None or referrer_consumer_id is None or contact_id is None:
        return None
    repository = CampaignRepository(session)
    recorded = None
    for campaign in repository.live_by_entry_code(code_id):
        if not _running(campaign):
            continue
        inviter = repository.participant_of(campaign.id, referrer_consumer_id)
        if inviter is None or repository.referral_of(campaign.id, consumer_id) is not None:
            continue
        recorded = _insert_referral(
            session,
            CampaignReferral(
                campaign_id=campaign.id,
                inviter_participant_id=inviter.id,
                invitee_consumer_id=consumer_id,
                contact_id=contact_id,
                kind=_kind_of(campaign),
                status=ReferralStatus.PENDING,
                reason="scanned",
                device_hash=_device_hash(device_raw),
            ),
        )
    return recorded


def _kind_of(campaign: Campaign) -> ReferralKind:
    if campaign.trigger == CampaignTrigger.FIRST_PURCHASE:
        return ReferralKind.FIRST_PURCHASE
    return ReferralKind.FRIEND_ADD


def _insert_referral(session: Session, referral: CampaignReferral) -> CampaignReferral | None:
    """Insert unless another transaction recorded this invitee first (unique per campaign)."""
    try:
        with session.begin_nested():
            session.add(referral)
            session.flush()
        return referral
    except IntegrityError:
        return None


def on_contact_confirmed(session: Session, contact: Contact, _tag_names: Sequence[str]) -> None:
    """Pool hook: a friend add through a campaign's entry code was confirmed. An add through a
    participant's personal code becomes (or completes) the invitee's referral, decided by the
    rules (self-invite, not new, device cap, waiting for the first purchase)."""
    if contact.source_kind != ContactSourceKind.CODE or contact.source_id is None:
        return
    repository = CampaignRepository(session)
    now = utc_now()
    for campaign in repository.live_by_entry_code(contact.source_id):
        if campaign.flow_id is not None and _running(campaign, now):
            start_flow(session, campaign, contact)
        if contact.referrer_consumer_id is None or not _running(campaign, now):
            continue
        inviter = repository.participant_of(campaign.id, contact.referrer_consumer_id)
        if inviter is None:
            continue
        referral = repository.referral_of(campaign.id, contact.consumer_id)
        if referral is not None and referral.reason != "scanned":
            continue  # counted (or refused) once already
        if referral is not None and referral.inviter_participant_id != inviter.id:
            referral.inviter_participant_id = inviter.id  # the scan that became the add wins
            referral.device_hash = None
        device_invites = 0
        device_hash = referral.device_hash if referral is not None else None
        if referral is not None and device_hash is not None:
            device_invites = repository.device_invites(inviter.id, device_hash, referral.id)
        decision = rules.referral_decision(
            inviter_consumer_id=inviter.consumer_id,
            invitee_consumer_id=contact.consumer_id,
            invitee_is_participant_before=repository.participant_of(
                campaign.id, contact.consumer_id
            )
            is not None,
            invitee_had_contact_before=repository.had_contact_before(
                contact.consumer_id, contact.id, contact.added_at
            ),
            device_invites=device_invites,
            max_invites_per_device=campaign.max_invites_per_device,
            needs_purchase=campaign.trigger == CampaignTrigger.FIRST_PURCHASE,
        )
        if referral is None:
            referral = _insert_referral(
                session,
                CampaignReferral(
                    campaign_id=campaign.id,
                    inviter_participant_id=inviter.id,
                    invitee_consumer_id=contact.consumer_id,
                    contact_id=contact.id,
                    kind=_kind_of(campaign),
                    status=decision.status,
                    reason=decision.reason,
                ),
            )
            if referral is None:
                continue
        referral.contact_id = contact.id
        referral.status = decision.status
        referral.reason = decision.reason
        if decision.status == ReferralStatus.VERIFIED:
            referral.verified_at = now
        session.flush()
        if decision.status == ReferralStatus.VERIFIED:
            _note_progress(session, campaign, inviter.id)


def _invalidate(
    session: Session,
    statuses: Sequence[ReferralStatus],
    consumer_id: int,
    reason: str,
    contact_id: int | None = None,
) -> int:
    repository = CampaignRepository(session)
    now = utc_now()
    changed = 0
    for referral in repository.live_referrals_of_invitee(consumer_id, statuses):
        if contact_id is not None and referral.contact_id != contact_id:
            continue
        campaign = repository.get(referral.campaign_id)
        if campaign is None or campaign.invalidation_days is None:
            continue
        since = referral.verified_at or referral.created_at
        if not rules.invalidates(ensure_aware(since), now, campaign.invalidation_days):
            continue
        referral.status = ReferralStatus.INVALIDATED
        referral.reason = reason
        referral.invalidated_at = now
        changed += 1
    if changed:
        session.flush()
    return changed


def on_contact_removed(session: Session, contact: Contact, _tag_names: Sequence[str]) -> None:
    """Pool hook: the invitee deleted the account within N days → the invite no longer counts."""
    _invalidate(
        session,
        [ReferralStatus.VERIFIED, ReferralStatus.PENDING],
        contact.consumer_id,
        "contact_removed",
        contact_id=contact.id,
    )


def on_group_left(session: Session, _group_id: int, consumer_id: int) -> None:
    """Pool hook: an invitee who left every group within N days no longer counts."""
    if CampaignRepository(session).in_any_group(consumer_id):
        return
    _invalidate(session, [ReferralStatus.VERIFIED], consumer_id, "left_groups")


def on_group_joined(session: Session, group_id: int, consumer_id: int) -> None:
    """Pool hook: a participant joined one of their campaign's coupon groups (funnel milestone)."""
    from siyu.models import WechatGroup

    group = session.get(WechatGroup, group_id)
    if group is None or group.group_code_id is None:
        return
    participants = CampaignRepository(session).participants_awaiting_group(
        consumer_id, group.group_code_id
    )
    for participant in participants:
        participant.group_joined_at = utc_now()
    if participants:
        session.flush()


def on_order_paid(session: Session, order: Order, first_purchase: bool) -> None:
    """Orders hook: the first purchase of an invited consumer verifies a first-purchase invite;
    a participant's own first order is a funnel milestone."""
    repository = CampaignRepository(session)
    now = utc_now()
    for referral in repository.live_referrals_of_invitee(
        order.consumer_id, [ReferralStatus.PENDING]
    ):
        if not first_purchase or referral.kind != ReferralKind.FIRST_PURCHASE:
            continue
        if referral.reason != "waiting_first_purchase":
            continue
        campaign = repository.get(referral.campaign_id)
        if campaign is None or not _running(campaign, now):
            continue
        referral.status = ReferralStatus.VERIFIED
        referral.reason = ""
        referral.order_id = order.id
        referral.verified_at = now
        session.flush()
        _note_progress(session, campaign, referral.inviter_participant_id)
    participants = repository.participations_without_first_order(order.consumer_id)
    for participant in participants:
        participant.first_order_at = now
    if participants:
        session.flush()


def start_flow(session: Session, campaign: Campaign, contact: Contact) -> None:
    """Start the campaign's conversation flow for a new contact of its entry code.

    The flows engine lands in another branch: when ``siyu.flows.service.start_conversation``
    exists it is called; until then this is a logged no-op (the lead wires it at merge)."""
    try:
        from siyu.flows import service as flows  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        logger.debug("flows engine not installed: campaign %d flow not started", campaign.id)
        return
    starter = getattr(flows, "start_conversation", None)
    if starter is None or campaign.flow_id is None:
        return
    starter(session, campaign.flow_id, contact.id, campaign_id=campaign.id)


# --- proofs -----------------------------------------------------------------------------------


def proof_dir() -> Path:
    """Screenshots are personal data: kept outside the public /uploads/ directory and served
    only to staff and to the participant's own signed link."""
    path = current_settings().data_dir / "proofs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def submit_proof(
    session: Session, campaign: Campaign, participant: CampaignParticipant, data: bytes
) -> CampaignProof:
    if campaign.trigger != CampaignTrigger.SHARE_PROOF:
        raise ProofNotAccepted()
    if participant.status != ParticipantStatus.ACTIVE:
        raise claim_error(ClaimOutcome.DISQUALIFIED)
    if not _running(campaign):
        raise CampaignNotRunning()
    repository = CampaignRepository(session)
    pending = repository.pending_proofs(participant.id)
    if pending >= MAX_PENDING_PROOFS:
        raise TooManyPendingProofs(count=pending)
    extension = catalog_rules.check_image(data, current_settings().upload_max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    if repository.proof_with_hash(campaign.id, digest) is not None:
        raise ProofDuplicate()
    name = f"{secrets.token_hex(16)}.{extension}"
    (proof_dir() / name).write_bytes(data)
    proof = repository.add(
        CampaignProof(
            campaign_id=campaign.id,
            participant_id=participant.id,
            image_url=f"proofs/{name}",
            content_type=PROOF_CONTENT_TYPES[extension],
            size_bytes=len(data),
            sha256=digest,
            status=ProofStatus.PENDING,
            reason="",
            ocr_suggestion={},
        )
    )
    from siyu.campaigns import tasks

    enqueue(session, tasks.suggest_proof, proof.id)
    return proof


def proof_bytes(proof: CampaignProof) -> bytes:
    name = Path(proof.image_url).name
    return (proof_dir() / name).read_bytes()


def ocr_suggest(data: bytes, expected_texts: list[str]) -> dict[str, Any] | None:
    """The optional OCR assist (``siyu.posters.ocr``, extra ``[ocr]``); None without it."""
    from siyu.posters import ocr

    result = ocr.suggest(data, expected_texts=expected_texts)
    return dict(result) if isinstance(result, dict) else None


def _poster_texts(campaign: Campaign) -> list[str]:
    poster = campaign.poster or {}
    return [str(poster.get(key) or "") for key in ("title", "text")]


def store_suggestion(session: Session, proof_id: int) -> str:
    """Job body: fill ``ocr_suggestion`` once (idempotent; a reviewed proof is left alone)."""
    proof = CampaignRepository(session).proof(proof_id)
    if proof is None or proof.status != ProofStatus.PENDING or proof.ocr_suggestion:
        return "skipped"
    campaign = CampaignRepository(session).get(proof.campaign_id)
    expected = [campaign.name, *_poster_texts(campaign)] if campaign is not None else []
    suggestion = ocr_suggest(proof_bytes(proof), [text for text in expected if text])
    if suggestion is None:
        return "no ocr"
    proof.ocr_suggestion = suggestion
    session.flush()
    return "suggested"


def get_proof(session: Session, actor: Principal | None, proof_id: int) -> CampaignProof:
    proof = CampaignRepository(session).proof(proof_id)
    if proof is None:
        raise ProofNotFound()
    get_campaign(session, actor, proof.campaign_id)
    return proof


def list_proofs(
    session: Session,
    actor: Principal | None,
    campaign_id: int,
    status: ProofStatus | None,
    page: PageRequest,
) -> Page[CampaignProof]:
    campaign = get_campaign(session, actor, campaign_id)
    return CampaignRepository(session).proofs(campaign.id, status, page)


def review_proof(
    session: Session, actor: Principal, proof_id: int, approve: bool, reason: str = ""
) -> CampaignProof:
    actor.require_platform()
    get_proof(session, actor, proof_id)
    repository = CampaignRepository(session)
    proof = repository.proof_for_update(proof_id)
    assert proof is not None
    if proof.status != ProofStatus.PENDING:
        from siyu.models.campaigns import PROOF_STATUS_LABELS

        raise ProofAlreadyReviewed(
            status=proof.status.value, status_zh=PROOF_STATUS_LABELS[proof.status]
        )
    reason = reason.strip()
    if not approve and not 1 <= len(reason) <= 200:
        raise ProofReasonRequired()
    proof.status = ProofStatus.APPROVED if approve else ProofStatus.REJECTED
    proof.reason = reason[:200]
    proof.reviewed_by_user_id = actor.user_id
    proof.reviewed_at = utc_now()
    session.flush()
    audit.record(
        session,
        actor.user_id,
        "campaign.proof_approved" if approve else "campaign.proof_rejected",
        "campaign_proof",
        proof.id,
        reason or None,
    )
    if approve:
        campaign = repository.get(proof.campaign_id)
        assert campaign is not None
        _note_progress(session, campaign, proof.participant_id)
    return proof


# --- rewards ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consignee:
    name: str = ""
    phone: str = ""
    address: str = ""

    @property
    def given(self) -> bool:
        return bool(self.name.strip() or self.phone.strip() or self.address.strip())


@dataclass(frozen=True)
class ClaimResult:
    outcome: ClaimOutcome
    reward: CampaignReward | None = None
    tier: CampaignRewardTier | None = None


class _Refused(Exception):
    def __init__(self, outcome: ClaimOutcome) -> None:
        self.outcome = outcome


def _check_consignee(consignee: Consignee) -> tuple[str, str, str]:
    name, address = consignee.name.strip(), consignee.address.strip()
    if not name or not address or len(name) > 40 or len(address) > 200:
        raise ConsigneeInvalid()
    try:
        phone = crypto.normalize_phone(consignee.phone)
    except AppError:
        raise ConsigneeInvalid() from None
    return name, phone, address


def claim(
    session: Session,
    participant_id: int,
    tier_id: int | None = None,
    consignee: Consignee | None = None,
) -> ClaimResult:
    """Issue a tier's reward to a participant, at most once, never beyond the stock.

    ``tier_id`` None: the lowest reached tier not yet issued. The participant row is locked (a
    participant's claims run one at a time); stock is taken by conditional UPDATEs on the tier's
    total row, then the district row, in a savepoint with the reward insert, so a refusal at any
    step leaves nothing changed."""
    repository = CampaignRepository(session)
    participant = repository.participant_for_update(participant_id)
    if participant is None:
        raise ParticipantNotFound()
    campaign = repository.get(participant.campaign_id)
    assert campaign is not None
    tiers = repository.tiers(campaign.id)
    count = progress_count(session, campaign, participant.id)
    issued_ids = {reward.tier_id for reward in repository.rewards_of(participant.id)}
    tier: CampaignRewardTier | None
    if tier_id is not None:
        tier = next((t for t in tiers if t.id == tier_id), None)
        if tier is None:
            raise RewardNotFound()
    else:
        # The lowest reached tier not yet issued; else a reached one (→ "already"); else the
        # next one to reach (→ "not eligible").
        best = rules.best_claimable(count, _views(tiers), issued_ids)
        reached = [t for t in tiers if count >= t.threshold]
        unreached = [t for t in tiers if count < t.threshold]
        tier = next((t for t in tiers if best is not None and t.id == best.id), None)
        if tier is None:
            tier = reached[-1] if reached else (unreached[0] if unreached else None)
        if tier is None:
            return ClaimResult(ClaimOutcome.NOT_ELIGIBLE)
    districts = repository.tier_districts(tier.id)
    refusal = rules.claim_decision(
        running=_running(campaign),
        participant_status=participant.status,
        count=count,
        threshold=tier.threshold,
        already_issued=tier.id in issued_ids,
        tier_districts=districts,
        district_code=participant.district_code,
    )
    if refusal is not None:
        return ClaimResult(refusal, None, tier)
    shipping: tuple[str, str, str] | None = None
    if tier.kind == RewardKind.PHYSICAL and consignee is not None and consignee.given:
        shipping = _check_consignee(consignee)
    district = participant.district_code if districts else ""
    try:
        with session.begin_nested():
            if not repository.take_stock(tier.id, ALL_DISTRICTS):
                raise _Refused(ClaimOutcome.SOLD_OUT)
            if districts and not repository.take_stock(tier.id, district):
                raise _Refused(ClaimOutcome.SOLD_OUT)
            grant_id = None
            if tier.kind == RewardKind.COUPON:
                assert tier.coupon_batch_id is not None
                grant_id = _grant(session, tier.coupon_batch_id, participant.consumer_id)
            reward = repository.add(
                CampaignReward(
                    campaign_id=campaign.id,
                    participant_id=participant.id,
                    tier_id=tier.id,
                    district_code=district,
                    status=RewardStatus.ISSUED,
                    coupon_grant_id=grant_id,
                    cost_fen=tier.unit_cost_fen,
                    issued_at=utc_now(),
                )
            )
            if tier.kind == RewardKind.PHYSICAL:
                repository.add(
                    RewardFulfilment(
                        reward_id=reward.id,
                        consignee_name=shipping[0] if shipping else "",
                        consignee_phone_encrypted=crypto.encrypt(shipping[1]) if shipping else None,
                        address=shipping[2] if shipping else "",
                        status=FulfilmentStatus.PENDING,
                        carrier="",
                        tracking_no="",
                    )
                )
    except _Refused as refused:
        return ClaimResult(refused.outcome, None, tier)
    except IntegrityError:
        return ClaimResult(ClaimOutcome.ALREADY, None, tier)
    if participant.rewarded_at is None:
        participant.rewarded_at = utc_now()
        session.flush()
    return ClaimResult(ClaimOutcome.ISSUED, reward, tier)


def _grant(session: Session, batch_id: int, consumer_id: int) -> int:
    from siyu.orders import service as orders

    try:
        return orders.grant_coupon(session, batch_id, consumer_id).id
    except orders.CouponLimitReached:
        raise _Refused(ClaimOutcome.COUPON_LIMIT) from None
    except (orders.CouponSoldOut, orders.CouponNotApplicable):
        raise _Refused(ClaimOutcome.SOLD_OUT) from None


@dataclass
class RewardRow:
    reward: CampaignReward
    tier: CampaignRewardTier
    nickname: str
    fulfilment: RewardFulfilment | None


def list_rewards(
    session: Session, actor: Principal | None, campaign_id: int, page: PageRequest
) -> Page[RewardRow]:
    from siyu.privacy import service as privacy

    campaign = get_campaign(session, actor, campaign_id)
    repository = CampaignRepository(session)
    found = repository.rewards(campaign.id, page)
    tiers = {tier.id: tier for tier in repository.tiers(campaign.id)}
    participants = {
        p.id: p
        for p in (repository.participant(r.participant_id) for r in found.items)
        if p is not None
    }
    names = repository.nicknames(p.consumer_id for p in participants.values())
    fulfilments = repository.fulfilments([r.id for r in found.items])
    rows = [
        RewardRow(
            reward,
            tiers[reward.tier_id],
            names.get(participants[reward.participant_id].consumer_id, ""),
            fulfilments.get(reward.id),
        )
        for reward in found.items
    ]
    privacy.record_reads(
        session,
        actor,
        [p.consumer_id for p in participants.values()],
        "campaign.rewards",
        "nickname,consignee_address",
    )
    return Page(rows, found.total, found.request)


def set_consignee(
    session: Session, participant: CampaignParticipant, reward_id: int, consignee: Consignee
) -> RewardFulfilment:
    """The participant fills in (or corrects) where to ship, while it is not shipped."""
    repository = CampaignRepository(session)
    reward = repository.reward(reward_id)
    if reward is None or reward.participant_id != participant.id:
        raise RewardNotFound()
    fulfilment = repository.fulfilment_of(reward.id)
    if fulfilment is None:
        raise FulfilmentNotFound()
    if fulfilment.status != FulfilmentStatus.PENDING:
        raise FulfilmentStatusInvalid(status=fulfilment.status.value, status_zh="已发货")
    name, phone, address = _check_consignee(consignee)
    fulfilment.consignee_name = name
    fulfilment.consignee_phone_encrypted = crypto.encrypt(phone)
    fulfilment.address = address
    session.flush()
    return fulfilment


def ship(
    session: Session, actor: Principal, fulfilment_id: int, carrier: str, tracking_no: str
) -> RewardFulfilment:
    actor.require_platform()
    repository = CampaignRepository(session)
    fulfilment = repository.fulfilment(fulfilment_id)
    if fulfilment is None:
        raise FulfilmentNotFound()
    reward = repository.reward(fulfilment.reward_id)
    assert reward is not None
    get_campaign(session, actor, reward.campaign_id)
    carrier, tracking_no = carrier.strip(), tracking_no.strip()
    if not carrier or not tracking_no or len(carrier) > 40 or len(tracking_no) > 64:
        raise ShippingInvalid()
    if fulfilment.status != FulfilmentStatus.PENDING:
        raise FulfilmentStatusInvalid(status=fulfilment.status.value, status_zh="已发货")
    if not fulfilment.address:
        raise ConsigneeInvalid()
    fulfilment.status = FulfilmentStatus.SHIPPED
    fulfilment.carrier = carrier
    fulfilment.tracking_no = tracking_no
    fulfilment.shipped_at = utc_now()
    reward.status = RewardStatus.FULFILLED
    session.flush()
    audit.record(
        session,
        actor.user_id,
        "campaign.reward_shipped",
        "reward_fulfilment",
        fulfilment.id,
        carrier=carrier,
        tracking_no=tracking_no,
    )
    return fulfilment


# --- after the campaign -----------------------------------------------------------------------


def invite_participants(session: Session, campaign_id: int) -> int:
    """Job body: send each participant (once) the coupon-group invitation through their
    account's channel. Returns how many were invited in this run."""
    from siyu.channels.base import MessageKind, OutgoingMessage
    from siyu.channels.registry import backend_for
    from siyu.models import OperatorAccount

    repository = CampaignRepository(session)
    campaign = repository.get(campaign_id)
    if campaign is None or campaign.group_code_id is None:
        return 0
    group_code = session.get(GroupCode, campaign.group_code_id)
    if group_code is None:
        return 0
    text = (campaign.group_invite_text or DEFAULT_GROUP_INVITE).replace(
        "{群链接}", f"/g/{group_code.code}"
    )
    invited = 0
    for participant_id in repository.participant_ids_to_invite(campaign.id, INVITE_BATCH):
        participant = repository.participant_for_update(participant_id)
        if participant is None or participant.group_invited_at is not None:
            continue
        contact = session.get(Contact, participant.contact_id) if participant.contact_id else None
        account = session.get(OperatorAccount, contact.account_id) if contact else None
        if contact is not None and account is not None and not contact.marketing_opt_out:
            backend_for(account).send(
                session, account, OutgoingMessage(MessageKind.TEXT, text=text), contact
            )
            invited += 1
        participant.group_invited_at = utc_now()
        session.flush()
    return invited


def group_link(session: Session, campaign: Campaign) -> str | None:
    if campaign.group_code_id is None:
        return None
    group_code = session.get(GroupCode, campaign.group_code_id)
    return f"/g/{group_code.code}" if group_code is not None else None


# Registration of the pool and orders hooks and the flow actions happens in
# ``siyu.campaigns.hooks`` (imported by the app and the job modules).
