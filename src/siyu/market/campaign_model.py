"""The behaviour model of one fission campaign on a synthetic market, day by day.

Pure NumPy (no database): given a ``Market``, a ``CampaignDraft`` (poster reach, where the poster
is shown, reward tiers and stock, the entry code's accounts and their caps, duration) and a
generator, ``step`` draws what the market's people do on one day of the campaign. The forecast
(``siyu.forecasts``) runs it many times with independent generators; the simulation's
``CampaignActor`` (``siyu.market.campaign_run``) carries the same draws out through siyu's
services. Forecast and actual therefore share one behaviour model; only the enforcement differs
(here the model applies caps and stock itself, in the simulation siyu's services do).

One day, in order (see docs/forecasting.md):

1. people whose deletion was scheduled for today delete the account (a seat comes back); an
   invite verified within ``invalidation_days`` is invalidated;
2. ``reach_on(day)`` people in the poster's places see the poster and scan with their SCAN
   propensity; people a participant's share reached yesterday scan the participant's personal
   code with their SCAN propensity × ``tie_boost`` (the friend tie);
3. the scans, in random order, take the accounts' remaining adds of the day and friend seats;
   the rest are 'full'. A routed add completes with ``accept_bp`` (the simulator's acceptance);
   a person routed once never scans again (they have a contact, pending or confirmed);
4. a confirmed invitee verifies its invite (friend-add and share campaigns; first-purchase ones
   when the invitee buys, by the BUY propensity, within two days); a confirmed person schedules a
   deletion with the DELETE propensity within ``delete_horizon_days``;
5. confirmed people reply (REPLY) and join (``join_bp`` of those who reply);
6. participants share (SHARE × ``reshare_decay`` per day since joining): each friend (the
   market's ``edges``) sees it with ``share_reach`` and scans tomorrow; a share campaign's share
   is also a screenshot proof, approved with ``approve_bp``;
7. participants whose progress reaches a tier claim it; stock is taken from the tier's total and,
   where the tier has district stock, from the participant's district (their place); never more
   than the stock. The first day the adds, seats or a stock line run out is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from siyu.market.generator import ACTIONS, Action, Market
from siyu.models.campaigns import CampaignTrigger

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_COLUMN: Final = {action: index for index, action in enumerate(ACTIONS)}
ALL_DISTRICTS: Final = ""  # the stock line of a tier's total (as in models.campaigns)

# Cap kinds (warnings).
DAILY_ADDS: Final = "daily_adds"
FRIEND_SEATS: Final = "friend_seats"

# Referral states per person (invitees).
NO_REFERRAL: Final = 0
PENDING: Final = 1
VERIFIED: Final = 2
INVALIDATED: Final = 3


@dataclass(frozen=True)
class TierDraft:
    """A reward tier: ``threshold`` verified invites (or approved proofs) earn it."""

    name: str
    threshold: int
    unit_cost_fen: int = 0  # 分 per reward issued
    total: int = 0  # the tier's total stock
    districts: Mapping[str, int] = field(default_factory=dict)  # district code → stock

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.unit_cost_fen < 0 or self.total < 0:
            raise ValueError("tier threshold, cost and stock cannot be negative")
        if any(stock < 0 for stock in self.districts.values()):
            raise ValueError("district stock cannot be negative")


@dataclass(frozen=True)
class AccountDraft:
    """One account the entry code routes to, with what it has left."""

    name: str
    adds_per_day: int  # passive adds per day (the cap)
    seats_left: int  # friend seats left (max friends − friends used)
    adds_left_today: int | None = None  # day 0's remaining adds (None = the whole cap)

    def __post_init__(self) -> None:
        if self.adds_per_day < 0 or self.seats_left < 0:
            raise ValueError("account caps cannot be negative")


@dataclass(frozen=True)
class Behaviour:
    """The model's assumptions beyond the market's per-person propensities."""

    tie_boost: float = 5.0  # a friend's share multiplies the invitee's scan propensity
    share_reach: float = 0.8  # share of a sharer's friends who see one share (moments, chats)
    reshare_decay: float = 0.5  # each day after joining, the chance to share again halves
    accept_bp: int = 9000  # routed adds the person completes (the simulator's default)
    join_bp: int = 8000  # people who reply and then join
    approve_bp: int = 8500  # screenshot proofs approved by the reviewer
    delete_horizon_days: int = 7  # a deletion happens within this many days of the add


@dataclass(frozen=True)
class CampaignDraft:
    trigger: CampaignTrigger
    reach: int  # people who see the poster: per day, or in total when ``reach_is_total``
    days: int
    tiers: tuple[TierDraft, ...]
    accounts: tuple[AccountDraft, ...]
    reach_is_total: bool = False
    places: tuple[str, ...] = ()  # district / city / province codes; () = everywhere
    invalidation_days: int | None = None
    behaviour: Behaviour = field(default_factory=Behaviour)

    def __post_init__(self) -> None:
        if self.reach < 0:
            raise ValueError("reach cannot be negative")
        if self.days < 1:
            raise ValueError("a campaign lasts at least one day")

    def reach_on(self, day: int) -> int:
        if not self.reach_is_total:
            return self.reach
        base, rest = divmod(self.reach, self.days)
        return base + (1 if day < rest else 0)

    def stock_lines(self) -> list[tuple[int, str]]:
        """(tier index, district code) of every stock line; '' = the tier's total."""
        lines: list[tuple[int, str]] = []
        for index, tier in enumerate(self.tiers):
            lines.append((index, ALL_DISTRICTS))
            lines.extend((index, code) for code in sorted(tier.districts))
        return lines


