"""Rendering personalised posters. Never touches the database.

``render_poster(template, nickname=…, qr_url=…)`` → PNG bytes. The static layer (background,
title, body text) depends only on the template, the font and the background file, so it is
composed once per template hash and kept in a small in-process cache; each participant's poster
is a copy of it plus the nickname line, the QR code and the PNG encode.
"""

from __future__ import annotations

import io
import secrets
import threading
from collections import OrderedDict
from typing import Any, Literal

import qrcode
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError
from pydantic import ValidationError
from qrcode.constants import ERROR_CORRECT_M

from siyu.config import current_settings
from siyu.errors import ValidationFailed
from siyu.posters import fonts, rules
from siyu.posters.schemas import NicknameBox, PosterTemplate, TextBox

# PNG encoding is most of a poster's cost. zlib's run-length strategy (Z_RLE = 3) encodes a
# 1080×1920 poster as fast as level 1 and smaller than level 6 (the PNG row filters already turn
# flat and gradient areas into runs); ``optimize`` would run the compressor several times per
# poster. bench/posters.py prints the alternatives side by side.
PNG_COMPRESS_LEVEL = 6
PNG_COMPRESS_TYPE = 3  # zlib.Z_RLE
# Each cached static layer of a 1080×1920 poster is ~6 MB of RGB.
STATIC_CACHE_SIZE = 8
QR_BORDER_MODULES = 2
BACKGROUND_MAX_PIXELS = 4096 * 4096
SAMPLE_QR_URL = "https://example.com/c/SAMPLE?state=preview-sample"


class PosterTemplateInvalid(ValidationFailed):
    code = "poster_template_invalid"
    message_en = "The poster template is invalid: {problems}."
    message_zh = "海报模板有误：{problems_zh}。"


class PosterBackgroundMissing(ValidationFailed):
    code = "poster_background_missing"
    message_en = "The poster background {url} is not an uploaded image; upload it again."
    message_zh = "海报背景图 {url} 不存在或不是图片，请重新上传。"


class PosterBackgroundInvalid(ValidationFailed):
    code = "poster_background_invalid"
    message_en = "The background must be a JPEG, PNG or WebP image up to {limit} and 4096×4096."
    message_zh = "背景图须为 JPEG、PNG 或 WebP 图片，不超过 {limit}，且不大于 4096×4096 像素。"


class PosterQrTooDense(ValidationFailed):
    code = "poster_qr_too_dense"
    message_en = (
        "The QR code needs {modules} modules for this link but is only {size} px; make it at "
        "least {needed} px."
    )
    message_zh = "二维码内容较长，当前 {size} 像素太小，扫码可能失败，请放大到至少 {needed} 像素。"


def _field_path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "template"


_PROBLEMS_ZH = {
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "string_too_long": "最多 {max_length} 个字",
    "extra_forbidden": "不是模板中的字段",
    "int_type": "须为整数",
    "int_parsing": "须为整数",
    "int_from_float": "须为整数",
    "string_type": "须为文字",
    "bool_type": "须为 true 或 false",
    "bool_parsing": "须为 true 或 false",
    "literal_error": "只能是 {expected}",
    "model_type": "须为 JSON 对象 {{…}}",
    "model_attributes_type": "须为 JSON 对象 {{…}}",
}


def _problem_zh(item: Any) -> str:
    labels = [rules.label(str(part)) for part in item["loc"]]
    context = item.get("ctx") or {}
    error = context.get("error")
    if isinstance(error, rules.TemplateProblem):
        detail = error.zh
    elif item["type"] in _PROBLEMS_ZH:
        detail = _PROBLEMS_ZH[item["type"]].format(**context)
    else:
        detail = item["msg"]
    if labels and detail.startswith(labels[-1]):
        labels.pop()  # "颜色须为…" under 昵称 reads 昵称颜色须为…
    return "".join(labels) + detail


def validate_template(data: dict[str, Any] | None) -> PosterTemplate:
    """The template, normalised; raises PosterTemplateInvalid listing every problem."""
    try:
        template = PosterTemplate.model_validate(data or {})
    except ValidationError as error:
        items = error.errors()
        problems = "; ".join(
            f"{_field_path(item['loc'])}: {item['msg'].removeprefix('Value error, ')}"
            for item in items
        )
        problems_zh = "；".join(_problem_zh(item) for item in items)
        raise PosterTemplateInvalid(problems=problems, problems_zh=problems_zh) from None
    spec = rules.parse_background(template.background)
    if spec.kind == "upload":
        path = current_settings().upload_dir / spec.upload_name
        if not path.is_file():
            raise PosterBackgroundMissing(url=template.background)
    return template


