"""OCR assist: the verdict rules (pure), and a real read of a screenshot-like PNG when the
``ocr`` extra is installed."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from siyu.posters import fonts, ocr

TITLE = "免费领取拉杆箱"


class TestJudge:
    def test_title_and_sent_marker_approve(self) -> None:
        assert ocr.judge("朋友圈\n免费领取拉杆箱\n已发送", [TITLE]) == {
            "verdict": "approve",
            "reason": "识别到“免费领取拉杆箱”和“已发送”",
            "text": "朋友圈\n免费领取拉杆箱\n已发送",
        }

    def test_most_of_the_text_must_appear_in_one_piece(self) -> None:
        assert ocr.judge("免费领取拉杠箱 已发送", [TITLE + "双十一"])["verdict"] == "reject"
        assert ocr.shown_share("免费领取拉杆箱双十一", "免费领取拉杆箱双十") == 0.9
        assert ocr.judge("免费领取拉杆箱双十 已发送", ["免费领取拉杆箱双十一"])["verdict"] == (
            "approve"
        )

    def test_spaces_and_punctuation_are_ignored(self) -> None:
        assert ocr.shown_share("免费领取，拉杆箱！", "免 费 领 取 拉 杆 箱") == 1.0

    def test_title_without_marker_is_unsure(self) -> None:
        suggestion = ocr.judge("免费领取拉杆箱", [TITLE])
        assert suggestion["verdict"] == "unsure"
        assert (
            suggestion["reason"] == "识别到“免费领取拉杆箱”，但没有“已发送”等分享标记，请人工确认"
        )

    def test_other_content_is_rejected(self) -> None:
        suggestion = ocr.judge("今天天气不错 已发送", [TITLE])
        assert suggestion["verdict"] == "reject"
        assert suggestion["reason"] == "截图中没有找到活动内容（免费领取拉杆箱）"

    def test_no_text(self) -> None:
        assert ocr.judge(" \n", [TITLE]) == {
            "verdict": "reject",
            "reason": "截图中没有识别到文字",
            "text": " \n",
        }

    def test_no_expected_texts_relies_on_the_marker(self) -> None:
        assert ocr.judge("已发送", [])["verdict"] == "approve"
        assert ocr.judge("你好", [""])["verdict"] == "unsure"

    def test_text_is_capped(self) -> None:
        assert len(ocr.judge("字" * 5000, [TITLE])["text"]) == ocr.TEXT_LIMIT


class TestWithoutTheExtra:
    def test_returns_none(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(ocr, "available", lambda: False)
        assert ocr.suggest(b"anything", expected_texts=[TITLE]) is None


def screenshot(lines: list[tuple[str, str]]) -> bytes:
    """A chat-like screenshot: grey background, lines of Chinese text."""
    try:
        face = fonts.discover(None)
    except fonts.PosterFontMissing:
        pytest.skip("no CJK font to draw the screenshot with: apt-get install fonts-noto-cjk")
    font = fonts.load(face, 34)
    image = Image.new("RGB", (720, 1280), "#ededed")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 720, 110), fill="#f7f7f7")
    for number, (text, color) in enumerate(lines):
        draw.text((48, 40 + number * 120), text, font=font, fill=color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.skipif(
    not ocr.available(),
    reason="the OCR extra is not installed: pip install -c constraints.txt -e '.[dev,ocr]'",
)
class TestReadingScreenshots:
    def test_a_shared_poster_is_suggested_for_approval(self) -> None:
        image = screenshot([("朋友圈", "#000000"), (TITLE, "#222222"), ("已发送", "#07c160")])
        suggestion = ocr.suggest(image, expected_texts=[TITLE])
        assert suggestion is not None
        assert suggestion["verdict"] == "approve"
        assert TITLE in suggestion["text"]

    def test_an_unrelated_screenshot_is_suggested_for_rejection(self) -> None:
        image = screenshot([("今天天气很好", "#000000"), ("明天见", "#222222")])
        suggestion = ocr.suggest(image, expected_texts=[TITLE])
        assert suggestion is not None
        assert suggestion["verdict"] == "reject"

    def test_a_broken_upload_is_unsure(self) -> None:
        assert ocr.suggest(b"not an image", expected_texts=[TITLE]) == {
            "verdict": "unsure",
            "reason": "无法识别这张图片，请人工审核",
            "text": "",
        }