@dataclass(frozen=True)
class Graph:
    """The market's friendships as adjacency lists (CSR), built once per market."""

    indptr: IntArray
    indices: IntArray

    @classmethod
    def of(cls, market: Market) -> Graph:
        n = market.consumers
        edges = market.edges
        ends = np.concatenate((edges[:, 0], edges[:, 1]))
        other = np.concatenate((edges[:, 1], edges[:, 0]))
        order = np.argsort(ends, kind="stable")
        counts = np.bincount(ends, minlength=n)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(indptr=indptr, indices=other[order].astype(np.int64))

    def friends_of(self, people: IntArray) -> tuple[IntArray, IntArray]:
        """(friend, whose friend) for every friendship of ``people``."""
        starts = self.indptr[people]
        counts = self.indptr[people + 1] - starts
        total = int(counts.sum())
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        owner = np.repeat(people, counts)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.indices[np.repeat(starts, counts) + offsets], owner


def place_mask(market: Market, places: tuple[str, ...]) -> BoolArray:
    """Which of the market's places a code list covers: a place by its own code, its city's
    code or its province's code (NN0000); () covers every place."""
    codes = market.places.codes
    if not places:
        return np.ones(len(codes), dtype=np.bool_)
    wanted = set(places)
    provinces = {code[:2] for code in wanted if code.endswith("0000")}
    return np.array(
        [
            code in wanted or city in wanted or code[:2] in provinces
            for code, city in zip(codes, market.places.city_codes, strict=True)
        ],
        dtype=np.bool_,
    )


@dataclass(frozen=True)
class Context:
    """What does not change during a run: built once per (market, draft), shared by runs."""

    graph: Graph
    poster_people: IntArray  # people living where the poster is shown
    scan: npt.NDArray[np.float64]
    reply: npt.NDArray[np.float64]
    share: npt.NDArray[np.float64]
    buy: npt.NDArray[np.float64]
    delete: npt.NDArray[np.float64]
    district_codes: tuple[str, ...]  # every district with stock in some tier
    district_of: npt.NDArray[np.int32]  # per person: index into district_codes, -1 = none
    thresholds: IntArray
    costs: IntArray

    @classmethod
    def of(cls, market: Market, draft: CampaignDraft, graph: Graph | None = None) -> Context:
        mask = place_mask(market, draft.places)
        poster_people = np.flatnonzero(mask[market.place]).astype(np.int64)
        propensity = market.propensity.astype(np.float64)
        districts = tuple(sorted({code for tier in draft.tiers for code in tier.districts}))
        index = {code: position for position, code in enumerate(districts)}
        place_district = np.array(
            [index.get(code, -1) for code in market.places.codes], dtype=np.int32
        )
        return cls(
            graph=graph or Graph.of(market),
            poster_people=poster_people,
            scan=propensity[:, _COLUMN[Action.SCAN]],
            reply=propensity[:, _COLUMN[Action.REPLY]],
            share=propensity[:, _COLUMN[Action.SHARE]],
            buy=propensity[:, _COLUMN[Action.BUY]],
            delete=propensity[:, _COLUMN[Action.DELETE]],
            district_codes=districts,
            district_of=place_district[market.place],
            thresholds=np.array([tier.threshold for tier in draft.tiers], dtype=np.int64),
            costs=np.array([tier.unit_cost_fen for tier in draft.tiers], dtype=np.int64),
        )


