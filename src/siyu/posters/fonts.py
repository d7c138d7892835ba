"""Finding and loading the CJK font posters are drawn with.

Order: ``SIYU_POSTER_FONT_PATH``; then ``fc-match 'Noto Sans CJK SC'``; then the usual paths of
Noto Sans CJK / Source Han Sans / WenQuanYi. A font is accepted only if it really has a glyph
for 中 (fc-match falls back to DejaVu when no CJK font is installed). A font collection (.ttc)
uses its Simplified Chinese face.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from siyu.config import current_settings
from siyu.errors import AppError

KNOWN_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSansCN-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
PROBE = "中"
# Plane-16 private use: no font ships a glyph here, so it always draws the font's .notdef (tofu).
MISSING_CODEPOINT = "\U0010fffd"


class PosterFontMissing(AppError):
    status = 503
    code = "poster_font_missing"
    message_en = (
        "No CJK font for posters{where}. Install Noto Sans CJK (Debian/Ubuntu: "
        "apt-get install fonts-noto-cjk; bash scripts/setup does it as root) or set "
        "SIYU_POSTER_FONT_PATH to a .ttc/.otf/.ttf file with Chinese glyphs."
    )
    message_zh = (
        "未找到可用于海报的中文字体{where}。请安装思源黑体 Noto Sans CJK"
        "（Debian/Ubuntu：apt-get install fonts-noto-cjk），或设置 SIYU_POSTER_FONT_PATH。"
    )


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int


def _face_index(path: str) -> int | None:
    """The face to use in ``path`` (the SC one in a collection), or None if it has no CJK."""
    if not path.lower().endswith(".ttc"):
        return 0 if _has_probe(path, 0) else None
    first_cjk: int | None = None
    for index in range(32):
        try:
            font = ImageFont.truetype(path, 24, index=index)
        except OSError:
            break
        family, _style = font.getname()
        if not _has_probe(path, index):
            continue
        if first_cjk is None:
            first_cjk = index
        if family and family.endswith(" SC") and "Mono" not in family:
            return index
    return first_cjk


def _has_probe(path: str, index: int) -> bool:
    try:
        font = ImageFont.truetype(path, 24, index=index)
    except OSError:
        return False
    return has_glyph(font, PROBE)


def _fc_match() -> str | None:
    if shutil.which("fc-match") is None:
        return None
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", "Noto Sans CJK SC"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def discover(configured: Path | None) -> FontFace:
    """The regular face to use; raises PosterFontMissing with what to do."""
    if configured is not None:
        path = str(configured)
        if not Path(path).is_file():
            raise PosterFontMissing(where=f" (SIYU_POSTER_FONT_PATH={path} does not exist)")
        index = _face_index(path)
        if index is None:
            raise PosterFontMissing(where=f" ({path} has no Chinese glyphs)")
        return FontFace(path, index)
    candidates = [_fc_match(), *KNOWN_PATHS]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            index = _face_index(candidate)
            if index is not None:
                return FontFace(candidate, index)
    raise PosterFontMissing(where="")


def bold_of(face: FontFace) -> FontFace:
    """The bold sibling of a Noto/Source Han regular file when installed, else the regular."""
    path = Path(face.path)
    if "Regular" in path.name:
        sibling = path.with_name(path.name.replace("Regular", "Bold"))
        if sibling.is_file():
            index = _face_index(str(sibling))
            if index is not None:
                return FontFace(str(sibling), index)
    return face


_lock = threading.Lock()
_resolved: dict[str, tuple[FontFace, FontFace]] = {}


def faces() -> tuple[FontFace, FontFace]:
    """(regular, bold) for the current settings, discovered once per configured value."""
    configured = current_settings().poster_font_path
    key = str(configured or "")
    with _lock:
        found = _resolved.get(key)
        if found is None:
            regular = discover(configured)
            found = (regular, bold_of(regular))
            _resolved[key] = found
        return found


def forget() -> None:
    """Drop the discovered faces (tests that change the setting)."""
    with _lock:
        _resolved.clear()
    load.cache_clear()


@lru_cache(maxsize=64)
def load(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(face.path, size, index=face.index)


FontKey = tuple[str, int, float]
_notdef: dict[FontKey, tuple[tuple[int, int], bytes]] = {}
_glyphs: dict[tuple[FontKey, str], bool] = {}


def _mask(font: ImageFont.FreeTypeFont, text: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(text)
    return mask.size, bytes(mask)


def has_glyph(font: ImageFont.FreeTypeFont, character: str) -> bool:
    """Whether ``font`` draws ``character`` itself rather than its .notdef box (tofu)."""
    font_key: FontKey = (str(font.path), font.index, font.size)
    key = (font_key, character)
    found = _glyphs.get(key)
    if found is not None:
        return found
    notdef = _notdef.get(font_key)
    if notdef is None:
        notdef = _notdef[font_key] = _mask(font, MISSING_CODEPOINT)
    found = _mask(font, character) != notdef
    if len(_glyphs) > 50_000:
        _glyphs.clear()
    _glyphs[key] = found
    return found
