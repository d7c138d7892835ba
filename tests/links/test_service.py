"""Link service: creation (check, then write), ownership, listing, stats, disabling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.errors import PermissionDenied, ValidationFailed
from siyu.kit.pagination import PageRequest
from siyu.kit.time import utc_now
from siyu.links import rules, service
from siyu.links.clicks import ClickRow, write_batch
from siyu.links.schemas import LinkCreate
from siyu.models import AuditEvent, LinkPosition, LinkTargetKind, Role, TrackedLink
from siyu.promoters import service as promoters_service
from siyu.promoters.service import NotAPromoter
from tests.catalog.conftest import Catalog, coupon_fields
from tests.conftest import count_rows
from tests.links.conftest import MadePromoter, Shop, load_link

MakeLink = Callable[..., int]
FRESH, STALE, MISSING = (
    service.CacheState.FRESH,
    service.CacheState.STALE,
    service.CacheState.MISSING,
)


def create(session: Session, actor: Principal | None, **fields: Any) -> TrackedLink:
    fields.setdefault("position", LinkPosition.GROUP)
    link = service.create_link(session, actor, LinkCreate(**fields))
    session.commit()
    return link


def clicks(database: Database, link_id: int, promoter_id: int, count: int, start: int = 0) -> None:
    write_batch(
        database,
        [
            ClickRow(
                token=f"t{link_id}-{number}",
                link_id=link_id,
                promoter_id=promoter_id,
                clicked_at=utc_now(),
                ip_hash="0" * 64,
                user_agent="",
                consumer_id=None,
            )
            for number in range(start, start + count)
        ],
    )


class TestCreateProductLink:
    def test_a_promoter_links_a_pooled_product(
        self, session: Session, shop: Shop, alice: MadePromoter
    ) -> None:
        before = utc_now()
        link = create(
            session,
            alice.principal,
            product_id=shop.product_id,
            position=LinkPosition.MOMENTS,
            sub_id=" 宝妈群2 ",
        )
        assert link.promoter_id == alice.id
        assert (link.target_kind, link.product_id) == (LinkTargetKind.PRODUCT, shop.product_id)
        assert (link.coupon_batch_id, link.activity_url) == (None, None)
        assert link.position == LinkPosition.MOMENTS
        assert link.sub_id == "宝妈群2"
        assert link.is_active is True
        assert len(link.short_code) == rules.SHORT_CODE_LENGTH
        assert set(link.short_code) <= set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")
        assert before + timedelta(days=60) <= link.expires_at <= utc_now() + timedelta(days=60)

    def test_the_expiry_follows_the_setting(
        self, session: Session, settings: Any, shop: Shop, alice: MadePromoter
    ) -> None:
        settings.link_expiry_days = 7
        link = create(session, alice.principal, product_id=shop.product_id)
        assert link.expires_at - link.created_at == timedelta(days=7)

    def test_short_codes_are_unique(
        self, session: Session, shop: Shop, alice: MadePromoter
    ) -> None:
        codes = {
            create(session, alice.principal, product_id=shop.product_id).short_code
            for _ in range(30)
        }
        assert len(codes) == 30

    def test_urls(self, session: Session, shop: Shop, alice: MadePromoter) -> None:
        link = create(session, alice.principal, product_id=shop.product_id)
        assert service.short_url(link) == f"http://127.0.0.1:8000/s/{link.short_code}"
        assert service.long_url(link) == (
            f"http://127.0.0.1:8000/l/{alice.invite_code}/{link.id}/p{shop.product_id}"
        )


class TestCreateRefusals:
    def test_sub_id_over_80_characters_is_refused_and_nothing_written(
        self, session: Session, database: Database, shop: Shop, alice: MadePromoter
    ) -> None:
        with pytest.raises(rules.SubIdTooLong) as error:
            create(session, alice.principal, product_id=shop.product_id, sub_id="群" * 81)
        assert error.value.status == 422
        session.rollback()
        assert count_rows(database, TrackedLink) == 0

    def test_a_product_outside_the_pool_is_refused(
        self,
        session: Session,
        database: Database,
        catalog: Catalog,
        shop: Shop,
        alice: MadePromoter,
    ) -> None:
        pending = catalog.product(shop.merchant_id, title="待审核商品")
        with pytest.raises(service.LinkProductNotInPool):
            create(session, alice.principal, product_id=pending)
        session.rollback()
        with pytest.raises(service.LinkProductNotInPool):
            create(session, alice.principal, product_id=999_999)
        session.rollback()
        assert count_rows(database, TrackedLink) == 0

    def test_an_unshelved_product_is_refused(
        self, session: Session, database: Database, shop: Shop, alice: MadePromoter
    ) -> None:
        from siyu.catalog import service as catalog_service

        catalog_service.set_product_shelf(session, None, shop.product_id, on_shelf=False)
        session.commit()
        with pytest.raises(service.LinkProductNotInPool):
            create(session, alice.principal, product_id=shop.product_id)

    @pytest.mark.parametrize(
        "fields",
        [
            {},
            {"product_id": 1, "coupon_batch_id": 1},
            {"target_kind": LinkTargetKind.COUPON},
            {"target_kind": LinkTargetKind.ACTIVITY, "product_id": 1},
        ],
    )
    def test_a_missing_or_mixed_target_is_refused(
        self, session: Session, alice: MadePromoter, fields: dict[str, Any]
    ) -> None:
        with pytest.raises(service.LinkTargetMissing):
            create(session, alice.principal, **fields)

    def test_a_frozen_promoter_cannot_create(
        self, session: Session, database: Database, shop: Shop, alice: MadePromoter
    ) -> None:
        promoters_service.freeze_promoter(session, None, alice.id, "刷单嫌疑")
        session.commit()
        with pytest.raises(service.LinkOwnerFrozen):
            create(session, alice.principal, product_id=shop.product_id)
        session.rollback()
        assert count_rows(database, TrackedLink) == 0

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.MERCHANT])
    def test_other_roles_cannot_create(
        self, session: Session, make_user: Any, shop: Shop, role: Role
    ) -> None:
        user = make_user(
            role, f"u-{role.value}", merchant_id=shop.merchant_id if role == Role.MERCHANT else None
        )
        with pytest.raises(NotAPromoter):
            create(session, user, product_id=shop.product_id)

    def test_the_system_needs_a_promoter_id(self, session: Session, shop: Shop) -> None:
        with pytest.raises(ValidationFailed):
            create(session, None, product_id=shop.product_id)

    def test_the_system_creates_for_a_promoter(
        self, session: Session, shop: Shop, alice: MadePromoter
    ) -> None:
        link = service.create_link(
            session,
            None,
            LinkCreate(product_id=shop.product_id, position=LinkPosition.POSTER),
            alice.id,
        )
        assert link.promoter_id == alice.id


class TestOtherTargets:
    def test_a_coupon_batch(
        self, session: Session, catalog: Catalog, shop: Shop, alice: MadePromoter
    ) -> None:
        now = utc_now()
        batch_id = catalog.coupon(
            shop.merchant_id,
            **coupon_fields(
                valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=10)
            ),
        )
        link = create(
            session, alice.principal, target_kind=LinkTargetKind.COUPON, coupon_batch_id=batch_id
        )
        assert (link.coupon_batch_id, link.product_id) == (batch_id, None)
        assert service.long_url(link).endswith(f"/{link.id}/c{batch_id}")

    def test_an_expired_or_inactive_coupon_is_refused(
        self, session: Session, catalog: Catalog, shop: Shop, alice: MadePromoter
    ) -> None:
        expired = catalog.coupon(shop.merchant_id)  # the fixture's window ended 2026-11-12
        with pytest.raises(service.LinkCouponUnavailable):
            create(
                session, alice.principal, target_kind=LinkTargetKind.COUPON, coupon_batch_id=expired
            )
        session.rollback()
        with pytest.raises(service.LinkCouponUnavailable):
            create(session, alice.principal, target_kind=LinkTargetKind.COUPON, coupon_batch_id=999)

    def test_an_activity_page_on_this_site(self, session: Session, alice: MadePromoter) -> None:
        link = create(
            session,
            alice.principal,
            target_kind=LinkTargetKind.ACTIVITY,
            activity_url="/m/activities/double11",
        )
        assert link.activity_url == "/m/activities/double11"
        assert service.long_url(link).endswith(f"/{link.id}/a{link.id}")

    def test_an_activity_page_elsewhere_is_refused(
        self, session: Session, database: Database, alice: MadePromoter
    ) -> None:
        with pytest.raises(rules.ActivityUrlInvalid):
            create(
                session,
                alice.principal,
                target_kind=LinkTargetKind.ACTIVITY,
                activity_url="https://evil.example.com/",
            )
        session.rollback()
        assert count_rows(database, TrackedLink) == 0


class TestOwnership:
    def test_a_promoter_gets_only_its_own_link(
        self,
        session: Session,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        link_id = make_link(alice, shop.product_id)
        assert service.get_link(session, alice.principal, link_id).id == link_id
        with pytest.raises(service.LinkNotFound):
            service.get_link(session, bob.principal, link_id)
        with pytest.raises(service.LinkNotFound):
            service.get_link(session, alice.principal, link_id + 100)

    def test_platform_staff_see_every_link(
        self,
        session: Session,
        admin: Principal,
        shop: Shop,
        alice: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        link_id = make_link(alice, shop.product_id)
        assert service.get_link(session, admin, link_id).id == link_id

    def test_a_merchant_sees_no_links(
        self, session: Session, make_user: Any, shop: Shop, alice: MadePromoter, make_link: MakeLink
    ) -> None:
        link_id = make_link(alice, shop.product_id)
        merchant = make_user(Role.MERCHANT, "shop", merchant_id=shop.merchant_id)
        with pytest.raises(PermissionDenied):
            service.get_link(session, merchant, link_id)


class TestListAndStats:
    def test_a_promoter_lists_its_own_links_newest_first_with_click_counts(
        self,
        session: Session,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        first = make_link(alice, shop.product_id, LinkPosition.GROUP)
        second = make_link(alice, shop.product_id, LinkPosition.POSTER)
        other = make_link(bob, shop.product_id, LinkPosition.GROUP)
        clicks(database, first, alice.id, 3)
        clicks(database, other, bob.id, 5)
        page = service.list_links(session, alice.principal, PageRequest(1, 20))
        assert [view.link.id for view in page.items] == [second, first]
        assert [view.click_count for view in page.items] == [0, 3]
        assert page.items[0].target_title == "拉杆箱 20 寸"
        assert (
            service.list_links(
                session, alice.principal, PageRequest(1, 20), promoter_id=bob.id
            ).total
            == 0
        )

    def test_platform_lists_all_or_one_promoter(
        self,
        session: Session,
        admin: Principal,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        make_link(alice, shop.product_id)
        theirs = make_link(bob, shop.product_id)
        assert service.list_links(session, admin, PageRequest(1, 20)).total == 2
        only_bob = service.list_links(session, admin, PageRequest(1, 20), promoter_id=bob.id)
        assert [view.link.id for view in only_bob.items] == [theirs]

    def test_stats_per_position_count_links_and_clicks(
        self,
        session: Session,
        database: Database,
        admin: Principal,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        group = make_link(alice, shop.product_id, LinkPosition.GROUP)
        group_two = make_link(alice, shop.product_id, LinkPosition.GROUP)
        poster = make_link(alice, shop.product_id, LinkPosition.POSTER)
        other = make_link(bob, shop.product_id, LinkPosition.GROUP)
        clicks(database, group, alice.id, 2)
        clicks(database, group_two, alice.id, 1)
        clicks(database, poster, alice.id, 4)
        clicks(database, other, bob.id, 10)
        stats = service.link_stats(session, alice.principal)
        by_position = {
            item.position: (item.link_count, item.click_count) for item in stats.by_position
        }
        assert stats.total_clicks == 7
        assert by_position[LinkPosition.GROUP] == (2, 3)
        assert by_position[LinkPosition.POSTER] == (1, 4)
        assert by_position[LinkPosition.FRIEND] == (0, 0)
        assert [item.label for item in stats.by_position] == [
            "微信群",
            "好友",
            "朋友圈",
            "海报",
            "小程序卡片",
            "快递员",
        ]
        everyone = service.link_stats(session, admin)
        assert everyone.total_clicks == 17
        # A promoter asking about another promoter gets its own figures.
        assert service.link_stats(session, alice.principal, promoter_id=bob.id).total_clicks == 7


class TestDisable:
    def test_the_owner_disables_and_it_is_audited(
        self,
        session: Session,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        link_id = make_link(alice, shop.product_id)
        service.disable_link(session, alice.principal, link_id)
        session.commit()
        link = load_link(database, link_id)
        assert link.is_active is False
        assert link.disabled_at is not None
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "link.disabled"))
        )
        assert [(event.object_id, event.actor_user_id) for event in events] == [
            (link_id, alice.principal.user_id)
        ]

    def test_disabling_twice_changes_nothing(
        self,
        session: Session,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        link_id = make_link(alice, shop.product_id)
        service.disable_link(session, alice.principal, link_id)
        session.commit()
        disabled_at = load_link(database, link_id).disabled_at
        service.disable_link(session, alice.principal, link_id)
        session.commit()
        assert load_link(database, link_id).disabled_at == disabled_at
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == link_id))
        assert [action for action in actions if action.startswith("link.")] == ["link.disabled"]

    def test_another_promoter_cannot_disable(
        self,
        session: Session,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        link_id = make_link(alice, shop.product_id)
        with pytest.raises(service.LinkNotFound):
            service.disable_link(session, bob.principal, link_id)
        session.rollback()
        assert load_link(database, link_id).is_active is True

    def test_platform_may_disable_any_link(
        self,
        session: Session,
        database: Database,
        admin: Principal,
        shop: Shop,
        alice: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        link_id = make_link(alice, shop.product_id)
        service.disable_link(session, admin, link_id)
        session.commit()
        assert load_link(database, link_id).is_active is False

    def test_disabling_drops_the_cached_entry_after_commit_only(
        self,
        session: Session,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        link_id = make_link(alice, shop.product_id)
        link = load_link(database, link_id)
        cache = service.redirect_context().cache
        entry = service.load_redirect_entry(session, short_code=link.short_code)
        cache.put(link.short_code, entry)
        cache.put(link_id, entry)
        session.rollback()
        service.disable_link(session, alice.principal, link_id)
        assert cache.get(link.short_code) == (FRESH, entry)  # not before the commit
        session.commit()
        assert cache.get(link.short_code) == (MISSING, None)
        assert cache.get(link_id) == (MISSING, None)


class TestLinkCache:
    def test_lru_evicts_the_least_recently_used(self) -> None:
        cache = service.LinkCache(max_size=2, ttl_seconds=60)
        cache.put("A", None)
        cache.put("B", None)
        assert cache.get("A") == (FRESH, None)
        cache.put("C", None)
        assert cache.get("B") == (MISSING, None)
        assert cache.get("A") == (FRESH, None)
        assert len(cache) == 2

    def test_fresh_for_the_ttl_then_stale_as_long_again_then_missing(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = [1000.0]
        monkeypatch.setattr(service.time, "monotonic", lambda: now[0])
        cache = service.LinkCache(max_size=10, ttl_seconds=60)
        entry = rules.RedirectEntry(1, 1, "K7M2Q9XA", "p1", "/m/products/1", 0.0, True)
        cache.put("FOUND", entry)
        now[0] += 59.9
        assert cache.get("FOUND") == (FRESH, entry)
        now[0] += 0.2
        assert cache.get("FOUND") == (STALE, entry)
        now[0] += 60
        assert cache.get("FOUND") == (MISSING, None)
        assert len(cache) == 0

    def test_unknown_codes_age_faster(self, monkeypatch: pytest.MonkeyPatch) -> None:
        now = [1000.0]
        monkeypatch.setattr(service.time, "monotonic", lambda: now[0])
        cache = service.LinkCache(max_size=10, ttl_seconds=60)
        cache.put("UNKNOWN", None)
        now[0] += service.MISS_TTL_SECONDS + 0.1
        assert cache.get("UNKNOWN") == (STALE, None)
        now[0] += service.MISS_TTL_SECONDS
        assert cache.get("UNKNOWN") == (MISSING, None)

    def test_a_zero_size_cache_keeps_nothing(self) -> None:
        cache = service.LinkCache(max_size=0, ttl_seconds=60)
        cache.put("A", None)
        assert cache.get("A") == (MISSING, None)
