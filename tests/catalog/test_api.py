from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.auth.principal import Principal
from siyu.config import Settings
from siyu.db import Database
from siyu.models import AuditEvent, CouponBatch, Merchant, Product
from tests.catalog.conftest import Catalog, image_bytes, product_fields
from tests.conftest import count_rows

COUPON_JSON: dict[str, Any] = {
    "name": "满 99 减 20",
    "face_value_fen": 2000,
    "threshold_fen": 9900,
    "total_quantity": 1000,
    "per_user_limit": 1,
    "valid_from": "2026-11-01T00:00:00+08:00",
    "valid_until": "2026-11-12T00:00:00+08:00",
}


def product_json(**overrides: Any) -> dict[str, Any]:
    return product_fields(**overrides)


class TestProductApiValidation:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("list_price_fen", 199.0),
            ("promo_price_fen", 59.9),
            ("fixed_commission_fen", 2.5),
            ("list_price_fen", True),
            ("promo_price_fen", "5990"),
            ("commission_rate_bp", 5.5),
            ("stock", 1.5),
        ],
    )
    def test_non_integer_money_and_rates_are_refused_with_422(
        self, api_as: Any, merchant_a: Principal, database: Database, field: str, value: Any
    ) -> None:
        response = api_as(merchant_a).post("/api/v1/products", json=product_json(**{field: value}))
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "validation_failed"
        assert [item["field"] for item in body["fields"]] == [field]
        assert count_rows(database, Product) == 0

    @pytest.mark.parametrize(
        ("overrides", "code", "detail_zh"),
        [
            (
                {"list_price_fen": -1},
                "money_invalid",
                "划线价必须是不小于 0 的金额（最多两位小数），您输入的是“-1”。",
            ),
            (
                {"promo_price_fen": 20000},
                "promo_price_above_list",
                "到手价不能高于划线价，请调低到手价或调高划线价。",
            ),
            (
                {"commission_rate_bp": 10001},
                "rate_invalid",
                "佣金比例必须在 0% 到 100% 之间，您输入的是“10001”。",
            ),
            (
                {"commission_rate_bp": -1},
                "rate_invalid",
                "佣金比例必须在 0% 到 100% 之间，您输入的是“-1”。",
            ),
            (
                {"stock": -1},
                "stock_invalid",
                "库存必须是 0 到 1000000000 之间的整数，您输入的是“-1”。",
            ),
            ({"title": "  "}, "text_required", "请填写商品标题。"),
        ],
    )
    def test_business_rules_answer_with_code_and_chinese_detail(
        self,
        api_as: Any,
        merchant_a: Principal,
        database: Database,
        overrides: dict[str, Any],
        code: str,
        detail_zh: str,
    ) -> None:
        response = api_as(merchant_a).post("/api/v1/products", json=product_json(**overrides))
        assert response.status_code == 422
        body = response.json()
        assert (body["error"], body["detail_zh"]) == (code, detail_zh)
        assert body["detail"]
        assert count_rows(database, Product) == 0

    @pytest.mark.parametrize(("promo", "commission"), [(19900, 0), (0, 10000)])
    def test_boundaries_are_accepted(
        self, api_as: Any, merchant_a: Principal, promo: int, commission: int
    ) -> None:
        response = api_as(merchant_a).post(
            "/api/v1/products",
            json=product_json(promo_price_fen=promo, commission_rate_bp=commission),
        )
        assert response.status_code == 201
        body = response.json()
        assert (body["promo_price_fen"], body["commission_rate_bp"]) == (promo, commission)

    def test_unknown_fields_are_refused(
        self, api_as: Any, merchant_a: Principal, database: Database
    ) -> None:
        response = api_as(merchant_a).post(
            "/api/v1/products", json=product_json(review_status="approved")
        )
        assert response.status_code == 422
        assert count_rows(database, Product) == 0

    def test_patch_with_float_money_changes_nothing(
        self, api_as: Any, merchant_a: Principal, catalog: Catalog, shop_a: int, database: Database
    ) -> None:
        product_id = catalog.product(shop_a)
        response = api_as(merchant_a).patch(
            f"/api/v1/products/{product_id}", json={"promo_price_fen": 49.9}
        )
        assert response.status_code == 422
        with database.sessions() as session:
            product = session.get(Product, product_id)
            assert product is not None
            assert product.promo_price_fen == 5990


