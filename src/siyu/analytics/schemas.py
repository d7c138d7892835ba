"""JSON shapes of the campaign analytics API. Money is integer 分; ratios are decimal strings
rounded half up (two places), ``null`` when undefined (nothing to divide by)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from siyu.analytics import dashboard, rules
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


# --- dashboards (docs/dashboards.md) -------------------------------------------------------


class FiltersOut(BaseModel):
    start: date
    end: date
    merchant_id: int | None
    channel: str | None

    @classmethod
    def of(cls, value: dashboard.Filters) -> FiltersOut:
        return cls(
            start=value.days.start,
            end=value.days.end,
            merchant_id=value.merchant_id,
            channel=None if value.channel is None else value.channel.value,
        )


class FiguresOut(BaseModel):
    gmv_fen: int
    orders: int
    new_consumers: int

    @classmethod
    def of(cls, value: dashboard.Figures) -> FiguresOut:
        return cls(gmv_fen=value.gmv_fen, orders=value.orders, new_consumers=value.new_consumers)


class ChannelOut(FiguresOut):
    channel: str
    label: str


class SalesDayOut(FiguresOut):
    day: date
    channels: dict[str, FiguresOut]


class TierOut(BaseModel):
    label: str
    new_consumers: int
    share: str | None


class MerchantShareOut(BaseModel):
    merchant_id: int
    name: str
    gmv_fen: int
    orders: int
    commission_fen: int
    commission_share: str | None


class SalesOut(BaseModel):
    filters: FiltersOut
    total: FiguresOut
    commission_fen: int
    commission_share: str | None
    lower_tier_share: str | None
    channels: list[ChannelOut]
    days: list[SalesDayOut]
    tiers: list[TierOut] | None
    merchants: list[MerchantShareOut]

    @classmethod
    def of(cls, board: dashboard.SalesBoard) -> SalesOut:
        tiers = None
        if board.tiers is not None:
            share = board.tiers
            tiers = [
                TierOut(
                    label=label,
                    new_consumers=count,
                    share=rules.Ratio(count, share.total).decimal(),
                )
                for label, count in share.counts.items()
            ]
        lower = board.lower_share
        return cls(
            filters=FiltersOut.of(board.filters),
            total=FiguresOut.of(board.total),
            commission_fen=board.commission_fen,
            commission_share=board.cost_share.decimal(),
            lower_tier_share=None if lower is None else lower.decimal(),
            channels=[
                ChannelOut(
                    channel=row.channel.value,
                    label=row.label,
                    **FiguresOut.of(row.figures).model_dump(),
                )
                for row in board.channels
            ],
            days=[
                SalesDayOut(
                    day=row.day,
                    channels={
                        channel.value: FiguresOut.of(figures)
                        for channel, figures in row.by_channel.items()
                    },
                    **FiguresOut.of(row.total).model_dump(),
                )
                for row in board.days
            ],
            tiers=tiers,
            merchants=[
                MerchantShareOut(
                    merchant_id=row.merchant_id,
                    name=row.name,
                    gmv_fen=row.gmv_fen,
                    orders=row.orders,
                    commission_fen=row.commission_fen,
                    commission_share=row.cost_share.decimal(),
                )
                for row in board.merchants
            ],
        )


class PromoterFiguresOut(BaseModel):
    gmv_fen: int
    orders: int
    commission_fen: int
    bound_consumers: int
    members: int

    @classmethod
    def of(cls, value: dashboard.PromoterFigures) -> PromoterFiguresOut:
        return cls(
            gmv_fen=value.gmv_fen,
            orders=value.orders,
            commission_fen=value.commission_fen,
            bound_consumers=value.bound,
            members=value.members,
        )


class PromoterRowOut(BaseModel):
    promoter_id: int
    name: str
    inviter_id: int | None
    own: PromoterFiguresOut
    team: PromoterFiguresOut
    recruit_ids: list[int]


class PromotersOut(BaseModel):
    filters: FiltersOut
    promoters: list[PromoterRowOut]

    @classmethod
    def of(cls, board: dashboard.PromoterBoard) -> PromotersOut:
        return cls(
            filters=FiltersOut.of(board.filters),
            promoters=[
                PromoterRowOut(
                    promoter_id=row.promoter_id,
                    name=row.name,
                    inviter_id=row.inviter_id,
                    own=PromoterFiguresOut.of(row.own),
                    team=PromoterFiguresOut.of(row.team),
                    recruit_ids=row.recruits,
                )
                for row in board.rows
            ],
        )


class CohortOut(BaseModel):
    week: date
    consumers: int
    returned: list[int]
    rates: list[str | None]


class CohortsOut(BaseModel):
    filters: FiltersOut
    weeks: int
    cohorts: list[CohortOut]

    @classmethod
    def of(cls, board: dashboard.CohortBoard) -> CohortsOut:
        return cls(
            filters=FiltersOut.of(board.filters),
            weeks=board.weeks,
            cohorts=[
                CohortOut(
                    week=cohort.week,
                    consumers=cohort.consumers,
                    returned=cohort.returned,
                    rates=[rules.Ratio(n, cohort.consumers).decimal() for n in cohort.returned],
                )
                for cohort in board.cohorts
            ],
        )


class AccountHealthOut(BaseModel):
    id: int
    name: str
    kind: str
    status: str
    friends: int
    max_friends: int
    fill: str | None
    adds_today: int
    adds_cap: int
    recent_failures: int
    last_failure_at: datetime | None


class FleetOut(BaseModel):
    today: date
    by_status: dict[str, int]
    friends: int
    capacity: int
    adds_today: int
    adds_cap: int
    accounts: list[AccountHealthOut]

    @classmethod
    def of(cls, board: dashboard.FleetBoard) -> FleetOut:
        return cls(
            today=board.today,
            by_status={status.value: count for status, count in board.by_status.items()},
            friends=board.friends,
            capacity=board.capacity,
            adds_today=board.adds_today,
            adds_cap=board.adds_cap,
            accounts=[
                AccountHealthOut(
                    id=row.id,
                    name=row.name,
                    kind=row.kind.value,
                    status=row.status.value,
                    friends=row.friends,
                    max_friends=row.max_friends,
                    fill=row.fill.decimal(),
                    adds_today=row.adds_today,
                    adds_cap=row.adds_cap,
                    recent_failures=row.recent_failures,
                    last_failure_at=row.last_failure_at,
                )
                for row in board.accounts
            ],
        )
