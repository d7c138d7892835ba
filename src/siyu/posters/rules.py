"""Pure poster rules: colours, backgrounds, layout checks, line wrapping, nickname clean-up.

No I/O and no Pillow here: text measuring is passed in as a function, so wrapping and
truncation are tested exhaustively with a fake measure.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

MIN_CANVAS = 320
MAX_CANVAS = 4096
MIN_FONT_SIZE = 12
MAX_FONT_SIZE = 240
MIN_TEXT_WIDTH = 40
# A QR code in a 1080-wide poster, seen on a phone screen or saved and re-scanned, reads reliably
# from about 200 px; below that a long personal URL gets too few pixels per module.
MIN_QR_SIZE = 200
# Each module needs at least this many pixels; longer URLs mean more modules.
MIN_QR_MODULE_PIXELS = 4
MIN_QR_CONTRAST = 3.0
ELLIPSIS = "…"
NICKNAME_MAX_CHARACTERS = 40
NICKNAME_FALLBACK = "好友"
UPLOAD_PREFIX = "/uploads/"
_UPLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_GRADIENT = re.compile(
    r"linear-gradient\(\s*(?:(to (?:bottom|right|bottom right))\s*,\s*)?"
    r"(#[0-9a-fA-F]{3,6})\s*,\s*(#[0-9a-fA-F]{3,6})\s*\)"
)

Direction = Literal["to bottom", "to right", "to bottom right"]

# How the console names the template's fields (problems are listed in Chinese there).
FIELD_LABELS = {
    "width": "画布宽度",
    "height": "高度",
    "background": "背景",
    "title": "标题",
    "text": "正文",
    "title_box": "标题框",
    "text_box": "正文框",
    "nickname": "昵称",
    "qr": "二维码",
    "x": "横坐标",
    "y": "纵坐标",
    "size": "大小",
    "color": "颜色",
    "align": "对齐方式",
    "bold": "加粗",
    "format": "格式",
    "line_height_pct": "行高",
}


class TemplateProblem(ValueError):
    """A template rule broken, said in English (API, logs) and Chinese (console)."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.zh = zh


def label(field: str) -> str:
    return FIELD_LABELS.get(field, field)


Box = tuple[int, int, int, int]  # x, y, width, height


def normalise_color(value: str) -> str:
    """``#rgb`` or ``#rrggbb`` → ``#rrggbb`` (lower case); anything else is refused."""
    text = value.strip()
    if not _HEX.fullmatch(text):
        raise TemplateProblem(
            f"colour must be #rgb or #rrggbb, got {value!r}", f"颜色须为 #rgb 或 #rrggbb（{value}）"
        )
    digits = text[1:].lower()
    if len(digits) == 3:
        digits = "".join(character * 2 for character in digits)
    return f"#{digits}"


def rgb(color: str) -> tuple[int, int, int]:
    digits = normalise_color(color)[1:]
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(part) for part in rgb(color))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio, 1 (same) to 21 (black on white)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@dataclass(frozen=True)
class BackgroundSpec:
    kind: Literal["color", "gradient", "upload"]
    colors: tuple[str, ...] = ()
    direction: Direction = "to bottom"
    upload_name: str = ""

    @property
    def canonical(self) -> str:
        if self.kind == "color":
            return self.colors[0]
        if self.kind == "gradient":
            return f"linear-gradient({self.direction}, {self.colors[0]}, {self.colors[1]})"
        return UPLOAD_PREFIX + self.upload_name


def parse_background(value: str) -> BackgroundSpec:
    """``#rrggbb``, ``linear-gradient([to bottom|to right|to bottom right,] #a, #b)`` or an
    uploaded image ``/uploads/<name>`` (a plain file name: no folders, no ``..``)."""
    text = value.strip()
    if text.startswith(UPLOAD_PREFIX):
        name = text.removeprefix(UPLOAD_PREFIX)
        if not _UPLOAD_NAME.fullmatch(name) or ".." in name:
            raise TemplateProblem(
                f"background upload must be /uploads/<file name>, got {value!r}",
                "背景图须为上传后得到的 /uploads/… 地址",
            )
        return BackgroundSpec("upload", upload_name=name)
    if text.startswith("linear-gradient"):
        match = _GRADIENT.fullmatch(text)
        if match is None:
            raise TemplateProblem(
                "gradient must be linear-gradient([to bottom|to right|to bottom right,] "
                f"#rrggbb, #rrggbb), got {value!r}",
                "渐变须写成 linear-gradient(to bottom, #rrggbb, #rrggbb)",
            )
        direction = match.group(1) or "to bottom"
        colors = (normalise_color(match.group(2)), normalise_color(match.group(3)))
        return BackgroundSpec("gradient", colors, direction)  # type: ignore[arg-type]
    if text.startswith("#"):
        return BackgroundSpec("color", (normalise_color(text),))
    raise TemplateProblem(
        f"background must be a colour (#rrggbb), a linear-gradient(…) or /uploads/<name>, got "
        f"{value!r}",
        "背景须为颜色 #rrggbb、渐变 linear-gradient(…) 或上传的图片",
    )


