from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.catalog import rules
from siyu.catalog.rules import CouponTerms, ProductTerms
from siyu.errors import MoneyInvalid, RateInvalid
from siyu.kit.money import MAX_FEN
from tests.catalog.conftest import image_bytes

START = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)

NOT_INTEGERS: list[Any] = [59.9, 1.0, True, False, "100", None]


def terms(**overrides: Any) -> ProductTerms:
    base = ProductTerms(
        title="拉杆箱",
        category="箱包",
        list_price_fen=19900,
        promo_price_fen=5990,
        stock=10,
        commission_rate_bp=500,
    )
    return dataclasses.replace(base, **overrides)


def coupon(**overrides: Any) -> CouponTerms:
    base = CouponTerms(
        name="满99减20",
        face_value_fen=2000,
        threshold_fen=9900,
        total_quantity=100,
        per_user_limit=1,
        valid_from=START,
        valid_until=START + timedelta(days=1),
    )
    return dataclasses.replace(base, **overrides)


class TestCheckText:
    def test_strips_surrounding_space(self) -> None:
        assert rules.check_text("  拉杆箱 ", "title", "商品标题", 120) == "拉杆箱"

    @pytest.mark.parametrize("value", ["", "   ", "\n\t"])
    def test_empty_required_text_is_refused(self, value: str) -> None:
        with pytest.raises(rules.TextRequired) as caught:
            rules.check_text(value, "title", "商品标题", 120)
        assert caught.value.code == "text_required"
        assert caught.value.zh == "请填写商品标题。"
        assert caught.value.en == "title must not be empty."

    def test_empty_optional_text_is_allowed(self) -> None:
        assert rules.check_text("  ", "product_line", "产品线", 32, required=False) == ""

    def test_text_at_the_limit_is_allowed(self) -> None:
        assert rules.check_text("字" * 120, "title", "商品标题", 120) == "字" * 120

    def test_text_over_the_limit_is_refused(self) -> None:
        with pytest.raises(rules.TextTooLong) as caught:
            rules.check_text("字" * 121, "title", "商品标题", 120)
        assert caught.value.zh == "商品标题最多 120 个字，请删减后再提交。"


class TestCheckPrices:
    def test_valid_prices_pass_through(self) -> None:
        assert rules.check_prices(19900, 5990) == (19900, 5990)

    def test_promo_equal_to_list_is_allowed(self) -> None:
        assert rules.check_prices(5990, 5990) == (5990, 5990)

    def test_zero_prices_are_allowed(self) -> None:
        assert rules.check_prices(0, 0) == (0, 0)

    def test_promo_above_list_is_refused(self) -> None:
        with pytest.raises(rules.PromoPriceAboveList) as caught:
            rules.check_prices(5990, 5991)
        assert caught.value.code == "promo_price_above_list"
        assert caught.value.zh == "到手价不能高于划线价，请调低到手价或调高划线价。"

    @pytest.mark.parametrize("value", [-1, -19900, MAX_FEN + 1, *NOT_INTEGERS])
    def test_bad_list_price_is_refused(self, value: Any) -> None:
        with pytest.raises(MoneyInvalid) as caught:
            rules.check_prices(value, 0)
        assert caught.value.params["field"] == "list_price_fen"
        assert caught.value.params["field_zh"] == "划线价"

    @pytest.mark.parametrize("value", [-1, *NOT_INTEGERS])
    def test_bad_promo_price_is_refused(self, value: Any) -> None:
        with pytest.raises(MoneyInvalid) as caught:
            rules.check_prices(19900, value)
        assert caught.value.params["field"] == "promo_price_fen"

    def test_largest_amount_is_allowed(self) -> None:
        assert rules.check_prices(MAX_FEN, MAX_FEN) == (MAX_FEN, MAX_FEN)


class TestCheckStock:
    @pytest.mark.parametrize("value", [0, 1, rules.MAX_STOCK])
    def test_in_range_stock_is_allowed(self, value: int) -> None:
        assert rules.check_stock(value) == value

    @pytest.mark.parametrize("value", [-1, rules.MAX_STOCK + 1, *NOT_INTEGERS])
    def test_bad_stock_is_refused(self, value: Any) -> None:
        with pytest.raises(rules.StockInvalid) as caught:
            rules.check_stock(value)
        assert caught.value.code == "stock_invalid"


