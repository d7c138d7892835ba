"""Segment count and materialise: siyu's compiled rule against a hand-written SQL query.

The pool is bulk-loaded with set-based SQL (a recursive CTE on SQLite, ``generate_series`` on
PostgreSQL) into a freshly migrated database: consumers, contacts spread over real district
codes of every tier, 20 tags (two per contact), orders for 30% of the consumers. The segment has
five conditions: city tier 三线–六线, lifecycle customer/repeat, tag 3 or 7, an order within 90
days, spend of at least 100 元.

siyu's side runs the whole service path each time (parse and validate the rule, check the tags
belong to the owner, compile, execute): ``segments.service.count`` and
``segments.service.materialise`` (INSERT … SELECT into a snapshot). The baseline is the same five
conditions written by hand as SQL text, run on the same connection pool: a ``SELECT count(*)``
and an ``INSERT … SELECT``. Each measurement is the median of several warm runs; the snapshot
rows are deleted between runs (outside the timing).

    .venv/bin/python bench/segments.py                   # 10k, 100k, 1M contacts
    .venv/bin/python bench/segments.py --quick           # 10k, 100k (< 1 minute)
    .venv/bin/python bench/segments.py --postgres URL    # or SIYU_DATABASE_URL=postgresql+psycopg://…

PostgreSQL: the database is EMPTIED (every siyu table dropped and re-created): use a scratch one.
Ends with ``segments: ratio=<worst siyu ÷ hand-written at the largest size> target<=2 PASS|MISS``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

TARGET_RATIO = 2.0
TAGS = 20
ACCOUNTS_PER_10K = 2
LOWER_TIERS = ("tier_3", "tier_4", "tier_5", "tier_6")


def rule_json() -> dict[str, Any]:
    return {
        "op": "and",
        "conditions": [
            {"kind": "tier", "tiers": list(LOWER_TIERS)},
            {"kind": "lifecycle", "stages": ["customer", "repeat"]},
            {"kind": "tag", "tag_ids": [3, 7], "match": "any"},
            {"kind": "last_order", "op": "within", "days": 90},
            {"kind": "spend", "min_fen": 10000},
        ],
    }


# ---- loading ----------------------------------------------------------------------------------


def _series(dialect: str, n: int) -> tuple[str, str]:
    """(prefix, FROM item) producing rows x = 1..n."""
    if dialect == "sqlite":
        prefix = (
            f"WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < {n}) "
        )
        return prefix, "seq"
    return "", f"generate_series(1, {n}) AS seq(x)"


def _ago(dialect: str, expression: str, unit: str) -> str:
    if dialect == "sqlite":
        return f"strftime('%Y-%m-%d %H:%M:%f', :now, '-' || ({expression}) || ' {unit}')"
    return f"(CAST(:now AS timestamptz) - ({expression}) * interval '1 {unit}')"


def load(engine: Engine, size: int) -> None:
    from siyu.kit.time import utc_now
    from siyu.regions import rules

    dialect = engine.dialect.name
    now = utc_now()
    now_param: Any = now.replace(tzinfo=None).isoformat(sep=" ") if dialect == "sqlite" else now
    regions = rules.shipped_regions()
    districts = [code for code, region in regions.regions.items() if region.level == "district"]
    picked = districts[::7]
    cities = [code for code, region in regions.regions.items() if region.level == "city"][::9]
    region_rows = [(code[:2] + "0000", code[:4] + "00", code) for code in picked]
    region_rows += [(code[:2] + "0000", code, "") for code in cities]
    region_rows += [("", "", "")] * 20
    accounts = max(2, size * ACCOUNTS_PER_10K // 10_000)
    orders = size * 3 // 10
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE bench_region"
                " (idx INTEGER PRIMARY KEY, p VARCHAR(6), c VARCHAR(6), d VARCHAR(6))"
            )
        )
        connection.execute(
            text("INSERT INTO bench_region (idx, p, c, d) VALUES (:idx, :p, :c, :d)"),
            [{"idx": i, "p": p, "c": c, "d": d} for i, (p, c, d) in enumerate(region_rows)],
        )
        stamp = {"now": now_param}
        connection.execute(
            text(
                "INSERT INTO promoter_grade (id, code, name, level, min_direct_recruits,"
                " min_team_size, min_gmv_fen, created_at, updated_at)"
                " VALUES (1, 'entry', '见习', 0, 0, 0, 0, :now, :now)"
            ),
            stamp,
        )
        connection.execute(
            text(
                "INSERT INTO promoter (id, name, kind, phone_encrypted, phone_index, invite_code,"
                " grade_id, status, region, created_at, updated_at)"
                " VALUES (1, '团长', 'individual', 'x', 'x', 'BENCH1', 1, 'active', '', :now, :now)"
            ),
            stamp,
        )
        prefix, source = _series(dialect, accounts)
        connection.execute(
            text(
                prefix + "INSERT INTO operator_account (id, name, kind, owner_promoter_id,"
                " channel_backend, province_code, city_code, district_code, product_lines,"
                " working_from_minute, working_until_minute, weight, max_friends,"
                " passive_adds_per_day, active_adds_per_day, friends_used, passive_adds_today,"
                " active_adds_today, status, status_reason, recent_failures, restriction_flags,"
                " created_at, updated_at)"
                " SELECT x, 'bench-' || x, 'personal_assisted', NULL, '', '', '', '', '[]', 0,"
                " 1440, 1, 10000, 200, 20, 0, 0, 0, 'active', '', 0, '[]', :now, :now"
                f" FROM {source}"
                if dialect == "sqlite"
                else "INSERT INTO operator_account (id, name, kind, owner_promoter_id,"
                " channel_backend, province_code, city_code, district_code, product_lines,"
                " working_from_minute, working_until_minute, weight, max_friends,"
                " passive_adds_per_day, active_adds_per_day, friends_used, passive_adds_today,"
                " active_adds_today, status, status_reason, recent_failures, restriction_flags,"
                " created_at, updated_at)"
                " SELECT x, 'bench-' || x, 'personal_assisted', NULL, '', '', '', '',"
                " CAST('[]' AS json), 0, 1440, 1, 10000, 200, 20, 0, 0, 0, 'active', '', 0,"
                " CAST('[]' AS json), CAST(:now AS timestamptz), CAST(:now AS timestamptz)"
                f" FROM {source}"
            ),
            stamp,
        )
        now_sql = ":now" if dialect == "sqlite" else "CAST(:now AS timestamptz)"
        prefix, source = _series(dialect, size)
        connection.execute(
            text(
                prefix + "INSERT INTO consumer (id, nickname, created_at, updated_at)"
                f" SELECT x, 'c' || x, {now_sql}, {now_sql} FROM {source}"
            ),
            stamp,
        )
        region_count = len(region_rows)
        lifecycle = (
            "CASE x % 7 WHEN 0 THEN 'new' WHEN 1 THEN 'engaged' WHEN 2 THEN 'customer'"
            " WHEN 3 THEN 'repeat' WHEN 4 THEN 'advocate' WHEN 5 THEN 'lost' ELSE 'customer' END"
        )
        source_kind = (
            "CASE x % 5 WHEN 0 THEN 'campaign' WHEN 1 THEN 'courier' WHEN 2 THEN 'promoter'"
            " ELSE 'code' END"
        )
        state = (
            "CASE WHEN x % 20 = 0 THEN 'pending' WHEN x % 33 = 0 THEN 'removed'"
            " ELSE 'confirmed' END"
        )
        opt_out = (
            "(x % 50 = 0)"
            if dialect == "postgresql"
            else "(CASE WHEN x % 50 = 0 THEN 1 ELSE 0 END)"
        )
        falsy = "false" if dialect == "postgresql" else "0"
        last_message = f"CASE WHEN x % 3 = 0 THEN NULL ELSE {_ago(dialect, 'x % 60', 'days')} END"
        connection.execute(
            text(
                prefix + "INSERT INTO contact (id, consumer_id, account_id, owner_promoter_id,"
                " source_kind, source_id, state, lifecycle_stage, consent, marketing_opt_out,"
                " notes, province_code, city_code, district_code, added_at, last_message_at,"
                " created_at, updated_at)"
                f" SELECT x, x, 1 + x % {accounts}, CASE WHEN x % 10 = 0 THEN 1 ELSE NULL END,"
                f" {source_kind}, NULL, {state}, {lifecycle}, {falsy}, {opt_out}, '',"
                " r.p, r.c, r.d,"
                f" {_ago(dialect, 'x % 90', 'days')}, {last_message}, {now_sql}, {now_sql}"
                f" FROM {source} JOIN bench_region r ON r.idx = x % {region_count}"
            ),
            stamp,
        )
        prefix, source = _series(dialect, TAGS)
        connection.execute(
            text(
                prefix + "INSERT INTO tag (id, name, kind, owner_promoter_id, owner_key, color,"
                " description, contacts_count, created_at, updated_at)"
                " SELECT x, '标签' || x, 'manual', NULL, 0, 'secondary', '', 0,"
                f" {now_sql}, {now_sql}"
                f" FROM {source}"
            ),
            stamp,
        )
        prefix, source = _series(dialect, size)
        for expression in (f"1 + x % {TAGS}", f"1 + (x * 7 + 3) % {TAGS}"):
            guard = (
                ""
                if expression.startswith("1 + x %")
                else f" WHERE (x * 7 + 3) % {TAGS} <> x % {TAGS}"
            )
            connection.execute(
                text(
                    prefix + "INSERT INTO contact_tag (contact_id, tag_id, source, applied_at)"
                    f" SELECT x, {expression}, 'manual', {now_sql} FROM {source}{guard}"
                ),
                stamp,
            )
        prefix, source = _series(dialect, orders)
        status = "CASE WHEN x % 25 = 0 THEN 'cancelled' ELSE 'received' END"
        connection.execute(
            text(
                prefix + "INSERT INTO sales_order (id, order_no, source, consumer_id, status,"
                " items_fen, coupon_discount_fen, freight_fen, paid_fen, region, paid_at,"
                " created_at, updated_at)"
                f" SELECT x, 'B' || x, 'h5', 1 + (x * 13) % {size}, {status},"
                " 1000 + (x * 37) % 50000, 0, 0, 1000 + (x * 37) % 50000, '',"
                f" {_ago(dialect, 'x % 180', 'days')}, {now_sql}, {now_sql} FROM {source}"
            ),
            stamp,
        )
        connection.execute(text("DROP TABLE bench_region"))
    with engine.connect() as connection:
        if dialect == "postgresql":
            connection.execute(text("COMMIT"))
            connection.execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
            connection.commit()


# ---- the hand-written baseline -------------------------------------------------------------------


def hand_written_where(session: Session) -> tuple[str, dict[str, Any]]:
    from siyu.kit.time import utc_now
    from siyu.regions import service as regions
    from siyu.regions.rules import CityTier

    codes = regions.codes_in_tiers(session, [CityTier(tier) for tier in LOWER_TIERS])
    districts = [code for code in codes if not code.endswith("00")]
    cities = [code for code in codes if code.endswith("00") and not code.endswith("0000")]
    provinces = [code for code in codes if code.endswith("0000")]

    def listed(values: list[str]) -> str:
        return ", ".join(f"'{value}'" for value in values) or "NULL"

    where = f"""
        c.owner_promoter_id IS NULL
        AND (c.district_code IN ({listed(districts)})
             OR (c.district_code = '' AND c.city_code IN ({listed(cities)}))
             OR (c.district_code = '' AND c.city_code = ''
                 AND c.province_code IN ({listed(provinces)})))
        AND c.lifecycle_stage IN ('customer', 'repeat')
        AND c.id IN (SELECT t.contact_id FROM contact_tag t WHERE t.tag_id IN (3, 7))
        AND EXISTS (SELECT 1 FROM sales_order o WHERE o.consumer_id = c.consumer_id
                    AND o.status <> 'cancelled' AND o.paid_at >= :cutoff)
        AND (SELECT coalesce(sum(o.paid_fen), 0) FROM sales_order o
             WHERE o.consumer_id = c.consumer_id AND o.status <> 'cancelled') >= 10000
    """
    cutoff: Any = utc_now() - timedelta(days=90)
    if session.get_bind().dialect.name == "sqlite":
        cutoff = cutoff.replace(tzinfo=None).isoformat(sep=" ")
    return where, {"cutoff": cutoff}


# ---- timing --------------------------------------------------------------------------------------


def alternate(
    runs: int,
    siyu: Callable[[], Any],
    hand: Callable[[], Any],
    reset: Callable[[], None] | None = None,
) -> tuple[float, float, Any, Any]:
    """Median seconds of each side over ``runs`` rounds, the two sides taking turns (a shared
    machine's slow moments then hit both alike)."""
    times: dict[str, list[float]] = {"siyu": [], "hand": []}
    results: dict[str, Any] = {}
    for round_number in range(runs):
        order = (("siyu", siyu), ("hand", hand))
        for name, action in order if round_number % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            results[name] = action()
            times[name].append(time.perf_counter() - started)
            if reset is not None:
                reset()
    return (
        statistics.median(times["siyu"]),
        statistics.median(times["hand"]),
        results["siyu"],
        results["hand"],
    )


def measure(database: Any, runs: int) -> dict[str, float]:
    from siyu.models.segments import Segment
    from siyu.segments import service
    from siyu.segments.schemas import SegmentIn, SegmentRule

    with database.sessions() as session:
        segment = service.create_segment(
            session, None, SegmentIn(name="bench", rule=SegmentRule.model_validate(rule_json()))
        )
        session.commit()
        segment_id = segment.id

    from siyu.auth.principal import Principal
    from siyu.models import Role

    operator = Principal(0, "bench", "bench", Role.OPERATOR)  # the platform's contacts

    def siyu_count() -> int:
        with database.sessions() as session:
            return service.count(session, operator, rule_json())[0]

    def siyu_materialise() -> int:
        with database.sessions() as session:
            snapshot = service.materialise(session, None, segment_id)
            session.commit()
            return snapshot.member_count

    def hand_count() -> int:
        with database.sessions() as session:
            where, params = hand_written_where(session)
            return int(
                session.execute(
                    text(f"SELECT count(*) FROM contact c WHERE {where}"), params
                ).scalar()
                or 0
            )

    def hand_materialise() -> int:
        with database.sessions() as session:
            where, params = hand_written_where(session)
            session.execute(
                text(
                    "INSERT INTO segment_snapshot (segment_id, purpose, rule,"
                    " member_count, created_at, updated_at) VALUES (:segment, 'broadcast', '{}',"
                    " 0, :now, :now)"
                ),
                {"segment": segment_id, "now": params["cutoff"]},
            )
            snapshot_id = session.execute(text("SELECT max(id) FROM segment_snapshot")).scalar()
            result = session.execute(
                text(
                    "INSERT INTO segment_snapshot_member (snapshot_id, contact_id)"
                    f" SELECT :snapshot, c.id FROM contact c WHERE {where}"
                    " AND c.state = 'confirmed' AND c.marketing_opt_out = :false"
                ),
                {**params, "snapshot": snapshot_id, "false": False},
            )
            inserted = int(getattr(result, "rowcount", -1))
            if inserted < 0:  # psycopg under SQLAlchemy 2.1: count, as siyu does
                inserted = int(
                    session.execute(
                        text(
                            "SELECT count(*) FROM segment_snapshot_member"
                            " WHERE snapshot_id = :snapshot"
                        ),
                        {"snapshot": snapshot_id},
                    ).scalar()
                    or 0
                )
            session.commit()
            return inserted

    def reset() -> None:
        with database.sessions() as session:
            session.execute(text("DELETE FROM segment_snapshot_member"))
            session.execute(text("DELETE FROM segment_snapshot"))
            session.commit()

    # Warm the caches (tier codes, pages) before timing either side.
    siyu_count()
    hand_count()
    figures: dict[str, float] = {}
    figures["siyu_count"], figures["hand_count"], siyu_n, hand_n = alternate(
        runs, siyu_count, hand_count
    )
    if siyu_n != hand_n:
        raise SystemExit(f"count mismatch: siyu {siyu_n} vs hand-written {hand_n}")
    figures["matched"] = siyu_n
    figures["siyu_materialise"], figures["hand_materialise"], siyu_m, hand_m = alternate(
        runs, siyu_materialise, hand_materialise, reset
    )
    if siyu_m != hand_m:
        raise SystemExit(f"materialise mismatch: siyu {siyu_m} vs hand-written {hand_m}")
    figures["members"] = siyu_m
    with database.sessions() as session:
        session.query(Segment).delete()
        session.commit()
    return figures


# ---- main ----------------------------------------------------------------------------------------


def prepare(url: str | None, directory: Path, size: int) -> tuple[Any, str]:
    from siyu.config import Settings, configure
    from siyu.db import configure_database
    from siyu.migrations import upgrade_database
    from siyu.models import Base

    if url is None:
        path = directory / f"segments-{size}.db"
        db_url = f"sqlite:///{path}"
    else:
        db_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    configure(
        Settings(
            environment="test",
            data_dir=directory,
            database_url=db_url,
            secret_key="bench",
            encryption_key=Fernet.generate_key().decode(),
            jobs_backend="memory",
        )
    )
    database = configure_database(db_url)
    if url is not None:
        with database.engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            connection.execute(text("DROP TABLE IF EXISTS bench_region"))
    upgrade_database(db_url)
    return database, db_url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k contacts only")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL URL (emptied!)")
    parser.add_argument("--runs", type=int, default=0, help="timed runs per measurement")
    args = parser.parse_args()
    url = args.postgres or os.environ.get("SIYU_DATABASE_URL")
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    backend = "PostgreSQL" if url else "SQLite"
    print(
        f"segments: {backend}, five conditions"
        " (tier 三线–六线, lifecycle, tag, order ≤ 90 d, spend ≥ 100 元)"
    )
    print(
        f"{'contacts':>10} {'load s':>8} {'matched':>8} {'count ms':>9} {'hand ms':>8} {'ratio':>6}"
        f" {'mat. ms':>8} {'hand ms':>8} {'ratio':>6}"
    )
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="siyu-bench-segments-") as tmp:
        for size in sizes:
            database, _ = prepare(url, Path(tmp), size)
            started = time.perf_counter()
            load(database.engine, size)
            loaded = time.perf_counter() - started
            runs = args.runs or (9 if size <= 100_000 else 5)
            figures = measure(database, runs)
            count_ratio = figures["siyu_count"] / figures["hand_count"]
            materialise_ratio = figures["siyu_materialise"] / figures["hand_materialise"]
            print(
                f"{size:>10,} {loaded:>8.1f} {int(figures['matched']):>8,}"
                f" {figures['siyu_count'] * 1000:>9.1f} {figures['hand_count'] * 1000:>8.1f}"
                f" {count_ratio:>6.2f} {figures['siyu_materialise'] * 1000:>8.1f}"
                f" {figures['hand_materialise'] * 1000:>8.1f} {materialise_ratio:>6.2f}",
                flush=True,
            )
            worst = max(count_ratio, materialise_ratio)
            database.dispose()
    verdict = "PASS" if worst <= TARGET_RATIO else "MISS"
    print(f"segments: ratio={worst:.2f} target<={TARGET_RATIO:g} {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
