"""The campaign steps a conversation flow can call (registered in ``siyu.flows.actions``).

Each handler runs in the engine's transaction, never commits, and is idempotent for the same
(conversation, step): re-running it finds the participant, the reward or the choice it already
made. Expected refusals are outcomes, not errors.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.campaigns import rules
from siyu.campaigns import service as campaigns
from siyu.campaigns.repository import CampaignRepository
from siyu.campaigns.rules import ClaimOutcome
from siyu.errors import AppError
from siyu.flows import actions
from siyu.flows.actions import ActionContext, ActionResult
from siyu.kit.time import utc_now
from siyu.models.campaigns import ALL_DISTRICTS, Campaign, CampaignTrigger


def _campaign(session: Session, context: ActionContext) -> Campaign | None:
    raw = (
        context.campaign_id
        if context.campaign_id is not None
        else context.params.get("campaign_id")
    )
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool):
        return None
    return CampaignRepository(session).get(raw)


def resolve_district(session: Session, campaign: Campaign, text: str) -> str | None:
    """The campaign district a reply names: a 6-digit code, a district name of the campaign
    (章贡区, 章贡), or a full address; None when it names none of the campaign's districts."""
    from siyu.regions import service as regions
    from siyu.regions.rules import short_names

    text = text.strip()
    if not text:
        return None
    districts = campaigns.campaign_districts(session, campaign)
    if text in districts:
        return text
    for code in districts:
        try:
            name = regions.get(code).display_name
        except AppError:
            continue
        if name in text or any(len(short) >= 2 and short in text for short in short_names(name)):
            return code
    try:
        found = regions.region_of_text(text)
    except AppError:
        found = None
    if found is not None and found.code in districts:
        return str(found.code)
    return None


def _district_text(context: ActionContext) -> str:
    for value in (
        context.params.get("district"),
        context.variables.get("district"),
        context.variables.get("地区"),
        context.inbound_text,
    ):
        if isinstance(value, str) and value.strip():
            return value
    return ""


@actions.action("campaign.check_quota")
def check_quota(session: Session, context: ActionContext) -> ActionResult:
    """available / sold_out / not_in_campaign for the district the contact named; sets
    {剩余名额} (what is left there of the main tier) and remembers the participant's district."""
    campaign = _campaign(session, context)
    if campaign is None:
        return ActionResult("not_in_campaign", {"剩余名额": "0"})
    repository = CampaignRepository(session)
    district = resolve_district(session, campaign, _district_text(context))
    tiers = [tier for tier in repository.tiers(campaign.id) if not tier.is_bonus] or list(
        repository.tiers(campaign.id)
    )
    if district is None or not tiers:
        return ActionResult("not_in_campaign", {"剩余名额": "0"})
    tier = tiers[0]
    row = repository.stock_row(tier.id, district)
    total = repository.stock_row(tier.id, ALL_DISTRICTS)
    if row is None or total is None:
        return ActionResult("not_in_campaign", {"剩余名额": "0"})
    left = max(0, min(row.total - row.issued, total.total - total.issued))
    participant = repository.participant_of(campaign.id, context.consumer_id)
    if participant is not None and not participant.district_code:
        participant.district_code = district
        session.flush()
    variables = {"剩余名额": str(left), "district": district}
    return ActionResult("available" if left > 0 else "sold_out", variables)


@actions.action("campaign.choose_style")
def choose_style(session: Session, context: ActionContext) -> ActionResult:
    """ok when the reply names one of the campaign's numbered styles ({款式}, {款式编号})."""
    campaign = _campaign(session, context)
    if campaign is None or not campaign.styles:
        return ActionResult("invalid")
    reply = str(context.params.get("reply") or context.inbound_text or "")
    number = rules.choose_style(campaign.styles, reply)
    if number is None:
        return ActionResult("invalid")
    style = campaign.styles[number - 1]
    participant = CampaignRepository(session).participant_of(campaign.id, context.consumer_id)
    if participant is not None:
        participant.choice = str(number)
        if participant.replied_at is None:
            participant.replied_at = utc_now()
        session.flush()
    return ActionResult("ok", {"款式": style, "款式编号": str(number)})


