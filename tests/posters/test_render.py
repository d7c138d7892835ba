"""Rendering posters: real CJK glyphs, a QR code that decodes, the template's size, the static
layer cache, nicknames of every shape, and templates that are refused with clear reasons."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from siyu.config import Settings, configure
from siyu.posters import fonts, rules, service
from siyu.posters.schemas import PosterTemplate
from tests.posters.conftest import decode_qr, open_png

URL = "https://siyu.example.cn/c/Ab3dEf9H?state=Q1w2E3r4T5y6"
TITLE = "免费领取拉杆箱"
TEMPLATE: dict[str, Any] = {
    "title": TITLE,
    "text": "扫码添加活动号，回复所在区县查询名额。邀请 3 位新朋友添加即可领取。",
    "background": "#c0392b",
}


def render(template: dict[str, Any], nickname: str = "小明", url: str = URL) -> Image.Image:
    return open_png(service.render_poster(template, nickname=nickname, qr_url=url))


def static_layer(template: dict[str, Any]) -> Image.Image:
    parsed = service.validate_template(template)
    return service._compose_static(parsed)


def changed_box(first: Image.Image, second: Image.Image) -> tuple[int, int, int, int] | None:
    box: tuple[int, int, int, int] | None = ImageChops.difference(
        first.convert("RGB"), second.convert("RGB")
    ).getbbox()
    return box


def inside(box: tuple[int, int, int, int], area: tuple[int, int, int, int]) -> bool:
    return area[0] <= box[0] and area[1] <= box[1] and box[2] <= area[2] and box[3] <= area[3]


pytestmark = pytest.mark.usefixtures("poster_settings")


class TestOutput:
    def test_default_size_and_png(self) -> None:
        image = render(TEMPLATE)
        assert image.format == "PNG"
        assert image.size == (1080, 1920)
        assert image.mode == "RGB"

    def test_custom_size(self) -> None:
        template = {
            **TEMPLATE,
            "width": 720,
            "height": 1280,
            "title_box": {"x": 40, "y": 100, "width": 640, "height": 200, "size": 64},
            "text_box": {"x": 40, "y": 320, "width": 640, "height": 400, "size": 32},
            "nickname": {"x": 40, "y": 1000, "width": 380, "size": 32},
            "qr": {"x": 460, "y": 960, "size": 220},
        }
        image = render(template)
        assert image.size == (720, 1280)
        assert decode_qr(image) == [URL]

    def test_qr_decodes(self) -> None:
        assert decode_qr(render(TEMPLATE)) == [URL]

    def test_qr_decodes_at_the_minimum_size_with_custom_colours(self) -> None:
        template = {
            **TEMPLATE,
            "qr": {"x": 780, "y": 1600, "size": rules.MIN_QR_SIZE, "color": "#1a237e",
                   "background": "#fff8e1"},
        }  # fmt: skip
        assert decode_qr(render(template)) == [URL]

    def test_qr_decodes_on_a_photo_background(self, poster_settings: Settings) -> None:
        noise = Image.effect_noise((640, 480), 80).convert("RGB")
        buffer = io.BytesIO()
        noise.save(buffer, format="JPEG")
        url, width, height = service.store_background(buffer.getvalue())
        assert (width, height) == (640, 480)
        image = render({**TEMPLATE, "background": url})
        assert image.size == (1080, 1920)
        assert decode_qr(image) == [URL]

    def test_each_participant_gets_their_own_code(self) -> None:
        other = "https://siyu.example.cn/c/Zz9yXw8V?state=other-person"
        assert decode_qr(render(TEMPLATE, url=other)) == [other]

    def test_threads_render_at_once(self) -> None:
        urls = [f"{URL}-{number}" for number in range(8)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            images = list(pool.map(lambda url: render(TEMPLATE, url=url), urls))
        assert [decode_qr(image) for image in images] == [[url] for url in urls]
        assert service.static_cache.misses + service.static_cache.hits == 8

    def test_compress_level_is_used(self) -> None:
        data = service.render_poster(TEMPLATE, nickname="小明", qr_url=URL)
        assert len(data) < 400_000  # a flat poster, not raw pixels


class TestGlyphs:
    def test_title_characters_have_real_glyphs(self) -> None:
        regular, bold = fonts.faces()
        for face in (regular, bold):
            font = fonts.load(face, 96)
            assert all(fonts.has_glyph(font, character) for character in TITLE)
            assert not fonts.has_glyph(font, fonts.MISSING_CODEPOINT + "")

    def test_title_draws_ink_unlike_tofu(self) -> None:
        plain = static_layer({**TEMPLATE, "title": ""})
        titled = static_layer(TEMPLATE)
        tofu = static_layer({**TEMPLATE, "title": fonts.MISSING_CODEPOINT * len(TITLE)})
        box = PosterTemplate.model_validate(TEMPLATE).title_box
        area = (box.x, box.y, box.x + box.width, box.y + box.height)
        drawn = changed_box(plain, titled)
        assert drawn is not None
        assert inside(drawn, area)
        # Tofu would be the same box drawn seven times: the real title looks different.
        assert changed_box(titled.crop(area), tofu.crop(area)) is not None

    @pytest.mark.parametrize("align", ["left", "center", "right"])
    def test_long_body_text_stays_inside_its_box(self, align: str) -> None:
        box = {"x": 80, "y": 600, "width": 600, "height": 300, "size": 48, "align": align}
        long_text = "扫码添加活动号，回复区县查询名额 Quality luggage. " * 8
        plain = static_layer({**TEMPLATE, "text": ""})
        filled = static_layer({**TEMPLATE, "text": long_text, "text_box": box})
        ink = changed_box(plain, filled)
        assert ink is not None
        assert inside(ink, (80, 600, 680, 900))
        # It was cut: the lines that fit are drawn, down to near the bottom of the box.
        assert ink[3] > 900 - 2 * 68

    def test_nickname_and_qr_are_the_only_changes_over_the_static_layer(self) -> None:
        template = PosterTemplate.model_validate(TEMPLATE)
        base = static_layer(TEMPLATE)
        poster = render(TEMPLATE, nickname="小明")
        nick = template.nickname
        qr = template.qr
        whole = changed_box(base, poster)
        assert whole is not None
        assert inside(whole, (nick.x, min(nick.y, qr.y), qr.x + qr.size, qr.y + qr.size))
        # Everything outside the QR square belongs to the nickname line.
        outside_qr = poster.copy()
        outside_qr.paste(base.crop((qr.x, qr.y, qr.x + qr.size, qr.y + qr.size)), (qr.x, qr.y))
        nickname_ink = changed_box(base, outside_qr)
        assert nickname_ink is not None
        assert inside(nickname_ink, (nick.x, nick.y, nick.x + nick.width, nick.y + nick.height))


class TestNicknames:
    def nickname_crop(self, nickname: str) -> Image.Image:
        template = PosterTemplate.model_validate(TEMPLATE)
        box = template.nickname
        image = render(TEMPLATE, nickname=nickname)
        return image.crop((box.x, box.y, box.x + box.width, box.y + box.height))

    def test_nickname_glyphs_are_real(self) -> None:
        # Tofu draws the same box for every missing character: two different names of the
        # same length would then look alike. Real glyphs differ, and every character has one.
        font = service._font(44, True)
        assert all(fonts.has_glyph(font, character) for character in "小明阿花")
        assert changed_box(self.nickname_crop("小明"), self.nickname_crop("阿花")) is not None
        blank = PosterTemplate.model_validate(TEMPLATE).nickname
        crop = self.nickname_crop("小明")
        assert crop.size == (blank.width, blank.height)
        assert (
            len(crop.getcolors(maxcolors=1 << 16) or []) > 2
        )  # ink and anti-aliasing over the background

    def test_emoji_are_dropped_not_drawn_as_tofu(self) -> None:
        assert changed_box(self.nickname_crop("小明😀🎉"), self.nickname_crop("小明")) is None

    def test_only_emoji_falls_back(self) -> None:
        assert changed_box(self.nickname_crop("😀🎉"), self.nickname_crop("好友")) is None

    def test_odd_characters(self) -> None:
        odd = "A\u200dB\u202e\x00C\u0301 \t"
        assert changed_box(self.nickname_crop(odd), self.nickname_crop("ABĆ")) is None

    def test_long_nickname_is_cut_to_the_box(self) -> None:
        template = PosterTemplate.model_validate(TEMPLATE)
        box = template.nickname
        base = static_layer(TEMPLATE)
        long_name = "超长昵称" * 30
        poster = render(TEMPLATE, nickname=long_name)
        poster.paste(
            base.crop((template.qr.x, 0, 1080, 1920)), (template.qr.x, 0)
        )  # ignore the QR column
        ink = changed_box(base, poster)
        assert ink is not None
        assert inside(ink, (box.x, box.y, box.x + box.width, box.y + box.height))
        assert decode_qr(render(TEMPLATE, nickname=long_name)) == [URL]

    def test_cut_nickname_ends_with_an_ellipsis(self) -> None:
        font = service._font(44, True)
        line = rules.truncate("超长昵称" * 30, 560, service._measure(font))
        assert line.endswith("…")
        assert font.getlength(line) <= 560


class TestEtag:
    def test_same_inputs_same_tag(self) -> None:
        template = service.validate_template(TEMPLATE)
        first = service.poster_etag(template, nickname="小明", qr_url=URL)
        assert first == service.poster_etag(template, nickname="小明", qr_url=URL)
        assert first.startswith('"')
        assert first.endswith('"')
        assert len(first) == 34

    def test_any_change_changes_the_tag(self) -> None:
        template = service.validate_template(TEMPLATE)
        tags = {
            service.poster_etag(template, nickname="小明", qr_url=URL),
            service.poster_etag(template, nickname="小红", qr_url=URL),
            service.poster_etag(template, nickname="小明", qr_url=URL + "x"),
            service.poster_etag(
                service.validate_template({**TEMPLATE, "title": "新标题"}),
                nickname="小明",
                qr_url=URL,
            ),
        }
        assert len(tags) == 4


class TestStaticCache:
    def test_one_compose_per_template(self) -> None:
        render(TEMPLATE, nickname="甲")
        render(TEMPLATE, nickname="乙", url=URL + "x")
        assert (service.static_cache.misses, service.static_cache.hits) == (1, 1)

    def test_nickname_format_does_not_split_the_cache(self) -> None:
        render(TEMPLATE)
        render({**TEMPLATE, "nickname": {"x": 80, "y": 1480, "format": "来自 {nickname}"}})
        assert service.static_cache.misses == 1

    def test_a_new_title_is_composed_again(self) -> None:
        render(TEMPLATE)
        render({**TEMPLATE, "title": "双十一内购"})
        assert service.static_cache.misses == 2

    def test_a_replaced_background_file_is_composed_again(self, poster_settings: Settings) -> None:
        image = Image.new("RGB", (100, 100), "#336699")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        url, _w, _h = service.store_background(buffer.getvalue())
        first = render({**TEMPLATE, "background": url})
        path = poster_settings.upload_dir / url.removeprefix("/uploads/")
        Image.new("RGB", (100, 100), "#993366").save(path, format="PNG")
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        second = render({**TEMPLATE, "background": url})
        assert service.static_cache.misses == 2
        assert first.getpixel((5, 5)) == (0x33, 0x66, 0x99)
        assert second.getpixel((5, 5)) == (0x99, 0x33, 0x66)

    def test_the_cache_is_bounded(self) -> None:
        for number in range(service.STATIC_CACHE_SIZE + 3):
            render({**TEMPLATE, "title": f"标题{number}"})
        assert len(service.static_cache._items) == service.STATIC_CACHE_SIZE


QR_AT = {"x": 700, "y": 1420}
REFUSED = [
    ({"qr": {**QR_AT, "size": 120}}, "qr.size: Input should be greater than or equal to 200"),
    (
        {"qr": {"x": 900, "y": 1420, "size": 300}},
        "qr (900,1420 300×300) goes outside the 1080×1920 canvas",
    ),
    (
        {"title_box": {"x": 80, "y": 1400, "width": 920, "height": 200}},
        "title_box covers the QR code",
    ),
    ({"background": "red"}, "background: background must be a colour (#rrggbb)"),
    (
        {"nickname": {"x": 80, "y": 1480, "color": "#12"}},
        "nickname.color: colour must be #rgb or #rrggbb, got '#12'",
    ),
    (
        {"nickname": {"x": 80, "y": 1480, "format": "邀请你"}},
        "nickname: format must contain {nickname} exactly once",
    ),
    (
        {"qr": {**QR_AT, "color": "#eeeeee"}},
        "qr: QR colours #eeeeee on #ffffff have too little contrast",
    ),
    (
        {"text_box": {"x": 80, "y": 600, "width": 920, "height": 20, "size": 48}},
        "text_box: height 20 is smaller than the font size 48",
    ),
    ({"colour": "#fff"}, "colour: Extra inputs are not permitted"),
    ({"width": 100}, "width: Input should be greater than or equal to 320"),
    ({"title": "长" * 61}, "title: String should have at most 60 characters"),
    (
        {"background": "/uploads/../secret.key"},
        "background: background upload must be /uploads/<file name>",
    ),
]


NICKNAME_AT = {"x": 80, "y": 1480}
REFUSED_ZH = [
    ({"qr": {**QR_AT, "size": 120}}, "二维码大小不能小于 200"),
    ({"title_box": {"x": 80, "y": 1400, "width": 920, "height": 200}}, "标题框盖住了二维码"),
    ({"qr": {"x": 900, "y": 1420}}, "二维码超出了 1080×1920 的画布"),
    ({"colour": "#fff"}, "colour不是模板中的字段"),
    ({"nickname": {**NICKNAME_AT, "color": "red"}}, "昵称颜色须为 #rgb 或 #rrggbb（red）"),
    ({"title": "长" * 61}, "标题最多 60 个字"),
    ({"qr": {**QR_AT, "size": "big"}}, "二维码大小须为整数"),
    (
        {"nickname": {**NICKNAME_AT, "align": "middle"}},
        "昵称对齐方式只能是 'left', 'center' or 'right'",
    ),
    (
        {"text_box": {"x": 80, "y": 600, "width": 920, "height": 20}},
        "正文框高度 20 小于字号 48，一行也放不下",
    ),
]


class TestTemplates:
    def test_empty_template_is_a_full_default_layout(self) -> None:
        template = service.validate_template({})
        assert template.canonical()["width"] == 1080
        assert template.canonical()["qr"] == {
            "x": 700, "y": 1420, "size": 300, "color": "#000000", "background": "#ffffff",
        }  # fmt: skip
        assert decode_qr(render({})) == [URL]

    def test_canonical_round_trips(self) -> None:
        canonical = service.validate_template(TEMPLATE).canonical()
        assert service.validate_template(canonical).canonical() == canonical
        assert canonical["background"] == "#c0392b"

    @pytest.mark.parametrize(("template", "problem"), REFUSED)
    def test_refused_with_the_reason(self, template: dict[str, Any], problem: str) -> None:
        with pytest.raises(service.PosterTemplateInvalid) as caught:
            service.validate_template(template)
        assert problem in caught.value.en
        assert caught.value.zh.startswith("海报模板有误：")
        assert caught.value.status == 422

    @pytest.mark.parametrize(("template", "problem_zh"), REFUSED_ZH)
    def test_problems_in_chinese(self, template: dict[str, Any], problem_zh: str) -> None:
        with pytest.raises(service.PosterTemplateInvalid) as caught:
            service.validate_template(template)
        assert caught.value.zh == f"海报模板有误：{problem_zh}。"

    def test_all_problems_are_listed(self) -> None:
        with pytest.raises(service.PosterTemplateInvalid) as caught:
            service.validate_template({"width": 100, "background": "red"})
        assert "width:" in caught.value.en
        assert "background:" in caught.value.en

    def test_missing_upload(self) -> None:
        with pytest.raises(service.PosterBackgroundMissing):
            service.validate_template({"background": "/uploads/nope.png"})

    def test_qr_too_dense_for_a_long_link(self) -> None:
        template = {**TEMPLATE, "qr": {"x": 780, "y": 1600, "size": 200}}
        with pytest.raises(service.PosterQrTooDense) as caught:
            service.render_poster(template, nickname="小明", qr_url=URL + "?" + "x" * 600)
        assert "make it at least" in caught.value.en

    def test_poster_copy(self) -> None:
        assert service.poster_copy(service.validate_template(TEMPLATE)) == (
            TEMPLATE["title"] + "\n" + TEMPLATE["text"]
        )


class TestBackgroundUploads:
    def test_stored_under_a_random_name(self, poster_settings: Settings) -> None:
        buffer = io.BytesIO()
        Image.new("RGB", (30, 20), "#000").save(buffer, format="PNG")
        url, width, height = service.store_background(buffer.getvalue())
        assert url.startswith("/uploads/poster-")
        assert url.endswith(".png")
        assert (width, height) == (30, 20)
        assert (poster_settings.upload_dir / url.removeprefix("/uploads/")).is_file()

    @pytest.mark.parametrize("data", [b"", b"not an image", b"GIF89a" + b"\x00" * 20])
    def test_refused_and_nothing_written(self, poster_settings: Settings, data: bytes) -> None:
        with pytest.raises(service.PosterBackgroundInvalid):
            service.store_background(data)
        assert list(poster_settings.upload_dir.iterdir()) == []

    def test_gif_refused(self, poster_settings: Settings) -> None:
        buffer = io.BytesIO()
        Image.new("P", (10, 10)).save(buffer, format="GIF")
        with pytest.raises(service.PosterBackgroundInvalid):
            service.store_background(buffer.getvalue())
        assert list(poster_settings.upload_dir.iterdir()) == []


class TestFonts:
    def test_configured_font_missing(self, tmp_path: Path) -> None:
        configure(
            Settings(environment="test", data_dir=tmp_path, poster_font_path=tmp_path / "x.ttc")
        )
        fonts.forget()
        with pytest.raises(fonts.PosterFontMissing) as caught:
            service.render_poster(TEMPLATE, nickname="小明", qr_url=URL)
        assert "does not exist" in caught.value.en
        assert "apt-get install fonts-noto-cjk" in caught.value.en
        assert caught.value.status == 503

    def test_a_font_without_chinese_is_refused(self, tmp_path: Path) -> None:
        latin = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        if not latin.is_file():
            pytest.skip("DejaVu Sans not installed")
        configure(Settings(environment="test", data_dir=tmp_path, poster_font_path=latin))
        fonts.forget()
        with pytest.raises(fonts.PosterFontMissing) as caught:
            fonts.faces()
        assert "has no Chinese glyphs" in caught.value.en

    def test_configured_font_is_used(self, tmp_path: Path) -> None:
        regular, _bold = fonts.faces()
        configure(
            Settings(environment="test", data_dir=tmp_path, poster_font_path=Path(regular.path))
        )
        fonts.forget()
        assert fonts.faces()[0] == regular

    def test_collection_uses_its_simplified_chinese_face(self) -> None:
        regular, _bold = fonts.faces()
        font = fonts.load(regular, 20)
        if regular.path.endswith(".ttc"):
            assert font.getname()[0].endswith(" SC")

    def test_nothing_found(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(fonts, "KNOWN_PATHS", ())
        monkeypatch.setattr(fonts, "_fc_match", lambda: None)
        fonts.forget()
        with pytest.raises(fonts.PosterFontMissing) as caught:
            fonts.faces()
        assert "SIYU_POSTER_FONT_PATH" in caught.value.en
