"""Jobs: queued only after commit, durable across restarts, consumed where the settings say.

The job registry is process-wide, so the jobs declared here carry names no other module uses.
``siyu worker --import tests.test_jobs`` loads this module in a separate process, so it must stay
importable without pytest fixtures (it imports nothing from tests.conftest at module level).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from huey import MemoryHuey
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.auth.schemas import UserCreate
from siyu.auth.service import create_user
from siyu.config import Settings, configure
from siyu.db import Database, configure_database, unit_of_work
from siyu.jobs import (
    JobQueue,
    build_huey,
    configure_queue,
    enqueue,
    job,
    periodic_job,
    registered_jobs,
)
from siyu.models import Role, User
from tests.conftest import REDIS_URL  # one Redis database per xdist worker

REPO_ROOT = Path(__file__).resolve().parents[1]
REDIS_SKIP_REASON = (
    "Redis not configured: set SIYU_TEST_REDIS_URL to a dedicated database "
    "(e.g. redis://127.0.0.1:6379/15; the test empties siyu's queue there) to run this test"
)


@job("test.record")
def record(path: str, value: str) -> None:
    """Append one line; the file's content shows how many times the job ran."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(value + "\n")


@periodic_job("test.tick", minute="*/5")
def tick() -> None:
    return None


def _add_user(session: Session, username: str) -> None:
    create_user(
        session,
        None,
        UserCreate(
            username=username, display_name=username, password="password-1", role=Role.ADMIN
        ),
    )


