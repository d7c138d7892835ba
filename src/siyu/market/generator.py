"""The synthetic market: consumers in real Chinese places, a social graph and behaviour.

Deterministic from a seed and vectorised with NumPy (no Python loop per person), so a million
consumers and their friendships take seconds. Nothing here touches the database: the simulation
(siyu.market.simulate, later) drives siyu's public services with what this module draws.

Places are the county-level divisions of the shipped 2023 division data (and the three cities
without districts). siyu ships no census, so a place's population is *modelled*: every tier gets
a share of all people (``TierShares``; the defaults put 70% in tier-3 to tier-6 places, the
share seed 000 quotes for 京喜's new users), spread over that tier's places with a lognormal size
factor so places differ. Consumer ids are grouped by place (place order = code order), which
makes "a friend in the same city" a range lookup.

The social graph has locality (most friends live in the same place or city) and a heavy-tailed
degree (a few people have thousands of friends, most a handful): each person draws a
power-law number of friendship "stubs"; each stub picks a partner in the same place, the same
city, or anywhere in proportion to degree (preferential attachment keeps the tail heavy).
Self-loops and repeated pairs are removed; edges are returned once, as (low id, high id), sorted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt

from siyu.regions.rules import (
    CityTier,
    RegionLevel,
    RegionTable,
    TierTable,
    shipped_regions,
    shipped_tiers,
    tier_of,
)

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float32]

TIERS: Final = tuple(CityTier)
TIER_INDEX: Final = {tier: index for index, tier in enumerate(TIERS)}

# Share of all consumers living in each tier (sums to 1). Tier 3–6 = 0.70 (seed 000: ~70% of
# 京喜's new users come from tier-3 to tier-6 cities).
DEFAULT_TIER_SHARES: Final[Mapping[CityTier, float]] = {
    CityTier.TIER_1: 0.06,
    CityTier.NEW_TIER_1: 0.12,
    CityTier.TIER_2: 0.12,
    CityTier.TIER_3: 0.16,
    CityTier.TIER_4: 0.15,
    CityTier.TIER_5: 0.13,
    CityTier.TIER_6: 0.26,
}


class Action(enum.StrEnum):
    """What a simulated consumer may do; each has a probability per person."""

    SCAN = "scan"  # scans a poster / code they are shown
    REPLY = "reply"  # answers a scripted message
    SHARE = "share"  # shares a poster or link with friends
    INVITE = "invite"  # a friend they shared with adds the account through their code
    BUY = "buy"  # buys after clicking a link
    REPURCHASE = "repurchase"  # buys again within 30 days
    OPT_OUT = "opt_out"  # replies 退订 to marketing
    DELETE = "delete"  # deletes the account / leaves the group


ACTIONS: Final = tuple(Action)

# Base probability of each action by tier (index = TIERS order). Lower tiers share and invite
# more and are more price-driven (seed 000: 下沉市场, 熟人社交); upper tiers buy more per click.
_BASE: Final[Mapping[Action, tuple[float, ...]]] = {
    Action.SCAN: (0.04, 0.05, 0.05, 0.06, 0.07, 0.07, 0.08),
    Action.REPLY: (0.45, 0.50, 0.52, 0.58, 0.62, 0.64, 0.66),
    Action.SHARE: (0.10, 0.12, 0.14, 0.20, 0.24, 0.26, 0.28),
    Action.INVITE: (0.12, 0.14, 0.15, 0.18, 0.20, 0.21, 0.22),
    Action.BUY: (0.08, 0.075, 0.07, 0.065, 0.06, 0.055, 0.05),
    Action.REPURCHASE: (0.30, 0.30, 0.28, 0.27, 0.26, 0.25, 0.25),
    Action.OPT_OUT: (0.020, 0.018, 0.016, 0.012, 0.010, 0.010, 0.009),
    Action.DELETE: (0.030, 0.028, 0.026, 0.022, 0.020, 0.020, 0.018),
}

CATEGORIES: Final = ("生鲜", "日用百货", "母婴", "服饰鞋包", "家电数码", "美妆个护", "食品饮料")
# Interest weights by tier (rows) over CATEGORIES (columns).
_CATEGORY_WEIGHTS: Final = (
    (0.10, 0.14, 0.12, 0.18, 0.18, 0.18, 0.10),
    (0.12, 0.16, 0.13, 0.17, 0.16, 0.16, 0.10),
    (0.14, 0.18, 0.13, 0.16, 0.14, 0.14, 0.11),
    (0.18, 0.22, 0.13, 0.14, 0.10, 0.10, 0.13),
    (0.20, 0.23, 0.13, 0.13, 0.08, 0.09, 0.14),
    (0.21, 0.24, 0.13, 0.12, 0.07, 0.08, 0.15),
    (0.22, 0.25, 0.13, 0.11, 0.06, 0.07, 0.16),
)


class PromoterKind(enum.StrEnum):
    STAFF = "staff"
    COURIER = "courier"
    KOC = "koc"


@dataclass(frozen=True)
class MarketConfig:
    consumers: int = 10_000
    seed: int = 20191111
    tier_shares: Mapping[CityTier, float] = field(default_factory=lambda: DEFAULT_TIER_SHARES)
    # Friendships: stubs per person ~ power law with this exponent and minimum, capped.
    degree_exponent: float = 2.5
    degree_min: int = 2
    degree_max: int = 2_000
    same_place_share: float = 0.55
    same_city_share: float = 0.25  # the rest pick anyone, in proportion to degree
    place_size_sigma: float = 0.6  # lognormal spread of place sizes within a tier
    promoters_per_10k: int = 30  # staff + couriers + KOCs
    courier_share: float = 0.4
    staff_share: float = 0.1

    def __post_init__(self) -> None:
        if self.consumers < 1:
            raise ValueError("a market needs at least one consumer")
        if set(self.tier_shares) != set(TIERS):
            raise ValueError("tier_shares needs a share for every tier")
        if any(share < 0 for share in self.tier_shares.values()):
            raise ValueError("tier shares cannot be negative")
        if abs(sum(self.tier_shares.values()) - 1.0) > 1e-9:
            raise ValueError("tier shares must add up to 1")
        if not 0 <= self.same_place_share + self.same_city_share <= 1:
            raise ValueError("same_place_share + same_city_share must be within 0..1")
        if self.degree_exponent <= 1 or self.degree_min < 1 or self.degree_max < self.degree_min:
            raise ValueError("degree needs exponent > 1 and 1 <= min <= max")


@dataclass(frozen=True)
class Places:
    """Every place a consumer can live, in code order."""

    codes: tuple[str, ...]
    city_codes: tuple[str, ...]  # the city each place belongs to (a municipality: its province)
    tier: Int32Array  # index into TIERS
    city: Int32Array  # index into the distinct cities, grouped (place order keeps cities together)


@dataclass(frozen=True)
class Promoters:
    kind: tuple[PromoterKind, ...]
    place: Int32Array  # the place they live in / a courier's territory
    consumer: IntArray  # the consumer this promoter is (KOCs), -1 for staff and couriers
    activity: FloatArray  # relative activity, mean ~1


@dataclass(frozen=True)
class Market:
    config: MarketConfig
    places: Places
    place: Int32Array  # per consumer: index into places (consumer ids are grouped by place)
    edges: IntArray  # (m, 2): low id, high id, sorted, unique, no self-loops
    propensity: FloatArray  # (n, len(ACTIONS)) probabilities in [0, 1]
    category: Int32Array  # per consumer: index into CATEGORIES
    promoters: Promoters

    @property
    def consumers(self) -> int:
        return int(self.place.shape[0])

    def tier_of_consumers(self) -> Int32Array:
        tiers: Int32Array = self.places.tier[self.place]
        return tiers

    def degree(self) -> IntArray:
        degree: IntArray = np.bincount(self.edges.ravel(), minlength=self.consumers).astype(
            np.int64
        )
        return degree

    def region_code(self, consumer: int) -> str:
        return self.places.codes[int(self.place[consumer])]


def _city_key(regions: RegionTable, code: str) -> str:
    region = regions.get(code)
    if region.level == RegionLevel.CITY:
        return code
    parent = regions.get(region.parent_code or code)
    if parent.name in ("市辖区", "县"):  # a municipality: the whole municipality is one city
        return code[:2] + "0000"
    return parent.code


@cache
def _shipped_places() -> Places:
    return build_places(shipped_regions(), shipped_tiers())


def build_places(regions: RegionTable, tiers: TierTable) -> Places:
    codes: list[str] = []
    for code in sorted(regions.regions):
        region = regions.regions[code]
        if region.level == RegionLevel.DISTRICT:
            codes.append(code)
        elif (
            region.level == RegionLevel.CITY
            and not regions.children_of.get(code)
            and not region.is_grouping
        ):
            codes.append(code)  # 东莞, 中山, 儋州: no districts
    city_codes = tuple(_city_key(regions, code) for code in codes)
    tier = np.empty(len(codes), dtype=np.int32)
    for index, code in enumerate(codes):
        place_tier = tier_of(regions, tiers, code)
        tier[index] = TIER_INDEX[place_tier or CityTier.TIER_5]
    # Place order is code order, and a city's places share its code prefix, so each city's
    # places are contiguous; number the cities in that order.
    city = np.empty(len(codes), dtype=np.int32)
    seen: dict[str, int] = {}
    for index, key in enumerate(city_codes):
        city[index] = seen.setdefault(key, len(seen))
    return Places(codes=tuple(codes), city_codes=city_codes, tier=tier, city=city)


def place_weights(places: Places, config: MarketConfig, rng: np.random.Generator) -> np.ndarray:
    size = rng.lognormal(mean=0.0, sigma=config.place_size_sigma, size=len(places.codes))
    weights = np.zeros(len(places.codes), dtype=np.float64)
    for tier, share in config.tier_shares.items():
        mask = places.tier == TIER_INDEX[tier]
        total = size[mask].sum()
        if total > 0:
            weights[mask] = share * size[mask] / total
    # A tier with a share but no place (impossible with the shipped data) would lose people.
    normalised: np.ndarray = weights / weights.sum()
    return normalised


def _ranges(group: Int32Array, groups: int) -> tuple[IntArray, IntArray]:
    """Start and length of each group's run in a sorted ``group`` array."""
    counts = np.bincount(group, minlength=groups).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    return starts, counts