@actions.action("campaign.join")
def join(session: Session, context: ActionContext) -> ActionResult:
    """The contact takes part: participant + personal code. {链接} is the participant's personal
    code link (what the poster's QR holds), {海报} the poster image, {我的活动} their H5 page."""
    campaign = _campaign(session, context)
    if campaign is None:
        return ActionResult("not_in_campaign")
    district = str(context.variables.get("district") or "")
    try:
        participant, _created = campaigns.join(
            session,
            campaign.id,
            context.consumer_id,
            contact_id=context.contact_id,
            district_code=district,
        )
    except campaigns.CampaignNotRunning:
        return ActionResult("not_running")
    except campaigns.DistrictNotInCampaign:
        return ActionResult("not_in_campaign")
    page = campaigns.participant_link(participant)
    path, _, query = page.partition("?")
    return ActionResult(
        "ok",
        {
            "链接": campaigns.invite_url(session, participant),
            "海报": f"{path}/poster.png?{query}",
            "我的活动": page,
        },
    )


@actions.action("campaign.request_proof")
def request_proof(session: Session, context: ActionContext) -> ActionResult:
    """Where the participant uploads the screenshot ({上传链接}); not_needed for campaigns that
    count verified invites instead."""
    campaign = _campaign(session, context)
    if campaign is None:
        return ActionResult("not_in_campaign")
    if campaign.trigger != CampaignTrigger.SHARE_PROOF:
        return ActionResult("not_needed")
    participant = CampaignRepository(session).participant_of(campaign.id, context.consumer_id)
    if participant is None:
        return ActionResult("not_participant")
    return ActionResult("ok", {"上传链接": campaigns.participant_link(participant) + "#proof"})


_FLOW_OUTCOMES = {
    ClaimOutcome.ISSUED: "issued",
    ClaimOutcome.ALREADY: "already",
    ClaimOutcome.SOLD_OUT: "sold_out",
    ClaimOutcome.NOT_ELIGIBLE: "not_eligible",
    ClaimOutcome.COUPON_LIMIT: "not_eligible",
    ClaimOutcome.NOT_RUNNING: "not_eligible",
    ClaimOutcome.DISQUALIFIED: "not_eligible",
    ClaimOutcome.DISTRICT_NOT_IN_CAMPAIGN: "not_eligible",
}


@actions.action("campaign.issue_reward")
def issue_reward(session: Session, context: ActionContext) -> ActionResult:
    """issued / already / sold_out / not_eligible; {奖品} names the tier."""
    campaign = _campaign(session, context)
    if campaign is None:
        return ActionResult("not_eligible")
    repository = CampaignRepository(session)
    participant = repository.participant_of(campaign.id, context.consumer_id)
    if participant is None:
        return ActionResult("not_eligible")
    tier_raw = context.params.get("tier_id")
    tier_id = (
        int(tier_raw) if isinstance(tier_raw, (int, str)) and str(tier_raw).isdigit() else None
    )
    result = campaigns.claim(session, participant.id, tier_id)
    variables = {"奖品": result.tier.name} if result.tier is not None else {}
    return ActionResult(_FLOW_OUTCOMES[result.outcome], variables)


@actions.action("campaign.invite_to_group")
def invite_to_group(session: Session, context: ActionContext) -> ActionResult:
    """{群链接}: the campaign's coupon-group code; no_group when the campaign has none."""
    campaign = _campaign(session, context)
    if campaign is None:
        return ActionResult("no_group")
    link = campaigns.group_link(session, campaign)
    if link is None:
        return ActionResult("no_group")
    participant = CampaignRepository(session).participant_of(campaign.id, context.consumer_id)
    if participant is not None and participant.group_invited_at is None:
        participant.group_invited_at = utc_now()
        session.flush()
    return ActionResult("ok", {"群链接": link})
