"""H5 "我的推广链接" pages and the public landing pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from siyu.catalog import service as catalog_service
from siyu.db import Database
from siyu.kit.time import utc_now
from siyu.links.clicks import ClickRow, write_batch
from siyu.models import LinkPosition, TrackedLink
from tests.conftest import ConsoleClient, count_rows
from tests.links.conftest import MadePromoter, Shop, load_link

MakeLink = Callable[..., int]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def add_clicks(database: Database, link_id: int, promoter_id: int, count: int) -> None:
    write_batch(
        database,
        [
            ClickRow(
                token=f"page-{link_id}-{number}",
                link_id=link_id,
                promoter_id=promoter_id,
                clicked_at=utc_now(),
                ip_hash="0" * 64,
                user_agent="",
                consumer_id=None,
            )
            for number in range(count)
        ],
    )


class TestLinksPage:
    def test_lists_links_with_clicks_per_link_and_per_position(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        group = make_link(alice, shop.product_id, LinkPosition.GROUP, sub_id="宝妈群")
        poster = make_link(alice, shop.product_id, LinkPosition.POSTER)
        add_clicks(database, group, alice.id, 3)
        add_clicks(database, poster, alice.id, 2)
        client.login(alice.phone)
        page = client.get("/h5/links")
        assert page.status_code == 200
        text = page.text
        assert f'data-testid="link-clicks-{group}">3<' in text
        assert f'data-testid="link-clicks-{poster}">2<' in text
        assert 'data-testid="position-clicks-group">3<' in text
        assert 'data-testid="position-clicks-poster">2<' in text
        assert 'data-testid="total-clicks">5<' in text
        assert "宝妈群" in text
        short_code = load_link(database, group).short_code
        assert f"/s/{short_code}" in text
        assert '<a href="/h5/links" class="active">链接</a>' in text

    def test_empty_list_explains_what_to_do(
        self, client: ConsoleClient, alice: MadePromoter
    ) -> None:
        client.login(alice.phone)
        assert 'data-testid="no-links"' in client.get("/h5/links").text

    def test_other_roles_get_a_chinese_error(self, client: ConsoleClient, admin: Any) -> None:
        client.login("admin")
        response = client.get("/h5/links")
        assert response.status_code == 403
        assert "此功能仅供推手使用" in response.text


class TestCreatePage:
    def test_the_form_lists_the_pool_and_positions(
        self, client: ConsoleClient, shop: Shop, alice: MadePromoter
    ) -> None:
        client.login(alice.phone)
        page = client.get("/h5/links/new")
        assert page.status_code == 200
        assert f'name="product_id" value="{shop.product_id}"' in page.text
        for label in ("微信群", "好友", "朋友圈", "海报", "小程序卡片", "快递员"):
            assert label in page.text
        assert 'maxlength="80"' in page.text

    def test_submitting_creates_and_shows_the_link(
        self, client: ConsoleClient, database: Database, shop: Shop, alice: MadePromoter
    ) -> None:
        client.login(alice.phone)
        response = client.submit(
            "/h5/links",
            {"product_id": str(shop.product_id), "position": "moments", "sub_id": "朋友圈早八点"},
        )
        assert response.status_code == 303
        link_id = int(response.headers["location"].rsplit("/", 1)[1])
        link = load_link(database, link_id)
        assert (link.promoter_id, link.position, link.sub_id) == (
            alice.id,
            LinkPosition.MOMENTS,
            "朋友圈早八点",
        )
        detail = client.get(response.headers["location"])
        assert f'value="http://127.0.0.1:8000/s/{link.short_code}"' in detail.text
        assert f"/l/{alice.invite_code}/{link.id}/p{shop.product_id}" in detail.text
        assert f'src="/h5/links/{link.id}/qr.png"' in detail.text
        assert "推广链接已生成" in detail.text

    def test_sub_id_too_long_shows_the_reason_and_writes_nothing(
        self, client: ConsoleClient, database: Database, shop: Shop, alice: MadePromoter
    ) -> None:
        client.login(alice.phone)
        response = client.submit(
            "/h5/links",
            {"product_id": str(shop.product_id), "position": "group", "sub_id": "群" * 81},
        )
        assert response.status_code == 422
        assert "最多 80 个字符，您填写了 81 个" in response.text
        assert count_rows(database, TrackedLink) == 0

    def test_missing_product_or_position_is_explained(
        self, client: ConsoleClient, database: Database, shop: Shop, alice: MadePromoter
    ) -> None:
        client.login(alice.phone)
        no_product = client.submit("/h5/links", {"position": "group"})
        assert no_product.status_code == 422
        assert "请选择要推广的商品" in no_product.text
        no_position = client.submit("/h5/links", {"product_id": str(shop.product_id)})
        assert "请选择推广位" in no_position.text
        assert count_rows(database, TrackedLink) == 0


class TestDetailPage:
    def test_qr_png_and_disable(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        link = make_link(alice, shop.product_id)
        client.login(alice.phone)
        qr = client.get(f"/h5/links/{link}/qr.png")
        assert qr.status_code == 200
        assert qr.content.startswith(PNG_MAGIC)
        response = client.submit(f"/h5/links/{link}/disable")
        assert response.status_code == 303
        assert load_link(database, link).is_active is False
        page = client.get(f"/h5/links/{link}")
        assert "已停用" in page.text
        assert 'data-testid="link-qr"' not in page.text

    def test_another_promoters_link_is_a_chinese_404(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        theirs = make_link(bob, shop.product_id)
        client.login(alice.phone)
        for response in (
            client.get(f"/h5/links/{theirs}"),
            client.get(f"/h5/links/{theirs}/qr.png"),
            client.submit(f"/h5/links/{theirs}/disable"),
        ):
            assert response.status_code == 404
            assert "找不到该推广链接" in response.text
        assert load_link(database, theirs).is_active is True


class TestLandingPages:
    def test_product_landing_shows_title_prices_and_button(
        self, client: ConsoleClient, shop: Shop
    ) -> None:
        page = client.get(f"/m/products/{shop.product_id}?click=abc123")
        assert page.status_code == 200
        assert 'data-testid="product-promo-price">¥59.90<' in page.text
        assert 'data-testid="product-list-price">¥199.00<' in page.text
        assert "立即购买" in page.text
        assert "/m/checkout/" in page.text
        assert 'href="/m/checkout/' in page.text
        assert '?click=abc123"' in page.text
        assert re.search(r'class="h5-tabs', page.text) is None  # no promoter tabs for buyers

    def test_an_unshelved_product_is_a_friendly_404(
        self, client: ConsoleClient, database: Database, shop: Shop
    ) -> None:
        with database.sessions() as session:
            catalog_service.set_product_shelf(session, None, shop.product_id, on_shelf=False)
            session.commit()
        page = client.get(f"/m/products/{shop.product_id}")
        assert page.status_code == 404
        assert "商品已下架" in page.text

    def test_unknown_coupon_is_a_friendly_404(self, client: ConsoleClient) -> None:
        page = client.get("/m/coupons/999")
        assert page.status_code == 404
        assert "优惠券不存在" in page.text
