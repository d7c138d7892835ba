"""The synthetic market generator: deterministic, real places, tier shares, graph shape."""

from __future__ import annotations

import numpy as np
import pytest

from siyu.market.generator import (
    ACTIONS,
    CATEGORIES,
    DEFAULT_TIER_SHARES,
    TIER_INDEX,
    TIERS,
    Action,
    MarketConfig,
    PromoterKind,
    generate,
)
from siyu.regions.rules import LOWER_TIERS, CityTier, RegionLevel, shipped_regions


@pytest.fixture(scope="module")
def market():
    return generate(MarketConfig(consumers=60_000, seed=7))


class TestDeterminism:
    def test_same_seed_same_market(self):
        first = generate(MarketConfig(consumers=5_000, seed=11))
        second = generate(MarketConfig(consumers=5_000, seed=11))
        assert np.array_equal(first.place, second.place)
        assert np.array_equal(first.edges, second.edges)
        assert np.array_equal(first.propensity, second.propensity)
        assert np.array_equal(first.category, second.category)
        assert first.promoters.kind == second.promoters.kind
        assert np.array_equal(first.promoters.place, second.promoters.place)

    def test_other_seed_other_market(self):
        first = generate(MarketConfig(consumers=5_000, seed=11))
        second = generate(MarketConfig(consumers=5_000, seed=12))
        assert not np.array_equal(first.place, second.place)
        assert not np.array_equal(first.edges, second.edges)


class TestPlaces:
    def test_every_place_is_a_real_finest_division(self, market):
        regions = shipped_regions()
        for code in market.places.codes:
            region = regions.get(code)
            assert region.level in (RegionLevel.DISTRICT, RegionLevel.CITY)
            assert not regions.children_of.get(code)
        # The three cities without districts are places of their own.
        assert {"441900", "442000", "460400"} <= set(market.places.codes)

    def test_consumers_are_grouped_by_place_in_code_order(self, market):
        assert np.all(np.diff(market.place) >= 0)
        assert market.consumers == 60_000

    def test_a_place_and_its_city_share_the_code_prefix(self, market):
        for code, city in zip(market.places.codes, market.places.city_codes, strict=True):
            if city.endswith("0000"):  # a municipality is one city
                assert code[:2] == city[:2]
            else:
                assert code[:4] == city[:4]

    def test_tier_shares_follow_the_config(self, market):
        tiers = market.tier_of_consumers()
        for tier, share in DEFAULT_TIER_SHARES.items():
            observed = float(np.mean(tiers == TIER_INDEX[tier]))
            assert observed == pytest.approx(share, abs=0.01), tier

    def test_tier_3_to_6_hold_70_percent_as_in_the_seed(self, market):
        lower = [TIER_INDEX[tier] for tier in LOWER_TIERS]
        share = float(np.isin(market.tier_of_consumers(), lower).mean())
        assert share == pytest.approx(0.70, abs=0.01)

    def test_custom_shares_move_people(self):
        shares = dict.fromkeys(TIERS, 0.0)
        shares[CityTier.TIER_1] = 1.0
        market = generate(MarketConfig(consumers=2_000, seed=3, tier_shares=shares))
        assert set(np.unique(market.tier_of_consumers())) == {TIER_INDEX[CityTier.TIER_1]}
        codes = {market.region_code(consumer) for consumer in range(0, 2_000, 97)}
        assert all(code[:2] in {"11", "31", "44"} for code in codes)  # 北京, 上海, 广州/深圳


