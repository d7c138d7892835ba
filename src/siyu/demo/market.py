"""The demo's synthetic market: ``size`` consumers living two weeks on the platform.

Runs after the scripted scenario has been committed (``siyu demo``): generates the market
(``siyu.market.generator``) and simulates the 14 days before today through the market actors
(``siyu.market.actors``), one unit of work per simulated day (``siyu.market.simulate``). A
database that already holds the market is left alone (``None``).

Before the run, a national verified-invite fission campaign is created through the campaigns
service (its own entry code and two activity accounts), launched, and forecast
(``siyu.forecasts.service.create_forecast``); ``CampaignActor`` then runs it inside the
simulation, so the console's forecast page compares the forecast with what happened.
``extra_actors`` is the hook for more behaviours: they act after the market and the campaign
each day and share their world.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.campaigns import service as campaigns
from siyu.campaigns.schemas import CampaignIn, TierIn
from siyu.forecasts import service as forecasts
from siyu.forecasts.rules import MIN_MARKET
from siyu.kit.money import format_yuan
from siyu.kit.time import SHANGHAI, to_shanghai, travel_to, utc_now
from siyu.market.actors import deterministic_routing, market_actors, state_of
from siyu.market.campaign_run import CampaignActor
from siyu.market.generator import MarketConfig, generate
from siyu.market.setup import MarketState
from siyu.market.simulation import DayActor, Progress, World, simulate
from siyu.models import AccountKind, OperatorAccount, Role, RoutingStrategy, User
from siyu.models.campaigns import Campaign, CampaignTrigger, RewardKind
from siyu.pool import service as pool
from siyu.pool.schemas import AccountCreate, CodeCreate, PersonaCreate

DAYS = 14
DEFAULT_SIZE = 2_000
MARKER_ACCOUNT = "market_spare"  # the market's spare account: present once the market ran


@dataclass
class MarketDemo:
    world: World
    state: MarketState
    highlights: list[str] = field(default_factory=list)


def market_loaded(session: Session) -> bool:
    found = session.scalar(
        select(OperatorAccount.id).where(OperatorAccount.external_id == MARKER_ACCOUNT)
    )
    return found is not None


def demo_admin(session: Session) -> Principal:
    """The platform admin the market acts as (the scripted demo's, else the first admin)."""
    user = session.scalar(
        select(User).where(User.role == Role.ADMIN, User.is_active.is_(True)).order_by(User.id)
    )
    if user is None:
        raise LookupError("the market needs a platform admin: load the scripted demo first")
    return Principal.of(user)


def market_start(now: datetime | None = None, days: int = DAYS) -> datetime:
    """00:00 Asia/Shanghai, ``days`` days before today (Shanghai), as aware UTC."""
    local = to_shanghai(now or utc_now())
    midnight = datetime(local.year, local.month, local.day, tzinfo=SHANGHAI)
    return (midnight - timedelta(days=days)).astimezone(UTC)


CAMPAIGN_NAME = "全国邀请有礼（验证邀请版）"
CAMPAIGN_RULES = (
    "1. 保存您的专属海报，邀请新朋友扫码添加福利号；\n"
    "2. 好友添加成功（已验证、同一人只计一次）计 1 人；\n"
    "3. 满 1 人得旅行收纳袋，满 3 人得拉杆箱，数量有限，领完即止；\n"
    "4. 被邀请人 3 天内删除好友不计入。"
)
FORECAST_RUNS = 40


def campaign_reach(size: int) -> int:
    """People who see the campaign's poster each day: 2% of the market, at least 20."""
    return max(20, size // 50)


def generic_actor_count() -> int:
    """Actors of the demo's market each day (the generic ones and the fission campaign)."""
    return len(market_actors()) + 1


def _fission_campaign(session: Session, admin: Principal, start: datetime) -> Campaign:
    persona = pool.create_persona(
        session,
        admin,
        PersonaCreate(name="邀请有礼", nickname="邀请有礼福利官", signature="邀请好友领好礼"),
    )
    accounts = [
        pool.create_account(
            session,
            admin,
            AccountCreate(
                name=f"邀请有礼福利号-{index + 1:02d}",
                kind=AccountKind.WECOM_MEMBER,
                persona_id=persona.id,
                external_id=f"market_invite_{index + 1:02d}",
                channel_backend="simulator",
                passive_adds_per_day=200,
            ),
        ).id
        for index in range(2)
    ]
    entry = pool.create_code(
        session,
        admin,
        CodeCreate(
            name="邀请好友领好礼（全国）",
            rule={"account_ids": accounts},
            strategy=RoutingStrategy.LEAST_LOADED,
            welcome_script="您好！欢迎参加“邀请好友领好礼”，请问您在哪个区县？",
            tag_names=["邀请有礼"],
            source_label="邀请海报",
        ),
    )
    campaign = campaigns.create_campaign(
        session,
        admin,
        CampaignIn(
            name=CAMPAIGN_NAME,
            trigger=CampaignTrigger.FRIEND_ADD,
            entry_code_id=entry.id,
            poster={
                "width": 1080,
                "height": 1920,
                "background": "#c81d25",
                "title": "邀请好友领好礼",
                "text": "邀请 3 位新朋友添加福利号，领拉杆箱",
                "qr": {"x": 390, "y": 1400, "size": 300},
                "nickname": {"x": 80, "y": 1300, "size": 48, "color": "#ffffff"},
            },
            rules_text=CAMPAIGN_RULES,
            styles=["1号款 曜石黑", "2号款 星空银"],
            starts_at=start,
            ends_at=start + timedelta(days=DAYS),
            invalidation_days=3,
            max_invites_per_device=3,
            tiers=[
                TierIn(
                    name="旅行收纳袋",
                    threshold=1,
                    kind=RewardKind.PHYSICAL,
                    unit_cost_fen=800,
                    total=300,
                ),
                TierIn(
                    name="拉杆箱",
                    threshold=3,
                    kind=RewardKind.PHYSICAL,
                    unit_cost_fen=3500,
                    total=60,
                ),
            ],
        ),
    )
    campaigns.launch(session, admin, campaign.id)
    return campaign


def prepare_campaign(admin: Principal, size: int, seed: int, start: datetime) -> CampaignActor:
    """The campaign, launched and forecast on day 0 before the market acts (own unit of work),
    and the actor that runs it."""
    from siyu.db import unit_of_work

    reach = campaign_reach(size)
    with travel_to(start + timedelta(hours=8)), unit_of_work() as session:
        campaign = _fission_campaign(session, admin, start)
        forecasts.create_forecast(
            session,
            admin,
            campaign.id,
            forecasts.ForecastParams(
                reach=reach,
                days=DAYS,
                runs=FORECAST_RUNS,
                seed=seed,
                market_size=max(size, MIN_MARKET),
            ),
        )
        campaign_id = campaign.id
    return CampaignActor(campaign_id, reach=reach, places=(), name="裂变活动")


def extra_actors() -> list[DayActor]:
    """What the demo adds to the generic market (the hook for other areas' actors)."""
    return []


def run_market_demo(
    admin: Principal,
    size: int = DEFAULT_SIZE,
    seed: int = 20191111,
    progress: Progress | None = None,
    extra_actors: Sequence[DayActor] = (),
) -> MarketDemo | None:
    """Simulate the market (its own units of work); None when the database already has it."""
    from siyu.db import unit_of_work

    with unit_of_work() as session:
        if market_loaded(session):
            return None
    market = generate(MarketConfig(consumers=size, seed=seed))
    world = World(market=market, admin=admin, seed=seed, start=market_start(), days=DAYS)
    actors = market_actors()
    fission = prepare_campaign(admin, size, seed, world.start)
    with deterministic_routing():
        simulate(world, [*actors, fission, *extra_actors], progress)
    return MarketDemo(world, state_of(actors), highlights(world, actors, fission))


def highlights(
    world: World, actors: Sequence[DayActor], fission: CampaignActor | None = None
) -> list[str]:
    stats = world.stats
    state = state_of(list(actors))
    promoters = len(state.promoter_ids)
    return [
        f"模拟市场：{world.market.consumers:,} 位消费者、{promoters} 名推手、"
        f"{len(world.market.edges):,} 条好友关系，模拟 {world.days} 天",
        f"市场获客：扫码 {stats['scans']:,} 次（{stats['invited_scans']:,} 次通过好友个人码），"
        f"新增好友 {stats['adds']:,} 位，快递员添加 {stats['courier_adds']:,} 位，"
        f"进群 {stats['group_joins']:,} 人",
        f"市场成交：{stats['clicks'] + stats['broadcast_clicks']:,} 次点击，"
        f"{stats['orders']:,} 笔订单（复购 {stats['repurchases']:,} 笔），"
        f"成交 ¥{format_yuan(stats['gmv_fen'])}，退款 {stats['refunds']:,} 笔，"
        f"取消 {stats['cancelled']:,} 笔，佣金结算 {stats['settled']:,} 笔，"
        f"提现 {stats['withdrawals']:,} 笔",
        f"市场群发：{len(state.broadcast_ids)} 次群发共送达 {stats['broadcast_sent']:,} 人，"
        f"{stats['opt_outs']:,} 人回复退订，{stats['deletes']:,} 人删除好友",
        *(
            [
                f"{CAMPAIGN_NAME}：开始前已做预测（{FORECAST_RUNS} 次模拟），"
                f"实际扫码 {fission.counts.get('scans', 0):,} 次、"
                f"新增好友 {fission.counts.get('adds', 0):,} 位、"
                f"参与 {fission.counts.get('participants', 0):,} 人、"
                f"发放奖励 {fission.counts.get('rewards', 0):,} 份，"
                "可在“活动预测”页对比预测与实际"
            ]
            if fission is not None
            else []
        ),
    ]


__all__ = [
    "DAYS",
    "DEFAULT_SIZE",
    "MarketDemo",
    "demo_admin",
    "extra_actors",
    "generic_actor_count",
    "market_loaded",
    "market_start",
    "prepare_campaign",
    "run_market_demo",
]
