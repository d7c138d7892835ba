"""Pure forecast rules: bands, warnings and their Chinese text, draft JSON, the Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from siyu.forecasts import rules
from siyu.market.campaign_model import AccountDraft, Behaviour, CampaignDraft, TierDraft
from siyu.market.generator import MarketConfig, generate
from siyu.models.campaigns import CampaignTrigger


def draft(**values: object) -> CampaignDraft:
    fields: dict[str, object] = {
        "trigger": CampaignTrigger.FRIEND_ADD,
        "reach": 300,
        "days": 4,
        "tiers": (TierDraft("拉杆箱", 1, 3500, 5, {"360702": 2}), TierDraft("收纳袋", 2, 800, 1)),
        "accounts": (AccountDraft("活动号", 40, 500, adds_left_today=10),),
        "invalidation_days": 3,
    }
    fields.update(values)
    return CampaignDraft(**fields)  # type: ignore[arg-type]


class TestBand:
    def test_nearest_values_of_the_runs(self) -> None:
        # Position p × (n − 1), to the nearest run (half to even): 0.9 → 1, 4.5 → 4, 8.1 → 8.
        assert rules.band(list(range(1, 11))) == [2, 5, 9]
        assert rules.band([7]) == [7, 7, 7]
        assert rules.band([]) == [0, 0, 0]

    def test_values_are_the_runs_own(self) -> None:
        values = [3, 100, 7, 7, 9]
        assert set(rules.band(values)) <= set(values)

    @pytest.mark.parametrize(("value", "expected"), [(4, False), (5, True), (9, True), (10, False)])
    def test_inside_is_inclusive(self, value: int, expected: bool) -> None:
        assert rules.inside(value, [5, 7, 9]) is expected

    def test_cumulative(self) -> None:
        assert rules.cumulative([1, 0, 4]) == [1, 1, 5]
        assert rules.cumulative([]) == []

    def test_comparison_flags_the_band(self) -> None:
        assert rules.Comparison("adds", [1, 2, 3], 3).inside
        assert not rules.Comparison("adds", [1, 2, 3], 4).inside


class TestFormat:
    @pytest.mark.parametrize(
        ("metric", "value", "text"),
        [
            ("cost_fen", 3500, "35.00"),
            ("cost_per_contact_fen", 7, "0.07"),
            ("k_hundredths", 125, "1.25"),
            ("adds", 42, "42"),
        ],
    )
    def test_values(self, metric: str, value: int, text: str) -> None:
        assert rules.format_value(metric, value) == text


class TestWarningText:
    def test_daily_adds(self) -> None:
        warning = {
            "kind": "daily_adds",
            "tier": "",
            "district": "",
            "share_bp": 8200,
            "median_day": 2,
        }
        assert rules.warning_zh(warning) == "预计第 3 天运营号每日加好友上限用尽（82% 的模拟）"

    def test_seats(self) -> None:
        warning = {"kind": "friend_seats", "share_bp": 10_000, "median_day": 0}
        assert rules.warning_zh(warning) == "预计第 1 天运营号好友名额用尽（100% 的模拟）"

    def test_stock_of_a_district(self) -> None:
        warning = {
            "kind": "stock",
            "tier": "拉杆箱",
            "district": "360702",
            "share_bp": 455,
            "median_day": 4,
        }
        assert (
            rules.warning_zh(warning) == "预计第 5 天奖励“拉杆箱”（360702）库存发完（4.5% 的模拟）"
        )

    def test_stock_of_a_tier(self) -> None:
        warning = {
            "kind": "stock",
            "tier": "收纳袋",
            "district": "",
            "share_bp": 5000,
            "median_day": 1,
        }
        assert rules.warning_zh(warning) == "预计第 2 天奖励“收纳袋”库存发完（50% 的模拟）"


class TestDraftJson:
    def test_round_trip(self) -> None:
        original = draft(places=("360702",), reach_is_total=True)
        again = rules.draft_from_json(rules.draft_as_json(original))
        assert again == original

    def test_behaviour_is_not_saved(self) -> None:
        changed = draft(behaviour=Behaviour(tie_boost=9.0))
        assert rules.draft_from_json(rules.draft_as_json(changed)).behaviour == Behaviour()


class TestPlacesSubset:
    def test_keeps_the_places_and_renumbers_the_cities(self) -> None:
        national = generate(MarketConfig(consumers=1, seed=1)).places
        mask = np.array([code[:4] in ("3607", "1101") for code in national.codes])
        subset = rules.places_subset(national, mask)
        assert all(code[:4] in ("3607", "1101") for code in subset.codes)
        assert len(subset.codes) == int(mask.sum())
        assert sorted(set(subset.city.tolist())) == list(range(len(set(subset.city_codes))))

    def test_a_market_of_the_subset_lives_there(self) -> None:
        national = generate(MarketConfig(consumers=1, seed=1)).places
        mask = np.array([code in ("360702", "411602") for code in national.codes])
        market = generate(MarketConfig(consumers=500, seed=2), rules.places_subset(national, mask))
        assert market.consumers == 500
        assert set(market.places.codes) == {"360702", "411602"}


class TestMonteCarlo:
    def test_shapes_and_determinism(self) -> None:
        market = generate(MarketConfig(consumers=1_500, seed=4))
        plan = draft()
        first = rules.monte_carlo(market, plan, 6, seed=9)
        second = rules.monte_carlo(market, plan, 6, seed=9)
        assert first.days["adds"].shape == (6, 4)
        for metric in rules.DAY_METRICS:
            assert np.array_equal(first.days[metric], second.days[metric])
            # Cumulative figures never go down.
            assert (np.diff(first.days[metric], axis=1) >= 0).all()
        assert (first.issued[:, 0] <= 5).all()
        assert (first.issued[:, 1] <= 1).all()

    def test_caps_warning_in_every_run(self) -> None:
        market = generate(MarketConfig(consumers=1_500, seed=4))
        runs = rules.monte_carlo(market, draft(reach=1_500), 5, seed=1)
        found = rules.warnings_of(draft(reach=1_500), runs)
        adds = next(w for w in found if w["kind"] == "daily_adds")
        assert adds == {
            "kind": "daily_adds",
            "tier": "",
            "district": "",
            "share_bp": 10_000,
            "median_day": 0,
        }
        assert found[0]["median_day"] <= found[-1]["median_day"]

    def test_results_totals_match_the_last_day(self) -> None:
        market = generate(MarketConfig(consumers=1_500, seed=4))
        plan = draft()
        runs = rules.monte_carlo(market, plan, 5, seed=2)
        results = rules.results_of(plan, runs)
        for metric in ("scans", "adds", "participants", "verified", "rewards", "qualified"):
            assert results["totals"][metric] == rules.band(runs.days[metric][:, -1])
        assert [t["stock"] for t in results["tiers"]] == [5, 1]
        # K = verified / participants per run, in hundredths.
        for run in range(5):
            participants = runs.totals["participants"][run]
            verified = runs.totals["verified"][run]
            expected = (
                0 if participants == 0 else (200 * verified + participants) // (2 * participants)
            )
            assert runs.totals["k_hundredths"][run] == expected