class TestCheckCommission:
    @pytest.mark.parametrize("rate", [0, 1, 500, 9999, 10000])
    def test_rate_inside_0_to_10000_bp_is_allowed(self, rate: int) -> None:
        assert rules.check_commission(rate, None, 5990) == (rate, None)

    @pytest.mark.parametrize("rate", [-1, 10001, 5.5, True, None])
    def test_rate_outside_range_or_not_int_is_refused(self, rate: Any) -> None:
        with pytest.raises(RateInvalid) as caught:
            rules.check_commission(rate, None, 5990)
        assert caught.value.code == "rate_invalid"
        assert caught.value.params["field_zh"] == "佣金比例"

    @pytest.mark.parametrize("fixed", [0, 1, 5990])
    def test_fixed_commission_up_to_promo_price_is_allowed(self, fixed: int) -> None:
        assert rules.check_commission(500, fixed, 5990) == (500, fixed)

    def test_fixed_commission_above_promo_price_is_refused(self) -> None:
        with pytest.raises(rules.FixedCommissionAbovePrice):
            rules.check_commission(500, 5991, 5990)

    @pytest.mark.parametrize("fixed", [-1, 2.5, True])
    def test_bad_fixed_commission_is_refused(self, fixed: Any) -> None:
        with pytest.raises(MoneyInvalid) as caught:
            rules.check_commission(500, fixed, 5990)
        assert caught.value.params["field"] == "fixed_commission_fen"


class TestCheckImageUrl:
    @pytest.mark.parametrize(
        "url",
        ["", "https://img.example.cn/a.jpg", "http://img.example.cn/a.jpg", "/uploads/ab12.png"],
    )
    def test_web_and_upload_urls_are_allowed(self, url: str) -> None:
        assert rules.check_image_url(f" {url} ") == url

    @pytest.mark.parametrize(
        "url",
        [
            "javascript:alert(1)",
            "ftp://example.cn/a.jpg",
            "/etc/passwd",
            "https://example.cn/a b.jpg",
            "/uploads/../secret",
            "https://example.cn/" + "a" * 500,
        ],
    )
    def test_other_urls_are_refused(self, url: str) -> None:
        with pytest.raises(rules.ImageUrlInvalid):
            rules.check_image_url(url)


class TestCheckProduct:
    def test_valid_terms_come_back_normalised(self) -> None:
        checked = rules.check_product(terms(title=" 拉杆箱 ", category=" 箱包", product_line=" "))
        assert checked == terms(title="拉杆箱", category="箱包", product_line="")

    @pytest.mark.parametrize(
        ("overrides", "error"),
        [
            ({"title": " "}, rules.TextRequired),
            ({"category": ""}, rules.TextRequired),
            ({"title": "字" * 121}, rules.TextTooLong),
            ({"description": "字" * 5001}, rules.TextTooLong),
            ({"list_price_fen": -1}, MoneyInvalid),
            ({"promo_price_fen": 59.9}, MoneyInvalid),
            ({"promo_price_fen": 20000}, rules.PromoPriceAboveList),
            ({"stock": -1}, rules.StockInvalid),
            ({"commission_rate_bp": 10001}, RateInvalid),
            ({"fixed_commission_fen": 6000}, rules.FixedCommissionAbovePrice),
            ({"image_url": "data:image/png;base64,xx"}, rules.ImageUrlInvalid),
        ],
    )
    def test_each_broken_rule_is_refused(
        self, overrides: dict[str, Any], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            rules.check_product(terms(**overrides))


class TestNeedsReviewAgain:
    CURRENT: dict[str, object] = {  # noqa: RUF012
        "list_price_fen": 19900,
        "promo_price_fen": 5990,
        "commission_rate_bp": 500,
        "fixed_commission_fen": None,
        "stock": 10,
        "title": "拉杆箱",
    }

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("list_price_fen", 18800),
            ("promo_price_fen", 4990),
            ("commission_rate_bp", 800),
            ("fixed_commission_fen", 300),
        ],
    )
    def test_changing_a_price_or_commission_needs_review(self, field: str, value: int) -> None:
        assert rules.needs_review_again(self.CURRENT, {field: value}) is True

    def test_removing_a_fixed_commission_needs_review(self) -> None:
        current = {**self.CURRENT, "fixed_commission_fen": 300}
        assert rules.needs_review_again(current, {"fixed_commission_fen": None}) is True

    @pytest.mark.parametrize(("field", "value"), [("stock", 0), ("title", "新标题")])
    def test_other_fields_do_not_need_review(self, field: str, value: object) -> None:
        assert rules.needs_review_again(self.CURRENT, {field: value}) is False

    def test_sending_the_same_price_does_not_need_review(self) -> None:
        assert rules.needs_review_again(self.CURRENT, dict(self.CURRENT)) is False


