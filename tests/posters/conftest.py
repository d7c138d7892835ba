from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from siyu.config import Settings, configure
from siyu.posters import fonts, service

FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)


@pytest.fixture
def poster_settings(tmp_path: Path) -> Iterator[Settings]:
    """Pure rendering tests: their own settings (no database), a fresh cache."""
    settings = configure(Settings(environment="test", data_dir=tmp_path / "data"))
    fonts.forget()
    service.static_cache.clear()
    try:
        fonts.faces()
    except fonts.PosterFontMissing:
        pytest.skip("no CJK font installed: apt-get install fonts-noto-cjk (scripts/setup does)")
    yield settings
    fonts.forget()
    service.static_cache.clear()


def open_png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def decode_qr(image: Image.Image) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp is a dev dependency")
    return [result.text for result in zxingcpp.read_barcodes(image.convert("RGB"))]


from tests.promoters.conftest import make_promoter  # noqa: E402, F401  (fixture re-export)