class TestProductApi:
    def test_merchant_creates_and_reads_its_product(
        self, api_as: Any, merchant_a: Principal, shop_a: int
    ) -> None:
        api = api_as(merchant_a)
        created = api.post("/api/v1/products", json=product_json(fixed_commission_fen=300))
        assert created.status_code == 201
        body = created.json()
        assert body["merchant_id"] == shop_a
        assert body["merchant_name"] == "甲品牌旗舰店"
        assert body["review_status"] == "pending"
        assert body["on_shelf"] is False
        assert body["platform_take_bp"] == 1000
        assert body["estimated_promoter_commission_fen"] == 270
        fetched = api.get(f"/api/v1/products/{body['id']}").json()
        assert fetched["title"] == "拉杆箱 20 寸"

    def test_list_filters_by_status_and_query(
        self, api_as: Any, operator: Principal, catalog: Catalog, shop_a: int, shop_b: int
    ) -> None:
        approved = catalog.approved(shop_a, title="保温杯")
        catalog.product(shop_b, title="保温壶")
        api = api_as(operator)
        body = api.get("/api/v1/products", params={"status": "approved"}).json()
        assert [item["id"] for item in body["items"]] == [approved]
        assert (body["total"], body["page"], body["size"]) == (1, 1, 50)
        by_merchant = api.get("/api/v1/products", params={"merchant_id": shop_b, "q": "保温"})
        assert by_merchant.json()["total"] == 1

    def test_patch_of_approved_price_sends_back_to_review(
        self, api_as: Any, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        response = api_as(merchant_a).patch(
            f"/api/v1/products/{product_id}", json={"promo_price_fen": 4990}
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["review_status"], body["on_shelf"], body["promo_price_fen"]) == (
            "pending",
            False,
            4990,
        )


class TestProductApiAccess:
    def test_other_merchants_product_is_404_for_read_and_edit(
        self,
        api_as: Any,
        merchant_a: Principal,
        catalog: Catalog,
        shop_b: int,
        database: Database,
    ) -> None:
        product_id = catalog.product(shop_b)
        api = api_as(merchant_a)
        read = api.get(f"/api/v1/products/{product_id}")
        assert read.status_code == 404
        assert read.json()["error"] == "product_not_found"
        edit = api.patch(f"/api/v1/products/{product_id}", json={"stock": 0})
        assert edit.status_code == 404
        with database.sessions() as session:
            product = session.get(Product, product_id)
            assert product is not None
            assert product.stock == 100

    def test_missing_product_looks_the_same_as_another_merchants(
        self, api_as: Any, merchant_a: Principal, catalog: Catalog, shop_b: int
    ) -> None:
        product_id = catalog.product(shop_b)
        api = api_as(merchant_a)
        assert (
            api.get(f"/api/v1/products/{product_id}").json()
            == api.get("/api/v1/products/999999").json()
        )

    def test_merchant_list_never_shows_other_merchants(
        self, api_as: Any, merchant_a: Principal, catalog: Catalog, shop_a: int, shop_b: int
    ) -> None:
        own = catalog.product(shop_a)
        catalog.approved(shop_b)
        body = api_as(merchant_a).get("/api/v1/products", params={"merchant_id": shop_b}).json()
        assert body["items"] == []
        body = api_as(merchant_a).get("/api/v1/products").json()
        assert [item["id"] for item in body["items"]] == [own]

    def test_promoter_cannot_create_products(
        self, api_as: Any, promoter_user: Principal, shop_a: int, database: Database
    ) -> None:
        response = api_as(promoter_user).post(
            "/api/v1/products", json=product_json(merchant_id=shop_a)
        )
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"
        assert count_rows(database, Product) == 0

    def test_promoter_cannot_read_product_internals(
        self, api_as: Any, promoter_user: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        api = api_as(promoter_user)
        assert api.get("/api/v1/products").status_code == 403
        assert api.get(f"/api/v1/products/{product_id}").status_code == 403

    def test_merchant_cannot_review(
        self, api_as: Any, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        api = api_as(merchant_a)
        assert api.post(f"/api/v1/products/{product_id}/approve", json={}).status_code == 403
        reject = api.post(f"/api/v1/products/{product_id}/reject", json={"reason": "x"})
        assert reject.status_code == 403

    def test_unauthenticated_requests_are_401(self, app: Any) -> None:
        with TestClient(app) as api:
            assert api.get("/api/v1/pool").status_code == 401
            assert api.post("/api/v1/products", json=product_json()).status_code == 401


class TestReviewApi:
    def test_approve_with_take_and_weight(
        self, api_as: Any, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a, promo_price_fen=5400)
        response = api_as(operator).post(
            f"/api/v1/products/{product_id}/approve",
            json={"platform_take_bp": 1000, "rank_weight": 30},
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["review_status"], body["on_shelf"]) == ("approved", True)
        assert (body["platform_take_bp"], body["rank_weight"]) == (1000, 30)
        assert body["estimated_promoter_commission_fen"] == 243
        assert body["reviewed_at"] is not None

    def test_approve_with_float_take_is_refused(
        self, api_as: Any, operator: Principal, catalog: Catalog, shop_a: int, database: Database
    ) -> None:
        product_id = catalog.product(shop_a)
        events = count_rows(database, AuditEvent)
        response = api_as(operator).post(
            f"/api/v1/products/{product_id}/approve", json={"platform_take_bp": 10.5}
        )
        assert response.status_code == 422
        assert count_rows(database, AuditEvent) == events

    def test_reject_requires_a_reason(
        self, api_as: Any, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        api = api_as(operator)
        missing = api.post(f"/api/v1/products/{product_id}/reject", json={})
        assert missing.status_code == 422
        blank = api.post(f"/api/v1/products/{product_id}/reject", json={"reason": " "})
        assert (blank.status_code, blank.json()["error"]) == (422, "text_required")
        done = api.post(f"/api/v1/products/{product_id}/reject", json={"reason": "资质不全"})
        assert (done.json()["review_status"], done.json()["review_reason"]) == (
            "rejected",
            "资质不全",
        )

    def test_merchant_reads_the_rejection_reason(
        self, api_as: Any, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        catalog.reject(product_id, "缺少质检报告")
        body = api_as(merchant_a).get(f"/api/v1/products/{product_id}").json()
        assert (body["review_status"], body["review_reason"]) == ("rejected", "缺少质检报告")

    def test_shelf_and_rank(
        self, api_as: Any, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        api = api_as(operator)
        off = api.post(f"/api/v1/products/{product_id}/shelf", json={"on_shelf": False})
        assert off.json()["on_shelf"] is False
        ranked = api.post(f"/api/v1/products/{product_id}/rank", json={"rank_weight": 88})
        assert ranked.json()["rank_weight"] == 88
        not_bool = api.post(f"/api/v1/products/{product_id}/shelf", json={"on_shelf": "yes"})
        assert not_bool.status_code == 422

    def test_shelving_a_pending_product_is_409(
        self, api_as: Any, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        response = api_as(operator).post(
            f"/api/v1/products/{product_id}/shelf", json={"on_shelf": True}
        )
        assert (response.status_code, response.json()["error"]) == (409, "product_not_approved")


class TestPoolApi:
    def test_promoter_reads_the_pool_in_rank_order(
        self,
        api_as: Any,
        promoter_user: Principal,
        catalog: Catalog,
        shop_a: int,
        shop_b: int,
    ) -> None:
        second = catalog.approved(shop_a, rank_weight=5)
        first = catalog.approved(shop_b, rank_weight=50)
        catalog.product(shop_a)
        body = api_as(promoter_user).get("/api/v1/pool").json()
        assert [item["id"] for item in body["items"]] == [first, second]
        assert body["total"] == 2
        item = body["items"][0]
        assert item["merchant_name"] == "乙品牌旗舰店"
        assert item["estimated_promoter_commission_fen"] == 270  # 5990×5%=299; 299−29
        assert "review_status" not in item
        assert "platform_take_bp" not in item

    def test_pending_product_is_not_in_the_pool(
        self, api_as: Any, promoter_user: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        response = api_as(promoter_user).get(f"/api/v1/pool/{product_id}")
        assert (response.status_code, response.json()["error"]) == (404, "product_not_found")


class TestMerchantApi:
    def test_create_with_phone_returns_it_masked(
        self, api_as: Any, admin: Principal, database: Database
    ) -> None:
        response = api_as(admin).post(
            "/api/v1/merchants",
            json={"name": "丙品牌", "contact_name": "李经理", "contact_phone": "13912345678"},
        )
        assert response.status_code == 201
        body = response.json()
        assert body["contact_phone_masked"] == "139****5678"
        assert "13912345678" not in response.text
        assert body["status"] == "active"

    def test_bad_phone_is_422_with_code(
        self, api_as: Any, admin: Principal, database: Database
    ) -> None:
        response = api_as(admin).post(
            "/api/v1/merchants", json={"name": "丙品牌", "contact_phone": "0101234"}
        )
        assert (response.status_code, response.json()["error"]) == (422, "phone_invalid")
        assert count_rows(database, Merchant) == 0

    def test_merchant_sees_only_itself(
        self, api_as: Any, merchant_a: Principal, shop_a: int, shop_b: int
    ) -> None:
        api = api_as(merchant_a)
        assert [item["id"] for item in api.get("/api/v1/merchants").json()["items"]] == [shop_a]
        assert api.get(f"/api/v1/merchants/{shop_a}").status_code == 200
        other = api.get(f"/api/v1/merchants/{shop_b}")
        assert (other.status_code, other.json()["error"]) == (404, "merchant_not_found")
        assert api.patch(f"/api/v1/merchants/{shop_a}", json={"name": "x"}).status_code == 403

    def test_operator_edits_a_merchant(self, api_as: Any, operator: Principal, shop_a: int) -> None:
        response = api_as(operator).patch(
            f"/api/v1/merchants/{shop_a}",
            json={"contact_phone": "13800138000", "status": "suspended"},
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["contact_phone_masked"], body["status"]) == ("138****8000", "suspended")


class TestCouponApi:
    def test_merchant_creates_and_deactivates_a_coupon(
        self, api_as: Any, merchant_a: Principal, shop_a: int
    ) -> None:
        api = api_as(merchant_a)
        created = api.post("/api/v1/coupon-batches", json=COUPON_JSON)
        assert created.status_code == 201
        body = created.json()
        assert body["merchant_id"] == shop_a
        assert (body["valid_from"], body["valid_until"]) == (
            "2026-10-31T16:00:00Z",
            "2026-11-11T16:00:00Z",
        )
        patched = api.patch(f"/api/v1/coupon-batches/{body['id']}", json={"is_active": False})
        assert patched.json()["is_active"] is False
        listed = api.get("/api/v1/coupon-batches", params={"active": False}).json()
        assert [item["id"] for item in listed["items"]] == [body["id"]]

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"threshold_fen": 1999}, "coupon_threshold_below_face"),
            ({"total_quantity": 0}, "quantity_invalid"),
            ({"valid_until": "2026-10-01T00:00:00+08:00"}, "validity_window_reversed"),
            ({"face_value_fen": 20.5}, "validation_failed"),
            ({"valid_from": "2026-11-01T00:00:00"}, "validation_failed"),
        ],
    )
    def test_invalid_coupon_is_422_and_writes_nothing(
        self,
        api_as: Any,
        merchant_a: Principal,
        database: Database,
        overrides: dict[str, Any],
        code: str,
    ) -> None:
        response = api_as(merchant_a).post(
            "/api/v1/coupon-batches", json={**COUPON_JSON, **overrides}
        )
        assert (response.status_code, response.json()["error"]) == (422, code)
        assert count_rows(database, CouponBatch) == 0

    def test_other_merchants_coupon_is_404(
        self, api_as: Any, merchant_a: Principal, catalog: Catalog, shop_b: int
    ) -> None:
        coupon_id = catalog.coupon(shop_b)
        api = api_as(merchant_a)
        assert api.get(f"/api/v1/coupon-batches/{coupon_id}").status_code == 404
        patch = api.patch(f"/api/v1/coupon-batches/{coupon_id}", json={"is_active": False})
        assert patch.status_code == 404


class TestImageUploadApi:
    def test_upload_replaces_the_image_and_is_served(
        self,
        api_as: Any,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        settings: Settings,
    ) -> None:
        product_id = catalog.product(shop_a)
        api = api_as(merchant_a)
        data = image_bytes("PNG")
        response = api.post(
            f"/api/v1/products/{product_id}/image", files={"file": ("x.exe", data, "image/png")}
        )
        assert response.status_code == 200
        url = response.json()["image_url"]
        assert url.startswith("/uploads/")
        assert url.endswith(".png")
        assert api.get(url).content == data

    @pytest.mark.parametrize(
        ("make_data", "code"),
        [
            (lambda limit: b"GIF89a but not really", "image_invalid"),
            (lambda limit: image_bytes() + b"\x00" * limit, "image_too_large"),
        ],
    )
    def test_bad_upload_is_refused_and_nothing_saved(
        self,
        api_as: Any,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        settings: Settings,
        make_data: Any,
        code: str,
    ) -> None:
        product_id = catalog.product(shop_a)
        response = api_as(merchant_a).post(
            f"/api/v1/products/{product_id}/image",
            files={"file": ("a.png", make_data(settings.upload_max_bytes), "image/png")},
        )
        assert (response.status_code, response.json()["error"]) == (422, code)
        assert list(settings.upload_dir.iterdir()) == []


class TestUpdatedAt:
    def test_patch_answers_with_the_new_updated_at(
        self, api_as: Any, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        api = api_as(merchant_a)
        before = api.get(f"/api/v1/products/{product_id}").json()["updated_at"]
        after = api.patch(f"/api/v1/products/{product_id}", json={"stock": 5}).json()
        assert after["stock"] == 5
        assert datetime.fromisoformat(after["updated_at"]) > datetime.fromisoformat(before)
        assert api.get(f"/api/v1/products/{product_id}").json()["updated_at"] == after["updated_at"]
