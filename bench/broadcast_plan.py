"""Broadcast planning: siyu's planner against a bare INSERT … SELECT of the same number of rows.

The pool is bulk-loaded with set-based SQL into a freshly migrated database: N consumers, N
contacts spread over 200 operator accounts (the platform's; 1% pending, 1% removed, 2% opted
out), quota counters for 5% of the people, of which a fifth have used up this month. siyu's
side runs the whole service path: ``outreach.service.create_broadcast`` to a segment (lint, the
segment's compiled rule, one batch row per account, the reason counts, the INSERT … SELECT with
one row per person, the slot within the account and the paced, jittered due time, the per-
account counts). The baseline is ``INSERT INTO broadcast_send … SELECT … FROM contact LIMIT n``
with n = the rows siyu planned: the same table, indexes and row count, no filters and no
pacing. Runs alternate; each figure is the median; the rows are deleted between runs (outside
the timing).

    .venv/bin/python bench/broadcast_plan.py                 # 1,000,000 contacts
    .venv/bin/python bench/broadcast_plan.py --quick         # 100,000 (< 1 minute)
    .venv/bin/python bench/broadcast_plan.py --postgres URL  # the database is EMPTIED

Ends with ``broadcast_plan: ratio=<siyu ÷ baseline> target<=3 PASS|MISS``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

TARGET_RATIO = 3.0
ACCOUNTS = 200
# A Tuesday, 10:00 in Shanghai: inside the default send window.
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _series(dialect: str, n: int) -> tuple[str, str]:
    if dialect == "sqlite":
        prefix = (
            f"WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < {n}) "
        )
        return prefix, "seq"
    return "", f"generate_series(1, {n}) AS seq(x)"


def load(engine: Engine, size: int) -> None:
    dialect = engine.dialect.name
    stamp: dict[str, Any] = {
        "now": NOW.replace(tzinfo=None).isoformat(sep=" ") if dialect == "sqlite" else NOW
    }
    now_sql = ":now" if dialect == "sqlite" else "CAST(:now AS timestamptz)"
    truthy, falsy = ("true", "false") if dialect == "postgresql" else ("1", "0")
    with engine.begin() as connection:
        prefix, source = _series(dialect, ACCOUNTS)
        connection.execute(
            text(
                prefix + "INSERT INTO operator_account (id, name, kind, owner_promoter_id,"
                " channel_backend, province_code, city_code, district_code, product_lines,"
                " working_from_minute, working_until_minute, weight, max_friends,"
                " passive_adds_per_day, active_adds_per_day, friends_used, passive_adds_today,"
                " active_adds_today, status, status_reason, recent_failures, restriction_flags,"
                " created_at, updated_at)"
                " SELECT x, 'bench-' || x, 'wecom_member', NULL, 'simulator', '', '', '', '[]',"
                " CASE WHEN x % 10 = 0 THEN 540 ELSE 0 END,"
                " CASE WHEN x % 10 = 0 THEN 1080 ELSE 1440 END,"
                " 1, 20000, 200, 20, 0, 0, 0, 'active', '', 0, '[]',"
                f" {now_sql}, {now_sql} FROM {source}"
            ),
            stamp,
        )
        prefix, source = _series(dialect, size)
        connection.execute(
            text(
                prefix + "INSERT INTO consumer (id, nickname, created_at, updated_at)"
                f" SELECT x, 'c' || x, {now_sql}, {now_sql} FROM {source}"
            ),
            stamp,
        )
        state = (
            "CASE WHEN x % 100 = 0 THEN 'pending' WHEN x % 100 = 1 THEN 'removed'"
            " ELSE 'confirmed' END"
        )
        opt_out = f"CASE WHEN x % 50 = 7 THEN {truthy} ELSE {falsy} END"
        connection.execute(
            text(
                prefix + "INSERT INTO contact (id, consumer_id, account_id, owner_promoter_id,"
                " source_kind, source_id, state, lifecycle_stage, consent, marketing_opt_out,"
                " notes, province_code, city_code, district_code, added_at,"
                " created_at, updated_at)"
                f" SELECT x, x, 1 + x % {ACCOUNTS}, NULL, 'import', NULL, {state}, 'new',"
                f" {truthy}, {opt_out}, '', '', '', '', {now_sql}, {now_sql}, {now_sql}"
                f" FROM {source}"
            ),
            stamp,
        )
        month = "'2026-12-01'" if dialect == "sqlite" else "DATE '2026-12-01'"
        connection.execute(
            text(
                prefix + "INSERT INTO outreach_quota (subject_kind, subject_id, day_on,"
                " day_count, week_on, week_count, month_on, month_count)"
                f" SELECT 'consumer', x, NULL, 0, NULL, 0, {month},"
                " CASE WHEN x % 100 = 3 THEN 31 ELSE 2 END"
                f" FROM {source} WHERE x % 20 = 3"
            )
        )
        if dialect == "postgresql":
            connection.execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))


def measure(database: Any, runs: int) -> dict[str, float]:
    from siyu.kit.time import travel_to
    from siyu.outreach import service
    from siyu.outreach.schemas import AudienceIn, BroadcastIn
    from siyu.segments import service as segments
    from siyu.segments.schemas import SegmentIn, SegmentRule

    with travel_to(NOW), database.sessions() as session:
        rule = SegmentRule.model_validate(
            {"op": "and", "conditions": [{"kind": "lifecycle", "stages": ["new", "engaged"]}]}
        )
        segment_id = segments.create_segment(session, None, SegmentIn(name="全部", rule=rule)).id
        session.commit()

    def reset() -> None:
        with database.sessions() as session:
            session.execute(text("DELETE FROM broadcast_send"))
            session.execute(text("DELETE FROM broadcast_batch"))
            session.execute(text("DELETE FROM broadcast"))
            session.commit()

    def siyu() -> int:
        with travel_to(NOW), database.sessions() as session:
            broadcast = service.create_broadcast(
                session,
                None,
                BroadcastIn(
                    name="双十一券",
                    text="{昵称}您好，双十一内购券已到账",
                    audience=AudienceIn(kind="segment", segment_id=segment_id),
                    messages_per_minute=10,
                    jitter_seconds=20,
                ),
            )
            session.commit()
            return int(broadcast.plan["audience"])

    def baseline(rows: int) -> None:
        with database.sessions() as session:
            session.execute(
                text(
                    "INSERT INTO broadcast (id, name, owner_promoter_id, status, audience,"
                    " content_kind, text, title, image_url, start_at, messages_per_minute,"
                    " jitter_seconds, seed, override_reason, plan, created_at, updated_at)"
                    " VALUES (999999, 'baseline', NULL, 'draft', '{}', 'text', '', '', '',"
                    " :now, 10, 20, 0, '', '{}', :now, :now)"
                ),
                {"now": NOW},
            )
            session.execute(
                text(
                    "INSERT INTO broadcast_send (broadcast_id, account_id, contact_id,"
                    " consumer_id, group_id, slot, due_at, status, reason, attempts)"
                    " SELECT 999999, account_id, id, consumer_id, NULL, 0, :now, 'queued', '', 0"
                    " FROM contact LIMIT :rows"
                ),
                {"now": NOW, "rows": rows},
            )
            session.commit()

    times: dict[str, list[float]] = {"siyu": [], "baseline": []}
    planned = 0
    for _ in range(runs):
        reset()
        started = time.perf_counter()
        planned = siyu()
        times["siyu"].append(time.perf_counter() - started)
        reset()
        started = time.perf_counter()
        baseline(planned)
        times["baseline"].append(time.perf_counter() - started)
    reset()
    return {
        "siyu": statistics.median(times["siyu"]),
        "baseline": statistics.median(times["baseline"]),
        "planned": float(planned),
    }


def prepare(url: str | None, directory: Path, size: int) -> Any:
    from siyu.config import Settings, configure
    from siyu.db import configure_database
    from siyu.migrations import upgrade_database
    from siyu.models import Base

    db_url = (
        f"sqlite:///{directory / f'broadcast-{size}.db'}"
        if url is None
        else url.replace("postgresql://", "postgresql+psycopg://", 1)
    )
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
    upgrade_database(db_url)
    return database


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 contacts (< 1 minute)")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL URL (emptied!)")
    parser.add_argument("--size", type=int, default=0, help="contacts (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=0, help="timed runs of each side")
    args = parser.parse_args()
    url = args.postgres
    configured = os.environ.get("SIYU_DATABASE_URL", "")
    if url is None and configured.startswith("postgresql"):
        url = configured
    size = args.size or (100_000 if args.quick else 1_000_000)
    runs = args.runs or (3 if size <= 100_000 else 2)
    backend = "PostgreSQL" if url else "SQLite"
    print(f"broadcast_plan: {backend}, {size:,} contacts over {ACCOUNTS} accounts, {runs} runs")
    with tempfile.TemporaryDirectory(prefix="siyu-bench-broadcast-") as tmp:
        database = prepare(url, Path(tmp), size)
        started = time.perf_counter()
        load(database.engine, size)
        print(f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
        figures = measure(database, runs)
        database.dispose()
    ratio = figures["siyu"] / figures["baseline"]
    print(
        f"send rows written {int(figures['planned']):,}; siyu {figures['siyu'] * 1000:,.0f} ms,"
        f" bare INSERT … SELECT {figures['baseline'] * 1000:,.0f} ms"
    )
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(f"broadcast_plan: ratio={ratio:.2f} target<={TARGET_RATIO:g} {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
