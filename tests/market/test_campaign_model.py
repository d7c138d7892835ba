"""The pure campaign behaviour model: caps and stock are never exceeded, runs are deterministic,
more reach brings more people, and exhaustion days are found on crafted inputs."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest

from siyu.market.campaign_model import (
    DAILY_ADDS,
    FRIEND_SEATS,
    INVALIDATED,
    AccountDraft,
    Behaviour,
    CampaignDraft,
    CampaignState,
    Context,
    DayDraws,
    Graph,
    TierDraft,
    new_state,
    place_mask,
    step,
)
from siyu.market.generator import ACTIONS, Action, Market, MarketConfig, generate
from siyu.models.campaigns import CampaignTrigger


@cache
def market() -> Market:
    return generate(MarketConfig(consumers=3_000, seed=7))


def _with(market: Market, action: Action, value: float) -> Market:
    propensity = market.propensity.copy()
    propensity[:, ACTIONS.index(action)] = value
    return dataclasses.replace(market, propensity=propensity)


def draft(**values: object) -> CampaignDraft:
    fields: dict[str, object] = {
        "trigger": CampaignTrigger.FRIEND_ADD,
        "reach": 600,
        "days": 7,
        "tiers": (TierDraft("20 元券", 1, 0, 100), TierDraft("拉杆箱", 2, 3500, 20)),
        "accounts": (AccountDraft("活动号1", 200, 5_000), AccountDraft("活动号2", 200, 5_000)),
        "invalidation_days": 3,
    }
    fields.update(values)
    return CampaignDraft(**fields)  # type: ignore[arg-type]


def run(market: Market, plan: CampaignDraft, seed: int = 1) -> tuple[CampaignState, list[DayDraws]]:
    state = new_state(market, plan)
    rng = np.random.default_rng(seed)
    return state, [step(market, plan, state, day, rng) for day in range(plan.days)]


class TestDraft:
    def test_total_reach_is_spread_over_the_days(self) -> None:
        plan = draft(reach=100, days=7, reach_is_total=True)
        assert [plan.reach_on(day) for day in range(7)] == [15, 15, 14, 14, 14, 14, 14]
        assert sum(plan.reach_on(day) for day in range(7)) == 100

    def test_reach_per_day_is_the_same_every_day(self) -> None:
        assert {draft(reach=40).reach_on(day) for day in range(7)} == {40}

    @pytest.mark.parametrize(
        "values",
        [{"reach": -1}, {"days": 0}],
    )
    def test_bad_drafts_are_refused(self, values: dict[str, int]) -> None:
        with pytest.raises(ValueError, match=r"reach|day"):
            draft(**values)

    def test_negative_caps_and_stock_are_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            AccountDraft("a", -1, 10)
        with pytest.raises(ValueError, match="negative"):
            TierDraft("t", 1, 0, -1)
        with pytest.raises(ValueError, match="negative"):
            TierDraft("t", 1, 0, 1, {"360702": -2})

    def test_stock_lines_list_the_total_then_the_districts(self) -> None:
        plan = draft(tiers=(TierDraft("拉杆箱", 2, 3500, 10, {"411602": 3, "360702": 5}),))
        assert plan.stock_lines() == [(0, ""), (0, "360702"), (0, "411602")]


class TestGraph:
    def test_friends_are_the_edges_both_ways(self) -> None:
        m = market()
        graph = Graph.of(m)
        person = int(m.edges[0, 0])
        friends, owners = graph.friends_of(np.array([person], dtype=np.int64))
        expected = set(m.edges[m.edges[:, 0] == person, 1]) | set(
            m.edges[m.edges[:, 1] == person, 0]
        )
        assert set(friends.tolist()) == expected
        assert set(owners.tolist()) == {person}

    def test_no_people_no_friends(self) -> None:
        friends, owners = Graph.of(market()).friends_of(np.empty(0, dtype=np.int64))
        assert friends.shape == owners.shape == (0,)


class TestPlaces:
    def test_a_district_a_city_or_a_province_selects_its_places(self) -> None:
        m = market()
        codes = m.places.codes
        district = codes[0]
        assert place_mask(m, (district,)).sum() == 1
        city = m.places.city_codes[0]
        assert place_mask(m, (city,)).sum() == sum(1 for c in m.places.city_codes if c == city)
        province = district[:2] + "0000"
        assert place_mask(m, (province,)).sum() == sum(1 for c in codes if c[:2] == district[:2])
        assert place_mask(m, ()).all()

    def test_only_people_of_the_places_see_the_poster(self) -> None:
        m = market()
        busiest = int(np.bincount(m.place).argmax())
        plan = draft(places=(m.places.codes[busiest],), reach=50)
        _, days = run(m, plan)
        seen = np.concatenate([d.seen for d in days])
        assert seen.shape[0] > 0
        assert set(m.place[seen].tolist()) == {busiest}


class TestDeterminism:
    def test_same_seed_same_run(self) -> None:
        first, first_days = run(market(), draft(), seed=3)
        second, second_days = run(market(), draft(), seed=3)
        assert first.totals == second.totals
        for a, b in zip(first_days, second_days, strict=True):
            assert np.array_equal(a.routed, b.routed)
            assert np.array_equal(a.reward_people, b.reward_people)
            assert np.array_equal(a.reached, b.reached)

    def test_another_seed_another_run(self) -> None:
        assert run(market(), draft(), seed=3)[0].totals != run(market(), draft(), seed=4)[0].totals


class TestCaps:
    def test_daily_adds_and_seats_are_never_exceeded(self) -> None:
        accounts = (AccountDraft("a", 30, 70, adds_left_today=10), AccountDraft("b", 20, 1_000))
        plan = draft(reach=2_000, accounts=accounts)
        state, days = run(market(), plan)
        removed_by_account = np.zeros(2, dtype=np.int64)
        routed_total = np.zeros(2, dtype=np.int64)
        for d in days:
            # A day starts with the deletions (their seats come back), then routes.
            removed_by_account += np.bincount(state.account[d.removed], minlength=2)
            per_account = np.bincount(d.routed_accounts, minlength=2)
            limit = np.array([10 if d.day == 0 else 30, 20])
            assert (per_account <= limit).all()
            routed_total += per_account
            # Seats in use never pass the seats the accounts had (deletions give seats back).
            assert (routed_total - removed_by_account <= np.array([70, 1_000])).all()
        assert state.totals["routed"] == int(routed_total.sum())
        assert state.totals["full"] > 0

    def test_the_day_adds_run_out_is_recorded(self) -> None:
        plan = draft(reach=2_000, accounts=(AccountDraft("a", 5, 1_000),))
        state, days = run(market(), plan)
        assert state.cap_day == {DAILY_ADDS: 0}
        assert days[0].cap_out == (DAILY_ADDS,)
        assert all(d.routed.shape[0] == 5 for d in days)

    def test_the_day_seats_run_out_is_recorded(self) -> None:
        # 25 adds a day, 60 seats: days 0 and 1 turn people away by the daily cap, day 2 by seats.
        plan = draft(reach=2_000, accounts=(AccountDraft("a", 25, 60),))
        state, days = run(_with(market(), Action.DELETE, 0.0), plan)
        assert [d.routed.shape[0] for d in days[:4]] == [25, 25, 10, 0]
        assert state.cap_day == {DAILY_ADDS: 0, FRIEND_SEATS: 2}

    def test_no_cap_warning_when_everyone_fits(self) -> None:
        state, _ = run(market(), draft(reach=50))
        assert state.cap_day == {}
        assert state.totals["full"] == 0

    def test_a_person_is_routed_once(self) -> None:
        _, days = run(market(), draft(reach=3_000))
        routed = np.concatenate([d.routed for d in days])
        assert np.unique(routed).shape[0] == routed.shape[0]


class TestStock:
    def test_rewards_never_exceed_the_stock(self) -> None:
        tiers = (
            TierDraft("券", 0, 0, 40),
            TierDraft("拉杆箱", 1, 3500, 30, {"360702": 3}),
        )
        m = market()
        state, days = run(_with(m, Action.REPLY, 1.0), draft(reach=3_000, tiers=tiers))
        people = np.concatenate([d.reward_people for d in days])
        tier_of = np.concatenate([d.reward_tiers for d in days])
        assert (tier_of == 0).sum() == 40  # threshold 0: every participant qualifies
        assert (tier_of == 1).sum() <= 3
        # District stock goes only to people living in a stocked district.
        assert {m.places.codes[m.place[p]] for p in people[tier_of == 1]} <= {"360702"}
        # One reward per person and tier.
        pairs = set(zip(people.tolist(), tier_of.tolist(), strict=True))
        assert len(pairs) == people.shape[0]
        assert state.totals["rewards"] == people.shape[0]
        assert state.totals["cost_fen"] == 3500 * int((tier_of == 1).sum())

    def test_the_day_a_stock_line_runs_out_is_recorded(self) -> None:
        tiers = (TierDraft("券", 0, 100, 5),)
        state, days = run(_with(market(), Action.REPLY, 1.0), draft(reach=500, tiers=tiers))
        assert state.stock_day == {(0, ""): 0}
        assert days[0].stock_out == ((0, ""),)
        assert days[0].reward_people.shape[0] == 5
        assert sum(d.reward_people.shape[0] for d in days) == 5
        assert state.totals["cost_fen"] == 500

    def test_a_district_line_runs_out_on_its_own(self) -> None:
        m = _with(_with(market(), Action.REPLY, 1.0), Action.SCAN, 1.0)
        busiest = int(np.bincount(m.place).argmax())
        code = m.places.codes[busiest]
        tiers = (TierDraft("拉杆箱", 0, 3500, 100, {code: 2}),)
        state, days = run(m, draft(reach=500, tiers=tiers, places=(code,)))
        assert state.stock_day == {(0, code): 0}
        assert sum(d.reward_people.shape[0] for d in days) == 2

    def test_thresholds_need_verified_invites(self) -> None:
        state, days = run(market(), draft(reach=800))
        progress = state.progress
        rewarded = np.concatenate([d.reward_people for d in days])
        tier_of = np.concatenate([d.reward_tiers for d in days])
        assert (progress[rewarded[tier_of == 1]] >= 0).all()
        # Everyone with a reward was a participant who once reached the tier's threshold.
        assert state.participant[rewarded].all()
        assert state.qualified[rewarded].all()


class TestFission:
    def test_invitees_come_from_the_sharers_friends(self) -> None:
        m = market()
        graph = Graph.of(m)
        _, days = run(m, draft(reach=1_500))
        reached = [(d.reached, d.reached_inviters) for d in days]
        for invitees, inviters in reached:
            for invitee, inviter in zip(invitees[:50], inviters[:50], strict=True):
                friends, _ = graph.friends_of(np.array([inviter], dtype=np.int64))
                assert invitee in set(friends.tolist())

    def test_verified_invites_count_towards_the_inviter(self) -> None:
        state, _ = run(_with(market(), Action.DELETE, 0.0), draft(reach=1_500))
        verified = np.flatnonzero(state.referral == 2)
        assert verified.shape[0] > 0
        counts = np.bincount(state.inviter[verified], minlength=state.progress.shape[0])
        assert np.array_equal(counts, state.progress)
        assert state.totals["verified"] == verified.shape[0]
        assert state.totals["invites"] == verified.shape[0]

    def test_deletes_within_the_window_invalidate(self) -> None:
        m = _with(market(), Action.DELETE, 1.0)
        plan = draft(reach=1_500, behaviour=Behaviour(delete_horizon_days=1))
        state, days = run(m, plan)
        invalidated = np.concatenate([d.invalidated for d in days])
        assert invalidated.shape[0] > 0
        assert (state.referral[invalidated] == INVALIDATED).all()
        assert state.totals["verified"] == int((state.referral == 2).sum())
        counted = np.flatnonzero(state.referral == 2)
        counts = np.bincount(state.inviter[counted], minlength=state.progress.shape[0])
        assert np.array_equal(counts, state.progress)

    def test_without_a_window_deletes_do_not_invalidate(self) -> None:
        m = _with(market(), Action.DELETE, 1.0)
        plan = draft(
            reach=1_500, invalidation_days=None, behaviour=Behaviour(delete_horizon_days=1)
        )
        state, _days = run(m, plan)
        assert state.totals["removed"] > 0
        assert state.totals["invalidated"] == 0

    def test_share_campaigns_count_approved_proofs(self) -> None:
        plan = draft(trigger=CampaignTrigger.SHARE_PROOF, reach=1_000)
        state, days = run(market(), plan)
        approved = np.zeros(state.progress.shape[0], dtype=np.int64)
        for d in days:
            np.add.at(approved, d.proofs[d.proofs_approved], 1)
        assert approved.sum() > 0
        assert np.array_equal(approved, state.progress)

    def test_first_purchase_invites_wait_for_the_purchase(self) -> None:
        never = _with(market(), Action.BUY, 0.0)
        plan = draft(trigger=CampaignTrigger.FIRST_PURCHASE, reach=1_500)
        state, _ = run(never, plan)
        assert state.totals["invites"] > 0
        assert state.totals["verified"] == 0
        always = _with(market(), Action.BUY, 1.0)
        state, _ = run(_with(always, Action.DELETE, 0.0), plan)
        assert state.totals["verified"] > 0


class TestReach:
    def test_more_reach_brings_more_people(self) -> None:
        def mean_adds(reach: int) -> float:
            return float(
                np.mean(
                    [run(market(), draft(reach=reach), seed=s)[0].totals["adds"] for s in range(5)]
                )
            )

        small, medium, large = mean_adds(50), mean_adds(200), mean_adds(800)
        assert small < medium < large

    def test_no_reach_no_one(self) -> None:
        state, _ = run(market(), draft(reach=0))
        assert state.totals["scans"] == 0
        assert state.totals["adds"] == 0

    def test_reach_beyond_the_places_is_everyone_there(self) -> None:
        m = market()
        code = m.places.codes[int(np.bincount(m.place).argmax())]
        people = int((np.array(m.places.codes)[m.place] == code).sum())
        _, days = run(m, draft(places=(code,), reach=people * 10, days=1))
        assert days[0].seen.shape[0] == people


class TestContextReuse:
    def test_a_shared_context_gives_the_same_run(self) -> None:
        m = market()
        plan = draft()
        context = Context.of(m, plan)
        state = new_state(m, plan, context)
        rng = np.random.default_rng(1)
        for day in range(plan.days):
            step(m, plan, state, day, rng)
        assert state.totals == run(m, plan)[0].totals
