"""OCR assist for proof screenshots (optional extra ``siyu[ocr]``: rapidocr-onnxruntime, whose
detection and recognition models ship inside the wheel, so it works offline).

``suggest(image_bytes, expected_texts=[campaign title, …])`` reads the screenshot and suggests
whether it shows the shared poster: ``{"verdict": "approve"|"reject"|"unsure", "reason": str,
"text": str}``. It is a hint for the reviewer; a person always decides. Returns None when the
extra is not installed.
"""

from __future__ import annotations

import importlib
import logging
import threading
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any, Literal, TypedDict

logger = logging.getLogger(__name__)

# What WeChat shows after a share went out (chat: 已发送; moments: the post itself with 朋友圈).
SENT_MARKERS = ("已发送", "发送成功", "已分享", "分享成功", "已转发", "朋友圈")
MIN_CONFIDENCE = 0.5
# An expected text counts as shown when this share of it appears in one piece in the OCR text
# (OCR drops or misreads a character now and then).
MATCH_SHARE = 0.8
TEXT_LIMIT = 1000

Verdict = Literal["approve", "reject", "unsure"]


class Suggestion(TypedDict):
    verdict: Verdict
    reason: str
    text: str


def _normalise(text: str) -> str:
    """NFKC, no spaces or punctuation, lower case: what OCR and the template agree on."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in folded if unicodedata.category(c)[0] in ("L", "N"))


def shown_share(expected: str, text: str) -> float:
    """The longest piece of ``expected`` found in ``text``, as a share of ``expected``."""
    wanted = _normalise(expected)
    haystack = _normalise(text)
    if not wanted:
        return 0.0
    if wanted in haystack:
        return 1.0
    match = SequenceMatcher(None, wanted, haystack, autojunk=False).find_longest_match(
        0, len(wanted), 0, len(haystack)
    )
    return match.size / len(wanted)


def judge(text: str, expected_texts: Sequence[str]) -> Suggestion:
    """The verdict for what OCR read (pure: tested without the OCR engine)."""
    shown = text[:TEXT_LIMIT]
    if not _normalise(text):
        return {"verdict": "reject", "reason": "截图中没有识别到文字", "text": shown}
    expected = [item for item in expected_texts if _normalise(item)]
    found = [item for item in expected if shown_share(item, text) >= MATCH_SHARE]
    markers = [marker for marker in SENT_MARKERS if marker in _normalise(text)]
    if expected and not found:
        return {
            "verdict": "reject",
            "reason": f"截图中没有找到活动内容（{'、'.join(expected)}）",
            "text": shown,
        }
    if not markers:
        return {
            "verdict": "unsure",
            "reason": f"识别到“{'、'.join(found) or '文字'}”，但没有“已发送”等分享标记，请人工确认",
            "text": shown,
        }
    return {
        "verdict": "approve",
        "reason": f"识别到“{'、'.join(found)}”和“{markers[0]}”" if found else "识别到分享标记",
        "text": shown,
    }


_engine_lock = threading.Lock()
_engine: list[Any] = []


def _load_engine() -> Any | None:
    with _engine_lock:
        if _engine:
            return _engine[0]
        try:
            module = importlib.import_module("rapidocr_onnxruntime")
        except ImportError:
            return None
        _engine.append(module.RapidOCR())
        return _engine[0]


def available() -> bool:
    try:
        importlib.import_module("rapidocr_onnxruntime")
    except ImportError:
        return False
    return True


def read_text(image_bytes: bytes) -> str | None:
    """The screenshot's text, one recognised line per line; None without the extra."""
    engine = _load_engine()
    if engine is None:
        return None
    result, _elapsed = engine(image_bytes)
    lines = [item[1] for item in result or [] if float(item[2]) >= MIN_CONFIDENCE]
    return "\n".join(lines)


def suggest(image_bytes: bytes, *, expected_texts: list[str]) -> Suggestion | None:
    if not available():
        return None
    try:
        text = read_text(image_bytes)
    except Exception:  # a corrupt upload must not break the review queue
        logger.warning("OCR failed on a proof screenshot", exc_info=True)
        return {"verdict": "unsure", "reason": "无法识别这张图片，请人工审核", "text": ""}
    if text is None:
        return None
    return judge(text, expected_texts)
