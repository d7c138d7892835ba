"""The demo's synthetic market: ``size`` consumers living two weeks on the platform.

Runs after the scripted scenario has been committed (``siyu demo``): generates the market
(``siyu.market.generator``) and simulates the 14 days before today through the market actors
(``siyu.market.actors``), one unit of work per simulated day (``siyu.market.simulate``). A
database that already holds the market is left alone (``None``).

``extra_actors`` is the hook for behaviours other areas add (a fission campaign's actor): they
act after the generic market each day and share its world.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.kit.money import format_yuan
from siyu.kit.time import SHANGHAI, to_shanghai, utc_now
from siyu.market.actors import deterministic_routing, market_actors, state_of
from siyu.market.generator import MarketConfig, generate
from siyu.market.setup import MarketState
from siyu.market.simulation import DayActor, Progress, World, simulate
from siyu.models import OperatorAccount, Role, User

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


def generic_actor_count() -> int:
    return len(market_actors())


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
    with deterministic_routing():
        simulate(world, [*actors, *extra_actors], progress)
    return MarketDemo(world, state_of(actors), highlights(world, actors))


def highlights(world: World, actors: Sequence[DayActor]) -> list[str]:
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
    "run_market_demo",
]