def build_edges(
    place: Int32Array, places: Places, config: MarketConfig, rng: np.random.Generator
) -> IntArray:
    n = place.shape[0]
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    # Power-law stubs: floor(min * u^(-1/(a-1))), the continuous Pareto discretised.
    uniform = rng.random(n)
    stubs = np.floor(config.degree_min * uniform ** (-1.0 / (config.degree_exponent - 1.0)))
    stubs = np.minimum(stubs, config.degree_max).astype(np.int64)
    # Each friendship has two ends; a person starts half of their friendships.
    starts_per_person = np.maximum(1, (stubs + 1) // 2)
    owner = np.repeat(np.arange(n, dtype=np.int64), starts_per_person)
    total = owner.shape[0]

    choice = rng.random(total)
    pick = rng.random(total)
    partner = np.empty(total, dtype=np.int64)

    place_start, place_count = _ranges(place, len(places.codes))
    consumer_city = places.city[place]
    city_start, city_count = _ranges(consumer_city, int(places.city.max()) + 1)

    local = choice < config.same_place_share
    owner_place = place[owner[local]]
    partner[local] = place_start[owner_place] + np.floor(
        pick[local] * place_count[owner_place]
    ).astype(np.int64)

    in_city = (~local) & (choice < config.same_place_share + config.same_city_share)
    owner_city = consumer_city[owner[in_city]]
    partner[in_city] = city_start[owner_city] + np.floor(
        pick[in_city] * city_count[owner_city]
    ).astype(np.int64)

    # Anyone, in proportion to degree: a random stub's owner (preferential attachment).
    anywhere = ~(local | in_city)
    partner[anywhere] = owner[np.floor(pick[anywhere] * total).astype(np.int64)]

    low = np.minimum(owner, partner)
    high = np.maximum(owner, partner)
    keep = low != high
    key = np.unique(low[keep] * n + high[keep])  # sorted, unique
    edges = np.empty((key.shape[0], 2), dtype=np.int64)
    edges[:, 0] = key // n
    edges[:, 1] = key % n
    return edges


def build_propensity(tier: Int32Array, rng: np.random.Generator) -> FloatArray:
    """Per person and action: the tier's base × an individual factor (mean 1, beta-shaped)."""
    base = np.array([_BASE[action] for action in ACTIONS], dtype=np.float64).T  # (tiers, actions)
    factor = rng.beta(2.0, 3.0, size=(tier.shape[0], len(ACTIONS))) / 0.4
    propensity = np.clip(base[tier] * factor, 0.0, 1.0).astype(np.float32)
    return propensity


def build_categories(tier: Int32Array, rng: np.random.Generator) -> Int32Array:
    cumulative = np.cumsum(np.array(_CATEGORY_WEIGHTS, dtype=np.float64), axis=1)
    cumulative /= cumulative[:, -1:]
    draw = np.asarray(rng.random(tier.shape[0]), dtype=np.float64)
    above = draw[:, None] > cumulative[tier]
    category: Int32Array = np.minimum(above.sum(axis=1), len(CATEGORIES) - 1).astype(np.int32)
    return category


def build_promoters(
    place: Int32Array,
    edges: IntArray,
    weights: np.ndarray,
    config: MarketConfig,
    rng: np.random.Generator,
) -> Promoters:
    n = place.shape[0]
    total = max(1, n * config.promoters_per_10k // 10_000)
    staff = max(1, round(total * config.staff_share))
    couriers = max(0, round(total * config.courier_share))
    kocs = max(0, total - staff - couriers)
    # KOCs are the best-connected consumers; couriers cover places in proportion to people.
    degree = np.bincount(edges.ravel(), minlength=n)
    koc_consumers = np.argsort(-degree, kind="stable")[: min(kocs, n)].astype(np.int64)
    kocs = koc_consumers.shape[0]
    courier_places = rng.choice(len(weights), size=couriers, p=weights).astype(np.int32)
    staff_places = rng.choice(len(weights), size=staff, p=weights).astype(np.int32)
    kind = (PromoterKind.STAFF,) * staff + (PromoterKind.COURIER,) * couriers
    kind += (PromoterKind.KOC,) * kocs
    promoter_place = np.concatenate((staff_places, courier_places, place[koc_consumers]))
    consumer = np.concatenate((np.full(staff + couriers, -1, dtype=np.int64), koc_consumers))
    activity = rng.lognormal(mean=-0.125, sigma=0.5, size=len(kind)).astype(np.float32)
    return Promoters(
        kind=kind,
        place=promoter_place.astype(np.int32),
        consumer=consumer,
        activity=activity,
    )


def generate(config: MarketConfig, places: Places | None = None) -> Market:
    """Draw a whole market. Same config (and places) → identical arrays."""
    places = places or _shipped_places()
    root = np.random.SeedSequence(config.seed)
    place_rng, edge_rng, behaviour_rng, category_rng, promoter_rng = (
        np.random.default_rng(child) for child in root.spawn(5)
    )
    weights = place_weights(places, config, place_rng)
    counts = place_rng.multinomial(config.consumers, weights)
    place = np.repeat(np.arange(len(places.codes), dtype=np.int32), counts)
    edges = build_edges(place, places, config, edge_rng)
    tier = places.tier[place]
    return Market(
        config=config,
        places=places,
        place=place,
        edges=edges,
        propensity=build_propensity(tier, behaviour_rng),
        category=build_categories(tier, category_rng),
        promoters=build_promoters(place, edges, weights, config, promoter_rng),
    )
