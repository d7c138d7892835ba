"""A participant's personalised poster. ``siyu.posters.render_poster`` (another branch) does the
real layout (background, title, text, nickname, QR); until it is merged this module draws a
plain stand-in: the background colour with the participant's QR where the template puts it.
The lead switches nothing: the real renderer is used as soon as it is importable."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from typing import Any

from PIL import Image

from siyu.kit.qr import qr_png

Renderer = Callable[..., bytes]

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _renderer() -> Renderer | None:
    try:
        from siyu import posters  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    found = getattr(posters, "render_poster", None)
    return found if callable(found) else None


def _number(template: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = template.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        return default
    return min(max(value, low), high)


def fallback_poster(template: Mapping[str, Any], *, nickname: str, qr_url: str) -> bytes:
    """Background colour + QR at ``template["qr"]`` (x, y, size); no text (no CJK font is
    guaranteed on the server, and the real renderer does the text)."""
    width = _number(template, "width", 1080, 200, 2160)
    height = _number(template, "height", 1920, 200, 3840)
    background = str(template.get("background") or "")
    color = background if _COLOR.match(background) else "#ffffff"
    image = Image.new("RGB", (width, height), color)
    place = template.get("qr") if isinstance(template.get("qr"), dict) else {}
    assert isinstance(place, dict)
    size = _number(place, "size", min(width, height) // 3, 64, min(width, height))
    x = _number(place, "x", (width - size) // 2, 0, width - size)
    y = _number(place, "y", height - size - height // 10, 0, height - size)
    with Image.open(io.BytesIO(qr_png(qr_url))) as qr:
        image.paste(qr.convert("RGB").resize((size, size)), (x, y))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render(template: Mapping[str, Any], *, nickname: str, qr_url: str) -> bytes:
    renderer = _renderer()
    if renderer is not None:
        return renderer(dict(template), nickname=nickname, qr_url=qr_url)
    return fallback_poster(template, nickname=nickname, qr_url=qr_url)