class TestTakeRateAndRank:
    @pytest.mark.parametrize("value", [0, 1000, 10000])
    def test_take_rate_boundaries_are_allowed(self, value: int) -> None:
        assert rules.check_take_rate(value) == value

    @pytest.mark.parametrize("value", [-1, 10001, 10.0, True])
    def test_take_rate_outside_range_is_refused(self, value: Any) -> None:
        with pytest.raises(RateInvalid) as caught:
            rules.check_take_rate(value)
        assert caught.value.params["field_zh"] == "平台提点"

    @pytest.mark.parametrize("value", [0, 1, rules.MAX_RANK_WEIGHT])
    def test_rank_weight_boundaries_are_allowed(self, value: int) -> None:
        assert rules.check_rank_weight(value) == value

    @pytest.mark.parametrize("value", [-1, rules.MAX_RANK_WEIGHT + 1, 1.5, False])
    def test_rank_weight_outside_range_is_refused(self, value: Any) -> None:
        with pytest.raises(rules.RankWeightInvalid):
            rules.check_rank_weight(value)


class TestCheckReason:
    def test_reason_is_stripped(self) -> None:
        assert rules.check_reason("  主图模糊 ") == "主图模糊"

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_empty_reason_is_refused(self, reason: str) -> None:
        with pytest.raises(rules.TextRequired) as caught:
            rules.check_reason(reason)
        assert caught.value.zh == "请填写驳回原因。"

    def test_over_long_reason_is_refused(self) -> None:
        with pytest.raises(rules.TextTooLong):
            rules.check_reason("字" * 501)


class TestCheckCoupon:
    def test_valid_coupon_passes(self) -> None:
        assert rules.check_coupon(coupon(name=" 满99减20 ")) == coupon()

    def test_threshold_equal_to_face_value_is_allowed(self) -> None:
        assert rules.check_coupon(coupon(threshold_fen=2000)).threshold_fen == 2000

    def test_threshold_below_face_value_is_refused(self) -> None:
        with pytest.raises(rules.CouponThresholdBelowFace) as caught:
            rules.check_coupon(coupon(threshold_fen=1999))
        assert caught.value.code == "coupon_threshold_below_face"

    def test_zero_face_value_is_refused(self) -> None:
        with pytest.raises(rules.CouponFaceValueZero):
            rules.check_coupon(coupon(face_value_fen=0, threshold_fen=0))

    @pytest.mark.parametrize("value", [-1, 20.0, True])
    def test_bad_face_value_is_refused(self, value: Any) -> None:
        with pytest.raises(MoneyInvalid) as caught:
            rules.check_coupon(coupon(face_value_fen=value))
        assert caught.value.params["field_zh"] == "券面额"

    @pytest.mark.parametrize("value", [-1, 99.0])
    def test_bad_threshold_is_refused(self, value: Any) -> None:
        with pytest.raises(MoneyInvalid):
            rules.check_coupon(coupon(threshold_fen=value))

    @pytest.mark.parametrize("field", ["total_quantity", "per_user_limit"])
    @pytest.mark.parametrize("value", [0, -1, rules.MAX_QUANTITY + 1, 1.0, True])
    def test_quantity_of_zero_or_less_is_refused(self, field: str, value: Any) -> None:
        with pytest.raises(rules.QuantityInvalid) as caught:
            rules.check_coupon(coupon(**{field: value}))
        assert caught.value.params["field"] == field

    @pytest.mark.parametrize("value", [1, rules.MAX_QUANTITY])
    def test_quantity_boundaries_are_allowed(self, value: int) -> None:
        assert rules.check_coupon(coupon(total_quantity=value)).total_quantity == value

    @pytest.mark.parametrize("until", [START, START - timedelta(seconds=1)])
    def test_validity_window_not_moving_forward_is_refused(self, until: datetime) -> None:
        with pytest.raises(rules.ValidityWindowReversed) as caught:
            rules.check_coupon(coupon(valid_until=until))
        assert caught.value.zh == "失效时间必须晚于生效时间，请重新选择。"

    def test_window_is_normalised_to_utc(self) -> None:
        shanghai = timezone(timedelta(hours=8))
        checked = rules.check_coupon(coupon(valid_from=START.astimezone(shanghai)))
        assert checked.valid_from == START
        assert checked.valid_from.tzinfo is UTC

    def test_naive_datetimes_are_refused(self) -> None:
        with pytest.raises(rules.ValidityWindowInvalid):
            rules.check_coupon(coupon(valid_from=datetime(2026, 11, 11)))

    def test_empty_name_is_refused(self) -> None:
        with pytest.raises(rules.TextRequired):
            rules.check_coupon(coupon(name=""))


