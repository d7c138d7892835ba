"""JSON shapes of the campaign analytics API. Money is integer 分; ratios are decimal strings
rounded half up (two places), ``null`` when undefined (nothing to divide by)."""

from __future__ import annotations

from pydantic import BaseModel

from siyu.analytics import rules
from siyu.analytics.campaigns import CampaignFunnel, GroupRow


class KFactorOut(BaseModel):
    participants: int
    invites: int
    verified_invites: int
    invites_per_participant: str | None
    invite_conversion: str | None
    k_factor: str | None

    @classmethod
    def of(cls, k: rules.KFactor) -> KFactorOut:
        return cls(
            participants=k.participants,
            invites=k.invites,
            verified_invites=k.verified,
            invites_per_participant=k.invites_per_participant.decimal(),
            invite_conversion=k.invite_conversion.decimal(),
            k_factor=k.k.decimal(),
        )


class StepOut(BaseModel):
    key: str
    label: str
    count: int
    of_previous: str | None
    of_first: str | None


class GroupOut(BaseModel):
    key: str
    label: str
    scans: int | None
    scanners: int | None
    added: int
    participants: int
    replied: int
    qualified: int
    rewarded: int
    group_joined: int
    ordered: int
    reward_cost_fen: int
    cost_per_contact_fen: int | None
    k: KFactorOut

    @classmethod
    def of(cls, row: GroupRow, with_scans: bool) -> GroupOut:
        f = row.figures
        return cls(
            key=row.key,
            label=row.label,
            scans=f.scans if with_scans else None,
            scanners=f.scanners if with_scans else None,
            added=f.added,
            participants=f.participants,
            replied=f.replied,
            qualified=f.qualified,
            rewarded=f.rewarded,
            group_joined=f.group_joined,
            ordered=f.ordered,
            reward_cost_fen=f.reward_cost_fen,
            cost_per_contact_fen=row.cost_per_contact_fen,
            k=KFactorOut.of(row.k),
        )


class DayOut(BaseModel):
    day: str  # YYYY-MM-DD, Asia/Shanghai
    scans: int
    added: int
    participants: int
    verified: int
    rewards: int


class FunnelOut(BaseModel):
    campaign_id: int
    name: str
    status: str
    scans: int
    steps: list[StepOut]
    k: KFactorOut
    reward_cost_fen: int
    cost_per_contact_fen: int | None
    districts: list[GroupOut]
    accounts: list[GroupOut]
    days: list[DayOut]

    @classmethod
    def of(cls, funnel: CampaignFunnel) -> FunnelOut:
        return cls(
            campaign_id=funnel.campaign.id,
            name=funnel.campaign.name,
            status=funnel.campaign.status.value,
            scans=funnel.totals.scans,
            steps=[
                StepOut(
                    key=step.key,
                    label=step.label,
                    count=step.count,
                    of_previous=step.of_previous.decimal(),
                    of_first=step.of_first.decimal(),
                )
                for step in funnel.steps
            ],
            k=KFactorOut.of(funnel.k),
            reward_cost_fen=funnel.totals.reward_cost_fen,
            cost_per_contact_fen=funnel.cost_per_contact_fen,
            districts=[GroupOut.of(row, with_scans=False) for row in funnel.districts],
            accounts=[GroupOut.of(row, with_scans=True) for row in funnel.accounts],
            days=[DayOut(day=row.day.isoformat(), **row.counts) for row in funnel.days],
        )
