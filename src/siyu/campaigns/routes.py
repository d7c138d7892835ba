"""JSON API ``/api/v1/campaigns/...``: staff endpoints (bearer token) and the participant's own
endpoints under ``/campaigns/{id}/me`` (the signed participant token ``t`` instead of a log-in).
Errors are ``{"error": code, "detail": English, "detail_zh": Chinese}``."""

from __future__ import annotations

from fastapi import APIRouter, File, UploadFile

from siyu.campaigns import service
from siyu.campaigns.rules import ClaimOutcome
from siyu.campaigns.schemas import (
    AcknowledgeIn,
    CampaignDetailOut,
    CampaignIn,
    CampaignOut,
    ClaimIn,
    ClaimOut,
    DisqualifyIn,
    EndOut,
    FindingOut,
    FulfilmentOut,
    InventoryOut,
    JoinIn,
    ProofOut,
    ReviewIn,
    RewardOut,
    RiskOut,
    ShipIn,
    TierOut,
    TreeNodeOut,
)
from siyu.campaigns.schemas import ParticipantOut as ParticipantSchema
from siyu.catalog.schemas import PageOut
from siyu.config import current_settings
from siyu.kit.pagination import PageRequest
from siyu.models.campaigns import Campaign, CampaignParticipant, ProofStatus
from siyu.web.deps import ApiUser, DbSession

router = APIRouter(tags=["campaigns"])


def _detail(session: DbSession, campaign: Campaign) -> CampaignDetailOut:
    return CampaignDetailOut(
        **CampaignOut.model_validate(campaign).model_dump(),
        tiers=[TierOut.model_validate(t) for t in service.tiers_of(session, campaign)],
        inventory=[
            InventoryOut(
                tier_id=line.tier.id,
                district_code=line.district_code,
                total=line.total,
                issued=line.issued,
            )
            for line in service.inventory_of(session, campaign)
        ],
    )


def _participant_out(
    session: DbSession, campaign: Campaign, participant: CampaignParticipant, nickname: str
) -> ParticipantSchema:
    progress = service.participant_progress(session, campaign, participant)
    code = service.personal_code_of(session, participant)
    return ParticipantSchema(
        id=participant.id,
        campaign_id=participant.campaign_id,
        consumer_id=participant.consumer_id,
        nickname=nickname,
        district_code=participant.district_code,
        choice=participant.choice,
        status=participant.status.value,
        status_reason=participant.status_reason,
        personal_code=code.code if code else None,
        invites_verified=progress.verified_invites,
        progress_count=progress.count,
        next_threshold=progress.progress.next_threshold,
        link=service.participant_link(participant),
    )


@router.get("/campaigns", response_model=PageOut[CampaignOut])
def list_campaigns(
    user: ApiUser, session: DbSession, page: int = 1, size: int = 50
) -> PageOut[CampaignOut]:
    found = service.list_campaigns(session, user, PageRequest(page, size))
    return PageOut(
        items=[CampaignOut.model_validate(c) for c in found.items],
        total=found.total,
        page=found.request.page,
        size=found.request.size,
    )


@router.post("/campaigns", response_model=CampaignDetailOut, status_code=201)
def create_campaign(data: CampaignIn, user: ApiUser, session: DbSession) -> CampaignDetailOut:
    return _detail(session, service.create_campaign(session, user, data))


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetailOut)
def get_campaign(campaign_id: int, user: ApiUser, session: DbSession) -> CampaignDetailOut:
    return _detail(session, service.get_campaign(session, user, campaign_id))


@router.put("/campaigns/{campaign_id}", response_model=CampaignDetailOut)
def update_campaign(
    campaign_id: int, data: CampaignIn, user: ApiUser, session: DbSession
) -> CampaignDetailOut:
    return _detail(session, service.update_campaign(session, user, campaign_id, data))


@router.get("/campaigns/{campaign_id}/risk", response_model=RiskOut)
def risk(campaign_id: int, user: ApiUser, session: DbSession) -> RiskOut:
    report = service.check_risk(service.get_campaign(session, user, campaign_id))
    return RiskOut(
        risk=report.risk.value,
        rules=list(report.rules),
        findings=[
            FindingOut(
                rule_id=f.rule_id,
                category=f.category.value,
                severity=f.severity.name.lower(),
                message_zh=f.message_zh,
                excerpt=f.excerpt,
            )
            for f in report.findings
        ],
        acknowledgement_needed=report.acknowledgement_needed,
    )


@router.post("/campaigns/{campaign_id}/launch", response_model=CampaignOut)
def launch(campaign_id: int, data: AcknowledgeIn, user: ApiUser, session: DbSession) -> Campaign:
    return service.launch(session, user, campaign_id, data.reason)


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignOut)
def pause(campaign_id: int, user: ApiUser, session: DbSession) -> Campaign:
    return service.pause(session, user, campaign_id)


@router.post("/campaigns/{campaign_id}/end", response_model=EndOut)
def end(campaign_id: int, user: ApiUser, session: DbSession) -> EndOut:
    result = service.end(session, user, campaign_id)
    return EndOut(
        campaign=CampaignOut.model_validate(result.campaign),
        invitations_queued=result.invitations_queued,
        release_rule_queued=result.release_rule_queued,
    )