def poster_copy(template: PosterTemplate) -> str:
    """The poster's own words, for ``compliance.require_publishable(kind=POSTER)``."""
    return "\n".join(part for part in (template.title, template.text) if part)


# --- drawing ----------------------------------------------------------------------------------


def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont:
    regular, heavy = fonts.faces()
    return fonts.load(heavy if bold else regular, size)


def _measure(font: ImageFont.FreeTypeFont) -> Any:
    def measure(text: str) -> int:
        return int(font.getlength(text) + 0.999)

    return measure


# Tall and deep glyphs: their ink, not the font's line metrics (which add a line gap), decides
# where a line sits, so text stays inside its box.
INK_PROBE = "国Agy（）"
_extents: dict[tuple[str, int, float], tuple[int, int]] = {}


def _ink_extent(font: ImageFont.FreeTypeFont) -> tuple[int, int]:
    """(px above the baseline, px below it) that a line of this font can cover."""
    key = (str(font.path), font.index, font.size)
    found = _extents.get(key)
    if found is None:
        _left, top, _right, bottom = font.getbbox(INK_PROBE, anchor="ls")
        found = _extents[key] = (
            max(0, 1 - int(top)),
            max(0, int(bottom) + 1),
        )  # +1 px: anti-aliasing
    return found


def _x_for(align: Literal["left", "center", "right"], x: int, width: int, used: int) -> int:
    if align == "center":
        return x + (width - used) // 2
    if align == "right":
        return x + width - used
    return x


def _draw_block(draw: ImageDraw.ImageDraw, text: str, box: TextBox) -> None:
    if not text.strip():
        return
    font = _font(box.size, box.bold)
    measure = _measure(font)
    step = rules.line_height(box.size, box.line_height_pct)
    above, below = _ink_extent(font)
    max_lines = max(1, (box.height - above - below) // step + 1)
    for number, line in enumerate(rules.fit_lines(text, box.width, max_lines, measure)):
        x = _x_for(box.align, box.x, box.width, measure(line))
        # Baseline placement keeps CJK and Latin lines on the same grid.
        baseline = box.y + above + number * step
        draw.text((x, baseline), line, font=font, fill=box.color, anchor="ls")


def _draw_nickname(draw: ImageDraw.ImageDraw, nickname: str, box: NicknameBox) -> None:
    font = _font(box.size, box.bold)
    measure = _measure(font)
    cleaned = rules.clean_nickname(nickname, lambda character: fonts.has_glyph(font, character))
    before, after = box.format.split("{nickname}")
    room = box.width - measure(before) - measure(after)
    shown = rules.truncate(cleaned, max(room, 0), measure) if room > 0 else ""
    line = f"{before}{shown}{after}"
    if measure(line) > box.width:
        line = rules.truncate(line, box.width, measure)
    above, _below = _ink_extent(font)
    x = _x_for(box.align, box.x, box.width, measure(line))
    draw.text((x, box.y + above), line, font=font, fill=box.color, anchor="ls")


def _gradient(size: tuple[int, int], spec: rules.BackgroundSpec) -> Image.Image:
    start = Image.new("RGB", size, rules.rgb(spec.colors[0]))
    end = Image.new("RGB", size, rules.rgb(spec.colors[1]))
    vertical = Image.linear_gradient("L")  # 256×256, 0 at the top to 255 at the bottom
    horizontal = vertical.transpose(Image.Transpose.TRANSPOSE)
    ramp = vertical
    if spec.direction == "to right":
        ramp = horizontal
    elif spec.direction == "to bottom right":
        ramp = ImageChops.add(vertical, horizontal, scale=2.0)
    return Image.composite(end, start, ramp.resize(size, Image.Resampling.BILINEAR))


def _background(template: PosterTemplate) -> Image.Image:
    size = (template.width, template.height)
    spec = rules.parse_background(template.background)
    if spec.kind == "color":
        return Image.new("RGB", size, rules.rgb(spec.colors[0]))
    if spec.kind == "gradient":
        return _gradient(size, spec)
    path = current_settings().upload_dir / spec.upload_name
    try:
        with Image.open(path) as image:
            image.draft("RGB", size)
            fitted = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        raise PosterBackgroundMissing(url=template.background) from None
    return fitted


def _compose_static(template: PosterTemplate) -> Image.Image:
    image = _background(template)
    draw = ImageDraw.Draw(image)
    _draw_block(draw, template.title, template.title_box)
    _draw_block(draw, template.text, template.text_box)
    qr = template.qr
    draw.rectangle((qr.x, qr.y, qr.x + qr.size - 1, qr.y + qr.size - 1), fill=qr.background)
    return image


class _StaticCache:
    """Static layers by template key (LRU). Threads share it; composing happens outside the lock
    so one slow template never blocks the others (two threads may compose the same one once)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Image.Image] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, build: Any) -> Image.Image:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        image: Image.Image = build()
        with self._lock:
            self._items[key] = image
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return image

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


static_cache = _StaticCache(STATIC_CACHE_SIZE)


def _static_key(template: PosterTemplate) -> str:
    regular, bold = fonts.faces()
    spec = rules.parse_background(template.background)
    version = ""
    if spec.kind == "upload":
        try:
            stat = (current_settings().upload_dir / spec.upload_name).stat()
        except OSError:
            raise PosterBackgroundMissing(url=template.background) from None
        version = f"{stat.st_mtime_ns}:{stat.st_size}"
    # The QR code and nickname are drawn per participant; only their positions matter here.
    static = template.model_dump(mode="json", exclude={"nickname"})
    return rules.template_key(static, regular, bold, current_settings().upload_dir, version)


def qr_image(url: str, size: int, color: str, background: str) -> Image.Image:
    """A ``size``×``size`` QR code with whole-pixel modules, centred on ``background``."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QR_BORDER_MODULES)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    modules = len(matrix)
    pixels = rules.qr_module_pixels(size, modules)
    if pixels < rules.MIN_QR_MODULE_PIXELS:
        raise PosterQrTooDense(
            modules=modules, size=size, needed=modules * rules.MIN_QR_MODULE_PIXELS
        )
    cells = bytes(0 if dark else 255 for row in matrix for dark in row)
    mask = Image.frombytes("L", (modules, modules), cells).resize(
        (modules * pixels, modules * pixels), Image.Resampling.NEAREST
    )
    image = Image.new("RGB", (size, size), rules.rgb(background))
    ink = Image.new("RGB", mask.size, rules.rgb(color))
    offset = (size - mask.size[0]) // 2
    image.paste(ink, (offset, offset), ImageOps.invert(mask))
    return image


def render_image(template: PosterTemplate, *, nickname: str, qr_url: str) -> Image.Image:
    base = static_cache.get(_static_key(template), lambda: _compose_static(template))
    image = base.copy()
    draw = ImageDraw.Draw(image)
    _draw_nickname(draw, nickname, template.nickname)
    qr = template.qr
    image.paste(qr_image(qr_url, qr.size, qr.color, qr.background), (qr.x, qr.y))
    return image


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, compress_type=PNG_COMPRESS_TYPE
    )
    return buffer.getvalue()


