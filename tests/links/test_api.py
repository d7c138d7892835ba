"""/api/v1/links: create, list, get, stats, disable, QR; ownership and validation."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.kit.qr import qr_png
from siyu.models import Role, TrackedLink
from tests.conftest import count_rows
from tests.links.conftest import MadePromoter, Shop, load_link

MakeLink = Callable[..., int]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class TestCreate:
    def test_a_promoter_creates_a_link(self, api_as: Any, shop: Shop, alice: MadePromoter) -> None:
        response = api_as(alice.principal).post(
            "/api/v1/links",
            json={"product_id": shop.product_id, "position": "poster", "sub_id": "小区海报A"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["promoter_id"] == alice.id
        assert body["promoter_name"] == "王小明"
        assert (body["target_kind"], body["product_id"]) == ("product", shop.product_id)
        assert body["target_title"] == "拉杆箱 20 寸"
        assert (body["position"], body["position_label"]) == ("poster", "海报")
        assert body["sub_id"] == "小区海报A"
        assert body["short_url"] == f"http://127.0.0.1:8000/s/{body['short_code']}"
        assert body["long_url"] == (
            f"http://127.0.0.1:8000/l/{alice.invite_code}/{body['id']}/p{shop.product_id}"
        )
        assert body["qr_url"] == f"/api/v1/links/{body['id']}/qr.png"
        assert (body["is_active"], body["is_expired"], body["click_count"]) == (True, False, 0)

    def test_sub_id_over_80_is_a_clear_422_and_nothing_is_written(
        self, api_as: Any, database: Database, shop: Shop, alice: MadePromoter
    ) -> None:
        response = api_as(alice.principal).post(
            "/api/v1/links",
            json={"product_id": shop.product_id, "position": "group", "sub_id": "x" * 81},
        )
        assert response.status_code == 422
        assert response.json() == {
            "error": "sub_id_too_long",
            "detail": "sub_id must be at most 80 characters, got 81.",
            "detail_zh": "子渠道标识（sub-id）最多 80 个字符，您填写了 81 个，请缩短后重试。",
        }
        assert count_rows(database, TrackedLink) == 0

    def test_unknown_position_is_refused(
        self, api_as: Any, database: Database, shop: Shop, alice: MadePromoter
    ) -> None:
        response = api_as(alice.principal).post(
            "/api/v1/links", json={"product_id": shop.product_id, "position": "billboard"}
        )
        assert response.status_code == 422
        assert count_rows(database, TrackedLink) == 0

    def test_platform_staff_cannot_create(self, api_as: Any, admin: Principal, shop: Shop) -> None:
        response = api_as(admin).post(
            "/api/v1/links", json={"product_id": shop.product_id, "position": "group"}
        )
        assert response.status_code == 403
        assert response.json()["error"] == "not_a_promoter"

    def test_anonymous_is_401(self, app: Any, shop: Shop) -> None:
        from fastapi.testclient import TestClient

        with TestClient(app) as anonymous:
            response = anonymous.post(
                "/api/v1/links", json={"product_id": shop.product_id, "position": "group"}
            )
        assert response.status_code == 401


class TestReadAndManage:
    def test_list_get_and_stats_for_the_owner(
        self, api_as: Any, shop: Shop, alice: MadePromoter, bob: MadePromoter, make_link: MakeLink
    ) -> None:
        mine = make_link(alice, shop.product_id)
        make_link(bob, shop.product_id)
        api = api_as(alice.principal)
        listed = api.get("/api/v1/links").json()
        assert [item["id"] for item in listed["items"]] == [mine]
        assert (listed["total"], listed["page"], listed["pages"]) == (1, 1, 1)
        assert api.get(f"/api/v1/links/{mine}").json()["id"] == mine
        stats = api.get("/api/v1/links/stats").json()
        assert stats["promoter_id"] == alice.id
        assert stats["total_clicks"] == 0
        assert [item["position"] for item in stats["by_position"]] == [
            "group",
            "friend",
            "moments",
            "poster",
            "mini_program",
            "courier",
        ]
        assert stats["by_position"][0] == {
            "position": "group",
            "label": "微信群",
            "link_count": 1,
            "click_count": 0,
        }

    def test_another_promoters_link_is_404_everywhere(
        self,
        api_as: Any,
        database: Database,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        theirs = make_link(bob, shop.product_id)
        api = api_as(alice.principal)
        for response in (
            api.get(f"/api/v1/links/{theirs}"),
            api.post(f"/api/v1/links/{theirs}/disable"),
            api.get(f"/api/v1/links/{theirs}/qr.png"),
        ):
            assert response.status_code == 404
            assert response.json()["error"] == "link_not_found"
        assert load_link(database, theirs).is_active is True
        assert api.get(f"/api/v1/links?promoter_id={bob.id}").json()["total"] == 0

    def test_platform_sees_every_link_and_filters_by_promoter(
        self,
        api_as: Any,
        admin: Principal,
        shop: Shop,
        alice: MadePromoter,
        bob: MadePromoter,
        make_link: MakeLink,
    ) -> None:
        make_link(alice, shop.product_id)
        theirs = make_link(bob, shop.product_id)
        api = api_as(admin)
        assert api.get("/api/v1/links").json()["total"] == 2
        filtered = api.get(f"/api/v1/links?promoter_id={bob.id}").json()
        assert [item["id"] for item in filtered["items"]] == [theirs]
        assert api.get(f"/api/v1/links/{theirs}").status_code == 200

    def test_a_merchant_is_403(
        self, api_as: Any, make_user: Any, shop: Shop, alice: MadePromoter, make_link: MakeLink
    ) -> None:
        link = make_link(alice, shop.product_id)
        merchant = make_user(Role.MERCHANT, "shop", merchant_id=shop.merchant_id)
        assert api_as(merchant).get(f"/api/v1/links/{link}").status_code == 403

    def test_disable(
        self, api_as: Any, database: Database, shop: Shop, alice: MadePromoter, make_link: MakeLink
    ) -> None:
        link = make_link(alice, shop.product_id)
        response = api_as(alice.principal).post(f"/api/v1/links/{link}/disable")
        assert response.status_code == 200
        assert response.json()["is_active"] is False
        assert response.json()["disabled_at"] is not None
        assert load_link(database, link).is_active is False


class TestQr:
    def test_qr_is_a_png_of_the_short_url(
        self, api_as: Any, database: Database, shop: Shop, alice: MadePromoter, make_link: MakeLink
    ) -> None:
        link = make_link(alice, shop.product_id)
        response = api_as(alice.principal).get(f"/api/v1/links/{link}/qr.png")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(PNG_MAGIC)
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "PNG"
        assert image.size[0] == image.size[1] > 100

    def test_each_form_encodes_its_own_url(
        self, api_as: Any, database: Database, shop: Shop, alice: MadePromoter, make_link: MakeLink
    ) -> None:
        link = make_link(alice, shop.product_id)
        code = load_link(database, link).short_code
        api = api_as(alice.principal)
        short = api.get(f"/api/v1/links/{link}/qr.png").content
        long = api.get(f"/api/v1/links/{link}/qr.png?form=long").content
        assert short == qr_png(f"http://127.0.0.1:8000/s/{code}")
        assert long == qr_png(
            f"http://127.0.0.1:8000/l/{alice.invite_code}/{link}/p{shop.product_id}"
        )
