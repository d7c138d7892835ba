from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from siyu.auth.principal import Principal
from siyu.config import Settings
from siyu.db import Database
from siyu.models import CouponBatch, Merchant, Product, ReviewStatus
from tests.catalog.conftest import Catalog, image_bytes
from tests.conftest import ConsoleClient, count_rows

PRODUCT_FORM = {
    "title": "拉杆箱 20 寸",
    "category": "箱包",
    "product_line": "出行",
    "description": "静音万向轮",
    "list_price": "199",
    "promo_price": "59.90",
    "stock": "100",
    "commission_rate": "5.5",
    "fixed_commission": "",
    "image_url": "",
}

COUPON_FORM = {
    "name": "双十一满 99 减 20",
    "threshold": "99",
    "face_value": "20",
    "total_quantity": "500",
    "per_user_limit": "2",
    "valid_from": "2026-11-11T00:00",
    "valid_until": "2026-11-12T00:00",
    "is_active": "1",
}


def get_product(database: Database, product_id: int) -> Product:
    with database.sessions() as session:
        product = session.get(Product, product_id)
        assert product is not None
        return product


def only_product(database: Database) -> Product:
    with database.sessions() as session:
        products = list(session.scalars(select(Product)))
        assert len(products) == 1
        return products[0]


def text_of(response: Any) -> str:
    return html.unescape(response.text)


