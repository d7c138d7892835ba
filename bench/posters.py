"""Personalised posters per second: ``siyu.posters.render_poster`` (validate the template, the
cached static layer, the nickname line, a fresh QR code for the participant's URL, PNG encode)
against a bare Pillow compose + encode of the same size in the same run (new image, paste a
QR-sized image made once, draw one line of text, PNG encode with the same settings).

Target: siyu ≥ 0.5 × bare. Also prints the cost of the first (uncached) render and what each
PNG compress level costs for a real poster, which is how ``PNG_COMPRESS_LEVEL`` was chosen.

    .venv/bin/python bench/posters.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image, ImageDraw  # noqa: E402

from siyu.config import Settings, configure  # noqa: E402
from siyu.posters import fonts, service  # noqa: E402

TARGET = 0.5
TEMPLATE = {
    "title": "免费领取拉杆箱",
    "text": (
        "扫码添加活动号，回复所在区县即可查询名额。邀请 3 位新朋友添加，即可免费领取 20 寸"
        "拉杆箱一个；满 150 位再送一份惊喜礼物。数量有限，先到先得。"
    ),
    "background": "linear-gradient(to bottom right, #ff5a3c, #ffd36b)",
}
NICKNAMES = ["小明", "阿花🌸", "Lucky 张", "赣州的王阿姨", "一二三四五六七八九十" * 3]


def url_for(number: int) -> str:
    return f"https://siyu.example.cn/c/Ab3dEf9H?state=p{number:010d}"


def run_for(seconds: float, work: Callable[[int], bytes]) -> tuple[int, float, int]:
    """(posters, elapsed seconds, bytes of the last one)."""
    count = 0
    size = 0
    started = time.perf_counter()
    while True:
        size = len(work(count))
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return count, elapsed, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    args = parser.parse_args()
    slices, slice_seconds = (24, 0.5) if args.quick else (120, 0.5)

    tmp = Path(tempfile.mkdtemp(prefix="siyu-bench-posters-"))
    configure(Settings(environment="test", data_dir=tmp))
    regular, bold = fonts.faces()
    template = service.validate_template(TEMPLATE)
    width, height = template.width, template.height
    qr = template.qr

    def siyu(number: int) -> bytes:
        return service.render_poster(
            template, nickname=NICKNAMES[number % len(NICKNAMES)], qr_url=url_for(number)
        )

    bare_qr = service.qr_image(url_for(0), qr.size, "#000000", "#ffffff")
    bare_font = fonts.load(bold, template.nickname.size)

    def bare(number: int) -> bytes:
        image = Image.new("RGB", (width, height), (255, 106, 61))
        image.paste(bare_qr, (qr.x, qr.y))
        ImageDraw.Draw(image).text(
            (template.nickname.x, template.nickname.y), "小明 邀请你", font=bare_font, fill="#fff"
        )
        buffer = io.BytesIO()
        image.save(
            buffer,
            format="PNG",
            compress_level=service.PNG_COMPRESS_LEVEL,
            compress_type=service.PNG_COMPRESS_TYPE,
        )
        return buffer.getvalue()

    print(f"posters: {width}×{height}, font {Path(regular.path).name} (face {regular.index})")
    service.static_cache.clear()
    started = time.perf_counter()
    siyu(0)
    print(
        f"first render (composes the static layer): {1000 * (time.perf_counter() - started):.1f} ms"
    )

    # Short alternating slices, so both sides see the same load from whoever else uses the CPUs.
    totals = {"siyu": [0, 0.0, 0], "bare": [0, 0.0, 0]}
    for slice_number in range(slices):
        for name, work in (("siyu", siyu), ("bare", bare)):
            count, elapsed, size = run_for(slice_seconds, work)
            totals[name][0] += count
            totals[name][1] += elapsed
            totals[name][2] = size
        if (slice_number + 1) % max(1, slices // 4) == 0:
            print(
                f"after {slice_number + 1:3d} slices: "
                + "  ".join(f"{n} {t[0] / t[1]:6.1f}/s" for n, t in totals.items())
            )
    siyu_rate = totals["siyu"][0] / totals["siyu"][1]
    bare_rate = totals["bare"][0] / totals["bare"][1]
    print(
        f"poster sizes: siyu {int(totals['siyu'][2]) // 1024} KB, "
        f"bare {int(totals['bare'][2]) // 1024} KB"
    )
    cache = service.static_cache
    print(f"static layer cache: {cache.misses} compose(s), {cache.hits} hits")

    # What the encoder settings cost for a real poster (siyu: PNG_COMPRESS_LEVEL/_TYPE).
    poster = service.render_image(template, nickname="小明", qr_url=url_for(1))
    chosen = (service.PNG_COMPRESS_LEVEL, service.PNG_COMPRESS_TYPE, False)
    strategies = {-1: "default", 3: "rle"}
    for level, kind, optimize in (
        (1, -1, False),
        (3, -1, False),
        (6, -1, False),
        (9, -1, False),
        (6, -1, True),
        chosen,
    ):

        def encode(
            _number: int, level: int = level, kind: int = kind, optimize: bool = optimize
        ) -> bytes:
            buffer = io.BytesIO()
            poster.save(
                buffer, format="PNG", compress_level=level, compress_type=kind, optimize=optimize
            )
            return buffer.getvalue()

        count, elapsed, size = run_for(1.0 if args.quick else 3.0, encode)
        mark = " (siyu)" if (level, kind, optimize) == chosen else ""
        print(
            f"encode level={level} strategy={strategies[kind]:7} optimize={optimize!s:5}: "
            f"{1000 * elapsed / count:6.1f} ms, {size // 1024} KB{mark}"
        )

    ratio = siyu_rate / bare_rate
    print(f"siyu {siyu_rate:.1f} posters/s, bare Pillow {bare_rate:.1f}/s")
    print("(2 shared cores: figures are noisy when others run tests)")
    verdict = "PASS" if ratio >= TARGET else "MISS"
    print(f"posters: ratio={ratio:.2f} target>={TARGET} {verdict}")


if __name__ == "__main__":
    main()