@dataclass
class CampaignState:
    """Everything a run carries from one day to the next (per person and per stock line)."""

    context: Context
    routed: BoolArray  # has a contact on the code's accounts (pending or confirmed, ever)
    contact: BoolArray  # a confirmed contact now
    account: npt.NDArray[np.int32]  # the account index of their contact, -1
    participant: BoolArray
    joined_day: npt.NDArray[np.int32]
    inviter: IntArray  # the participant whose code brought them, -1
    referral: npt.NDArray[np.int8]
    verified_day: npt.NDArray[np.int32]
    verify_day: npt.NDArray[np.int32]  # first-purchase invites: the day the invitee buys, -1
    delete_day: npt.NDArray[np.int32]  # -1 = never
    reached: BoolArray  # a share reached them already (each person is counted once)
    progress: IntArray  # verified invites (or approved proofs) per participant
    qualified: BoolArray
    issued: npt.NDArray[np.bool_]  # (people, tiers)
    invitees: IntArray  # reached by yesterday's shares: scan today
    invitee_inviters: IntArray
    adds_left: IntArray  # per account, today
    seats_left: IntArray
    stock_total: IntArray  # per tier
    stock_district: IntArray  # (tiers, districts); unused cells 0
    has_districts: BoolArray  # per tier
    # First day each thing ran out (-1 = not yet): caps by kind, stock by line.
    cap_day: dict[str, int] = field(default_factory=dict)
    stock_day: dict[tuple[int, str], int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)


def new_state(
    market: Market, draft: CampaignDraft, context: Context | None = None
) -> CampaignState:
    context = context or Context.of(market, draft)
    n = market.consumers
    tiers = len(draft.tiers)
    districts = len(context.district_codes)
    stock_district = np.zeros((tiers, max(districts, 1)), dtype=np.int64)
    for t, tier in enumerate(draft.tiers):
        for code, stock in tier.districts.items():
            stock_district[t, context.district_codes.index(code)] = stock
    minus = np.full(n, -1, dtype=np.int32)
    return CampaignState(
        context=context,
        routed=np.zeros(n, dtype=np.bool_),
        contact=np.zeros(n, dtype=np.bool_),
        account=minus.copy(),
        participant=np.zeros(n, dtype=np.bool_),
        joined_day=minus.copy(),
        inviter=np.full(n, -1, dtype=np.int64),
        referral=np.zeros(n, dtype=np.int8),
        verified_day=minus.copy(),
        verify_day=minus.copy(),
        delete_day=minus.copy(),
        reached=np.zeros(n, dtype=np.bool_),
        progress=np.zeros(n, dtype=np.int64),
        qualified=np.zeros(n, dtype=np.bool_),
        issued=np.zeros((n, tiers), dtype=np.bool_),
        invitees=np.empty(0, dtype=np.int64),
        invitee_inviters=np.empty(0, dtype=np.int64),
        adds_left=np.array(
            [
                account.adds_per_day
                if account.adds_left_today is None
                else min(account.adds_left_today, account.adds_per_day)
                for account in draft.accounts
            ],
            dtype=np.int64,
        ),
        seats_left=np.array([account.seats_left for account in draft.accounts], dtype=np.int64),
        stock_total=np.array([tier.total for tier in draft.tiers], dtype=np.int64),
        stock_district=stock_district,
        has_districts=np.array([bool(tier.districts) for tier in draft.tiers], dtype=np.bool_),
        totals=dict.fromkeys(TOTAL_KEYS, 0),
    )


TOTAL_KEYS: Final = (
    "seen",
    "reached",
    "scans",
    "routed",
    "full",
    "adds",
    "replied",
    "participants",
    "invites",
    "verified",
    "invalidated",
    "removed",
    "proofs",
    "approved",
    "qualified",
    "rewards",
    "cost_fen",
)