def _overlaps(first: Box, second: Box) -> bool:
    ax, ay, aw, ah = first
    bx, by, bw, bh = second
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def layout_problems(width: int, height: int, boxes: Mapping[str, Box]) -> list[tuple[str, str]]:
    """Every box inside the canvas, and no box over the QR code (``"qr"``): (English, Chinese)
    for each problem."""
    problems: list[tuple[str, str]] = []
    for name, (x, y, box_width, box_height) in boxes.items():
        if x + box_width > width or y + box_height > height:
            problems.append(
                (
                    f"{name} ({x},{y} {box_width}×{box_height}) goes outside the "
                    f"{width}×{height} canvas",
                    f"{label(name)}超出了 {width}×{height} 的画布",
                )
            )
    qr = boxes.get("qr")
    if qr is not None:
        for name, box in boxes.items():
            if name != "qr" and _overlaps(box, qr):
                problems.append((f"{name} covers the QR code", f"{label(name)}盖住了二维码"))
    return problems


def qr_module_pixels(qr_size: int, modules: int) -> int:
    """Whole pixels per module when ``modules`` (quiet zone included) fill ``qr_size``."""
    return qr_size // modules


def line_height(size: int, line_height_pct: int) -> int:
    return (size * line_height_pct + 99) // 100


def _is_wide(character: str) -> bool:
    """CJK and other wide characters: a line may break before or after any of them."""
    return unicodedata.east_asian_width(character) in ("W", "F")


def _tokens(paragraph: str) -> list[str]:
    """Words (runs of narrow non-space characters), single wide characters and single spaces."""
    tokens: list[str] = []
    word = ""
    for character in paragraph:
        if character.isspace() or _is_wide(character):
            if word:
                tokens.append(word)
                word = ""
            tokens.append(" " if character.isspace() else character)
        else:
            word += character
    if word:
        tokens.append(word)
    return tokens


# Closing punctuation that should not start a line (避头尾, the common subset).
_NO_LINE_START = set("，。、；：？！）》」』】〉”’,.;:?!)…%")


def wrap(text: str, max_width: int, measure: Callable[[str], int]) -> list[str]:
    """Greedy line breaking: CJK breaks between characters, Latin between words (a word wider
    than the line is split by character); explicit newlines are kept; closing punctuation is
    kept on the line before."""
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        line = ""
        for token in _tokens(paragraph):
            if token == " " and not line:
                continue
            candidate = line + token
            if measure(candidate) <= max_width:
                line = candidate
                continue
            if token in _NO_LINE_START and line and measure(line) <= max_width:
                line = candidate  # hang one punctuation mark rather than start a line with it
                continue
            if line.strip():
                lines.append(line.rstrip())
                line = ""
            if token == " ":
                continue
            for character in token:
                if measure(line + character) <= max_width or not line:
                    line += character
                else:
                    lines.append(line)
                    line = character
        lines.append(line.rstrip())
    return lines


def truncate(text: str, max_width: int, measure: Callable[[str], int]) -> str:
    """``text`` if it fits, else the longest prefix that fits with ``…`` after it."""
    if measure(text) <= max_width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle].rstrip() + ELLIPSIS) <= max_width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def fit_lines(
    text: str, max_width: int, max_lines: int, measure: Callable[[str], int]
) -> list[str]:
    """Wrapped lines, at most ``max_lines``; the last kept line ends with … when text is cut."""
    lines = wrap(text, max_width, measure)
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) <= max_lines:
        return lines
    if max_lines <= 0:
        return []
    kept = lines[:max_lines]
    kept[-1] = truncate(kept[-1] + ELLIPSIS, max_width, measure)
    return kept


_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me", "Zl", "Zp"}


def clean_nickname(nickname: str, has_glyph: Callable[[str], bool]) -> str:
    """What the poster can show of a WeChat nickname: control/format characters, combining marks
    and characters the font has no glyph for (most emoji) are dropped, whitespace collapses, at
    most ``NICKNAME_MAX_CHARACTERS`` are kept; nothing left → ``NICKNAME_FALLBACK``."""
    normalised = unicodedata.normalize("NFC", nickname)
    kept: list[str] = []
    for character in normalised:
        if character.isspace():
            if kept and kept[-1] != " ":
                kept.append(" ")
            continue
        if unicodedata.category(character) in _DROPPED_CATEGORIES:
            continue
        if has_glyph(character):
            kept.append(character)
    text = "".join(kept).strip()
    if len(text) > NICKNAME_MAX_CHARACTERS:
        text = text[:NICKNAME_MAX_CHARACTERS].rstrip() + ELLIPSIS
    return text or NICKNAME_FALLBACK


def template_key(template: Mapping[str, Any], *extra: object) -> str:
    """A stable hash of a (normalised) template and whatever else its static layer depends on
    (font file, background file version)."""
    payload = json.dumps([template, [str(part) for part in extra]], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
