from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from siyu.auth.principal import Principal
from siyu.catalog import rules, service
from siyu.catalog.schemas import (
    CouponBatchCreate,
    MerchantCreate,
    MerchantUpdate,
    ProductCreate,
    ProductUpdate,
)
from siyu.config import Settings
from siyu.db import Database
from siyu.errors import MoneyInvalid, PermissionDenied, RateInvalid
from siyu.kit import crypto
from siyu.kit.pagination import PageRequest
from siyu.models import (
    AuditEvent,
    CouponBatch,
    Merchant,
    MerchantStatus,
    Product,
    ReviewStatus,
)
from tests.catalog.conftest import Catalog, coupon_fields, image_bytes, product_fields
from tests.conftest import count_rows

T = TypeVar("T")
Act = Callable[..., Any]
PAGE = PageRequest(1, 50)


@pytest.fixture
def act(database: Database) -> Act:
    """act(service.fn, *args): one unit of work, committed; a raised error rolls it back."""

    def run(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with database.sessions() as session:
            result = call(session, *args, **kwargs)
            session.commit()
            return result

    return run


def load(database: Database, model: type[T], object_id: int) -> T:
    with database.sessions() as session:
        loaded = session.get(model, object_id)
        assert loaded is not None
        session.expunge(loaded)
        return loaded


def audit_actions(database: Database) -> list[tuple[str, int | None, int | None, str | None]]:
    with database.sessions() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [
            (event.action, event.object_id, event.actor_user_id, event.reason) for event in events
        ]


class TestCreateMerchant:
    def test_phone_is_stored_encrypted_and_shown_masked(
        self, act: Act, database: Database, admin: Principal
    ) -> None:
        merchant = act(
            service.create_merchant,
            admin,
            MerchantCreate(name=" 丙品牌 ", contact_name="李经理", contact_phone="138 0013 8000"),
        )
        stored = load(database, Merchant, merchant.id)
        assert stored.name == "丙品牌"
        assert stored.contact_phone_encrypted is not None
        assert "13800138000" not in stored.contact_phone_encrypted
        assert crypto.decrypt(stored.contact_phone_encrypted) == "13800138000"
        assert service.masked_contact_phone(stored) == "138****8000"
        assert audit_actions(database) == [("merchant.created", merchant.id, admin.user_id, None)]

    def test_phone_is_optional(self, act: Act, admin: Principal) -> None:
        merchant = act(service.create_merchant, admin, MerchantCreate(name="丁品牌"))
        assert merchant.contact_phone_encrypted is None
        assert service.masked_contact_phone(merchant) is None

    def test_bad_phone_is_refused_and_nothing_written(
        self, act: Act, database: Database, admin: Principal
    ) -> None:
        with pytest.raises(crypto.PhoneInvalid):
            act(
                service.create_merchant, admin, MerchantCreate(name="丁品牌", contact_phone="12345")
            )
        assert count_rows(database, Merchant) == 0

    def test_duplicate_name_is_refused(
        self, act: Act, database: Database, admin: Principal, shop_a: int
    ) -> None:
        with pytest.raises(service.MerchantNameTaken) as caught:
            act(service.create_merchant, admin, MerchantCreate(name="甲品牌旗舰店"))
        assert caught.value.status == 409
        assert count_rows(database, Merchant) == 1

    def test_merchant_user_cannot_create_merchants(
        self, act: Act, database: Database, merchant_a: Principal
    ) -> None:
        with pytest.raises(PermissionDenied):
            act(service.create_merchant, merchant_a, MerchantCreate(name="戊品牌"))
        assert count_rows(database, Merchant) == 1


class TestMerchantAccess:
    def test_merchant_user_lists_only_its_own_merchant(
        self, act: Act, merchant_a: Principal, shop_a: int, shop_b: int
    ) -> None:
        page = act(service.list_merchants, merchant_a, PAGE)
        assert [merchant.id for merchant in page.items] == [shop_a]
        assert page.total == 1

    def test_platform_lists_every_merchant(
        self, act: Act, operator: Principal, shop_a: int, shop_b: int
    ) -> None:
        page = act(service.list_merchants, operator, PAGE)
        assert [merchant.id for merchant in page.items] == [shop_a, shop_b]

    def test_other_merchant_is_not_found(
        self, act: Act, merchant_a: Principal, shop_b: int
    ) -> None:
        with pytest.raises(service.MerchantNotFound) as caught:
            act(service.get_merchant, merchant_a, shop_b)
        assert caught.value.status == 404

    def test_merchant_user_cannot_edit_its_merchant(
        self, act: Act, database: Database, merchant_a: Principal, shop_a: int
    ) -> None:
        with pytest.raises(PermissionDenied):
            act(service.update_merchant, merchant_a, shop_a, MerchantUpdate(name="改名"))
        assert load(database, Merchant, shop_a).name == "甲品牌旗舰店"

    def test_promoter_cannot_list_merchants(self, act: Act, promoter_user: Principal) -> None:
        with pytest.raises(PermissionDenied):
            act(service.list_merchants, promoter_user, PAGE)


class TestUpdateMerchant:
    def test_update_changes_only_sent_fields(
        self, act: Act, database: Database, admin: Principal, catalog: Catalog
    ) -> None:
        merchant_id = catalog.merchant("甲", phone="13800138000")
        act(service.update_merchant, admin, merchant_id, MerchantUpdate(contact_name="王"))
        stored = load(database, Merchant, merchant_id)
        assert (stored.name, stored.contact_name) == ("甲", "王")
        assert service.masked_contact_phone(stored) == "138****8000"

    def test_empty_phone_removes_it(
        self, act: Act, database: Database, admin: Principal, catalog: Catalog
    ) -> None:
        merchant_id = catalog.merchant("甲", phone="13800138000")
        act(service.update_merchant, admin, merchant_id, MerchantUpdate(contact_phone=""))
        assert load(database, Merchant, merchant_id).contact_phone_encrypted is None

    def test_suspension_is_audited(
        self, act: Act, database: Database, admin: Principal, shop_a: int
    ) -> None:
        act(
            service.update_merchant,
            admin,
            shop_a,
            MerchantUpdate(status=MerchantStatus.SUSPENDED),
        )
        assert load(database, Merchant, shop_a).status == MerchantStatus.SUSPENDED
        assert audit_actions(database)[-1] == (
            "merchant.status_changed",
            shop_a,
            admin.user_id,
            None,
        )

    def test_renaming_to_a_taken_name_is_refused(
        self, act: Act, database: Database, admin: Principal, shop_a: int, shop_b: int
    ) -> None:
        with pytest.raises(service.MerchantNameTaken):
            act(service.update_merchant, admin, shop_b, MerchantUpdate(name="甲品牌旗舰店"))
        assert load(database, Merchant, shop_b).name == "乙品牌旗舰店"


class TestCreateProduct:
    def test_merchant_product_waits_for_review_with_default_take(
        self, act: Act, merchant_a: Principal, shop_a: int, settings: Settings
    ) -> None:
        product = act(service.create_product, merchant_a, ProductCreate(**product_fields()))
        assert product.merchant_id == shop_a
        assert product.review_status == ReviewStatus.PENDING
        assert product.on_shelf is False
        assert product.platform_take_bp == settings.platform_take_bp == 1000
        assert product.rank_weight == 0
        assert (product.list_price_fen, product.promo_price_fen) == (19900, 5990)

    def test_platform_creates_for_any_merchant(
        self, act: Act, operator: Principal, shop_b: int
    ) -> None:
        product = act(
            service.create_product, operator, ProductCreate(merchant_id=shop_b, **product_fields())
        )
        assert product.merchant_id == shop_b

    def test_platform_must_name_the_merchant(
        self, act: Act, database: Database, operator: Principal
    ) -> None:
        with pytest.raises(service.MerchantRequired):
            act(service.create_product, operator, ProductCreate(**product_fields()))
        assert count_rows(database, Product) == 0

    def test_merchant_cannot_create_for_another_merchant(
        self, act: Act, database: Database, merchant_a: Principal, shop_b: int
    ) -> None:
        with pytest.raises(service.MerchantNotFound):
            act(
                service.create_product,
                merchant_a,
                ProductCreate(merchant_id=shop_b, **product_fields()),
            )
        assert count_rows(database, Product) == 0

    def test_promoter_cannot_create_products(
        self, act: Act, database: Database, promoter_user: Principal, shop_a: int
    ) -> None:
        with pytest.raises(PermissionDenied):
            act(
                service.create_product,
                promoter_user,
                ProductCreate(merchant_id=shop_a, **product_fields()),
            )
        assert count_rows(database, Product) == 0

    @pytest.mark.parametrize(
        ("overrides", "error"),
        [
            ({"list_price_fen": -100}, MoneyInvalid),
            ({"promo_price_fen": 20000}, rules.PromoPriceAboveList),
            ({"commission_rate_bp": 10001}, RateInvalid),
            ({"stock": -1}, rules.StockInvalid),
            ({"title": "   "}, rules.TextRequired),
        ],
    )
    def test_invalid_product_writes_nothing(
        self,
        act: Act,
        database: Database,
        merchant_a: Principal,
        overrides: dict[str, Any],
        error: type[Exception],
    ) -> None:
        with pytest.raises(error):
            act(service.create_product, merchant_a, ProductCreate(**product_fields(**overrides)))
        assert count_rows(database, Product) == 0
        assert count_rows(database, AuditEvent) == 1  # the merchant's creation only


class TestProductImageUpload:
    def test_upload_is_saved_under_a_random_name(
        self, act: Act, merchant_a: Principal, settings: Settings
    ) -> None:
        data = image_bytes("JPEG")
        product = act(
            service.create_product, merchant_a, ProductCreate(**product_fields()), image=data
        )
        assert product.image_url.startswith("/uploads/")
        assert product.image_url.endswith(".jpg")
        name = product.image_url.removeprefix("/uploads/")
        assert len(name) == 32 + 4
        assert (settings.upload_dir / name).read_bytes() == data

    @pytest.mark.parametrize(
        ("data", "error"),
        [(b"%PDF-1.7 not an image", rules.ImageInvalid), (b"", rules.ImageInvalid)],
    )
    def test_non_image_is_refused_and_nothing_saved(
        self,
        act: Act,
        database: Database,
        merchant_a: Principal,
        settings: Settings,
        data: bytes,
        error: type[Exception],
    ) -> None:
        with pytest.raises(error):
            act(service.create_product, merchant_a, ProductCreate(**product_fields()), image=data)
        assert count_rows(database, Product) == 0
        assert list(settings.upload_dir.iterdir()) == []

    def test_too_large_image_is_refused(
        self, act: Act, database: Database, merchant_a: Principal, settings: Settings
    ) -> None:
        data = image_bytes(size=(1, 1)) + b"\x00" * settings.upload_max_bytes
        with pytest.raises(rules.ImageTooLarge):
            act(service.create_product, merchant_a, ProductCreate(**product_fields()), image=data)
        assert count_rows(database, Product) == 0
        assert list(settings.upload_dir.iterdir()) == []

    def test_invalid_product_saves_no_image(
        self, act: Act, merchant_a: Principal, settings: Settings, tmp_path: Path
    ) -> None:
        with pytest.raises(rules.PromoPriceAboveList):
            act(
                service.create_product,
                merchant_a,
                ProductCreate(**product_fields(promo_price_fen=99999)),
                image=image_bytes(),
            )
        assert list(settings.upload_dir.iterdir()) == []


class TestApproveProduct:
    def test_approval_puts_product_in_pool_with_take_and_rank(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        act(service.approve_product, operator, product_id, 1500, 7)
        product = load(database, Product, product_id)
        assert product.review_status == ReviewStatus.APPROVED
        assert product.on_shelf is True
        assert product.platform_take_bp == 1500
        assert product.rank_weight == 7
        assert product.reviewed_by_user_id == operator.user_id
        assert product.reviewed_at is not None
        assert product.reviewed_at.tzinfo is not None
        assert audit_actions(database)[-1] == (
            "product.approved",
            product_id,
            operator.user_id,
            None,
        )

    def test_take_defaults_to_settings(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        act(service.approve_product, operator, product_id)
        assert load(database, Product, product_id).platform_take_bp == 1000

    def test_take_outside_range_changes_nothing(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        events = count_rows(database, AuditEvent)
        with pytest.raises(RateInvalid):
            act(service.approve_product, operator, product_id, 10001)
        product = load(database, Product, product_id)
        assert (product.review_status, product.on_shelf) == (ReviewStatus.PENDING, False)
        assert count_rows(database, AuditEvent) == events

    def test_merchant_cannot_approve_its_own_product(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        with pytest.raises(PermissionDenied):
            act(service.approve_product, merchant_a, product_id)
        assert load(database, Product, product_id).review_status == ReviewStatus.PENDING

    def test_approving_twice_is_a_conflict(
        self, act: Act, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        with pytest.raises(service.ProductAlreadyReviewed) as caught:
            act(service.approve_product, operator, product_id)
        assert caught.value.status == 409

    def test_rejected_product_can_be_approved_on_second_look(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        catalog.reject(product_id)
        act(service.approve_product, operator, product_id)
        product = load(database, Product, product_id)
        assert (product.review_status, product.review_reason) == (ReviewStatus.APPROVED, None)

    def test_suspended_merchant_product_cannot_be_approved(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        act(service.update_merchant, None, shop_a, MerchantUpdate(status=MerchantStatus.SUSPENDED))
        with pytest.raises(service.MerchantSuspended):
            act(service.approve_product, operator, product_id)
        assert load(database, Product, product_id).review_status == ReviewStatus.PENDING

    def test_system_approval_is_audited_without_a_user(
        self, act: Act, database: Database, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        assert load(database, Product, product_id).reviewed_by_user_id is None
        assert audit_actions(database)[-1] == ("product.approved", product_id, None, None)


class TestRejectProduct:
    def test_rejection_keeps_the_reason_for_the_merchant(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        act(service.reject_product, operator, product_id, "  主图模糊，请更换 ")
        product = load(database, Product, product_id)
        assert product.review_status == ReviewStatus.REJECTED
        assert product.review_reason == "主图模糊，请更换"
        assert product.on_shelf is False
        assert audit_actions(database)[-1] == (
            "product.rejected",
            product_id,
            operator.user_id,
            "主图模糊，请更换",
        )

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_reason_is_required(
        self,
        act: Act,
        database: Database,
        operator: Principal,
        catalog: Catalog,
        shop_a: int,
        reason: str,
    ) -> None:
        product_id = catalog.product(shop_a)
        events = count_rows(database, AuditEvent)
        with pytest.raises(rules.TextRequired):
            act(service.reject_product, operator, product_id, reason)
        assert load(database, Product, product_id).review_status == ReviewStatus.PENDING
        assert count_rows(database, AuditEvent) == events

    def test_rejecting_an_approved_product_takes_it_out_of_the_pool(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        act(service.reject_product, operator, product_id, "价格虚标")
        assert act(service.list_pool, operator, PAGE).total == 0

    def test_rejecting_twice_is_a_conflict(
        self, act: Act, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        catalog.reject(product_id)
        with pytest.raises(service.ProductAlreadyReviewed):
            act(service.reject_product, operator, product_id, "再次驳回")

    def test_merchant_sees_review_status_and_reason(
        self, act: Act, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        catalog.reject(product_id, "缺少质检报告")
        product = act(service.get_product, merchant_a, product_id)
        assert (product.review_status, product.review_reason) == (
            ReviewStatus.REJECTED,
            "缺少质检报告",
        )


class TestShelfAndRank:
    def test_taking_off_the_shelf_leaves_the_pool_and_is_audited(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        act(service.set_product_shelf, operator, product_id, False)
        assert load(database, Product, product_id).on_shelf is False
        assert act(service.list_pool, operator, PAGE).total == 0
        assert audit_actions(database)[-1] == (
            "product.unshelved",
            product_id,
            operator.user_id,
            None,
        )
        act(service.set_product_shelf, operator, product_id, True)
        assert [item.id for item in act(service.list_pool, operator, PAGE).items] == [product_id]
        assert audit_actions(database)[-1][0] == "product.shelved"

    def test_unchanged_shelf_state_is_not_audited(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        events = count_rows(database, AuditEvent)
        act(service.set_product_shelf, operator, product_id, True)
        assert count_rows(database, AuditEvent) == events

    @pytest.mark.parametrize("on_shelf", [True, False])
    def test_pending_product_cannot_be_shelved(
        self,
        act: Act,
        database: Database,
        operator: Principal,
        catalog: Catalog,
        shop_a: int,
        on_shelf: bool,
    ) -> None:
        product_id = catalog.product(shop_a)
        with pytest.raises(service.ProductNotApproved):
            act(service.set_product_shelf, operator, product_id, on_shelf)
        assert load(database, Product, product_id).on_shelf is False

    def test_merchant_cannot_change_the_shelf(
        self, act: Act, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        with pytest.raises(PermissionDenied):
            act(service.set_product_shelf, merchant_a, product_id, False)

    def test_rerank_is_audited_with_old_and_new_weight(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a, rank_weight=5)
        act(service.set_product_rank, operator, product_id, 50)
        assert load(database, Product, product_id).rank_weight == 50
        with database.sessions() as session:
            event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
            assert event is not None
            assert (event.action, event.detail) == (
                "product.reranked",
                {"previous": 5, "rank_weight": 50},
            )

    def test_rank_outside_range_is_refused(
        self, act: Act, database: Database, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a, rank_weight=5)
        with pytest.raises(rules.RankWeightInvalid):
            act(service.set_product_rank, operator, product_id, -1)
        assert load(database, Product, product_id).rank_weight == 5


class TestEditResetsReview:
    @pytest.mark.parametrize(
        "change",
        [
            {"promo_price_fen": 4990},
            {"list_price_fen": 29900},
            {"commission_rate_bp": 800},
            {"fixed_commission_fen": 300},
        ],
    )
    def test_price_or_commission_change_sends_approved_product_back(
        self,
        act: Act,
        database: Database,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        change: dict[str, int],
    ) -> None:
        product_id = catalog.approved(shop_a, rank_weight=9)
        act(service.update_product, merchant_a, product_id, ProductUpdate(**change))
        product = load(database, Product, product_id)
        assert product.review_status == ReviewStatus.PENDING
        assert product.on_shelf is False
        assert product.rank_weight == 9
        field, value = next(iter(change.items()))
        assert getattr(product, field) == value
        assert audit_actions(database)[-1] == (
            "product.resubmitted",
            product_id,
            merchant_a.user_id,
            None,
        )
        assert act(service.list_pool, merchant_a, PAGE).total == 0

    def test_stock_and_title_changes_keep_the_product_on_the_shelf(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        act(
            service.update_product,
            merchant_a,
            product_id,
            ProductUpdate(stock=0, title="拉杆箱 24 寸", description="新描述"),
        )
        product = load(database, Product, product_id)
        assert (product.review_status, product.on_shelf) == (ReviewStatus.APPROVED, True)
        assert (product.stock, product.title, product.description) == (0, "拉杆箱 24 寸", "新描述")

    def test_resending_the_same_price_keeps_approval(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        act(
            service.update_product,
            merchant_a,
            product_id,
            ProductUpdate(promo_price_fen=5990, list_price_fen=19900),
        )
        assert load(database, Product, product_id).review_status == ReviewStatus.APPROVED

    def test_editing_a_rejected_product_resubmits_it(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        catalog.reject(product_id)
        act(service.update_product, merchant_a, product_id, ProductUpdate(title="新标题"))
        assert load(database, Product, product_id).review_status == ReviewStatus.PENDING

    def test_null_removes_the_fixed_commission(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a, fixed_commission_fen=300)
        act(
            service.update_product,
            merchant_a,
            product_id,
            ProductUpdate.model_validate({"fixed_commission_fen": None}),
        )
        assert load(database, Product, product_id).fixed_commission_fen is None

    def test_null_for_other_fields_changes_nothing(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        act(
            service.update_product,
            merchant_a,
            product_id,
            ProductUpdate.model_validate({"title": None, "stock": None}),
        )
        product = load(database, Product, product_id)
        assert (product.title, product.stock) == ("拉杆箱 20 寸", 100)

    def test_edit_is_checked_against_the_merged_product(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        with pytest.raises(rules.PromoPriceAboveList):
            act(service.update_product, merchant_a, product_id, ProductUpdate(list_price_fen=100))
        product = load(database, Product, product_id)
        assert (product.list_price_fen, product.review_status) == (19900, ReviewStatus.APPROVED)

    def test_merchant_cannot_edit_another_merchants_product(
        self,
        act: Act,
        database: Database,
        merchant_a: Principal,
        catalog: Catalog,
        shop_b: int,
    ) -> None:
        product_id = catalog.product(shop_b)
        with pytest.raises(service.ProductNotFound):
            act(service.update_product, merchant_a, product_id, ProductUpdate(stock=1))
        assert load(database, Product, product_id).stock == 100


class TestProductAccess:
    def test_merchant_lists_only_its_own_products(
        self,
        act: Act,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        shop_b: int,
    ) -> None:
        own = catalog.product(shop_a)
        catalog.product(shop_b)
        assert [item.id for item in act(service.list_products, merchant_a, PAGE).items] == [own]
        other = act(service.list_products, merchant_a, PAGE, merchant_id=shop_b)
        assert (other.items, other.total) == ([], 0)

    def test_merchant_cannot_read_another_merchants_product(
        self, act: Act, merchant_a: Principal, catalog: Catalog, shop_b: int
    ) -> None:
        product_id = catalog.product(shop_b)
        with pytest.raises(service.ProductNotFound) as caught:
            act(service.get_product, merchant_a, product_id)
        assert caught.value.status == 404

    def test_promoter_cannot_read_merchant_internals(
        self, act: Act, promoter_user: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.approved(shop_a)
        with pytest.raises(PermissionDenied):
            act(service.get_product, promoter_user, product_id)
        with pytest.raises(PermissionDenied):
            act(service.list_products, promoter_user, PAGE)

    def test_filters_by_status_and_title(
        self, act: Act, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        pending = catalog.product(shop_a, title="保温杯")
        approved = catalog.approved(shop_a, title="保温壶")
        catalog.product(shop_a, title="雨伞")
        by_status = act(service.list_products, operator, PAGE, status=ReviewStatus.APPROVED)
        assert [item.id for item in by_status.items] == [approved]
        by_title = act(service.list_products, operator, PAGE, query="保温")
        assert [item.id for item in by_title.items] == [approved, pending]

    def test_title_search_treats_percent_literally(
        self, act: Act, operator: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        catalog.product(shop_a, title="满减 100%")
        catalog.product(shop_a, title="普通商品")
        assert act(service.list_products, operator, PAGE, query="%").total == 1

    def test_review_queue_holds_pending_products_oldest_first(
        self, act: Act, operator: Principal, catalog: Catalog, shop_a: int, shop_b: int
    ) -> None:
        first = catalog.product(shop_b)
        catalog.approved(shop_a)
        second = catalog.product(shop_a)
        queue = act(service.review_queue, operator, PAGE)
        assert [item.id for item in queue.items] == [first, second]

    def test_merchant_cannot_see_the_review_queue(self, act: Act, merchant_a: Principal) -> None:
        with pytest.raises(PermissionDenied):
            act(service.review_queue, merchant_a, PAGE)


class TestPool:
    def test_pool_orders_by_weight_then_id(
        self, act: Act, promoter_user: Principal, catalog: Catalog, shop_a: int, shop_b: int
    ) -> None:
        low = catalog.approved(shop_a, rank_weight=1)
        high = catalog.approved(shop_b, rank_weight=90)
        tie_first = catalog.approved(shop_a, rank_weight=10)
        tie_second = catalog.approved(shop_b, rank_weight=10)
        pool = act(service.list_pool, promoter_user, PAGE)
        assert [item.id for item in pool.items] == [high, tie_first, tie_second, low]
        assert pool.total == 4

    def test_pool_holds_only_approved_on_shelf_products_of_active_merchants(
        self, act: Act, operator: Principal, catalog: Catalog, shop_a: int, shop_b: int
    ) -> None:
        in_pool = catalog.approved(shop_a)
        catalog.product(shop_a)
        rejected = catalog.product(shop_a)
        catalog.reject(rejected)
        off_shelf = catalog.approved(shop_a)
        act(service.set_product_shelf, operator, off_shelf, False)
        catalog.approved(shop_b)
        act(
            service.update_merchant,
            operator,
            shop_b,
            MerchantUpdate(status=MerchantStatus.SUSPENDED),
        )
        assert [item.id for item in act(service.list_pool, None, PAGE).items] == [in_pool]

    def test_pool_filters_by_category_and_line(
        self, act: Act, catalog: Catalog, shop_a: int
    ) -> None:
        bag = catalog.approved(shop_a, category="箱包", product_line="出行")
        catalog.approved(shop_a, category="食品", product_line="生鲜")
        assert [item.id for item in act(service.list_pool, None, PAGE, category="箱包").items] == [
            bag
        ]
        by_line = act(service.list_pool, None, PAGE, product_line="生鲜")
        assert by_line.total == 1

    def test_product_outside_the_pool_is_not_found(
        self, act: Act, promoter_user: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        pending = catalog.product(shop_a)
        with pytest.raises(service.ProductNotFound):
            act(service.get_pool_product, promoter_user, pending)
        approved = catalog.approved(shop_a)
        assert act(service.get_pool_product, promoter_user, approved).id == approved


class TestCouponBatches:
    def test_merchant_creates_a_coupon_for_its_product(
        self, act: Act, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        product_id = catalog.product(shop_a)
        coupon_batch = act(
            service.create_coupon_batch,
            merchant_a,
            CouponBatchCreate(product_id=product_id, **coupon_fields()),
        )
        assert (coupon_batch.merchant_id, coupon_batch.product_id) == (shop_a, product_id)
        assert (coupon_batch.face_value_fen, coupon_batch.threshold_fen) == (2000, 9900)
        assert (coupon_batch.issued_quantity, coupon_batch.is_active) == (0, True)

    @pytest.mark.parametrize(
        ("overrides", "error"),
        [
            ({"threshold_fen": 1000}, rules.CouponThresholdBelowFace),
            ({"face_value_fen": -1}, MoneyInvalid),
            ({"face_value_fen": 0, "threshold_fen": 0}, rules.CouponFaceValueZero),
            ({"total_quantity": 0}, rules.QuantityInvalid),
            ({"per_user_limit": 0}, rules.QuantityInvalid),
            ({"valid_until": coupon_fields()["valid_from"]}, rules.ValidityWindowReversed),
            ({"name": " "}, rules.TextRequired),
        ],
    )
    def test_invalid_coupon_writes_nothing(
        self,
        act: Act,
        database: Database,
        merchant_a: Principal,
        overrides: dict[str, Any],
        error: type[Exception],
    ) -> None:
        with pytest.raises(error):
            act(
                service.create_coupon_batch,
                merchant_a,
                CouponBatchCreate(**coupon_fields(**overrides)),
            )
        assert count_rows(database, CouponBatch) == 0

    def test_product_of_another_merchant_is_refused_for_platform(
        self,
        act: Act,
        database: Database,
        operator: Principal,
        catalog: Catalog,
        shop_a: int,
        shop_b: int,
    ) -> None:
        product_id = catalog.product(shop_b)
        with pytest.raises(service.CouponProductMismatch):
            act(
                service.create_coupon_batch,
                operator,
                CouponBatchCreate(merchant_id=shop_a, product_id=product_id, **coupon_fields()),
            )
        assert count_rows(database, CouponBatch) == 0

    def test_product_of_another_merchant_is_not_found_for_a_merchant(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_b: int
    ) -> None:
        product_id = catalog.product(shop_b)
        with pytest.raises(service.ProductNotFound):
            act(
                service.create_coupon_batch,
                merchant_a,
                CouponBatchCreate(product_id=product_id, **coupon_fields()),
            )
        assert count_rows(database, CouponBatch) == 0

    def test_merchant_sees_only_its_own_coupons(
        self,
        act: Act,
        database: Database,
        merchant_a: Principal,
        catalog: Catalog,
        shop_a: int,
        shop_b: int,
    ) -> None:
        own = catalog.coupon(shop_a)
        other = catalog.coupon(shop_b)
        assert [item.id for item in act(service.list_coupon_batches, merchant_a, PAGE).items] == [
            own
        ]
        with pytest.raises(service.CouponBatchNotFound):
            act(service.get_coupon_batch, merchant_a, other)
        with pytest.raises(service.CouponBatchNotFound):
            act(service.set_coupon_batch_active, merchant_a, other, False)
        assert load(database, CouponBatch, other).is_active is True

    def test_deactivation_is_audited_once(
        self, act: Act, database: Database, merchant_a: Principal, catalog: Catalog, shop_a: int
    ) -> None:
        coupon_id = catalog.coupon(shop_a)
        act(service.set_coupon_batch_active, merchant_a, coupon_id, False)
        act(service.set_coupon_batch_active, merchant_a, coupon_id, False)
        assert load(database, CouponBatch, coupon_id).is_active is False
        actions = [action for action, *_ in audit_actions(database)]
        assert actions.count("coupon_batch.deactivated") == 1
