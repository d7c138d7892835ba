"""The synthetic market's generic actors (issue 7): what its people do every simulated day.

Each actor draws the day's behaviour for all the market's people at once (NumPy, from the
people's propensities, interests and the social graph) and carries out only the resulting
actions through siyu's public services and the simulator channel:

- ``Acquisition``: people who pass a store poster scan their city's channel code (or the
  national one) with their SCAN propensity; contacts who share bring friends in through a
  personal code (INVITE propensity) — ``pool.scan``, ``pool.announce_pending``, the channel
  events, ``pool.set_contact_region`` (where the person lives); a few new friends join the
  coupon group (``groups.join_by_code``).
- ``LinkSharing``: active promoters share one of their tracked links with their friends (a
  KOC's graph friends; staff and couriers: people of their place); some click
  (``links.record_click``), some buy (``orders.place_order``; BUY × category interest).
- ``Fulfilment``: orders ship, a few are cancelled, receipts are confirmed (which hands the
  buyer to a courier of the district: the courier accepts the task, ``inbox.complete_task``),
  some come back (``orders.request_after_sale`` / ``decide_after_sale``), buyers repurchase
  (REPURCHASE, attributed by their binding), commissions settle (``commissions.settle_due``).
- ``Broadcasting``: a daily 10:00 broadcast to the market's segment of new friends (the
  last ``RECENT_DAYS`` days; ``segments.update_segment``, ``outreach``), sent on the simulated
  clock; recipients click and buy through the broadcast's own 群发 link, reply 退订
  (OPT_OUT) or delete the account (DELETE, the simulator's remove-friend event).
- ``Payouts``: on the last day, promoters with at least 10 yuan available withdraw
  (``withdrawals``), the platform approves and pays some.

All of it is deterministic for the simulation seed: every draw comes from the day's ``rng``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels.simulator.backend import remove_friend, reply
from siyu.commissions import service as commissions
from siyu.errors import AppError
from siyu.kit.time import to_shanghai, travel_to, utc_now
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.links import service as links
from siyu.market.generator import Action, PromoterKind
from siyu.market.setup import (
    RECENT_DAYS,
    MarketSetup,
    MarketState,
    PlacedOrder,
    build_graph,
    principal_of_promoter,
    segment_in,
)
from siyu.market.simulation import DayActor, World, phone_of
from siyu.models import (
    AfterSaleKind,
    AssistedTask,
    AssistedTaskStatus,
    Contact,
    ContactState,
    Order,
    OrderStatus,
    ScanOutcome,
    TrackedLink,
)
from siyu.models.outreach import BroadcastSend, ContentKind, SendStatus
from siyu.orders import service as orders
from siyu.orders.schemas import DraftLine, OrderDraft
from siyu.outreach import service as outreach
from siyu.outreach.schemas import AudienceIn, BroadcastIn
from siyu.pool import events, groups, inbox
from siyu.pool import service as pool
from siyu.pool.repository import EventRepository
from siyu.regions import service as regions
from siyu.segments import service as segments
from siyu.withdrawals import service as withdrawals

IntArray = npt.NDArray[np.int64]

SCAN: Final = list(Action).index(Action.SCAN)
REPLY: Final = list(Action).index(Action.REPLY)
SHARE: Final = list(Action).index(Action.SHARE)
INVITE: Final = list(Action).index(Action.INVITE)
BUY: Final = list(Action).index(Action.BUY)
REPURCHASE: Final = list(Action).index(Action.REPURCHASE)
OPT_OUT: Final = list(Action).index(Action.OPT_OUT)
DELETE: Final = list(Action).index(Action.DELETE)

# Daily rates on top of the people's propensities (documented in docs/market.md).
POSTER_REACH: Final = 0.25  # share of people passing a store poster on a given day
SHARE_TODAY: Final = 0.08  # a contact with SHARE propensity p shares the code today w.p. p × this
GROUP_JOIN: Final = 0.3  # a new friend joins the coupon group w.p. REPLY × this
PROMOTER_ACTIVE: Final = 0.9  # a promoter shares today w.p. activity × this
AUDIENCE_MAX: Final = 60  # friends (or place neighbours) one share reaches
CLICK: Final = 0.2  # a reached person clicks
BUY_PER_CLICK: Final = 4.0  # × BUY propensity, × interest below
INTEREST: Final = (0.6, 1.6)  # other category, own category
CANCEL: Final = 0.03
REFUND: Final = 0.06  # of received orders: an after-sale request
REFUND_APPROVED: Final = 0.8
REPURCHASE_DAILY: Final = 0.05  # × REPURCHASE propensity, for buyers with a received order
COURIER_ACCEPTS: Final = 0.7
BROADCAST_CLICK: Final = 0.06
OPT_OUT_SCALE: Final = 3.0  # × OPT_OUT per marketing message received
DELETE_SCALE: Final = 0.5
WITHDRAW_MIN_FEN: Final = 1000
BROADCAST_TEXT: Final = "{昵称}您好，今日好价已上新，点卡片查看详情。回复 TD 退订。"


@contextmanager
def _timed(state: MarketState, kind: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        state.seconds[kind] = state.seconds.get(kind, 0.0) + time.perf_counter() - started


@contextmanager
def deterministic_routing() -> Iterator[None]:
    """Routing without the per-process snapshot cache (``SIYU_ROUTING_SNAPSHOT_SECONDS`` = 0)
    while a simulation runs: the cache's lifetime is wall-clock time, so with it the same seed
    could route a scanner to another account depending on how fast the machine is."""
    from siyu.config import configure, current_settings
    from siyu.pool import snapshots

    before = current_settings()
    configure(before.model_copy(update={"routing_snapshot_seconds": 0.0}))
    snapshots.forget_codes()
    try:
        yield
    finally:
        configure(before)


def send_broadcast(session: Session, broadcast_id: int, moment: datetime, until: datetime) -> None:
    """Send a started broadcast's due rows on the simulated clock from ``moment`` to ``until``
    (what the ``outreach.send_due`` job does, one due row at a time)."""
    while moment <= until:
        with travel_to(moment):
            outcome = outreach.send_next(session, broadcast_id, now=moment)
            if outcome is not None:
                continue
            wait = outreach.seconds_until_next_due(session, broadcast_id)
        if wait is None:
            break
        # Whole seconds from the last moment (the clock ticks while we work; the due times
        # do not), so the same seed sends at the same moments.
        moment += timedelta(seconds=max(1, math.ceil(wait)))
    with travel_to(until):
        outreach.finish_done(session)


def process_events(session: Session) -> None:
    """What the pool's jobs do after the commit, inline: apply the channel's events."""
    repository = EventRepository(session)
    while True:
        ids = repository.unprocessed_ids(500)
        if not ids:
            return
        events.process_many(session, ids)


def _hour(world: World, day: int, hours: float) -> AbstractContextManager[None]:
    return travel_to(world.day_start(day) + timedelta(hours=hours))


def _buy(
    session: Session,
    world: World,
    state: MarketState,
    person: int,
    listing_index: int,
    day: int,
    click_token: str | None,
) -> bool:
    """One order through the H5 checkout path; False when refused (sold out, …)."""
    listing = state.listings[listing_index]
    address = regions.full_name(world.market.region_code(person))
    try:
        with _timed(state, "order"):
            order = orders.place_order(
                session,
                OrderDraft(
                    lines=(DraftLine(product_id=listing.product_id, quantity=1),),
                    phone=phone_of(person),
                    nickname=f"用户{person:06d}",
                    click_token=click_token,
                    region=address[:64],
                ),
            )
    except AppError:
        world.stats["orders_refused"] += 1
        return False
    world.people.note_consumer(person, order.consumer_id)
    line = order.lines[0]
    state.orders.append(PlacedOrder(order.id, person, day, line.id, line.paid_fen))
    state.open_orders.append(len(state.orders) - 1)
    world.stats["orders"] += 1
    world.stats["gmv_fen"] += order.paid_fen
    return True


def _interest(world: World, state: MarketState, people: IntArray, listing_index: int) -> np.ndarray:
    own = world.market.category[people] == state.listings[listing_index].category
    return np.where(own, INTEREST[1], INTEREST[0])


class Acquisition:
    """Store posters and word of mouth bring people into the operator accounts."""

    name = "扫码加好友"

    def __init__(self, state: MarketState) -> None:
        self.state = state

    def begin(self, session: Session, world: World) -> None:
        return None

    def day(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None:
        state, market = self.state, world.market
        n = market.consumers
        propensity = market.propensity
        free = ~state.has_contact & ~state.removed
        # Store posters: passing one, then scanning it.
        passing = rng.random(n) < POSTER_REACH
        scans = passing & free & (rng.random(n) < propensity[:, SCAN])
        # Word of mouth: today's sharers' friends scan the sharer's personal code.
        sharers = state.has_contact & (rng.random(n) < propensity[:, SHARE] * SHARE_TODAY)
        invited: dict[int, int] = {}
        for who in np.flatnonzero(sharers).tolist():
            friends = state.friends(who)
            if friends.size == 0:
                continue
            draw = rng.random(friends.size)
            for friend in friends[(draw < propensity[friends, INVITE]) & free[friends]].tolist():
                invited.setdefault(friend, who)
        for person in sorted(invited):
            scans[person] = False
        city = market.places.city[market.place]
        joins = rng.random(n) < propensity[:, REPLY] * GROUP_JOIN
        added: list[tuple[int, int]] = []  # (person, contact id)
        for scanner in np.flatnonzero(scans).tolist():
            found = self._scan(session, world, scanner, state.code_for(int(city[scanner])), None)
            if found is not None:
                added.append((scanner, found))
        for person, sharer in sorted(invited.items()):
            code = self._personal_code(session, world, sharer, int(city[sharer]))
            if code is None:
                continue
            found = self._scan(session, world, person, code, None)
            if found is not None:
                added.append((person, found))
                world.stats["invited_scans"] += 1
        with _timed(state, "add"):
            for _person, contact_id in added:
                pool.announce_pending(session, contact_id)
            process_events(session)
        self._record_places(session, world)
        for person, contact_id in added:
            contact = session.get(Contact, contact_id)
            if contact is None or contact.state != ContactState.CONFIRMED:
                continue
            world.people.note_contact(person, contact.consumer_id, contact.id)
            state.has_contact[person] = True
            world.stats["adds"] += 1
            if joins[person] and state.group_code:
                with _timed(state, "group_join"):
                    joined = groups.join_by_code(
                        session, state.group_code, world.people.identity(person)
                    )
                if joined.outcome == "joined":
                    world.stats["group_joins"] += 1

    def _record_places(self, session: Session, world: World) -> None:
        """Friends other actors made (a campaign's) answer where they live too."""
        state = self.state
        with _timed(state, "scan"):
            for person, contact_id in sorted(world.people.contact_id.items()):
                if contact_id in state.regioned:
                    continue
                state.regioned.add(contact_id)
                contact = session.get(Contact, contact_id)
                if contact is None or contact.city_code or contact.district_code:
                    continue
                pool.set_contact_region(
                    session, world.admin, contact_id, world.market.region_code(person)
                )

    def _scan(
        self, session: Session, world: World, person: int, code: str, state_raw: str | None
    ) -> int | None:
        state = self.state
        with _timed(state, "scan"):
            result = pool.scan(
                session, code, world.people.identity(person), state_raw, state.route_rng
            )
        world.stats["scans"] += 1
        if result.outcome == ScanOutcome.FULL:
            world.stats["scans_full"] += 1
        if result.contact_id is None or result.outcome not in (
            ScanOutcome.ROUTED,
            ScanOutcome.SPARE,
        ):
            return None
        # The greeting asks where they live; the operator records the district they answer.
        with _timed(state, "scan"):
            pool.set_contact_region(
                session, world.admin, result.contact_id, world.market.region_code(person)
            )
        state.regioned.add(result.contact_id)
        return result.contact_id

    def _personal_code(self, session: Session, world: World, sharer: int, city: int) -> str | None:
        state = self.state
        if sharer in state.personal_codes:
            return state.personal_codes[sharer]
        consumer_id = world.people.consumer_id.get(sharer)
        parent = state.code_for(city)
        if consumer_id is None or parent not in state.parent_code_ids:
            return None
        code = pool.create_personal_code(
            session, world.admin, state.parent_code_ids[parent], referrer_consumer_id=consumer_id
        )
        state.personal_codes[sharer] = code.code
        return code.code


class LinkSharing:
    """Promoters share tracked links; their friends click and buy."""

    name = "推手分享链接"

    def __init__(self, state: MarketState) -> None:
        self.state = state

    def begin(self, session: Session, world: World) -> None:
        return None

    def day(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None:
        state, market = self.state, world.market
        found = market.promoters
        active = rng.random(len(found.kind)) < found.activity * PROMOTER_ACTIVE
        for index in np.flatnonzero(active):
            link_ids = state.promoter_links.get(int(index), [])
            if not link_ids:
                continue
            link_id = link_ids[int(rng.integers(len(link_ids)))]
            audience = self._audience(int(index), world, rng)
            if audience.size == 0:
                continue
            listing_index = state.link_products[link_id]
            clicks = audience[rng.random(audience.size) < CLICK]
            buys = rng.random(clicks.size) < np.clip(
                market.propensity[clicks, BUY]
                * BUY_PER_CLICK
                * _interest(world, state, clicks, listing_index),
                0.0,
                0.9,
            )
            world.stats["shares"] += 1
            if clicks.size == 0:
                continue
            link = session.get(TrackedLink, link_id)
            assert link is not None
            with _hour(world, day, 12 + int(index) % 9):
                for person, buys_now in zip(clicks.tolist(), buys.tolist(), strict=True):
                    with _timed(state, "click"):
                        token = links.record_click(
                            session, link, consumer_id=world.people.consumer_id.get(person)
                        )
                    world.stats["clicks"] += 1
                    if buys_now:
                        _buy(session, world, state, person, listing_index, day, token)

    def _audience(self, index: int, world: World, rng: np.random.Generator) -> IntArray:
        state, found = self.state, world.market.promoters
        if found.kind[index] == PromoterKind.KOC:
            people = state.friends(int(found.consumer[index]))
        else:
            place = int(found.place[index])
            start, count = int(state.place_start[place]), int(state.place_count[place])
            people = np.arange(start, start + count, dtype=np.int64)
        if people.size > AUDIENCE_MAX:
            people = np.sort(rng.choice(people, size=AUDIENCE_MAX, replace=False))
        result: IntArray = people.astype(np.int64)
        return result


class Fulfilment:
    """Orders move (ship, cancel, receive, refund), couriers add their customers, buyers come
    back, commissions settle."""

    name = "发货收货与复购"

    def __init__(self, state: MarketState) -> None:
        self.state = state

    def begin(self, session: Session, world: World) -> None:
        return None

    def day(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None:
        state = self.state
        admin = world.admin
        still_open: list[int] = []
        draws = rng.random((len(state.open_orders), 3))
        with _hour(world, day, 15), _timed(state, "fulfilment"):
            for row, position in enumerate(state.open_orders):
                placed = state.orders[position]
                order = session.get(Order, placed.order_id)
                assert order is not None
                age = day - placed.day
                if order.status == OrderStatus.PAID and age >= 1:
                    if draws[row, 0] < CANCEL:
                        orders.cancel_order(session, admin, order.id)
                        world.stats["cancelled"] += 1
                        continue
                    orders.ship_order(session, admin, order.id)
                elif order.status == OrderStatus.SHIPPED and age >= 3:
                    orders.confirm_receipt(session, admin, order.id)
                    state.received[placed.person] = True
                    world.stats["received"] += 1
                    if draws[row, 1] < REFUND:
                        self._after_sale(session, world, placed, draws[row, 2])
                    continue
                if order.status in (OrderStatus.PAID, OrderStatus.SHIPPED):
                    still_open.append(position)
        state.open_orders = still_open
        self._couriers(session, world, day, rng)
        self._repurchase(session, world, day, rng)
        with _hour(world, day, 23.5), _timed(state, "settle"):
            world.stats["settled"] += commissions.settle_due(session, utc_now())

    def _after_sale(self, session: Session, world: World, placed: PlacedOrder, draw: float) -> None:
        full = draw < 0.5
        amount = placed.paid_fen if full else max(1, placed.paid_fen // 2)
        after_sale = orders.request_after_sale(
            session,
            world.admin,
            placed.line_id,
            amount,
            AfterSaleKind.RETURN if full else AfterSaleKind.REFUND,
            "七天无理由退货" if full else "商品与描述不符，协商部分退款",
        )
        world.stats["after_sales"] += 1
        if draw < REFUND_APPROVED:
            orders.decide_after_sale(session, world.admin, after_sale.id, approve=True)
            world.stats["refunds"] += 1
            world.stats["refunded_fen"] += amount

    def _couriers(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None:
        state = self.state
        tasks = session.scalars(
            select(AssistedTask.id)
            .where(
                AssistedTask.source_kind == "courier_order",
                AssistedTask.status == AssistedTaskStatus.OPEN,
            )
            .order_by(AssistedTask.id)
        ).all()
        accepted = rng.random(len(tasks)) < COURIER_ACCEPTS
        with _hour(world, day, 18), _timed(state, "courier"):
            done: list[int] = []
            for task_id, accepts in zip(tasks, accepted.tolist(), strict=True):
                if not accepts:
                    continue
                task = inbox.complete_task(session, None, task_id, AssistedTaskStatus.DONE)
                if task.contact_id is not None:
                    done.append(task.contact_id)
            process_events(session)
            for contact_id in done:
                contact = session.get(Contact, contact_id)
                if contact is None or contact.state != ContactState.CONFIRMED:
                    continue
                person = world.people.index_of_consumer.get(contact.consumer_id)
                if person is None:
                    continue
                world.people.note_contact(person, contact.consumer_id, contact.id)
                state.has_contact[person] = True
                world.stats["courier_adds"] += 1

    def _repurchase(
        self, session: Session, world: World, day: int, rng: np.random.Generator
    ) -> None:
        state, market = self.state, world.market
        if not state.listings:
            return
        again = state.received & (
            rng.random(market.consumers) < market.propensity[:, REPURCHASE] * REPURCHASE_DAILY
        )
        # Their own interest first: the first listing of their category, else any.
        by_category: dict[int, int] = {}
        for index, listing in enumerate(state.listings):
            by_category.setdefault(listing.category, index)
        fallback = rng.integers(len(state.listings), size=market.consumers)
        with _hour(world, day, 20):
            for person in np.flatnonzero(again).tolist():
                listing_index = by_category.get(int(market.category[person]), int(fallback[person]))
                if _buy(session, world, state, person, listing_index, day, None):
                    world.stats["repurchases"] += 1


class Broadcasting:
    """The platform's daily 10:00 broadcast to the market's segment and what recipients do."""

    name = "群发"

    def __init__(self, state: MarketState) -> None:
        self.state = state

    def begin(self, session: Session, world: World) -> None:
        return None

    def day(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None:
        state = self.state
        if state.segment_id is None or state.broadcast_link_id is None:
            return
        moment = world.day_start(day) + timedelta(hours=10)
        with travel_to(moment), _timed(state, "broadcast"):
            after = world.day_start(max(0, day - RECENT_DAYS + 1))
            segments.update_segment(
                session, world.admin, state.segment_id, segment_in(state.code_ids, after)
            )
            audience = AudienceIn(kind="segment", segment_id=state.segment_id)
            if outreach.audience_count(session, world.admin, audience)[1] == 0:
                return
            broadcast = outreach.create_broadcast(
                session,
                world.admin,
                BroadcastIn(
                    name=f"今日好价 {to_shanghai(moment):%m-%d}",
                    audience=audience,
                    content_kind=ContentKind.PRODUCT,
                    title="【广告】今日好价",
                    text=BROADCAST_TEXT,
                    link_id=state.broadcast_link_id,
                    start_at=moment,  # not the ticking clock: due times repeat for a seed
                    messages_per_minute=60,
                    jitter_seconds=5,
                    seed=day,
                ),
            )
            if int(broadcast.plan.get("now", 0)) + int(broadcast.plan.get("later", 0)) == 0:
                return
            outreach.start(session, world.admin, broadcast.id)
        state.broadcast_ids.append(broadcast.id)
        with _timed(state, "broadcast"):
            send_broadcast(
                session, broadcast.id, moment, world.day_start(day) + timedelta(hours=21)
            )
        self._react(session, world, day, broadcast.id, broadcast.link_id, rng)

    def _react(
        self,
        session: Session,
        world: World,
        day: int,
        broadcast_id: int,
        link_id: int | None,
        rng: np.random.Generator,
    ) -> None:
        state, market = self.state, world.market
        sent = session.execute(
            select(BroadcastSend.contact_id, BroadcastSend.consumer_id)
            .where(
                BroadcastSend.broadcast_id == broadcast_id,
                BroadcastSend.status == SendStatus.SENT,
                BroadcastSend.contact_id.is_not(None),
            )
            .order_by(BroadcastSend.id)
        ).all()
        world.stats["broadcast_sent"] += len(sent)
        people = np.array(
            [world.people.index_of_consumer.get(consumer or 0, -1) for _c, consumer in sent],
            dtype=np.int64,
        )
        known = people >= 0
        safe = np.where(known, people, 0)
        draws = rng.random((len(sent), 3))
        link = session.get(TrackedLink, link_id) if link_id is not None else None
        listing_index = (
            state.link_products.get(state.broadcast_link_id or 0, 0) if state.listings else 0
        )
        clicks = known & (draws[:, 0] < BROADCAST_CLICK)
        buys = clicks & (
            draws[:, 1]
            < np.clip(
                market.propensity[safe, BUY]
                * BUY_PER_CLICK
                * (_interest(world, state, safe, listing_index) if state.listings else 1.0),
                0.0,
                0.9,
            )
        )
        leaves = known & ~clicks & (draws[:, 2] < market.propensity[safe, OPT_OUT] * OPT_OUT_SCALE)
        deletes = (
            known
            & ~clicks
            & ~leaves
            & (draws[:, 2] > 1 - market.propensity[safe, DELETE] * DELETE_SCALE)
        )
        with _hour(world, day, 11):
            for row in range(len(sent)):
                person = int(people[row])
                if clicks[row] and link is not None:
                    with _timed(state, "click"):
                        token = links.record_click(
                            session, link, consumer_id=world.people.consumer_id.get(person)
                        )
                    world.stats["broadcast_clicks"] += 1
                    if buys[row]:
                        _buy(session, world, state, person, listing_index, day, token)
            with _timed(state, "opt_out"):
                for row in np.flatnonzero(leaves | deletes).tolist():
                    contact = session.get(Contact, sent[row][0])
                    if contact is None or contact.state != ContactState.CONFIRMED:
                        continue
                    if leaves[row]:
                        reply(session, contact, "退订", f"market-{day}-optout")
                        state.opted_out[contact.id] = utc_now()
                        world.stats["opt_outs"] += 1
                    else:
                        remove_friend(session, contact, f"market-{day}")
                        state.has_contact[int(people[row])] = False
                        state.removed[int(people[row])] = True
                        world.people.forget_contact(int(people[row]))
                        world.stats["deletes"] += 1
                process_events(session)


class Payouts:
    """The last day, after the day's settlement: promoters with at least 10 yuan available
    withdraw; the platform approves two in three and pays half of those."""

    name = "结算与提现"

    def __init__(self, state: MarketState) -> None:
        self.state = state

    def begin(self, session: Session, world: World) -> None:
        return None

    def day(self, session: Session, world: World, day: int, rng: np.random.Generator) -> None:
        if day != world.days - 1:
            return
        state = self.state
        with _hour(world, day, 23.75), _timed(state, "payout"):
            for index, promoter_id in enumerate(state.promoter_ids):
                available = ledger.balance(session, ledger_rules.promoter_available(promoter_id))
                if available < WITHDRAW_MIN_FEN:
                    continue
                owner = principal_of_promoter(session, promoter_id)
                amount = (available // 100) * 100
                withdrawal = withdrawals.request_withdrawal(
                    session, owner, amount, f"market-withdrawal-{world.seed}-{promoter_id}"
                )
                world.stats["withdrawals"] += 1
                world.stats["withdrawn_fen"] += amount
                if index % 3 != 2:
                    withdrawals.approve(session, world.admin, withdrawal.id)
                    if index % 3 == 0:
                        withdrawals.mark_paid(session, world.admin, withdrawal.id)
                        world.stats["paid_out"] += 1


def draw_days(world: World, seed: int) -> Counter[str]:
    """The market's daily draws alone, with NumPy and no services (the baseline of
    ``bench/demo.py``): the same vectors the actors draw for ``world.days`` days, with every
    scan counted as a new friend and every buy as a received order. Returns the counts."""
    market = world.market
    n = market.consumers
    offsets, neighbours = build_graph(n, market.edges)
    propensity = market.propensity
    found = market.promoters
    has_contact = np.zeros(n, dtype=np.bool_)
    received = np.zeros(n, dtype=np.bool_)
    counts: Counter[str] = Counter()
    for day in range(world.days):
        rng = np.random.default_rng([seed, 99, day])
        free = ~has_contact
        scans = (rng.random(n) < POSTER_REACH) & free & (rng.random(n) < propensity[:, SCAN])
        sharers = has_contact & (rng.random(n) < propensity[:, SHARE] * SHARE_TODAY)
        starts, ends = offsets[:-1][sharers], offsets[1:][sharers]
        if starts.size:
            lengths = ends - starts
            within = np.arange(int(lengths.sum())) - np.repeat(
                np.cumsum(lengths) - lengths, lengths
            )
            friends = neighbours[np.repeat(starts, lengths) + within]
            invited = friends[
                (rng.random(friends.size) < propensity[friends, INVITE]) & free[friends]
            ]
            scans[invited] = True
        joins = rng.random(n) < propensity[:, REPLY] * GROUP_JOIN
        counts["scans"] += int(scans.sum())
        counts["group_joins"] += int((scans & joins).sum())
        has_contact |= scans
        active = rng.random(len(found.kind)) < found.activity * PROMOTER_ACTIVE
        for index in np.flatnonzero(active).tolist():
            if found.kind[index] == PromoterKind.KOC:
                consumer = int(found.consumer[index])
                audience = neighbours[offsets[consumer] : offsets[consumer + 1]]
            else:
                audience = np.flatnonzero(market.place == found.place[index])
            if audience.size > AUDIENCE_MAX:
                audience = np.sort(rng.choice(audience, size=AUDIENCE_MAX, replace=False))
            clicks = audience[rng.random(audience.size) < CLICK]
            buys = clicks[rng.random(clicks.size) < propensity[clicks, BUY] * BUY_PER_CLICK]
            counts["clicks"] += int(clicks.size)
            counts["orders"] += int(buys.size)
            received[buys] = True
        recipients = np.flatnonzero(scans)
        draws = rng.random((recipients.size, 3))
        counts["broadcast_sent"] += int(recipients.size)
        counts["broadcast_clicks"] += int((draws[:, 0] < BROADCAST_CLICK).sum())
        counts["opt_outs"] += int(
            (draws[:, 2] < propensity[recipients, OPT_OUT] * OPT_OUT_SCALE).sum()
        )
        again = received & (rng.random(n) < propensity[:, REPURCHASE] * REPURCHASE_DAILY)
        counts["repurchases"] += int(again.sum())
    return counts


def market_actors(state: MarketState | None = None) -> list[DayActor]:
    """The generic market, in the order they act each day."""
    shared = state or MarketState()
    return [
        MarketSetup(shared),
        Acquisition(shared),
        LinkSharing(shared),
        Broadcasting(shared),
        Fulfilment(shared),
        Payouts(shared),
    ]


def state_of(actors: list[DayActor]) -> MarketState:
    for actor in actors:
        if isinstance(actor, MarketSetup):
            return actor.state
    raise LookupError("no MarketSetup among the actors")


__all__ = [
    "Acquisition",
    "Broadcasting",
    "Fulfilment",
    "LinkSharing",
    "Payouts",
    "deterministic_routing",
    "draw_days",
    "market_actors",
    "process_events",
    "send_broadcast",
    "state_of",
]
