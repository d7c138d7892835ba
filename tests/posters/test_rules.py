"""Pure poster rules: colours, backgrounds, layout, wrapping, truncation, nickname clean-up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.posters import rules


def width_of(text: str) -> int:
    """A fake measure: wide (CJK) characters 2 units, everything else 1."""
    return sum(2 if rules._is_wide(character) else 1 for character in text)


class TestColors:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("#FFF", "#ffffff"), ("#a1B2c3", "#a1b2c3"), (" #000 ", "#000000"), ("#123", "#112233")],
    )
    def test_accepted_and_normalised(self, value: str, expected: str) -> None:
        assert rules.normalise_color(value) == expected

    @pytest.mark.parametrize(
        "value", ["red", "#12", "#12345", "#1234567", "#ggg", "", "rgb(0,0,0)"]
    )
    def test_refused(self, value: str) -> None:
        with pytest.raises(rules.TemplateProblem, match="colour must be") as caught:
            rules.normalise_color(value)
        assert caught.value.zh.startswith("颜色须为 #rgb 或 #rrggbb")

    def test_contrast(self) -> None:
        assert rules.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
        assert rules.contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
        assert rules.contrast_ratio("#ffffff", "#000000") == rules.contrast_ratio("#000", "#fff")


class TestBackground:
    def test_color(self) -> None:
        spec = rules.parse_background("#F00")
        assert (spec.kind, spec.colors, spec.canonical) == ("color", ("#ff0000",), "#ff0000")

    def test_gradient_defaults_to_top_to_bottom(self) -> None:
        spec = rules.parse_background("linear-gradient(#f00, #00F)")
        assert spec.kind == "gradient"
        assert spec.canonical == "linear-gradient(to bottom, #ff0000, #0000ff)"

    @pytest.mark.parametrize("direction", ["to right", "to bottom right"])
    def test_gradient_directions(self, direction: str) -> None:
        spec = rules.parse_background(f"linear-gradient({direction}, #111111, #222222)")
        assert spec.direction == direction

    def test_upload(self) -> None:
        spec = rules.parse_background("/uploads/poster-ab12.png")
        assert (spec.kind, spec.upload_name) == ("upload", "poster-ab12.png")

    @pytest.mark.parametrize(
        "value",
        [
            "/uploads/../secret.key",
            "/uploads/a/b.png",
            "/uploads/",
            "/uploads/..png",
            "https://example.com/a.png",
            "linear-gradient(#fff)",
            "linear-gradient(to left, #fff, #000)",
            "blue",
        ],
    )
    def test_refused(self, value: str) -> None:
        with pytest.raises(ValueError, match=r"background|gradient"):
            rules.parse_background(value)


class TestLayout:
    def test_inside_and_apart_is_fine(self) -> None:
        boxes = {"title_box": (0, 0, 100, 50), "qr": (0, 50, 100, 100)}
        assert rules.layout_problems(100, 150, boxes) == []

    def test_outside_the_canvas(self) -> None:
        boxes = {"title_box": (10, 0, 100, 50), "qr": (0, 60, 80, 80)}
        assert rules.layout_problems(100, 150, boxes) == [
            (
                "title_box (10,0 100×50) goes outside the 100×150 canvas",
                "标题框超出了 100×150 的画布",
            )
        ]

    def test_text_over_the_qr(self) -> None:
        boxes = {"nickname": (0, 0, 60, 60), "qr": (50, 50, 50, 50)}
        assert rules.layout_problems(100, 100, boxes) == [
            ("nickname covers the QR code", "昵称盖住了二维码")
        ]

    def test_touching_edges_do_not_overlap(self) -> None:
        boxes = {"nickname": (0, 0, 50, 50), "qr": (50, 50, 50, 50)}
        assert rules.layout_problems(100, 100, boxes) == []

    def test_line_height_rounds_up(self) -> None:
        assert rules.line_height(48, 140) == 68  # 67.2
        assert rules.line_height(50, 100) == 50

    def test_module_pixels(self) -> None:
        assert rules.qr_module_pixels(300, 33) == 9
        assert rules.qr_module_pixels(200, 57) == 3


class TestWrap:
    def test_cjk_breaks_between_characters(self) -> None:
        assert rules.wrap("免费领取拉杆箱", 6, width_of) == ["免费领", "取拉杆", "箱"]

    def test_latin_breaks_between_words(self) -> None:
        assert rules.wrap("free bag for you", 8, width_of) == ["free bag", "for you"]

    def test_long_word_splits_by_character(self) -> None:
        assert rules.wrap("abcdefghij", 4, width_of) == ["abcd", "efgh", "ij"]

    def test_newlines_are_kept(self) -> None:
        assert rules.wrap("第一\n\n第二", 10, width_of) == ["第一", "", "第二"]

    def test_closing_punctuation_hangs(self) -> None:
        # "，" would start the second line: it stays on the first.
        assert rules.wrap("领取拉杆，好", 8, width_of) == ["领取拉杆，", "好"]

    def test_mixed(self) -> None:
        assert rules.wrap("邀请 3 位好友", 6, width_of) == ["邀请 3", "位好友"]

    @given(st.text(alphabet="ab 中文，\n", max_size=40), st.integers(min_value=2, max_value=12))
    def test_no_line_is_lost_or_too_wide(self, text: str, width: int) -> None:
        lines = rules.wrap(text, width, width_of)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")
        for line in lines:
            # Only hung punctuation may pass the width, by one character.
            assert width_of(line) <= width or (line[-1] in "，" and width_of(line[:-1]) <= width)


class TestTruncate:
    def test_fits(self) -> None:
        assert rules.truncate("小明", 4, width_of) == "小明"

    def test_cut_with_ellipsis(self) -> None:
        assert rules.truncate("小明同学你好", 7, width_of) == "小明同…"

    def test_nothing_fits(self) -> None:
        assert rules.truncate("小明", 1, width_of) == "…"

    def test_fit_lines_cuts_the_last_line(self) -> None:
        assert rules.fit_lines("一二三四五六七八九十", 6, 2, width_of) == ["一二三", "四五…"]

    def test_fit_lines_keeps_short_text(self) -> None:
        assert rules.fit_lines("一二三\n", 6, 2, width_of) == ["一二三"]

    def test_fit_lines_zero(self) -> None:
        assert rules.fit_lines("一二三", 6, 0, width_of) == []

    @given(st.text(max_size=30), st.integers(min_value=1, max_value=20))
    def test_result_always_fits(self, text: str, width: int) -> None:
        result = rules.truncate(text, width, width_of)
        assert result == text or (result.endswith(rules.ELLIPSIS) and width_of(result) <= width)


class TestCleanNickname:
    def everything(self, _character: str) -> bool:
        return True

    def test_plain(self) -> None:
        assert rules.clean_nickname("小明", self.everything) == "小明"

    def test_missing_glyphs_are_dropped(self) -> None:
        assert rules.clean_nickname("小明😀", lambda c: c != "😀") == "小明"

    def test_control_and_format_characters_dropped(self) -> None:
        assert rules.clean_nickname("小\u200d明\u202e\x07", self.everything) == "小明"

    def test_combining_marks_dropped_after_nfc(self) -> None:
        assert rules.clean_nickname("Zoe\u0301\u0336", self.everything) == "Zoé"

    def test_whitespace_collapses(self) -> None:
        assert rules.clean_nickname("  小\t\n 明  ", self.everything) == "小 明"

    def test_nothing_left(self) -> None:
        assert rules.clean_nickname("😀😀", lambda c: False) == rules.NICKNAME_FALLBACK
        assert rules.clean_nickname("", self.everything) == rules.NICKNAME_FALLBACK

    def test_very_long(self) -> None:
        cleaned = rules.clean_nickname("长" * 100, self.everything)
        assert cleaned == "长" * rules.NICKNAME_MAX_CHARACTERS + rules.ELLIPSIS


class TestTemplateKey:
    def test_stable_and_order_free(self) -> None:
        assert rules.template_key({"a": 1, "b": 2}, "font") == rules.template_key(
            {"b": 2, "a": 1}, "font"
        )

    def test_changes_with_extra(self) -> None:
        assert rules.template_key({"a": 1}, "v1") != rules.template_key({"a": 1}, "v2")