def _users(database: Database) -> list[str]:
    from sqlalchemy import select

    with database.sessions() as session:
        return list(session.scalars(select(User.username).order_by(User.id)))


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def embedded(tmp_path: Path, sqlite_template: Path) -> Iterator[Settings]:
    """Settings for the default install: SQLite database and SqliteHuey in data_dir."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sqlite_template, data_dir / "siyu.db")
    settings = configure(
        Settings(
            environment="test",
            data_dir=data_dir,
            secret_key="test-secret-key",
            jobs_backend="embedded",
            jobs_workers=1,
        )
    )
    database = configure_database(settings.resolved_database_url)
    yield settings
    configure_queue(MemoryHuey(name="siyu-test"))
    database.dispose()


class TestEnqueueAfterCommit:
    def test_rollback_queues_nothing(
        self, queue: JobQueue, database: Database, tmp_path: Path
    ) -> None:
        target = tmp_path / "ran.txt"

        def fail_after_enqueue() -> None:
            with unit_of_work() as session:
                _add_user(session, "rolled")
                enqueue(session, record, str(target), "rolled")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail_after_enqueue()
        assert queue.pending_count() == 0
        assert queue.run_pending() == 0
        assert _users(database) == []
        assert not target.exists()

    def test_failed_commit_queues_nothing(
        self, queue: JobQueue, database: Database, tmp_path: Path
    ) -> None:
        target = tmp_path / "ran.txt"
        with unit_of_work() as session:
            _add_user(session, "taken")

        def commit_a_duplicate() -> None:
            with unit_of_work() as session:
                # Bypass the service's check so the database refuses the row at commit time.
                session.add(
                    User(username="taken", display_name="x", password_hash="x", role=Role.ADMIN)
                )
                enqueue(session, record, str(target), "duplicate")

        with pytest.raises(IntegrityError):
            commit_a_duplicate()
        assert queue.pending_count() == 0
        assert _users(database) == ["taken"]
        assert not target.exists()

    def test_commit_queues_the_job_once_after_the_rows_exist(
        self, queue: JobQueue, database: Database, tmp_path: Path
    ) -> None:
        target = tmp_path / "ran.txt"
        with unit_of_work() as session:
            _add_user(session, "committed")
            enqueue(session, record, str(target), "committed")
            session.flush()
            assert queue.pending_count() == 0, "queued before the commit"
        assert queue.pending_count() == 1
        assert _users(database) == ["committed"]
        assert queue.run_pending() == 1
        assert _lines(target) == ["committed"]
        assert queue.run_pending() == 0


class TestEmbeddedQueue:
    def test_queue_lives_in_the_data_dir(self, embedded: Settings) -> None:
        configure_queue(build_huey(embedded))
        assert (embedded.data_dir / "jobs.db").is_file()

    def test_queued_job_survives_a_restart_and_runs_once(
        self, embedded: Settings, tmp_path: Path
    ) -> None:
        target = tmp_path / "ran.txt"
        before = configure_queue(build_huey(embedded))
        with unit_of_work() as session:
            enqueue(session, record, str(target), "durable")
        assert before.pending_count() == 1

        # A new process would build a new huey on the same file: nothing in memory survives.
        restarted = configure_queue(build_huey(embedded))
        assert restarted.pending_count() == 1
        assert restarted.run_pending() == 1
        assert _lines(target) == ["durable"]

        again = configure_queue(build_huey(embedded))
        assert again.pending_count() == 0
        assert again.run_pending() == 0
        assert _lines(target) == ["durable"]

    def test_consumer_threads_run_a_job_queued_before_they_started(
        self, embedded: Settings, tmp_path: Path
    ) -> None:
        target = tmp_path / "ran.txt"
        configure_queue(build_huey(embedded))
        with unit_of_work() as session:
            enqueue(session, record, str(target), "consumed")
        restarted = configure_queue(build_huey(embedded))
        restarted.start_consumer(workers=1)
        try:
            assert _wait_until(lambda: _lines(target) == ["consumed"]), _lines(target)
        finally:
            restarted.stop_consumer()
        assert _pending_one_off(restarted) == []
        assert _lines(target) == ["consumed"]

    def test_app_lifespan_consumes_jobs(self, embedded: Settings, tmp_path: Path) -> None:
        from fastapi.testclient import TestClient

        from siyu.app import create_app

        target = tmp_path / "ran.txt"
        queue = configure_queue()
        with TestClient(create_app(embedded)) as client:
            assert client.get("/healthz").status_code == 200
            with unit_of_work() as session:
                enqueue(session, record, str(target), "served")
            assert _wait_until(lambda: _lines(target) == ["served"]), _lines(target)
        assert _pending_one_off(queue) == []
        assert _lines(target) == ["served"]

    def test_app_without_run_jobs_leaves_the_queue_alone(
        self, embedded: Settings, tmp_path: Path
    ) -> None:
        from fastapi.testclient import TestClient

        from siyu.app import create_app

        target = tmp_path / "ran.txt"
        queue = configure_queue()
        with TestClient(create_app(embedded, run_jobs=False)):
            with unit_of_work() as session:
                enqueue(session, record, str(target), "waiting")
            time.sleep(0.5)
        assert queue.pending_count() == 1
        assert not target.exists()


@pytest.fixture
def redis_settings(embedded: Settings) -> Iterator[Settings]:
    if not REDIS_URL:
        pytest.skip(REDIS_SKIP_REASON)
    settings = configure(
        embedded.model_copy(update={"jobs_backend": "redis", "redis_url": REDIS_URL})
    )
    build_huey(settings).flush()
    yield settings
    build_huey(settings).flush()


@pytest.mark.redis
class TestRedisQueue:
    def test_job_queued_in_redis_runs_once_on_a_fresh_queue(
        self, redis_settings: Settings, tmp_path: Path
    ) -> None:
        target = tmp_path / "ran.txt"
        producer = configure_queue(build_huey(redis_settings))
        with unit_of_work() as session:
            enqueue(session, record, str(target), "redis")
        assert producer.pending_count() == 1
        consumer = JobQueue(build_huey(redis_settings))
        assert consumer.run_pending() == 1
        assert consumer.run_pending() == 0
        assert _lines(target) == ["redis"]

    def test_rollback_puts_nothing_in_redis(self, redis_settings: Settings, tmp_path: Path) -> None:
        target = tmp_path / "ran.txt"
        queue = configure_queue(build_huey(redis_settings))

        def fail_after_enqueue() -> None:
            with unit_of_work() as session:
                enqueue(session, record, str(target), "never")
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError, match="rolled back"):
            fail_after_enqueue()
        assert queue.pending_count() == 0


def _siyu_command() -> list[str]:
    script = Path(sys.executable).with_name("siyu")
    return [str(script)] if script.exists() else [sys.executable, "-m", "siyu.cli.main"]


def _worker_environment(settings: Settings) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SIYU_")}
    environment.update(
        SIYU_DATA_DIR=str(settings.data_dir),
        SIYU_DATABASE_URL=settings.resolved_database_url,
        SIYU_JOBS_BACKEND=settings.jobs_backend,
        SIYU_REDIS_URL=settings.redis_url,
        PYTHONPATH=str(REPO_ROOT),
    )
    return environment


@pytest.fixture(params=["embedded", "redis"])
def worker_settings(request: pytest.FixtureRequest, embedded: Settings) -> Settings:
    if request.param == "redis":
        settings: Settings = request.getfixturevalue("redis_settings")
        return settings
    return embedded


class TestSeparateWorkerProcess:
    def test_burst_worker_runs_queued_jobs_and_exits(
        self, worker_settings: Settings, tmp_path: Path
    ) -> None:
        target = tmp_path / "ran.txt"
        queue = configure_queue(build_huey(worker_settings))
        with unit_of_work() as session:
            enqueue(session, record, str(target), "first")
            enqueue(session, record, str(target), "second")
        assert queue.pending_count() == 2

        command = [*_siyu_command(), "worker", "--burst", "--import", "tests.test_jobs"]
        environment = _worker_environment(worker_settings)
        finished = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=60, check=False
        )
        assert finished.returncode == 0, finished.stderr
        assert "executed 2 job(s)" in finished.stdout
        assert _lines(target) == ["first", "second"]
        assert queue.pending_count() == 0

        again = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=60, check=False
        )
        assert "executed 0 job(s)" in again.stdout
        assert _lines(target) == ["first", "second"]


class TestDeclarations:
    def test_job_is_registered_with_its_retry_policy(self) -> None:
        spec = registered_jobs()["test.record"]
        assert spec.function is record
        assert (spec.retries, spec.retry_delay, spec.schedule) == (3, 10, None)

    def test_periodic_job_is_registered_with_its_schedule(self) -> None:
        spec = registered_jobs()["test.tick"]
        assert spec.schedule == {"minute": "*/5", "hour": "*", "day": "*", "day_of_week": "*"}
        assert spec.retries == 0

    def test_periodic_job_is_due_on_its_schedule_only(self) -> None:
        huey = JobQueue(MemoryHuey(name="siyu-periodic-test")).huey
        due = {task.name for task in huey.read_periodic(datetime(2026, 11, 11, 3, 5))}
        not_due = {task.name for task in huey.read_periodic(datetime(2026, 11, 11, 3, 6))}
        assert "test.tick" in due
        assert "test.tick" not in not_due

    def test_declaring_a_name_twice_is_refused(self) -> None:
        with pytest.raises(ValueError, match="declared twice"):
            job("test.record")(lambda: None)

    def test_every_job_name_is_domain_dot_verb(self) -> None:
        names = list(registered_jobs())
        assert names
        assert [name for name in names if not re.fullmatch(r"[a-z_]+\.[a-z_]+", name)] == []


def _pending_one_off(queue: JobQueue) -> list[str]:
    """What is still queued, apart from periodic jobs: a consumer that starts on a minute
    boundary enqueues the every-minute jobs (moments, follow-ups, flows, outreach) itself."""
    from siyu.jobs import _registry

    periodic = {name for name, spec in _registry.items() if spec.schedule is not None}
    return [task.name for task in queue.huey.pending() if task.name not in periodic]