@router.get("/campaigns/{campaign_id}/participants", response_model=PageOut[ParticipantSchema])
def participants(
    campaign_id: int, user: ApiUser, session: DbSession, page: int = 1, size: int = 50
) -> PageOut[ParticipantSchema]:
    campaign = service.get_campaign(session, user, campaign_id)
    found = service.list_participants(session, user, campaign_id, PageRequest(page, size))
    return PageOut(
        items=[
            _participant_out(session, campaign, row.participant, row.nickname)
            for row in found.items
        ],
        total=found.total,
        page=found.request.page,
        size=found.request.size,
    )


@router.post(
    "/campaigns/{campaign_id}/participants", response_model=ParticipantSchema, status_code=201
)
def join(campaign_id: int, data: JoinIn, user: ApiUser, session: DbSession) -> ParticipantSchema:
    campaign = service.get_campaign(session, user, campaign_id)
    participant, _created = service.join(
        session,
        campaign_id,
        data.consumer_id,
        contact_id=data.contact_id,
        district_code=data.district_code,
        actor=user,
    )
    return _participant_out(session, campaign, participant, "")


def _tree_out(node: service.TreeNode) -> TreeNodeOut:
    return TreeNodeOut(
        participant_id=node.participant_id,
        consumer_id=node.consumer_id,
        nickname=node.nickname,
        status=node.status,
        reason=node.reason,
        children=[_tree_out(child) for child in node.children],
    )


@router.get("/campaigns/participants/{participant_id}/tree", response_model=TreeNodeOut)
def tree(participant_id: int, user: ApiUser, session: DbSession) -> TreeNodeOut:
    return _tree_out(service.referral_tree(session, user, participant_id))


@router.post("/campaigns/participants/{participant_id}/claim", response_model=ClaimOut)
def claim_for(participant_id: int, data: ClaimIn, user: ApiUser, session: DbSession) -> ClaimOut:
    """Staff issue a reward on a participant's behalf (the same checks as the participant)."""
    user.require_platform()
    service.get_participant(session, user, participant_id)
    return _claim(session, participant_id, data)


@router.post(
    "/campaigns/participants/{participant_id}/disqualify", response_model=ParticipantSchema
)
def disqualify(
    participant_id: int, data: DisqualifyIn, user: ApiUser, session: DbSession
) -> ParticipantSchema:
    """Fraud found by a person: the participant can no longer claim (audited with the reason)."""
    participant = service.disqualify(session, user, participant_id, data.reason)
    campaign = service.get_campaign(session, user, participant.campaign_id)
    return _participant_out(session, campaign, participant, "")


def _claim(session: DbSession, participant_id: int, data: ClaimIn) -> ClaimOut:
    result = service.claim(
        session,
        participant_id,
        data.tier_id,
        service.Consignee(data.consignee_name, data.consignee_phone, data.address),
    )
    if result.outcome != ClaimOutcome.ISSUED:
        raise service.claim_error(result.outcome)
    return ClaimOut(outcome=result.outcome.value, reward=RewardOut.model_validate(result.reward))


@router.get("/campaigns/{campaign_id}/proofs", response_model=PageOut[ProofOut])
def proofs(
    campaign_id: int,
    user: ApiUser,
    session: DbSession,
    status: ProofStatus | None = None,
    page: int = 1,
    size: int = 50,
) -> PageOut[ProofOut]:
    found = service.list_proofs(session, user, campaign_id, status, PageRequest(page, size))
    return PageOut(
        items=[ProofOut.model_validate(p) for p in found.items],
        total=found.total,
        page=found.request.page,
        size=found.request.size,
    )


@router.post("/campaigns/proofs/{proof_id}/review", response_model=ProofOut)
def review(proof_id: int, data: ReviewIn, user: ApiUser, session: DbSession) -> object:
    return service.review_proof(session, user, proof_id, data.approve, data.reason)


@router.get("/campaigns/{campaign_id}/rewards", response_model=PageOut[RewardOut])
def rewards(
    campaign_id: int, user: ApiUser, session: DbSession, page: int = 1, size: int = 50
) -> PageOut[RewardOut]:
    found = service.list_rewards(session, user, campaign_id, PageRequest(page, size))
    return PageOut(
        items=[RewardOut.model_validate(row.reward) for row in found.items],
        total=found.total,
        page=found.request.page,
        size=found.request.size,
    )


@router.post("/campaigns/fulfilments/{fulfilment_id}/ship", response_model=FulfilmentOut)
def ship(fulfilment_id: int, data: ShipIn, user: ApiUser, session: DbSession) -> object:
    return service.ship(session, user, fulfilment_id, data.carrier, data.tracking_no)


# --- the participant's own endpoints (signed token, no log-in) --------------------------------


@router.get("/campaigns/{campaign_id}/me", response_model=ParticipantSchema)
def me(campaign_id: int, t: str, session: DbSession) -> ParticipantSchema:
    campaign, participant = service.participant_from_token(session, campaign_id, t)
    return _participant_out(session, campaign, participant, "")


@router.post("/campaigns/{campaign_id}/me/proofs", response_model=ProofOut, status_code=201)
def upload_proof(campaign_id: int, t: str, session: DbSession, file: UploadFile = File()) -> object:
    campaign, participant = service.participant_from_token(session, campaign_id, t)
    data = file.file.read(current_settings().upload_max_bytes + 1)
    return service.submit_proof(session, campaign, participant, data)


@router.post("/campaigns/{campaign_id}/me/claim", response_model=ClaimOut)
def claim_mine(campaign_id: int, t: str, data: ClaimIn, session: DbSession) -> ClaimOut:
    _campaign, participant = service.participant_from_token(session, campaign_id, t)
    return _claim(session, participant.id, data)
