"""Console and H5 pages of fission campaigns (裂变活动).

Console: list, builder (with the live compliance/risk check), detail (inventory by district,
participants, launch/pause/end with the high-risk acknowledgement), referral tree, proof review
queue, rewards and fulfilment. H5: the participant's page reached through their signed link (no
log-in for consumers): poster, progress, proof upload, rewards.
"""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from siyu.campaigns import posters, service
from siyu.campaigns.rules import REFERRAL_REASON_LABELS, ClaimOutcome
from siyu.campaigns.schemas import CampaignIn, DistrictStockIn, TierIn
from siyu.config import current_settings
from siyu.errors import AppError, PermissionDenied
from siyu.kit.money import format_yuan, parse_yuan
from siyu.kit.pagination import PageRequest
from siyu.kit.time import SHANGHAI, parse_shanghai_local
from siyu.models import ChannelCode, GroupCode
from siyu.models.campaigns import (
    CAMPAIGN_STATUS_LABELS,
    CAMPAIGN_TRIGGER_LABELS,
    PROOF_STATUS_LABELS,
    Campaign,
    CampaignParticipant,
    CampaignTrigger,
    ProofStatus,
    RewardKind,
)
from siyu.posters.service import render_poster
from siyu.regions import service as regions
from siyu.web.deps import ConsoleUser, CsrfChecked, DbSession, device_id, flash, render

router = APIRouter(include_in_schema=False)

TIER_ROWS = 3
LABELS: dict[str, Any] = {
    "statuses": CAMPAIGN_STATUS_LABELS,
    "triggers": CAMPAIGN_TRIGGER_LABELS,
    "proof_statuses": PROOF_STATUS_LABELS,
    "reasons": REFERRAL_REASON_LABELS,
    "reward_kinds": {RewardKind.PHYSICAL: "实物", RewardKind.COUPON: "优惠券"},
    "fulfilment_statuses": {
        "pending": "待发货",
        "shipped": "已发货",
        "delivered": "已签收",
        "cancelled": "已取消",
    },
}


def _staff(user: Any) -> None:
    if not user.is_platform:
        raise PermissionDenied()


def _choices(session: Session, user: Any) -> dict[str, Any]:
    choices = service.builder_choices(session, user)
    return {
        "entry_codes": choices.entry_codes,
        "group_codes": choices.group_codes,
        "release_rules": choices.release_rules,
        "coupon_batches": choices.coupon_batches,
        "provinces": regions.children(None),
        "cities": [],
        "districts": [],
        "province_code": "",
        "city_code": "",
        "district_code": "",
    }


# --- the builder form -------------------------------------------------------------------------