class TestEstimatedPromoterCommission:
    def test_jd_test_vector(self) -> None:
        # product.md: 54.00 × 5% × 90% = 2.43
        assert rules.estimated_promoter_commission_fen(5400, 500, None, 1000) == 243

    def test_fixed_commission_replaces_the_rate(self) -> None:
        assert rules.commission_pool_fen(5990, 500, 300) == 300
        assert rules.estimated_promoter_commission_fen(5990, 500, 300, 1000) == 270

    def test_rate_rounds_down_to_whole_fen(self) -> None:
        assert rules.commission_pool_fen(5990, 500, None) == 299

    def test_zero_and_full_take(self) -> None:
        assert rules.estimated_promoter_commission_fen(5400, 500, None, 0) == 270
        assert rules.estimated_promoter_commission_fen(5400, 500, None, 10000) == 0

    @given(
        price=st.integers(min_value=0, max_value=MAX_FEN),
        rate=st.integers(min_value=0, max_value=10000),
        take=st.integers(min_value=0, max_value=10000),
    )
    def test_promoter_share_and_take_add_up_to_the_pool(
        self, price: int, rate: int, take: int
    ) -> None:
        pool = rules.commission_pool_fen(price, rate, None)
        share = rules.estimated_promoter_commission_fen(price, rate, None, take)
        assert 0 <= share <= pool <= price
        assert share + pool * take // 10000 == pool


class TestCheckImage:
    @pytest.mark.parametrize(
        ("image_format", "extension"),
        [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp")],
    )
    def test_web_images_are_accepted(self, image_format: str, extension: str) -> None:
        assert rules.check_image(image_bytes(image_format), 1024 * 1024) == extension

    def test_image_exactly_at_the_limit_is_accepted(self) -> None:
        data = image_bytes()
        assert rules.check_image(data, len(data)) == "png"

    def test_image_over_the_limit_is_refused(self) -> None:
        data = image_bytes()
        with pytest.raises(rules.ImageTooLarge) as caught:
            rules.check_image(data, len(data) - 1)
        assert caught.value.code == "image_too_large"

    def test_limit_is_shown_in_megabytes(self) -> None:
        with pytest.raises(rules.ImageTooLarge) as caught:
            rules.check_image(b"x" * (512 * 1024 + 1), 512 * 1024)
        assert caught.value.zh == "图片超过 0.50 MB，请压缩后再上传。"
        with pytest.raises(rules.ImageTooLarge) as caught:
            rules.check_image(b"x" * (5 * 1024 * 1024 + 1), 5 * 1024 * 1024)
        assert caught.value.zh == "图片超过 5 MB，请压缩后再上传。"

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"not an image at all",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
            b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        ],
    )
    def test_non_images_are_refused(self, data: bytes) -> None:
        with pytest.raises(rules.ImageInvalid) as caught:
            rules.check_image(data, 1024 * 1024)
        assert caught.value.code == "image_invalid"

    def test_images_of_other_formats_are_refused(self) -> None:
        with pytest.raises(rules.ImageInvalid):
            rules.check_image(image_bytes("BMP"), 1024 * 1024)