def _empty() -> IntArray:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class DayDraws:
    """What happened on one day. Index arrays are market people (``inviters`` etc. are aligned
    with the array they follow)."""

    day: int
    removed: IntArray = field(default_factory=_empty)
    invalidated: IntArray = field(default_factory=_empty)  # invitees whose invite stopped counting
    seen: IntArray = field(default_factory=_empty)
    poster_scans: IntArray = field(default_factory=_empty)
    invite_scans: IntArray = field(default_factory=_empty)
    invite_scan_inviters: IntArray = field(default_factory=_empty)
    routed: IntArray = field(default_factory=_empty)  # in scan order
    routed_accounts: IntArray = field(default_factory=_empty)
    full: IntArray = field(default_factory=_empty)
    confirmed: IntArray = field(default_factory=_empty)
    verified: IntArray = field(default_factory=_empty)  # invitees verified today
    replied: IntArray = field(default_factory=_empty)
    joined: IntArray = field(default_factory=_empty)
    shared: IntArray = field(default_factory=_empty)
    proofs: IntArray = field(default_factory=_empty)  # participants uploading a screenshot
    proofs_approved: BoolArray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))
    reached: IntArray = field(default_factory=_empty)  # scan tomorrow
    reached_inviters: IntArray = field(default_factory=_empty)
    qualified: IntArray = field(default_factory=_empty)
    reward_people: IntArray = field(default_factory=_empty)
    reward_tiers: IntArray = field(default_factory=_empty)
    cap_out: tuple[str, ...] = ()  # cap kinds that ran out today
    stock_out: tuple[tuple[int, str], ...] = ()  # stock lines that ran out today

    @property
    def scans(self) -> int:
        return int(self.poster_scans.shape[0] + self.invite_scans.shape[0])