class FormProblem(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _int(form: FormData, name: str, label: str, required: bool = False) -> int | None:
    raw = _text(form, name)
    if not raw:
        if required:
            raise FormProblem(f"请填写{label}。")
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise FormProblem(f"{label}必须是整数，您输入的是“{raw}”。")
    return int(raw)


def _when(form: FormData, name: str, label: str) -> datetime | None:
    raw = _text(form, name)
    if not raw:
        return None
    try:
        return parse_shanghai_local(raw)
    except (AppError, ValueError):
        raise FormProblem(f"{label}格式不正确。") from None


def _districts(text: str, tier: int) -> list[DistrictStockIn]:
    rows = []
    for line in text.replace("，", "\n").replace(",", "\n").splitlines():
        line = line.replace("=", " ").replace(":", " ").replace("：", " ").strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or len(parts[0]) != 6:
            raise FormProblem(f"第 {tier} 档的地区名额格式应为“区县代码 名额”，例如 360702 50。")
        rows.append(DistrictStockIn(district_code=parts[0], total=int(parts[1])))
    return rows


def _tiers(form: FormData) -> list[TierIn]:
    tiers = []
    for index in range(1, TIER_ROWS + 1):
        name = _text(form, f"tier{index}_name")
        if not name:
            continue
        kind = RewardKind(_text(form, f"tier{index}_kind") or RewardKind.PHYSICAL.value)
        cost = _text(form, f"tier{index}_cost")
        tiers.append(
            TierIn(
                name=name[:80],
                threshold=_int(form, f"tier{index}_threshold", f"第 {index} 档门槛", True) or 0,
                kind=kind,
                coupon_batch_id=_int(form, f"tier{index}_coupon_batch_id", "优惠券批次")
                if kind == RewardKind.COUPON
                else None,
                unit_cost_fen=parse_yuan(cost, "unit_cost_fen", "单件成本") if cost else 0,
                is_bonus=bool(_text(form, f"tier{index}_bonus")),
                total=_int(form, f"tier{index}_total", f"第 {index} 档总名额", True) or 0,
                districts=_districts(_text(form, f"tier{index}_districts"), index),
            )
        )
    return tiers


def _poster(form: FormData) -> dict[str, Any]:
    poster: dict[str, Any] = {"width": 1080, "height": 1920}
    for key, name, limit in (
        ("background", "poster_background", 200),
        ("title", "poster_title", 60),
        ("text", "poster_text", 500),
    ):
        if _text(form, name):
            poster[key] = _text(form, name)[:limit]
    for key, prefix in (("qr", "qr"), ("nickname", "nick")):
        place: dict[str, Any] = {}
        for part in ("x", "y", "size"):
            value = _int(form, f"{prefix}_{part}", "海报坐标")
            if value is not None:
                place[part] = value
        if key == "nickname" and _text(form, "nick_color"):
            place["color"] = _text(form, "nick_color")[:9]
        if place:
            poster[key] = place
    return poster


def campaign_from_form(form: FormData, with_tiers: bool = True) -> CampaignIn:
    try:
        trigger = CampaignTrigger(_text(form, "trigger") or CampaignTrigger.FRIEND_ADD.value)
    except ValueError:
        raise FormProblem("请选择有效的活动玩法。") from None
    try:
        return CampaignIn(
            name=_text(form, "name")[:80],
            trigger=trigger,
            entry_code_id=_int(form, "entry_code_id", "入口活码"),
            group_code_id=_int(form, "group_code_id", "福利群活码"),
            flow_id=_int(form, "flow_id", "对话流程编号"),
            release_rule_id=_int(form, "release_rule_id", "清理规则"),
            poster=_poster(form),
            rules_text=_text(form, "rules_text")[:4000],
            group_invite_text=_text(form, "group_invite_text")[:500],
            styles=[line for line in _text(form, "styles").splitlines() if line.strip()][:20],
            starts_at=_when(form, "starts_at", "开始时间"),
            ends_at=_when(form, "ends_at", "结束时间"),
            invalidation_days=_int(form, "invalidation_days", "失效天数"),
            max_invites_per_device=_int(form, "max_invites_per_device", "同设备邀请上限") or 3,
            tiers=_tiers(form) if with_tiers else [],
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise FormProblem(f"输入有误：{'.'.join(str(p) for p in first['loc'])}。") from None


def _local(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M") if value else ""


def form_of(session: Session, campaign: Campaign) -> dict[str, Any]:
    poster = campaign.poster or {}
    qr = poster.get("qr") or {}
    nick = poster.get("nickname") or {}
    values: dict[str, Any] = {
        "name": campaign.name,
        "trigger": campaign.trigger.value,
        "entry_code_id": campaign.entry_code_id or "",
        "group_code_id": campaign.group_code_id or "",
        "flow_id": campaign.flow_id or "",
        "release_rule_id": campaign.release_rule_id or "",
        "rules_text": campaign.rules_text,
        "group_invite_text": campaign.group_invite_text,
        "styles": "\n".join(campaign.styles or []),
        "starts_at": _local(campaign.starts_at),
        "ends_at": _local(campaign.ends_at),
        "invalidation_days": campaign.invalidation_days or "",
        "max_invites_per_device": campaign.max_invites_per_device,
        "poster_title": poster.get("title", ""),
        "poster_text": poster.get("text", ""),
        "poster_background": poster.get("background", ""),
        "qr_x": qr.get("x", ""),
        "qr_y": qr.get("y", ""),
        "qr_size": qr.get("size", ""),
        "nick_x": nick.get("x", ""),
        "nick_y": nick.get("y", ""),
        "nick_size": nick.get("size", ""),
        "nick_color": nick.get("color", ""),
    }
    lines = service.inventory_of(session, campaign)
    for index, tier in enumerate(service.tiers_of(session, campaign), start=1):
        total = next(
            (ln.total for ln in lines if ln.tier.id == tier.id and not ln.district_code), 0
        )
        districts = [
            f"{ln.district_code} {ln.total}"
            for ln in lines
            if ln.tier.id == tier.id and ln.district_code
        ]
        values.update(
            {
                f"tier{index}_name": tier.name,
                f"tier{index}_threshold": tier.threshold,
                f"tier{index}_kind": tier.kind.value,
                f"tier{index}_coupon_batch_id": tier.coupon_batch_id or "",
                f"tier{index}_cost": format_yuan(tier.unit_cost_fen) if tier.unit_cost_fen else "",
                f"tier{index}_bonus": "1" if tier.is_bonus else "",
                f"tier{index}_total": total,
                f"tier{index}_districts": "\n".join(districts),
            }
        )
    return values


def _builder(
    request: Request,
    user: Any,
    session: Session,
    values: dict[str, Any],
    campaign: Campaign | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/campaign_form.html",
        {
            "form": values,
            "campaign": campaign,
            "error": error,
            "tier_rows": range(1, TIER_ROWS + 1),
            "trigger_values": list(CampaignTrigger),
            **_draft_risk(values),
            **_choices(session, user),
            **LABELS,
        },
        status_code=status_code,
        user=user,
    )


# --- console: list, builder -------------------------------------------------------------------


@router.get("/console/campaigns")
def campaigns_page(
    request: Request, user: ConsoleUser, session: DbSession, page: int = 1
) -> Response:
    found = service.list_campaigns(session, user, PageRequest(page, 50))
    return render(
        request,
        "console/campaigns.html",
        {"campaigns": found, "pager": found, **LABELS},
        user=user,
    )


@router.get("/console/campaigns/new")
def campaign_new(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    _staff(user)
    defaults = {
        "trigger": CampaignTrigger.FRIEND_ADD.value,
        "max_invites_per_device": 3,
        "tier1_kind": "physical",
        "tier2_kind": "physical",
        "tier3_kind": "physical",
        "poster_background": "#c81d25",
    }
    return _builder(request, user, session, defaults)


@router.post("/console/campaigns", dependencies=[CsrfChecked])
async def campaign_create(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    _staff(user)
    form = await request.form()
    try:
        data = campaign_from_form(form)
        campaign = service.create_campaign(session, user, data)
    except FormProblem as problem:
        return _builder(request, user, session, dict(form), error=problem.message, status_code=422)
    except AppError as error:
        session.rollback()
        return _builder(
            request, user, session, dict(form), error=error.zh, status_code=error.status
        )
    flash(request, f"活动“{campaign.name}”已保存为草稿。")
    return RedirectResponse(f"/console/campaigns/{campaign.id}", status_code=303)


def _draft_risk(values: Any) -> dict[str, Any]:
    """The risk panel's context for what the form holds now (not saved)."""

    def text(name: str) -> str:
        value = values.get(name)
        return value.strip() if isinstance(value, str) else ""

    try:
        trigger = CampaignTrigger(text("trigger") or "friend_add")
    except ValueError:
        trigger = CampaignTrigger.FRIEND_ADD
    draft = Campaign(
        name=text("name"),
        trigger=trigger,
        poster={"title": text("poster_title"), "text": text("poster_text")},
        rules_text=text("rules_text"),
        group_invite_text=text("group_invite_text"),
        risk_acknowledged_rules=[],
    )
    try:
        return {"report": service.check_risk(draft)}
    except AppError as error:
        return {"error": error.zh}


@router.post("/console/campaigns/check", dependencies=[CsrfChecked])
async def campaign_check(request: Request, user: ConsoleUser, session: DbSession) -> Response:
    """The builder's live lint/risk panel (htmx, on every change)."""
    form = await request.form()
    return render(request, "console/_campaign_risk.html", _draft_risk(form), user=user)


SAMPLE_NICKNAME = "示例用户"


@router.post("/console/campaigns/poster-preview", dependencies=[CsrfChecked])
async def poster_preview(request: Request, user: ConsoleUser) -> Response:
    """The builder's live poster preview (htmx): the poster as a participant would get it, with
    a sample nickname and a sample personal-code QR; a bad layout shows its problems."""
    _staff(user)
    form = await request.form()
    try:
        template = _poster(form)
        png = render_poster(
            template,
            nickname=SAMPLE_NICKNAME,
            qr_url=current_settings().base_url.rstrip("/") + "/c/SAMPLE00",
        )
    except FormProblem as problem:
        return HTMLResponse(
            f'<div class="alert alert-danger small" data-testid="poster-error">'
            f"{escape(problem.message)}</div>"
        )
    except AppError as error:
        return HTMLResponse(
            f'<div class="alert alert-danger small" data-testid="poster-error">'
            f"{escape(error.zh)}</div>"
        )
    encoded = base64.b64encode(png).decode()
    return HTMLResponse(
        '<img class="img-fluid border" data-testid="campaign-poster-preview" '
        f'alt="海报预览（示例昵称）" src="data:image/png;base64,{encoded}">'
    )


@router.get("/console/campaigns/{campaign_id}/edit")
def campaign_edit(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    _staff(user)
    campaign = service.get_campaign(session, user, campaign_id)
    return _builder(request, user, session, form_of(session, campaign), campaign)


@router.post("/console/campaigns/{campaign_id}/edit", dependencies=[CsrfChecked])
async def campaign_update(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    _staff(user)
    campaign = service.get_campaign(session, user, campaign_id)
    form = await request.form()
    try:
        data = campaign_from_form(form, with_tiers=campaign.status.value == "draft")
        service.update_campaign(session, user, campaign_id, data)
    except FormProblem as problem:
        return _builder(request, user, session, dict(form), campaign, problem.message, 422)
    except AppError as error:
        session.rollback()
        campaign = service.get_campaign(session, user, campaign_id)
        return _builder(request, user, session, dict(form), campaign, error.zh, error.status)
    flash(request, "活动已保存。")
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


# --- console: detail and status ---------------------------------------------------------------


def _percent(part: int, whole: int) -> int:
    return 0 if whole <= 0 else min(100, part * 100 // whole)


@router.get("/console/campaigns/{campaign_id}")
def campaign_detail(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession, page: int = 1
) -> Response:
    campaign = service.get_campaign(session, user, campaign_id)
    participants = service.list_participants(session, user, campaign.id, PageRequest(page, 50))
    return render(
        request,
        "console/campaign_detail.html",
        {
            "campaign": campaign,
            "report": service.check_risk(campaign),
            "tiers": service.tiers_of(session, campaign),
            "inventory": service.inventory_of(session, campaign),
            "participants": participants,
            "pager": participants,
            "pending_proofs": service.list_proofs(
                session, user, campaign.id, ProofStatus.PENDING, PageRequest(1, 1)
            ).total,
            "entry_code": session.get(ChannelCode, campaign.entry_code_id)
            if campaign.entry_code_id
            else None,
            "group_code": session.get(GroupCode, campaign.group_code_id)
            if campaign.group_code_id
            else None,
            "percent": _percent,
            "can_manage": user.is_platform,
            **LABELS,
        },
        user=user,
    )


def _status_action(request: Request, campaign_id: int, action: Any, message: str) -> Response:
    try:
        action()
    except AppError as error:
        flash(request, error.zh, "danger")
    else:
        flash(request, message)
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


@router.post("/console/campaigns/{campaign_id}/launch", dependencies=[CsrfChecked])
def campaign_launch(
    request: Request,
    campaign_id: int,
    user: ConsoleUser,
    session: DbSession,
    acknowledgement: Annotated[str, Form()] = "",
) -> Response:
    def act() -> None:
        with session.begin_nested():
            service.launch(session, user, campaign_id, acknowledgement or None)

    return _status_action(request, campaign_id, act, "活动已上线。")


@router.post("/console/campaigns/{campaign_id}/pause", dependencies=[CsrfChecked])
def campaign_pause(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    return _status_action(
        request, campaign_id, lambda: service.pause(session, user, campaign_id), "活动已暂停。"
    )


@router.post("/console/campaigns/{campaign_id}/end", dependencies=[CsrfChecked])
def campaign_end(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    def act() -> None:
        result = service.end(session, user, campaign_id)
        parts = ["活动已结束"]
        if result.invitations_queued:
            parts.append("已安排邀请参与者进福利群")
        if result.release_rule_queued:
            parts.append("已安排对未参与者执行清理规则")
        flash(request, "，".join(parts) + "。")

    try:
        act()
    except AppError as error:
        flash(request, error.zh, "danger")
    return RedirectResponse(f"/console/campaigns/{campaign_id}", status_code=303)


@router.get("/console/campaigns/{campaign_id}/participants/{participant_id}/tree")
def participant_tree(
    request: Request, campaign_id: int, participant_id: int, user: ConsoleUser, session: DbSession
) -> Response:
    campaign = service.get_campaign(session, user, campaign_id)
    participant = service.get_participant(session, user, participant_id)
    if participant.campaign_id != campaign.id:
        raise service.ParticipantNotFound()
    return render(
        request,
        "console/campaign_tree.html",
        {
            "campaign": campaign,
            "participant": participant,
            "tree": service.referral_tree(session, user, participant_id),
            "progress": service.participant_progress(session, campaign, participant),
            **LABELS,
        },
        user=user,
    )


# --- console: proofs ------------------------------------------------------------------------


@router.get("/console/campaigns/{campaign_id}/proofs")
def proofs_page(
    request: Request,
    campaign_id: int,
    user: ConsoleUser,
    session: DbSession,
    status: str = "pending",
    page: int = 1,
) -> Response:
    campaign = service.get_campaign(session, user, campaign_id)
    wanted = ProofStatus(status) if status in {s.value for s in ProofStatus} else None
    proofs = service.list_proofs(session, user, campaign.id, wanted, PageRequest(page, 30))
    return render(
        request,
        "console/campaign_proofs.html",
        {
            "campaign": campaign,
            "proofs": proofs,
            "pager": proofs,
            "status": status,
            "status_values": list(ProofStatus),
            **LABELS,
        },
        user=user,
    )


@router.get("/console/campaigns/proofs/{proof_id}/image")
def proof_image(proof_id: int, user: ConsoleUser, session: DbSession) -> Response:
    from siyu.privacy import service as privacy

    proof = service.get_proof(session, user, proof_id)
    participant = service.get_participant(session, user, proof.participant_id)
    privacy.record_reads(
        session, user, [participant.consumer_id], "campaign.proof_image", "screenshot"
    )
    return Response(
        service.proof_bytes(proof),
        media_type=proof.content_type,
        headers={"Cache-Control": "private, no-store"},
    )


@router.post("/console/campaigns/proofs/{proof_id}/review", dependencies=[CsrfChecked])
def proof_review(
    request: Request,
    proof_id: int,
    user: ConsoleUser,
    session: DbSession,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    proof = service.get_proof(session, user, proof_id)
    try:
        service.review_proof(session, user, proof_id, decision == "approve", reason)
    except AppError as error:
        flash(request, error.zh, "danger")
    else:
        flash(request, "已通过。" if decision == "approve" else "已驳回。")
    return RedirectResponse(f"/console/campaigns/{proof.campaign_id}/proofs", status_code=303)


# --- console: rewards and fulfilment ----------------------------------------------------------


@router.get("/console/campaigns/{campaign_id}/rewards")
def rewards_page(
    request: Request, campaign_id: int, user: ConsoleUser, session: DbSession, page: int = 1
) -> Response:
    campaign = service.get_campaign(session, user, campaign_id)
    rewards = service.list_rewards(session, user, campaign.id, PageRequest(page, 50))
    return render(
        request,
        "console/campaign_rewards.html",
        {"campaign": campaign, "rewards": rewards, "pager": rewards, **LABELS},
        user=user,
    )


@router.post("/console/campaigns/fulfilments/{fulfilment_id}/ship", dependencies=[CsrfChecked])
def fulfilment_ship(
    request: Request,
    fulfilment_id: int,
    user: ConsoleUser,
    session: DbSession,
    campaign_id: Annotated[int, Form()],
    carrier: Annotated[str, Form()] = "",
    tracking_no: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.ship(session, user, fulfilment_id, carrier, tracking_no)
    except AppError as error:
        flash(request, error.zh, "danger")
    else:
        flash(request, "已标记发货。")
    return RedirectResponse(f"/console/campaigns/{campaign_id}/rewards", status_code=303)


# --- H5: the participant's page ---------------------------------------------------------------


def _h5_error(request: Request, error: AppError) -> Response:
    return render(
        request,
        "h5/campaign_error.html",
        {"status": error.status, "message": error.zh},
        status_code=error.status,
    )


def _h5_page(
    request: Request,
    session: Session,
    campaign: Campaign,
    participant: CampaignParticipant,
    token: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    from siyu.campaigns.repository import CampaignRepository

    repository = CampaignRepository(session)
    progress = service.participant_progress(session, campaign, participant)
    rewards = repository.rewards_of(participant.id)
    tiers = {tier.id: tier for tier in progress.tiers}
    return render(
        request,
        "h5/campaign.html",
        {
            "campaign": campaign,
            "participant": participant,
            "token": token,
            "progress": progress,
            "rewards": [
                (reward, tiers[reward.tier_id], repository.fulfilment_of(reward.id))
                for reward in rewards
            ],
            "proofs": repository.proofs_of(participant.id),
            "invite_url": current_settings().base_url + service.invite_url(session, participant),
            "group_link": service.group_link(session, campaign),
            "running": service.is_running(campaign),
            "share_proof": campaign.trigger == CampaignTrigger.SHARE_PROOF,
            "error": error,
            **LABELS,
        },
        status_code=status_code,
    )


@router.get("/h5/campaigns/{campaign_id}")
def h5_campaign(request: Request, campaign_id: int, session: DbSession, t: str = "") -> Response:
    try:
        campaign, participant = service.participant_from_token(session, campaign_id, t)
    except AppError as error:
        return _h5_error(request, error)
    return _h5_page(request, session, campaign, participant, t)


@router.get("/h5/campaigns/{campaign_id}/poster.png")
def h5_poster(request: Request, campaign_id: int, session: DbSession, t: str = "") -> Response:
    try:
        campaign, participant = service.participant_from_token(session, campaign_id, t)
    except AppError as error:
        return _h5_error(request, error)
    from siyu.campaigns.repository import CampaignRepository

    nickname = (
        CampaignRepository(session)
        .nicknames([participant.consumer_id])
        .get(participant.consumer_id, "")
    )
    png = posters.render(
        campaign.poster or {},
        nickname=nickname,
        qr_url=current_settings().base_url + service.invite_url(session, participant),
    )
    return Response(
        png,
        media_type="image/png",
        headers={"Content-Disposition": f'attachment; filename="poster-{campaign.id}.png"'},
    )


@router.post("/h5/campaigns/{campaign_id}/proofs", dependencies=[CsrfChecked])
def h5_upload(
    request: Request,
    campaign_id: int,
    session: DbSession,
    t: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    try:
        campaign, participant = service.participant_from_token(session, campaign_id, t)
    except AppError as error:
        return _h5_error(request, error)
    data = b"" if file is None else file.file.read(current_settings().upload_max_bytes + 1)
    try:
        service.submit_proof(session, campaign, participant, data)
    except AppError as error:
        return _h5_page(request, session, campaign, participant, t, error.zh, error.status)
    flash(request, "截图已上传，请等待审核。")
    return RedirectResponse(service.participant_link(participant), status_code=303)


@router.post("/h5/campaigns/{campaign_id}/claim", dependencies=[CsrfChecked])
def h5_claim(
    request: Request,
    campaign_id: int,
    session: DbSession,
    t: Annotated[str, Form()] = "",
    tier_id: Annotated[int | None, Form()] = None,
    consignee_name: Annotated[str, Form()] = "",
    consignee_phone: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
) -> Response:
    try:
        campaign, participant = service.participant_from_token(session, campaign_id, t)
    except AppError as error:
        return _h5_error(request, error)
    try:
        result = service.claim(
            session,
            participant.id,
            tier_id,
            service.Consignee(consignee_name, consignee_phone, address),
        )
    except AppError as error:
        return _h5_page(request, session, campaign, participant, t, error.zh, error.status)
    if result.outcome != ClaimOutcome.ISSUED:
        refusal = service.claim_error(result.outcome)
        return _h5_page(request, session, campaign, participant, t, refusal.zh, refusal.status)
    flash(request, f"领取成功：{result.tier.name if result.tier else ''}。")
    return RedirectResponse(service.participant_link(participant), status_code=303)


@router.post(
    "/h5/campaigns/{campaign_id}/rewards/{reward_id}/consignee", dependencies=[CsrfChecked]
)
def h5_consignee(
    request: Request,
    campaign_id: int,
    reward_id: int,
    session: DbSession,
    t: Annotated[str, Form()] = "",
    consignee_name: Annotated[str, Form()] = "",
    consignee_phone: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
) -> Response:
    try:
        campaign, participant = service.participant_from_token(session, campaign_id, t)
        service.set_consignee(
            session,
            participant,
            reward_id,
            service.Consignee(consignee_name, consignee_phone, address),
        )
    except service.ParticipantLinkInvalid as error:
        return _h5_error(request, error)
    except AppError as error:
        return _h5_page(request, session, campaign, participant, t, error.zh, error.status)
    flash(request, "收货信息已保存。")
    return RedirectResponse(service.participant_link(participant), status_code=303)


def note_scan_device(request: Request, session: Session, result: Any) -> None:
    """Called by the /c/<code> page after a scan: the browser's device id for the campaigns'
    per-device invite cap (only its keyed hash is stored)."""
    if result.contact_id is None or result.outcome.value not in ("routed", "spare"):
        return
    service.note_scan(
        session,
        result.scan.consumer_id,
        result.code.id,
        result.scan.referrer_consumer_id,
        result.contact_id,
        device_id(request),
    )
