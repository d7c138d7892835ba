"""GET /s/{code} and /l/{invite}/{id}/{target}: 302 with ?click=, buffered clicks, Chinese pages."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from siyu.config import Settings
from siyu.db import Database
from siyu.kit.time import travel_to, utc_now
from siyu.links import routes, service
from siyu.links.clicks import click_buffer
from siyu.models import Click, Consumer, LinkPosition, LinkTargetKind, TrackedLink
from tests.catalog.conftest import Catalog, coupon_fields
from tests.conftest import ConsoleClient, count_rows
from tests.links.conftest import MadePromoter, Shop, clicks_of, expire_link, load_link

MakeLink = Callable[..., int]
CLICK = re.compile(r"click=([0-9a-f]{32})$")


@pytest.fixture
def quiet_buffer(settings: Settings) -> Settings:
    """Nothing reaches the database before shutdown unless a test flushes."""
    settings.click_flush_interval_ms = 60_000
    settings.click_flush_batch_size = 100_000
    return settings


@pytest.fixture
def web(app: Any, quiet_buffer: Settings) -> Iterator[ConsoleClient]:
    with ConsoleClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def link_id(shop: Shop, alice: MadePromoter, make_link: MakeLink) -> int:
    return make_link(alice, shop.product_id)


@pytest.fixture
def code(database: Database, link_id: int) -> str:
    return load_link(database, link_id).short_code


def get(client: ConsoleClient, path: str, **kwargs: Any) -> Any:
    return client.get(path, follow_redirects=False, **kwargs)


class TestShortLinkRedirect:
    def test_redirects_to_the_product_landing_page_with_a_click_token(
        self, web: ConsoleClient, shop: Shop, code: str
    ) -> None:
        response = get(web, f"/s/{code}")
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith(f"/m/products/{shop.product_id}?click=")
        assert CLICK.search(location)
        assert response.headers["cache-control"] == "no-store"
        assert "set-cookie" not in response.headers  # no session on the public redirect

    def test_every_redirect_gets_its_own_token(self, web: ConsoleClient, code: str) -> None:
        tokens = {
            CLICK.search(get(web, f"/s/{code}").headers["location"]).group(1) for _ in range(5)
        }  # type: ignore[union-attr]
        assert len(tokens) == 5

    def test_lower_case_codes_work(self, web: ConsoleClient, code: str) -> None:
        assert get(web, f"/s/{code.lower()}").status_code == 302

    def test_the_landing_page_is_real(self, web: ConsoleClient, code: str) -> None:
        page = web.get(f"/s/{code}")
        assert page.status_code == 200
        assert 'data-testid="product-title">拉杆箱 20 寸<' in page.text
        assert "立即购买" in page.text
        assert "/m/checkout/" in page.text

    def test_the_handler_is_async(self) -> None:
        assert inspect.iscoroutinefunction(routes.short_link_redirect)
        assert inspect.iscoroutinefunction(routes.long_link_redirect)


class TestClickRecording:
    def test_clicks_recorded_equal_redirects_answered_after_shutdown(
        self,
        app: Any,
        quiet_buffer: Settings,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        links = [make_link(alice, shop.product_id), make_link(bob, shop.product_id)]
        codes = [load_link(database, link).short_code for link in links]
        answered: list[str] = []
        with ConsoleClient(app, base_url="http://testserver") as client:
            for number in range(60):
                response = get(client, f"/s/{codes[number % 2]}")
                assert response.status_code == 302
                answered.append(CLICK.search(response.headers["location"]).group(1))  # type: ignore[union-attr]
            assert count_rows(database, Click) == 0  # buffered, not yet written
        stored = clicks_of(database)
        assert [click.token for click in stored] == answered
        assert [click.link_id for click in stored] == [links[number % 2] for number in range(60)]
        assert {click.promoter_id for click in stored} == {alice.id, bob.id}

    def test_a_full_batch_is_written_while_serving(
        self, app: Any, settings: Settings, database: Database, code: str
    ) -> None:
        settings.click_flush_batch_size = 5
        settings.click_flush_interval_ms = 60_000
        with ConsoleClient(app, base_url="http://testserver") as client:
            for _ in range(5):
                get(client, f"/s/{code}")
            deadline = time.monotonic() + 5
            while count_rows(database, Click) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert count_rows(database, Click) == 5

    def test_the_click_row_holds_time_link_promoter_hashed_ip_and_agent(
        self,
        app: Any,
        quiet_buffer: Settings,
        database: Database,
        alice: MadePromoter,
        link_id: int,
        code: str,
    ) -> None:
        before = utc_now()
        with ConsoleClient(app, base_url="http://testserver") as client:
            response = get(
                client, f"/s/{code}", headers={"User-Agent": "MicroMessenger " + "x" * 400}
            )
        [click] = clicks_of(database)
        assert click.token == CLICK.search(response.headers["location"]).group(1)  # type: ignore[union-attr]
        assert (click.link_id, click.promoter_id, click.consumer_id) == (link_id, alice.id, None)
        assert before <= click.clicked_at <= utc_now()
        assert click.user_agent == ("MicroMessenger " + "x" * 400)[:255]
        # TestClient's peer is "testclient": stored only as a keyed HMAC, never as itself.
        key = hashlib.sha256(("click-ip:" + quiet_buffer.resolved_encryption_key).encode()).digest()
        assert click.ip_hash == hmac.new(key, b"testclient", hashlib.sha256).hexdigest()
        assert "testclient" not in click.ip_hash

    def test_a_signed_consumer_cookie_names_the_consumer(
        self, app: Any, quiet_buffer: Settings, database: Database, code: str
    ) -> None:
        with database.sessions() as session:
            consumer = Consumer(nickname="小李")
            session.add(consumer)
            session.commit()
            consumer_id = consumer.id
        value = service.consumer_cookie_value(consumer_id)
        with ConsoleClient(app, base_url="http://testserver") as client:
            get(client, f"/s/{code}", headers={"Cookie": f"other=1; siyu_consumer={value}"})
            get(client, f"/s/{code}", headers={"Cookie": f"siyu_consumer={consumer_id}.forged"})
            get(client, f"/s/{code}", headers={"Cookie": 'siyu_consumer="unterminated'})
        assert [click.consumer_id for click in clicks_of(database)] == [consumer_id, None, None]

    def test_head_answers_without_recording_a_click(
        self, app: Any, quiet_buffer: Settings, database: Database, shop: Shop, code: str
    ) -> None:
        with ConsoleClient(app, base_url="http://testserver") as client:
            response = client.head(f"/s/{code}", follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"] == f"/m/products/{shop.product_id}"
        assert count_rows(database, Click) == 0


class TestUnavailableLinks:
    def test_unknown_code_is_a_chinese_404_page(
        self, web: ConsoleClient, database: Database
    ) -> None:
        for path in ("/s/ZZZZZZZ", "/s/", "/s/a-b", "/s/A/B", "/s/" + "A" * 40):
            response = get(web, path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert "找不到这个链接" in response.text
            assert "Traceback" not in response.text
        assert count_rows(database, Click) == 0

    def test_expired_short_link_is_a_chinese_410_page(
        self, app: Any, quiet_buffer: Settings, database: Database, link_id: int, code: str
    ) -> None:
        expire_link(database, link_id)
        with ConsoleClient(app, base_url="http://testserver") as client:
            response = get(client, f"/s/{code}")
        assert response.status_code == 410
        assert "这个推广链接已过期" in response.text
        assert count_rows(database, Click) == 0

    def test_expiry_follows_the_simulated_clock(
        self, web: ConsoleClient, database: Database, link_id: int, code: str
    ) -> None:
        expires_at = load_link(database, link_id).expires_at
        with travel_to(expires_at - timedelta(seconds=5)):
            assert get(web, f"/s/{code}").status_code == 302
        with travel_to(expires_at + timedelta(seconds=5)):
            assert get(web, f"/s/{code}").status_code == 410
            assert get(web, service_long_path(database, link_id)).status_code == 302

    def test_disabled_link_is_a_chinese_410_page(
        self,
        app: Any,
        quiet_buffer: Settings,
        database: Database,
        alice: MadePromoter,
        link_id: int,
        code: str,
    ) -> None:
        with database.sessions() as session:
            service.disable_link(session, alice.principal, link_id)
            session.commit()
        with ConsoleClient(app, base_url="http://testserver") as client:
            response = get(client, f"/s/{code}")
            long_response = get(client, service_long_path(database, link_id))
        assert (response.status_code, long_response.status_code) == (410, 410)
        assert "这个推广链接已失效" in response.text
        assert count_rows(database, Click) == 0

    def test_disabling_takes_effect_at_once_through_the_cache(
        self, web: ConsoleClient, api_as: Any, alice: MadePromoter, link_id: int, code: str
    ) -> None:
        assert get(web, f"/s/{code}").status_code == 302  # now cached
        assert api_as(alice.principal).post(f"/api/v1/links/{link_id}/disable").status_code == 200
        assert get(web, f"/s/{code}").status_code == 410

    def test_a_database_failure_on_a_miss_is_a_chinese_503_page(
        self, web: ConsoleClient, code: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def down(*_args: Any) -> None:
            raise ConnectionError("database down")

        monkeypatch.setattr(routes, "_load_entry", down)
        response = get(web, f"/s/{code}")
        assert response.status_code == 503
        assert "系统暂时繁忙" in response.text


def service_long_path(database: Database, link_id: int) -> str:
    link = load_link(database, link_id)
    with database.sessions() as session:
        fresh = session.get(type(link), link_id)
        assert fresh is not None
        return service.long_url(fresh).removeprefix("http://127.0.0.1:8000")


class TestLongLink:
    def test_long_link_redirects_and_records_the_same_link(
        self, app: Any, quiet_buffer: Settings, database: Database, shop: Shop, link_id: int
    ) -> None:
        path = service_long_path(database, link_id)
        with ConsoleClient(app, base_url="http://testserver") as client:
            response = get(client, path)
        assert response.status_code == 302
        assert response.headers["location"].startswith(f"/m/products/{shop.product_id}?click=")
        assert [click.link_id for click in clicks_of(database)] == [link_id]

    def test_long_link_never_expires(
        self, web: ConsoleClient, database: Database, link_id: int, code: str
    ) -> None:
        expire_link(database, link_id, days_ago=400)
        assert get(web, f"/s/{code}").status_code == 410
        assert get(web, service_long_path(database, link_id)).status_code == 302

    def test_tampered_long_links_are_unknown(
        self, web: ConsoleClient, database: Database, bob: MadePromoter, shop: Shop, link_id: int
    ) -> None:
        path = service_long_path(database, link_id)
        _, _, invite, number, slug = path.split("/")
        for bad in (
            f"/l/{bob.invite_code}/{number}/{slug}",  # another promoter's code
            f"/l/{invite}/{number}/p{shop.product_id + 1}",  # another target
            f"/l/{invite}/{int(number) + 50}/{slug}",  # no such link
            f"/l/{invite}/{number}",
            f"/l/{invite}/x/{slug}",
        ):
            response = get(web, bad)
            assert response.status_code == 404, bad
            assert "找不到这个链接" in response.text

    def test_case_of_code_and_slug_does_not_matter(
        self, web: ConsoleClient, database: Database, link_id: int
    ) -> None:
        _, _, invite, number, slug = service_long_path(database, link_id).split("/")
        assert get(web, f"/l/{invite.lower()}/{number}/{slug.upper()}").status_code == 302


class TestOtherTargets:
    def test_coupon_link_lands_on_the_coupon_page(
        self,
        web: ConsoleClient,
        database: Database,
        catalog: Catalog,
        shop: Shop,
        alice: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        now = utc_now()
        batch_id = catalog.coupon(
            shop.merchant_id,
            **coupon_fields(
                valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=9)
            ),
        )
        link = make_link(
            alice,
            None,
            LinkPosition.FRIEND,
            target_kind=LinkTargetKind.COUPON,
            coupon_batch_id=batch_id,
        )
        response = get(web, f"/s/{load_link(database, link).short_code}")
        assert response.headers["location"].startswith(f"/m/coupons/{batch_id}?click=")
        page = web.get(response.headers["location"])
        assert page.status_code == 200
        assert "满 99 减 20" in page.text
        assert "立即领取（即将上线）" in page.text

    def test_activity_link_keeps_its_query(
        self, web: ConsoleClient, database: Database, alice: MadePromoter, make_link: MakeLink
    ) -> None:
        link = make_link(
            alice,
            None,
            target_kind=LinkTargetKind.ACTIVITY,
            activity_url="/m/activities/double11?from=poster",
        )
        response = get(web, f"/s/{load_link(database, link).short_code}")
        assert re.fullmatch(
            r"/m/activities/double11\?from=poster&click=[0-9a-f]{32}", response.headers["location"]
        )


class TestHotPath:
    def test_a_cache_hit_touches_no_database(
        self, web: ConsoleClient, database: Database, code: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert get(web, f"/s/{code}").status_code == 302  # the miss loads and caches
        statements: list[str] = []

        def capture(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        def refuse(*_args: Any) -> None:
            raise AssertionError("a cache hit must not load from the database")

        monkeypatch.setattr(routes, "_load_entry", refuse)
        event.listen(database.engine, "before_cursor_execute", capture)
        try:
            for _ in range(20):
                assert get(web, f"/s/{code}").status_code == 302
        finally:
            event.remove(database.engine, "before_cursor_execute", capture)
        assert statements == []
        assert click_buffer().pending_count == 21

    def test_an_unknown_code_is_cached_briefly_then_found_once_created(
        self,
        web: ConsoleClient,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(service, "readable_code", lambda _length: "KNWN234")
        assert get(web, "/s/KNWN234").status_code == 404  # cached as unknown
        with database.sessions() as session:
            service.create_link(
                session,
                alice.principal,
                service.LinkCreate(product_id=shop.product_id, position=LinkPosition.GROUP),
            )
            session.commit()  # the commit drops the cached "unknown" in this process
        assert get(web, "/s/KNWN234").status_code == 302


class TestCacheRefresh:
    def test_a_stale_entry_answers_at_once_and_is_reloaded_behind(
        self,
        web: ConsoleClient,
        settings: Settings,
        database: Database,
        link_id: int,
        code: str,
    ) -> None:
        service.redirect_context().cache.ttl_seconds = 0.2
        assert get(web, f"/s/{code}").status_code == 302  # loaded and cached
        # Another process disables the link: this process's cache does not hear of it.
        with database.sessions() as session:
            session.execute(
                update(TrackedLink).where(TrackedLink.id == link_id).values(is_active=False)
            )
            session.commit()
        time.sleep(0.25)  # now stale
        assert get(web, f"/s/{code}").status_code == 302  # the stale answer; a reload starts
        deadline = time.monotonic() + 5
        while get(web, f"/s/{code}").status_code != 410:
            assert time.monotonic() < deadline, "the reload never replaced the stale entry"
            time.sleep(0.02)

    def test_concurrent_first_clicks_share_one_load(
        self, settings: Settings, code: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[str | None] = []
        real = routes._load_entry

        def slow(short_code: str | None, link_id: int | None) -> Any:
            calls.append(short_code)
            time.sleep(0.05)
            return real(short_code, link_id)

        monkeypatch.setattr(routes, "_load_entry", slow)
        context = service.redirect_context()

        async def many() -> list[Any]:
            return await asyncio.gather(
                *(routes._resolve(context, code, code, None) for _ in range(20))
            )

        # A thread of its own: the session-wide Playwright browser keeps an event loop running
        # in the main thread of an xdist worker, where asyncio.run() is refused.
        results: list[list[Any]] = []
        runner = threading.Thread(target=lambda: results.append(asyncio.run(many())))
        runner.start()
        runner.join(timeout=30)
        entries = results[0]
        assert calls == [code]
        assert len({id(entry) for entry in entries}) == 1
        assert entries[0] is not None
