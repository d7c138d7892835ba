"""Pure link rules: sub-ids, activity URLs, expiry, destinations, redirect outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from siyu.links import rules
from siyu.links.rules import RedirectEntry, RedirectOutcome
from siyu.models import LinkTargetKind

BASE = "https://siyu.example.com"


class TestSubId:
    def test_empty_and_none_become_empty(self) -> None:
        assert rules.check_sub_id(None) == ""
        assert rules.check_sub_id("   ") == ""

    def test_trimmed_text_is_kept(self) -> None:
        assert rules.check_sub_id("  小区宝妈群2 ") == "小区宝妈群2"

    def test_exactly_80_characters_is_allowed(self) -> None:
        assert rules.check_sub_id("群" * 80) == "群" * 80

    def test_81_characters_is_refused_with_the_length(self) -> None:
        with pytest.raises(rules.SubIdTooLong) as error:
            rules.check_sub_id("a" * 81)
        assert error.value.code == "sub_id_too_long"
        assert error.value.en == "sub_id must be at most 80 characters, got 81."
        assert "最多 80 个字符" in error.value.zh
        assert "81" in error.value.zh

    @pytest.mark.parametrize("value", ["群\n2", "a\tb", "x\x00y"])
    def test_control_characters_are_refused(self, value: str) -> None:
        with pytest.raises(rules.SubIdInvalid):
            rules.check_sub_id(value)


class TestActivityUrl:
    @pytest.mark.parametrize(
        "value",
        ["/m/activities/11", "/m/a?x=1", f"{BASE}/m/activities/3", "http://siyu.example.com/x"],
    )
    def test_own_pages_are_allowed(self, value: str) -> None:
        assert rules.check_activity_url(f" {value} ", BASE) == value

    @pytest.mark.parametrize(
        "value",
        [
            "https://evil.example.com/x",
            "//evil.example.com/x",
            "/\\evil.example.com",
            "javascript:alert(1)",
            "ftp://siyu.example.com/x",
            "https://siyu.example.com.evil.cn/x",
            "",
            "/a b",
            "/" + "a" * 500,
        ],
    )
    def test_other_sites_and_odd_forms_are_refused(self, value: str) -> None:
        with pytest.raises(rules.ActivityUrlInvalid) as error:
            rules.check_activity_url(value, BASE)
        assert "siyu.example.com" in error.value.zh


class TestDestinations:
    def test_expiry_is_days_after_creation(self) -> None:
        created = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        assert rules.expires_at(created, 60) == datetime(2026, 12, 31, 12, 0, tzinfo=UTC)

    def test_target_slugs(self) -> None:
        assert rules.target_slug(LinkTargetKind.PRODUCT, 42) == "p42"
        assert rules.target_slug(LinkTargetKind.COUPON, 7) == "c7"
        assert rules.target_slug(LinkTargetKind.ACTIVITY, 15) == "a15"

    def test_target_ids_and_destinations(self) -> None:
        product, coupon, activity = (
            LinkTargetKind.PRODUCT,
            LinkTargetKind.COUPON,
            LinkTargetKind.ACTIVITY,
        )
        assert rules.target_id(product, 9, 42, None) == 42
        assert rules.target_id(coupon, 9, None, 7) == 7
        assert rules.target_id(activity, 9, None, None) == 9
        assert rules.destination(product, 42, None, None) == "/m/products/42"
        assert rules.destination(coupon, None, 7, None) == "/m/coupons/7"
        assert rules.destination(activity, None, None, "/m/a?x=1") == "/m/a?x=1"

    def test_landing_paths(self) -> None:
        assert rules.product_landing_path(42) == "/m/products/42"
        assert rules.coupon_landing_path(7) == "/m/coupons/7"

    @pytest.mark.parametrize(
        ("destination", "expected"),
        [
            ("/m/products/1", "/m/products/1?click=T1"),
            ("/m/a?x=1", "/m/a?x=1&click=T1"),
            ("/m/a#top", "/m/a?click=T1#top"),
            ("/m/a?x=1#top", "/m/a?x=1&click=T1#top"),
        ],
    )
    def test_click_is_added_to_the_query(self, destination: str, expected: str) -> None:
        assert rules.with_click(destination, "T1") == expected

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("ab3def7", "AB3DEF7"), (" K7M2Q9X ", "K7M2Q9X"), ("", None), ("a/b", None)],
    )
    def test_short_codes_are_normalised(self, raw: str, expected: str | None) -> None:
        assert rules.normalize_short_code(raw) == expected

    def test_overlong_or_non_ascii_codes_are_unknown(self) -> None:
        assert rules.normalize_short_code("A" * 17) is None
        assert rules.normalize_short_code("码码码") is None

    def test_user_agent_is_truncated_to_255(self) -> None:
        assert rules.truncate_user_agent("x" * 300) == "x" * 255


def _entry(
    active: bool = True, expires_in: float = 3600.0, now: float = 1_000_000.0
) -> RedirectEntry:
    return RedirectEntry(
        link_id=1,
        promoter_id=2,
        invite_code="K7M2Q9XA",
        target_slug="p3",
        destination="/m/products/3",
        expires_at_timestamp=now + expires_in,
        is_active=active,
    )


class TestRedirectOutcome:
    NOW = 1_000_000.0

    def test_unknown(self) -> None:
        assert rules.redirect_outcome(None, self.NOW, long_form=False) is RedirectOutcome.UNKNOWN

    def test_live_link_redirects(self) -> None:
        assert rules.redirect_outcome(_entry(), self.NOW, False) is RedirectOutcome.REDIRECT

    def test_expiry_instant_is_expired(self) -> None:
        entry = _entry(expires_in=0)
        assert rules.redirect_outcome(entry, self.NOW, False) is RedirectOutcome.EXPIRED

    def test_long_form_never_expires(self) -> None:
        entry = _entry(expires_in=-timedelta(days=400).total_seconds())
        assert rules.redirect_outcome(entry, self.NOW, True) is RedirectOutcome.REDIRECT

    def test_disabled_wins_over_expired_in_both_forms(self) -> None:
        entry = _entry(active=False, expires_in=-10)
        assert rules.redirect_outcome(entry, self.NOW, False) is RedirectOutcome.DISABLED
        assert rules.redirect_outcome(entry, self.NOW, True) is RedirectOutcome.DISABLED