class TestMerchantPages:
    def test_admin_creates_a_merchant_and_sees_the_masked_phone(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        client.login("admin")
        response = client.submit(
            "/console/merchants",
            {"name": "丙品牌", "contact_name": "李经理", "contact_phone": "13912345678"},
        )
        assert response.status_code == 303
        detail = client.get(response.headers["location"])
        assert "已创建商家“丙品牌”" in text_of(detail)
        assert "139****5678" in detail.text
        assert "13912345678" not in detail.text
        listing = client.get("/console/merchants")
        assert "丙品牌" in listing.text
        assert "139****5678" in listing.text

    def test_bad_phone_is_shown_in_chinese_and_input_kept(
        self, client: ConsoleClient, admin: Principal, database: Database
    ) -> None:
        client.login("admin")
        response = client.submit("/console/merchants", {"name": "丙品牌", "contact_phone": "12345"})
        assert response.status_code == 422
        page = text_of(response)
        assert "手机号格式不正确（应为 11 位大陆手机号），您输入的是“12345”。" in page
        assert 'value="丙品牌"' in page
        assert count_rows(database, Merchant) == 0

    def test_merchant_user_is_sent_to_its_own_merchant(
        self, client: ConsoleClient, merchant_a: Principal, shop_a: int
    ) -> None:
        client.login("shop-a")
        response = client.get("/console/merchants", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/console/merchants/{shop_a}"

    def test_other_merchant_is_404_in_chinese(
        self, client: ConsoleClient, merchant_a: Principal, shop_b: int
    ) -> None:
        client.login("shop-a")
        response = client.get(f"/console/merchants/{shop_b}")
        assert response.status_code == 404
        assert "找不到该商家" in response.text

    def test_operator_suspends_a_merchant(
        self, client: ConsoleClient, operator: Principal, shop_a: int, database: Database
    ) -> None:
        client.login("ops")
        response = client.submit(
            f"/console/merchants/{shop_a}",
            {"name": "甲品牌旗舰店", "contact_name": "", "status": "suspended"},
        )
        assert response.status_code == 303
        with database.sessions() as session:
            merchant = session.get(Merchant, shop_a)
            assert merchant is not None
            assert merchant.status.value == "suspended"


class TestProductForm:
    def test_merchant_submits_a_product_in_yuan_and_percent(
        self, client: ConsoleClient, merchant_a: Principal, shop_a: int, database: Database
    ) -> None:
        client.login("shop-a")
        assert client.get("/console/products/new").status_code == 200
        response = client.submit("/console/products", PRODUCT_FORM)
        assert response.status_code == 303
        product = only_product(database)
        assert response.headers["location"] == f"/console/products/{product.id}"
        assert (product.merchant_id, product.list_price_fen, product.promo_price_fen) == (
            shop_a,
            19900,
            5990,
        )
        assert (product.commission_rate_bp, product.fixed_commission_fen) == (550, None)
        assert product.review_status == ReviewStatus.PENDING
        detail = text_of(client.get(response.headers["location"]))
        assert "等待平台审核入池" in detail
        assert "¥59.90" in detail
        assert "5.5%" in detail

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            (
                "promo_price",
                "abc",
                "到手价必须是不小于 0 的金额（最多两位小数），您输入的是“abc”。",
            ),
            (
                "promo_price",
                "59.999",
                "到手价必须是不小于 0 的金额（最多两位小数），您输入的是“59.999”。",
            ),
            ("list_price", "-1", "划线价必须是不小于 0 的金额（最多两位小数），您输入的是“-1”。"),
            ("promo_price", "299", "到手价不能高于划线价，请调低到手价或调高划线价。"),
            ("commission_rate", "100.5", "佣金比例必须在 0% 到 100% 之间，您输入的是“100.5”。"),
            ("stock", "-3", "库存必须是 0 到 1000000000 之间的整数，您输入的是“-3”。"),
            ("stock", "十", "库存必须是 0 到 1000000000 之间的整数，您输入的是“十”。"),
            ("title", " ", "请填写商品标题。"),
            ("list_price", "", "请填写划线价。"),
        ],
    )
    def test_bad_input_is_shown_in_chinese_with_input_kept(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        database: Database,
        field: str,
        value: str,
        message: str,
    ) -> None:
        client.login("shop-a")
        response = client.submit("/console/products", {**PRODUCT_FORM, field: value})
        assert response.status_code == 422
        page = text_of(response)
        assert message in page
        assert 'value="拉杆箱 20 寸"' in page or field == "title"
        assert f'name="{field}" value="{value}"' in page or field == "title"
        assert count_rows(database, Product) == 0

    def test_all_field_problems_are_listed_at_once(
        self, client: ConsoleClient, merchant_a: Principal, database: Database
    ) -> None:
        client.login("shop-a")
        response = client.submit(
            "/console/products", {**PRODUCT_FORM, "list_price": "x", "stock": "y"}
        )
        page = text_of(response)
        assert "划线价必须是不小于 0 的金额" in page
        assert "库存必须是 0 到" in page
        assert count_rows(database, Product) == 0

    def test_platform_must_choose_a_merchant(
        self, client: ConsoleClient, operator: Principal, shop_a: int, database: Database
    ) -> None:
        client.login("ops")
        response = client.submit("/console/products", PRODUCT_FORM)
        assert response.status_code == 422
        assert "请选择所属商家。" in text_of(response)
        ok = client.submit("/console/products", {**PRODUCT_FORM, "merchant_id": str(shop_a)})
        assert ok.status_code == 303
        assert only_product(database).merchant_id == shop_a

    def test_upload_is_stored_and_linked(
        self, client: ConsoleClient, merchant_a: Principal, database: Database, settings: Settings
    ) -> None:
        client.login("shop-a")
        response = client.submit(
            "/console/products",
            PRODUCT_FORM,
            files={"image_file": ("photo.png", image_bytes(), "image/png")},
        )
        assert response.status_code == 303
        product = only_product(database)
        name = product.image_url.removeprefix("/uploads/")
        assert (settings.upload_dir / name).exists()

    @pytest.mark.parametrize(
        ("make_data", "message"),
        [
            (lambda limit: b"MZ\x90\x00 not an image", "上传的文件不是有效图片"),
            (lambda limit: image_bytes() + b"\x00" * limit, "图片超过 5 MB，请压缩后再上传。"),
        ],
    )
    def test_bad_upload_is_refused_with_input_kept(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        database: Database,
        settings: Settings,
        make_data: Any,
        message: str,
    ) -> None:
        client.login("shop-a")
        response = client.submit(
            "/console/products",
            PRODUCT_FORM,
            files={"image_file": ("photo.png", make_data(settings.upload_max_bytes), "image/png")},
        )
        assert response.status_code == 422
        page = text_of(response)
        assert message in page
        assert 'value="59.90"' in page
        assert count_rows(database, Product) == 0
        assert list(settings.upload_dir.iterdir()) == []

    def test_empty_file_input_is_ignored(
        self, client: ConsoleClient, merchant_a: Principal, database: Database
    ) -> None:
        client.login("shop-a")
        response = client.submit(
            "/console/products",
            PRODUCT_FORM,
            files={"image_file": ("", b"", "application/octet-stream")},
        )
        assert response.status_code == 303
        assert only_product(database).image_url == ""