def poster_etag(template: PosterTemplate, *, nickname: str, qr_url: str) -> str:
    """A strong ETag for one participant's poster: the same inputs (template, font, background
    file version, nickname, link) draw the same PNG, so a download route can answer 304."""
    return f'"{rules.template_key({"static": _static_key(template)}, nickname, qr_url)[:32]}"'


def render_poster(
    template: dict[str, Any] | PosterTemplate, *, nickname: str, qr_url: str
) -> bytes:
    """One participant's poster as PNG bytes (validates the template first)."""
    parsed = template if isinstance(template, PosterTemplate) else validate_template(template)
    return encode_png(render_image(parsed, nickname=nickname, qr_url=qr_url))


# --- background uploads -------------------------------------------------------------------------


def store_background(data: bytes) -> tuple[str, int, int]:
    """Check an uploaded background and keep it under a random name: (url, width, height)."""
    settings = current_settings()
    limit = f"{settings.upload_max_bytes // (1024 * 1024)} MB"
    if not data or len(data) > settings.upload_max_bytes:
        raise PosterBackgroundInvalid(limit=limit)
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            width, height = image.size
            if width * height > BACKGROUND_MAX_PIXELS:
                raise PosterBackgroundInvalid(limit=limit)
            image.verify()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError):
        raise PosterBackgroundInvalid(limit=limit) from None
    extensions = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
    if kind not in extensions:
        raise PosterBackgroundInvalid(limit=limit)
    name = f"poster-{secrets.token_hex(12)}.{extensions[kind]}"
    (settings.upload_dir / name).write_bytes(data)
    return f"{rules.UPLOAD_PREFIX}{name}", width, height