def _random_unique(
    people: IntArray, owners: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """Each person once, with one of their owners chosen at random."""
    if people.shape[0] == 0:
        return people, owners
    order = rng.permutation(people.shape[0])
    people, owners = people[order], owners[order]
    _, first = np.unique(people, return_index=True)
    first.sort()
    return people[first], owners[first]


def _remove(state: CampaignState, draft: CampaignDraft, day: int) -> tuple[IntArray, IntArray]:
    leaving = np.flatnonzero((state.delete_day == day) & state.contact).astype(np.int64)
    if leaving.shape[0] == 0:
        return leaving, _empty()
    state.contact[leaving] = False
    state.delete_day[leaving] = -1
    np.add.at(state.seats_left, state.account[leaving], 1)
    state.totals["removed"] += int(leaving.shape[0])
    window = draft.invalidation_days
    if window is None:
        return leaving, _empty()
    counted = leaving[
        (state.referral[leaving] == VERIFIED) & (day - state.verified_day[leaving] <= window)
    ]
    # Pending invites (the first purchase not made yet) stop counting too.
    waiting = leaving[state.referral[leaving] == PENDING]
    invalidated = np.sort(np.concatenate((counted, waiting)))
    state.referral[invalidated] = INVALIDATED
    state.verify_day[waiting] = -1
    if draft.trigger != CampaignTrigger.SHARE_PROOF and counted.shape[0]:
        np.subtract.at(state.progress, state.inviter[counted], 1)
    state.totals["invalidated"] += int(invalidated.shape[0])
    state.totals["verified"] -= int(counted.shape[0])
    return leaving, invalidated


def _route(
    state: CampaignState, scanners: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray, IntArray, tuple[str, ...]]:
    """(routed in scan order, their accounts, full, caps that ran out)."""
    capacity = np.minimum(state.adds_left, state.seats_left)
    total = int(capacity.sum())
    taken = min(total, scanners.shape[0])
    slots = rng.permutation(np.repeat(np.arange(capacity.shape[0], dtype=np.int64), capacity))
    accounts = slots[:taken]
    routed, full = scanners[:taken], scanners[taken:]
    used = np.bincount(accounts, minlength=capacity.shape[0]).astype(np.int64)
    state.adds_left -= used
    state.seats_left -= used
    out: tuple[str, ...] = ()
    if full.shape[0]:
        # Someone was turned away: by the seats when none is left, else by the day's adds.
        out = (FRIEND_SEATS,) if int(state.seats_left.sum()) == 0 else (DAILY_ADDS,)
    return routed, accounts, full, out


def _claim(
    state: CampaignState, draft: CampaignDraft, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """Every participant claims each reached tier not issued; stock decides, in random order."""
    context = state.context
    people: list[IntArray] = []
    tier_of: list[IntArray] = []
    for t in np.argsort(context.thresholds, kind="stable"):
        t = int(t)
        eligible = np.flatnonzero(
            state.participant & ~state.issued[:, t] & (state.progress >= context.thresholds[t])
        ).astype(np.int64)
        if eligible.shape[0] == 0 or state.stock_total[t] <= 0:
            continue
        eligible = eligible[rng.permutation(eligible.shape[0])]
        if state.has_districts[t]:
            district = context.district_of[eligible]
            eligible, district = eligible[district >= 0], district[district >= 0]
            # Rank within the district, in claim order: the first k of a district get its stock.
            order = np.argsort(district, kind="stable")
            sorted_district = district[order]
            starts = np.searchsorted(sorted_district, sorted_district, side="left")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.shape[0]) - starts
            ok = rank < state.stock_district[t, district]
            eligible, district = eligible[ok], district[ok]
            eligible, district = (
                eligible[: state.stock_total[t]],
                district[: state.stock_total[t]],
            )
            np.subtract.at(state.stock_district[t], district, 1)
        else:
            eligible = eligible[: state.stock_total[t]]
        state.stock_total[t] -= eligible.shape[0]
        state.issued[eligible, t] = True
        people.append(eligible)
        tier_of.append(np.full(eligible.shape[0], t, dtype=np.int64))
    if not people:
        return _empty(), _empty()
    return np.concatenate(people), np.concatenate(tier_of)


def step(
    market: Market,
    draft: CampaignDraft,
    state: CampaignState,
    day: int,
    rng: np.random.Generator,
) -> DayDraws:
    """Draw day ``day`` of the campaign and advance ``state``. Deterministic for ``rng``."""
    context = state.context
    behaviour = draft.behaviour
    totals = state.totals
    if day > 0:  # a new day: the daily adds come back
        state.adds_left = np.array([a.adds_per_day for a in draft.accounts], dtype=np.int64)

    # 1. deletions scheduled for today.
    removed, invalidated = _remove(state, draft, day)

    # 2. who sees the poster and who scans.
    wanted = min(draft.reach_on(day), context.poster_people.shape[0])
    seen = rng.choice(context.poster_people, size=wanted, replace=False) if wanted else _empty()
    seen = np.sort(seen).astype(np.int64)
    poster = seen[~state.routed[seen] & (rng.random(seen.shape[0]) < context.scan[seen])]
    invitees, inviters = state.invitees, state.invitee_inviters
    open_invitees = ~state.routed[invitees]
    invitees, inviters = invitees[open_invitees], inviters[open_invitees]
    boosted = np.minimum(1.0, context.scan[invitees] * behaviour.tie_boost)
    scanning = rng.random(invitees.shape[0]) < boosted
    invite_scans, invite_inviters = invitees[scanning], inviters[scanning]
    poster = poster[~np.isin(poster, invite_scans)]  # the personal code wins for the same person
    totals["seen"] += int(seen.shape[0])

    # 3. routing under the caps, in random scan order.
    scanners = np.concatenate((poster, invite_scans))
    inviter_of_scan = np.concatenate(
        (np.full(poster.shape[0], -1, dtype=np.int64), invite_inviters)
    )
    order = rng.permutation(scanners.shape[0])
    scanners, inviter_of_scan = scanners[order], inviter_of_scan[order]
    routed, accounts, full, cap_out = _route(state, scanners, rng)
    routed_inviters = inviter_of_scan[: routed.shape[0]]
    state.routed[routed] = True
    state.account[routed] = accounts.astype(np.int32)
    totals["scans"] += int(scanners.shape[0])
    totals["routed"] += int(routed.shape[0])
    totals["full"] += int(full.shape[0])
    for kind in cap_out:
        state.cap_day.setdefault(kind, day)

    # 4. completed adds, invites, scheduled deletions.
    completes = rng.random(routed.shape[0]) * 10_000 < behaviour.accept_bp
    confirmed, confirmed_inviters = routed[completes], routed_inviters[completes]
    state.contact[confirmed] = True
    totals["adds"] += int(confirmed.shape[0])
    deletes = rng.random(confirmed.shape[0]) < context.delete[confirmed]
    later = rng.integers(1, behaviour.delete_horizon_days + 1, size=confirmed.shape[0])
    state.delete_day[confirmed[deletes]] = (day + later[deletes]).astype(np.int32)
    invited = confirmed_inviters >= 0
    new_invitees, their_inviters = confirmed[invited], confirmed_inviters[invited]
    state.inviter[new_invitees] = their_inviters
    totals["invites"] += int(new_invitees.shape[0])
    if draft.trigger == CampaignTrigger.FIRST_PURCHASE:
        state.referral[new_invitees] = PENDING
        buys = rng.random(new_invitees.shape[0]) < context.buy[new_invitees]
        delay = rng.integers(0, 3, size=new_invitees.shape[0])
        state.verify_day[new_invitees[buys]] = (day + delay[buys]).astype(np.int32)
        verified = np.flatnonzero((state.verify_day == day) & (state.referral == PENDING)).astype(
            np.int64
        )
    else:
        verified = new_invitees
    state.referral[verified] = VERIFIED
    state.verified_day[verified] = day
    state.verify_day[verified] = -1
    totals["verified"] += int(verified.shape[0])
    if draft.trigger != CampaignTrigger.SHARE_PROOF and verified.shape[0]:
        np.add.at(state.progress, state.inviter[verified], 1)

    # 5. replies and joins.
    replied = confirmed[rng.random(confirmed.shape[0]) < context.reply[confirmed]]
    joined = replied[rng.random(replied.shape[0]) * 10_000 < behaviour.join_bp]
    state.participant[joined] = True
    state.joined_day[joined] = day
    totals["replied"] += int(replied.shape[0])
    totals["participants"] += int(joined.shape[0])

    # 6. shares (and screenshots), reaching friends for tomorrow.
    active = np.flatnonzero(state.participant & state.contact).astype(np.int64)
    since = day - state.joined_day[active]
    share_chance = context.share[active] * behaviour.reshare_decay ** since.astype(np.float64)
    shared = active[rng.random(active.shape[0]) < share_chance]
    proofs = _empty()
    approved: BoolArray = np.empty(0, dtype=np.bool_)
    if draft.trigger == CampaignTrigger.SHARE_PROOF:
        proofs = shared
        approved = np.asarray(rng.random(proofs.shape[0]) * 10_000 < behaviour.approve_bp)
        np.add.at(state.progress, proofs[approved], 1)
        totals["proofs"] += int(proofs.shape[0])
        totals["approved"] += int(approved.sum())
    friends, owners = context.graph.friends_of(shared)
    sees = rng.random(friends.shape[0]) < behaviour.share_reach
    friends, owners = friends[sees], owners[sees]
    fresh = ~state.reached[friends] & ~state.routed[friends]
    reached, reached_inviters = _random_unique(friends[fresh], owners[fresh], rng)
    state.reached[reached] = True
    state.invitees, state.invitee_inviters = reached, reached_inviters
    totals["reached"] += int(reached.shape[0])

    # 7. qualification and rewards under stock.
    minimum = int(context.thresholds.min()) if context.thresholds.shape[0] else None
    qualified = _empty()
    if minimum is not None:
        qualified = np.flatnonzero(
            state.participant & ~state.qualified & (state.progress >= minimum)
        ).astype(np.int64)
        state.qualified[qualified] = True
    totals["qualified"] += int(qualified.shape[0])
    before_total = state.stock_total.copy()
    before_district = state.stock_district.copy()
    reward_people, reward_tiers = _claim(state, draft, rng)
    totals["rewards"] += int(reward_people.shape[0])
    totals["cost_fen"] += int(context.costs[reward_tiers].sum()) if reward_tiers.shape[0] else 0
    stock_out: list[tuple[int, str]] = []
    for t in range(len(draft.tiers)):
        if before_total[t] > 0 and state.stock_total[t] == 0:
            stock_out.append((t, ALL_DISTRICTS))
        if state.has_districts[t]:
            for d, code in enumerate(context.district_codes):
                if code in draft.tiers[t].districts and (
                    before_district[t, d] > 0 and state.stock_district[t, d] == 0
                ):
                    stock_out.append((t, code))
    for line in stock_out:
        state.stock_day.setdefault(line, day)

    return DayDraws(
        day=day,
        removed=removed,
        invalidated=invalidated,
        seen=seen,
        poster_scans=poster,
        invite_scans=invite_scans,
        invite_scan_inviters=invite_inviters,
        routed=routed,
        routed_accounts=accounts,
        full=full,
        confirmed=confirmed,
        verified=verified,
        replied=replied,
        joined=joined,
        shared=shared,
        proofs=proofs,
        proofs_approved=approved,
        reached=reached,
        reached_inviters=reached_inviters,
        qualified=qualified,
        reward_people=reward_people,
        reward_tiers=reward_tiers,
        cap_out=cap_out,
        stock_out=tuple(stock_out),
    )


__all__ = [
    "DAILY_ADDS",
    "FRIEND_SEATS",
    "AccountDraft",
    "Behaviour",
    "CampaignDraft",
    "CampaignState",
    "Context",
    "DayDraws",
    "Graph",
    "TierDraft",
    "new_state",
    "place_mask",
    "step",
]