class TestProductEditPage:
    def test_form_shows_current_values_in_yuan(
        self, client: ConsoleClient, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a, fixed_commission_fen=305)
        client.login("shop-a")
        page = client.get(f"/console/products/{product_id}/edit").text
        assert 'name="promo_price" value="59.90"' in page
        assert 'name="list_price" value="199.00"' in page
        assert 'name="commission_rate" value="5"' in page
        assert 'name="fixed_commission" value="3.05"' in page

    def test_price_change_on_approved_product_warns_and_resubmits(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        database: Database,
    ) -> None:
        product_id = catalog.approved(shop_a)
        client.login("shop-a")
        edit = client.get(f"/console/products/{product_id}/edit")
        assert "商品会自动下架并重新提交平台审核" in edit.text
        response = client.submit(
            f"/console/products/{product_id}/edit", {**PRODUCT_FORM, "promo_price": "49.90"}
        )
        assert response.status_code == 303
        detail = text_of(client.get(response.headers["location"]))
        assert "价格或佣金已变更，商品已下架并重新提交平台审核。" in detail
        product = get_product(database, product_id)
        assert (product.promo_price_fen, product.review_status, product.on_shelf) == (
            4990,
            ReviewStatus.PENDING,
            False,
        )

    def test_bad_edit_keeps_input_and_changes_nothing(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        database: Database,
    ) -> None:
        product_id = catalog.approved(shop_a)
        client.login("shop-a")
        response = client.submit(
            f"/console/products/{product_id}/edit", {**PRODUCT_FORM, "list_price": "10"}
        )
        assert response.status_code == 422
        page = text_of(response)
        assert "到手价不能高于划线价" in page
        assert 'name="list_price" value="10"' in page
        product = get_product(database, product_id)
        assert (product.list_price_fen, product.review_status) == (19900, ReviewStatus.APPROVED)

    def test_other_merchants_product_is_404_to_view_and_edit(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        catalog: Catalog,
        shop_b: int,
        database: Database,
    ) -> None:
        product_id = catalog.product(shop_b)
        client.login("shop-a")
        assert client.get(f"/console/products/{product_id}").status_code == 404
        assert client.get(f"/console/products/{product_id}/edit").status_code == 404
        response = client.submit(
            f"/console/products/{product_id}/edit", {**PRODUCT_FORM, "stock": "0"}
        )
        assert response.status_code == 404
        assert "找不到该商品" in response.text
        assert get_product(database, product_id).stock == 100

    def test_product_list_shows_only_own_products_with_badges(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        shop_b: int,
    ) -> None:
        catalog.product(shop_a, title="自家保温杯")
        rejected = catalog.product(shop_a, title="自家雨伞")
        catalog.reject(rejected, "类目不符")
        catalog.approved(shop_b, title="别家拉杆箱")
        client.login("shop-a")
        page = text_of(client.get("/console/products"))
        assert "自家保温杯" in page
        assert "自家雨伞" in page
        assert "别家拉杆箱" not in page
        assert "驳回原因：类目不符" in page
        filtered = text_of(client.get("/console/products", params={"status": "rejected"}))
        assert "自家雨伞" in filtered
        assert "自家保温杯" not in filtered

    def test_promoter_cannot_open_the_product_console(
        self, client: ConsoleClient, promoter_user: Principal
    ) -> None:
        client.login("kol")
        assert client.get("/console/products").status_code == 403
        assert client.get("/console/products/new").status_code == 403