class TestGraph:
    def test_edges_are_unique_sorted_pairs_without_self_loops(self, market):
        edges = market.edges
        assert edges.dtype == np.int64
        assert np.all(edges[:, 0] < edges[:, 1])
        keys = edges[:, 0] * market.consumers + edges[:, 1]
        assert np.all(np.diff(keys) > 0)
        assert edges.min() >= 0
        assert edges.max() < market.consumers

    def test_most_friends_live_in_the_same_city(self, market):
        city = market.places.city[market.place]
        same_city = float(np.mean(city[market.edges[:, 0]] == city[market.edges[:, 1]]))
        # 80% of friendships are started locally; preferential "anywhere" picks add a few.
        assert 0.72 <= same_city <= 0.9

    def test_degree_is_heavy_tailed(self, market):
        degree = market.degree()
        mean = degree.mean()
        assert 3 <= mean <= 10
        assert degree.max() >= 30 * mean
        # A power law: the share above 10× the mean is small but far from zero.
        tail = float(np.mean(degree > 10 * mean))
        assert 0.0005 < tail < 0.02

    def test_everyone_has_a_friend_in_a_big_market(self, market):
        assert int(np.sum(market.degree() == 0)) <= market.consumers * 0.01

    def test_tiny_markets(self):
        assert generate(MarketConfig(consumers=1)).edges.shape == (0, 2)
        two = generate(MarketConfig(consumers=2, seed=5))
        assert two.edges.shape[0] <= 1


class TestBehaviour:
    def test_propensities_are_probabilities(self, market):
        assert market.propensity.shape == (market.consumers, len(ACTIONS))
        assert market.propensity.min() >= 0.0
        assert market.propensity.max() <= 1.0

    def test_lower_tiers_share_more_and_upper_tiers_buy_more(self, market):
        tiers = market.tier_of_consumers()
        share = market.propensity[:, ACTIONS.index(Action.SHARE)]
        buy = market.propensity[:, ACTIONS.index(Action.BUY)]
        top, bottom = tiers == TIER_INDEX[CityTier.TIER_1], tiers == TIER_INDEX[CityTier.TIER_6]
        assert share[bottom].mean() > 2 * share[top].mean()
        assert buy[top].mean() > buy[bottom].mean()

    def test_categories_cover_all_and_lower_tiers_prefer_fresh_food(self, market):
        tiers = market.tier_of_consumers()
        assert set(np.unique(market.category)) == set(range(len(CATEGORIES)))
        fresh = CATEGORIES.index("生鲜")
        top = np.mean(market.category[tiers == TIER_INDEX[CityTier.TIER_1]] == fresh)
        bottom = np.mean(market.category[tiers == TIER_INDEX[CityTier.TIER_6]] == fresh)
        assert bottom > top


class TestPromoters:
    def test_mix_and_kocs_are_the_best_connected(self, market):
        promoters = market.promoters
        total = len(promoters.kind)
        assert total == 60_000 * 30 // 10_000
        assert promoters.kind.count(PromoterKind.STAFF) == round(total * 0.1)
        assert promoters.kind.count(PromoterKind.COURIER) == round(total * 0.4)
        degree = market.degree()
        koc = [
            int(consumer)
            for consumer, kind in zip(promoters.consumer, promoters.kind, strict=True)
            if kind == PromoterKind.KOC
        ]
        threshold = np.sort(degree)[-len(koc)]
        assert all(degree[consumer] >= threshold for consumer in koc)
        for consumer, kind, place in zip(
            promoters.consumer, promoters.kind, promoters.place, strict=True
        ):
            if kind == PromoterKind.KOC:
                assert market.place[consumer] == place
            else:
                assert consumer == -1
        assert promoters.activity.min() > 0


class TestConfig:
    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"consumers": 0}, "at least one consumer"),
            ({"tier_shares": {CityTier.TIER_1: 1.0}}, "every tier"),
            ({"tier_shares": dict.fromkeys(TIERS, 0.5)}, "add up to 1"),
            ({"same_place_share": 0.8, "same_city_share": 0.5}, "within 0..1"),
            ({"degree_exponent": 1.0}, "exponent > 1"),
            ({"degree_min": 5, "degree_max": 4}, "min <= max"),
        ],
    )
    def test_bad_config_is_refused(self, changes, message):
        with pytest.raises(ValueError, match=message):
            MarketConfig(**changes)
