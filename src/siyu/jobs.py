"""Background jobs: one way to declare them, two ways to run them.

A job is declared once with ``@job("domain.verb")`` (or ``@periodic_job``). It takes ids, opens
its own unit of work, re-reads state and is idempotent. Where it runs is a setting:

- ``embedded`` (default): a huey ``SqliteHuey`` queue in ``data_dir/jobs.db``, consumed by threads
  inside the server process. Queued jobs are on disk and survive a restart.
- ``redis``: a huey ``RedisHuey`` queue consumed by ``siyu worker`` processes (scale mode).
- ``postgresql``: huey's PostgreSQL storage, for deployments without Redis.
- ``memory``: in-process queue for tests that drain it by hand.

huey was chosen because it gives one task API over SQLite, Redis and PostgreSQL storage, with
retries, scheduling and periodic tasks, and is small enough to embed in the server process.

``enqueue(session, job, *ids)`` hands the job to the queue only after ``session`` commits, so a
job never sees state that was rolled back, and never runs before the rows it needs exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from sqlalchemy.orm import Session

from siyu.config import Settings, current_settings
from siyu.db import after_commit

logger = logging.getLogger("siyu.jobs")

JobFunction = Callable[..., Any]


@dataclass
class JobSpec:
    name: str
    function: JobFunction
    retries: int
    retry_delay: int
    schedule: dict[str, str] | None = None


_registry: dict[str, JobSpec] = {}
_queue: list[JobQueue] = []


def job(name: str, retries: int = 3, retry_delay: int = 10) -> Callable[[JobFunction], JobFunction]:
    """Declare a job. The function runs with the arguments given to ``enqueue``."""

    def decorate(function: JobFunction) -> JobFunction:
        if name in _registry and _registry[name].function is not function:
            raise ValueError(f"job {name!r} declared twice")
        _registry[name] = JobSpec(name, function, retries, retry_delay)
        function.job_name = name  # type: ignore[attr-defined]
        return function

    return decorate


def periodic_job(
    name: str, minute: str = "*", hour: str = "*", day: str = "*", day_of_week: str = "*"
) -> Callable[[JobFunction], JobFunction]:
    """Declare a job that runs on a cron schedule (UTC) and takes no arguments."""

    def decorate(function: JobFunction) -> JobFunction:
        _registry[name] = JobSpec(
            name,
            function,
            retries=0,
            retry_delay=0,
            schedule={"minute": minute, "hour": hour, "day": day, "day_of_week": day_of_week},
        )
        function.job_name = name  # type: ignore[attr-defined]
        return function

    return decorate


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    # The server owns the process signals; the embedded consumer must not take them.
    def _set_signal_handlers(self) -> None:
        return None


class JobQueue:
    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self.tasks: dict[str, Any] = {}
        self._consumer: Consumer | None = None
        for spec in _registry.values():
            self._register(spec)

    def _register(self, spec: JobSpec) -> None:
        if spec.schedule is not None:
            self.tasks[spec.name] = self.huey.periodic_task(
                crontab(**spec.schedule), name=spec.name
            )(spec.function)
        else:
            self.tasks[spec.name] = self.huey.task(
                name=spec.name, retries=spec.retries, retry_delay=spec.retry_delay
            )(spec.function)

    def ensure_registered(self) -> None:
        for name, spec in _registry.items():
            if name not in self.tasks:
                self._register(spec)

    def send(self, name: str, *args: Any) -> None:
        self.ensure_registered()
        self.tasks[name](*args)

    def pending_count(self) -> int:
        return int(self.huey.pending_count())

    def run_pending(self, limit: int = 1000) -> int:
        """Execute queued jobs in this thread (tests, ``siyu worker --burst``)."""
        executed = 0
        while executed < limit:
            task = self.huey.dequeue()
            if task is None:
                break
            self.huey.execute(task)
            executed += 1
        return executed

    def start_consumer(self, workers: int) -> None:
        if self._consumer is not None:
            return
        self._consumer = _EmbeddedConsumer(
            self.huey,
            workers=workers,
            worker_type="thread",
            periodic=True,
            check_worker_health=False,
        )
        self._consumer.start()

    def stop_consumer(self) -> None:
        if self._consumer is None:
            return
        self._consumer.stop(graceful=True)
        self._consumer = None

    def run_worker(self, workers: int, periodic: bool = True) -> None:
        """Block in a dedicated worker process (``siyu worker``), with huey's signal handling.

        Run exactly one worker with ``periodic=True`` per deployment, or each periodic job is
        queued once per worker. SIGTERM (systemd, containers) stops gracefully.
        """
        Consumer(
            self.huey,
            workers=workers,
            worker_type="thread",
            periodic=periodic,
            graceful_signal="TERM",
        ).run()


def build_huey(settings: Settings) -> Huey:
    if settings.jobs_backend == "embedded":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name="siyu", filename=str((settings.data_dir / "jobs.db").resolve()))
    if settings.jobs_backend == "redis":
        return RedisHuey(name="siyu", url=settings.redis_url)
    if settings.jobs_backend == "postgresql":
        from huey.storage import PostgresStorage

        dsn = (settings.database_url or "").replace("postgresql+psycopg://", "postgresql://")
        return Huey(name="siyu", storage_class=PostgresStorage, dsn=dsn)
    return MemoryHuey(name="siyu")


def load_job_modules() -> None:
    """Import every module that declares jobs so the registry is complete."""
    import siyu.campaigns.tasks
    import siyu.commissions.tasks
    import siyu.flows.tasks
    import siyu.followups.tasks
    import siyu.moments.tasks
    import siyu.orders.tasks
    import siyu.outreach.tasks
    import siyu.pool.tasks
    import siyu.promoters.tasks
    import siyu.segments.tasks  # noqa: F401


def get_queue() -> JobQueue:
    if not _queue:
        load_job_modules()
        _queue.append(JobQueue(build_huey(current_settings())))
    return _queue[0]


def configure_queue(huey: Huey | None = None) -> JobQueue:
    load_job_modules()
    _queue.clear()
    queue = JobQueue(huey if huey is not None else build_huey(current_settings()))
    _queue.append(queue)
    return queue


def enqueue(session: Session, function: JobFunction, *args: Any) -> None:
    """Queue ``function(*args)`` once ``session`` commits; nothing is queued on rollback."""
    name: str = function.job_name  # type: ignore[attr-defined]
    after_commit(session, lambda: get_queue().send(name, *args))


def registered_jobs() -> dict[str, JobSpec]:
    load_job_modules()
    return dict(_registry)