class TestReviewPage:
    def test_queue_lists_pending_products(
        self, client: ConsoleClient, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        catalog.product(shop_a, title="待审保温杯")
        catalog.approved(shop_a, title="已入池雨伞", rank_weight=3)
        client.login("ops")
        page = text_of(client.get("/console/products/review"))
        assert "1 待审核" in page
        assert "待审保温杯" in page
        assert "已入池雨伞" in page  # in the pool section

    def test_approve_with_take_percent_and_weight(
        self,
        client: ConsoleClient,
        operator: Principal,
        catalog: Catalog,
        shop_a: int,
        database: Database,
    ) -> None:
        product_id = catalog.product(shop_a)
        client.login("ops")
        response = client.submit(
            f"/console/products/{product_id}/approve",
            {"take_rate": "12.5", "rank_weight": "3", "back": "/console/products/review"},
        )
        assert (response.status_code, response.headers["location"]) == (
            303,
            "/console/products/review",
        )
        product = get_product(database, product_id)
        assert (product.review_status, product.platform_take_bp, product.rank_weight) == (
            ReviewStatus.APPROVED,
            1250,
            3,
        )
        assert product.on_shelf is True
        assert "已审核通过，商品已入池上架。" in text_of(client.get("/console/products/review"))

    def test_bad_take_rate_is_explained_and_nothing_changes(
        self,
        client: ConsoleClient,
        operator: Principal,
        catalog: Catalog,
        shop_a: int,
        database: Database,
    ) -> None:
        product_id = catalog.product(shop_a)
        client.login("ops")
        response = client.submit(
            f"/console/products/{product_id}/approve", {"take_rate": "120", "rank_weight": "0"}
        )
        assert response.status_code == 303
        page = text_of(client.get(response.headers["location"]))
        assert "平台提点必须在 0% 到 100% 之间，您输入的是“120”。" in page
        assert get_product(database, product_id).review_status == ReviewStatus.PENDING

    def test_reject_without_reason_is_refused(
        self,
        client: ConsoleClient,
        operator: Principal,
        catalog: Catalog,
        shop_a: int,
        database: Database,
    ) -> None:
        product_id = catalog.product(shop_a)
        client.login("ops")
        response = client.submit(
            f"/console/products/{product_id}/reject",
            {"reason": "  ", "back": "/console/products/review"},
        )
        page = text_of(client.get(response.headers["location"]))
        assert "请填写驳回原因。" in page
        assert get_product(database, product_id).review_status == ReviewStatus.PENDING

    def test_rejection_reason_reaches_the_merchant(
        self,
        client: ConsoleClient,
        operator: Principal,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
    ) -> None:
        product_id = catalog.product(shop_a)
        client.login("ops")
        client.submit(f"/console/products/{product_id}/reject", {"reason": "主图含二维码"})
        merchant = ConsoleClient(client.app, base_url="http://testserver")
        merchant.login("shop-a")
        page = text_of(merchant.get(f"/console/products/{product_id}"))
        assert "平台驳回原因：主图含二维码" in page

    def test_shelf_and_rank_forms(
        self,
        client: ConsoleClient,
        operator: Principal,
        catalog: Catalog,
        shop_a: int,
        database: Database,
    ) -> None:
        product_id = catalog.approved(shop_a)
        client.login("ops")
        client.submit(f"/console/products/{product_id}/rank", {"rank_weight": "66"})
        client.submit(f"/console/products/{product_id}/shelf", {"on_shelf": "0"})
        product = get_product(database, product_id)
        assert (product.rank_weight, product.on_shelf) == (66, False)

    def test_merchant_cannot_open_the_review_queue(
        self, client: ConsoleClient, merchant_a: Principal
    ) -> None:
        client.login("shop-a")
        response = client.get("/console/products/review")
        assert response.status_code == 403
        assert "您没有执行此操作的权限" in response.text

    def test_merchant_cannot_approve_by_posting(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        database: Database,
    ) -> None:
        product_id = catalog.product(shop_a)
        client.login("shop-a")
        client.submit(f"/console/products/{product_id}/approve", {"take_rate": "0"})
        assert get_product(database, product_id).review_status == ReviewStatus.PENDING


class TestCouponPages:
    def test_merchant_creates_a_coupon_in_shanghai_time(
        self, client: ConsoleClient, merchant_a: Principal, shop_a: int, database: Database
    ) -> None:
        client.login("shop-a")
        assert client.get("/console/coupons/new").status_code == 200
        response = client.submit("/console/coupons", COUPON_FORM)
        assert (response.status_code, response.headers["location"]) == (303, "/console/coupons")
        with database.sessions() as session:
            coupon_batch = session.scalars(select(CouponBatch)).one()
            assert coupon_batch.merchant_id == shop_a
            assert (coupon_batch.threshold_fen, coupon_batch.face_value_fen) == (9900, 2000)
            assert (coupon_batch.total_quantity, coupon_batch.per_user_limit) == (500, 2)
            assert coupon_batch.valid_from == datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
            assert coupon_batch.valid_until == datetime(2026, 11, 11, 16, 0, tzinfo=UTC)
        listing = text_of(client.get("/console/coupons"))
        assert "满 99.00 减 20.00" in listing
        assert "2026-11-11 00:00 至 2026-11-12 00:00" in listing

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"threshold": "10"}, "使用门槛不能低于券面额"),
            ({"total_quantity": "0"}, "发放总量必须是 1 到 1000000000 之间的整数"),
            ({"valid_until": "2026-11-10T00:00"}, "失效时间必须晚于生效时间，请重新选择。"),
            ({"valid_from": ""}, "请选择有效的生效时间。"),
            ({"face_value": "0"}, "券面额必须大于 0 元。"),
            ({"face_value": "20.005"}, "券面额必须是不小于 0 的金额"),
        ],
    )
    def test_bad_coupon_is_explained_and_input_kept(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        database: Database,
        changes: dict[str, str],
        message: str,
    ) -> None:
        client.login("shop-a")
        response = client.submit("/console/coupons", {**COUPON_FORM, **changes})
        assert response.status_code == 422
        page = text_of(response)
        assert message in page
        assert 'value="双十一满 99 减 20"' in page
        assert count_rows(database, CouponBatch) == 0

    def test_coupon_for_another_merchants_product_is_refused(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        catalog: Catalog,
        shop_b: int,
        database: Database,
    ) -> None:
        product_id = catalog.product(shop_b)
        client.login("shop-a")
        response = client.submit("/console/coupons", {**COUPON_FORM, "product_id": str(product_id)})
        assert response.status_code == 404
        assert "找不到该商品" in response.text
        assert count_rows(database, CouponBatch) == 0

    def test_toggle_active(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        database: Database,
    ) -> None:
        coupon_id = catalog.coupon(shop_a)
        client.login("shop-a")
        response = client.submit(f"/console/coupons/{coupon_id}/active", {"active": "0"})
        assert response.status_code == 303
        with database.sessions() as session:
            coupon_batch = session.get(CouponBatch, coupon_id)
            assert coupon_batch is not None
            assert coupon_batch.is_active is False

    def test_other_merchants_coupon_cannot_be_toggled(
        self,
        client: ConsoleClient,
        merchant_a: Principal,
        catalog: Catalog,
        shop_b: int,
        database: Database,
    ) -> None:
        coupon_id = catalog.coupon(shop_b)
        client.login("shop-a")
        response = client.submit(f"/console/coupons/{coupon_id}/active", {"active": "0"})
        assert response.status_code == 404
        with database.sessions() as session:
            coupon_batch = session.get(CouponBatch, coupon_id)
            assert coupon_batch is not None
            assert coupon_batch.is_active is True
