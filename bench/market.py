"""Synthetic market generation: consumers + friendships per second, siyu against NumPy alone.

siyu's side is ``siyu.market.generator.generate``: places weighted by tier, consumers placed,
the social graph (power-law degree, same-place / same-city / preferential partners, self-loops
and repeated pairs removed), behaviour propensities, categories and promoters.

The baseline generates the same number of random edges with NumPy alone, as a valid edge list:
uniform pairs, self-loops dropped, each pair once (the minimal G(n, m) draw — ``integers`` then
``unique``). The raw ``integers`` draw without de-duplication is printed too, for scale.
Throughput is (consumers + edges) / second on both sides; ratio = siyu ÷ baseline. Rounds
alternate and each side keeps its best time, so a busy machine hurts both alike.

    .venv/bin/python bench/market.py            # 1,000,000 consumers
    .venv/bin/python bench/market.py --quick    # 200,000 consumers (< 1 minute)

Ends with ``market: ratio=<siyu ÷ baseline> target>=0.2 PASS|MISS``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from siyu.market.generator import MarketConfig, build_places, generate  # noqa: E402
from siyu.regions.rules import shipped_regions, shipped_tiers  # noqa: E402

TARGET_RATIO = 0.2


def baseline_edges(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = rng.integers(0, n, size=m)
    high = rng.integers(0, n, size=m)
    low, high = np.minimum(low, high), np.maximum(low, high)
    keep = low != high
    key = np.unique(low[keep] * n + high[keep])
    return np.stack((key // n, key % n), axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 consumers")
    parser.add_argument("--consumers", type=int, help="override the size")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.consumers or (200_000 if args.quick else 1_000_000)

    places = build_places(shipped_regions(), shipped_tiers())
    print(f"market: {n:,} consumers over {len(places.codes):,} places, {args.rounds} rounds")

    siyu_best = base_best = raw_best = float("inf")
    edges = consumers = 0
    for round_number in range(args.rounds):
        start = time.perf_counter()
        market = generate(MarketConfig(consumers=n, seed=1000 + round_number), places)
        siyu_best = min(siyu_best, time.perf_counter() - start)
        edges, consumers = int(market.edges.shape[0]), market.consumers

        start = time.perf_counter()
        baseline = baseline_edges(n, edges, seed=round_number)
        base_best = min(base_best, time.perf_counter() - start)

        start = time.perf_counter()
        np.random.default_rng(round_number).integers(0, n, size=(edges, 2))
        raw_best = min(raw_best, time.perf_counter() - start)
        del market, baseline

    units = consumers + edges
    siyu_rate, base_rate, raw_rate = units / siyu_best, units / base_best, units / raw_best
    print(f"  edges per run          {edges:,} (mean degree {2 * edges / consumers:.2f})")
    print(f"  siyu generate          {siyu_best:8.3f} s  {siyu_rate:14,.0f} (consumers+edges)/s")
    print(f"  numpy G(n,m) baseline  {base_best:8.3f} s  {base_rate:14,.0f} /s")
    print(f"  numpy raw integers     {raw_best:8.3f} s  {raw_rate:14,.0f} /s (no de-dup, scale)")
    ratio = siyu_rate / base_rate
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(f"market: ratio={ratio:.2f} target>={TARGET_RATIO} {verdict}")


if __name__ == "__main__":
    main()
