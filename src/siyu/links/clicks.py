"""Write-behind for clicks: the redirect appends to memory, a thread writes batches.

The redirect answers before its click reaches the database. ``ClickBuffer.record`` appends one
row to an in-memory queue (a lock held for a list append, no I/O); a background thread wakes
every ``click_flush_interval_ms`` or as soon as ``click_flush_batch_size`` rows wait, and writes
what is pending with one multi-row INSERT per batch, one transaction per batch.

Loss bounds (also in docs/links.md):

- Clean shutdown (SIGTERM/SIGINT to uvicorn, the app's lifespan ends): ``stop`` writes every
  pending row before the process exits. Nothing is lost.
- Crash (SIGKILL, OOM, power loss): the rows accepted since the last committed batch are lost:
  at most the clicks of the last flush interval plus the time the batch in progress takes to
  commit (at the defaults 200 ms + a few ms of clicks).
- Database unreachable: rows stay queued and are retried every interval; beyond
  ``click_buffer_max_pending`` the oldest are dropped and counted (``dropped``) and logged.

A retried batch is idempotent by click token (unique): if a commit succeeded but its
acknowledgement was lost, the retry skips the tokens already stored.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TypedDict

from sqlalchemy.exc import IntegrityError

from siyu.config import Settings, current_settings
from siyu.db import Database, get_database
from siyu.links.repository import ClickRepository

logger = logging.getLogger("siyu.links.clicks")


class ClickRow(TypedDict):
    token: str
    link_id: int
    promoter_id: int
    clicked_at: datetime
    ip_hash: str
    user_agent: str
    consumer_id: int | None


BatchWriter = Callable[[list[ClickRow]], int]


class ClickBuffer:
    """Thread-safe queue of clicks with a flusher thread. ``record`` never touches I/O."""

    def __init__(
        self,
        write: BatchWriter,
        *,
        interval_seconds: float,
        batch_size: int,
        max_pending: int,
        database: Database | None = None,
    ) -> None:
        self.database = database
        self._write = write
        self._interval = interval_seconds
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: deque[ClickRow] = deque()
        self._lock = threading.Lock()
        # One flush at a time: the thread's and an explicit flush() must not interleave batches.
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.accepted = 0
        self.written = 0
        self.dropped = 0
        self.failed_flushes = 0

    # ---- the hot path ------------------------------------------------------------------------

    def record(self, row: ClickRow) -> None:
        with self._lock:
            if len(self._pending) >= self._max_pending:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(row)
            self.accepted += 1
            full = len(self._pending) >= self._batch_size
        if full and not self._wake.is_set():
            self._wake.set()

    # ---- writing -----------------------------------------------------------------------------

    @property
    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def _take_all(self) -> list[ClickRow]:
        with self._lock:
            rows = list(self._pending)
            self._pending.clear()
        return rows

    def _requeue(self, rows: list[ClickRow]) -> None:
        with self._lock:
            self._pending.extendleft(reversed(rows))
            while len(self._pending) > self._max_pending:
                self._pending.popleft()
                self.dropped += 1

    def flush(self) -> int:
        """Write everything pending now, batch by batch. Returns the rows written.

        On a failed batch the unwritten rows go back to the front of the queue (order kept)
        and the error propagates; the caller decides whether to retry.
        """
        written = 0
        with self._flush_lock:
            rows = self._take_all()
            for start in range(0, len(rows), self._batch_size):
                batch = rows[start : start + self._batch_size]
                try:
                    count = self._write(batch)
                except BaseException:
                    self._requeue(rows[start:])
                    raise
                written += count
                self.written += count
        return written

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            try:
                self.flush()
            except Exception:
                self.failed_flushes += 1
                logger.exception("click flush failed; %d clicks stay queued", self.pending_count)
                # Back off one interval before retrying so a down database is not hammered.
                self._stopping.wait(self._interval)
            if stopping:
                return

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.is_running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="siyu-click-flush", daemon=True)
        self._thread.start()

    def stop(self, attempts: int = 5) -> None:
        """Stop the thread and write every pending click (the clean-shutdown guarantee)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        for attempt in range(1, attempts + 1):
            try:
                self.flush()
                return
            except Exception:
                logger.exception("final click flush failed (attempt %d of %d)", attempt, attempts)
                time.sleep(min(0.1 * 2**attempt, 2.0))
        logger.error("shutdown lost %d clicks: the database stayed unreachable", self.pending_count)


def write_batch(database: Database, rows: list[ClickRow]) -> int:
    """One transaction per batch; idempotent by click token. Returns the rows inserted."""
    try:
        with database.sessions.begin() as session:
            ClickRepository(session).insert_many(rows)
        return len(rows)
    except IntegrityError:
        pass
    # The slow path, rare: a batch retried after its commit went through, or a click naming a
    # consumer that has since been deleted (PIPL deletion). Keep every click that can be kept.
    with database.sessions.begin() as session:
        clicks = ClickRepository(session)
        stored = clicks.existing_tokens([row["token"] for row in rows])
        fresh = [row for row in rows if row["token"] not in stored]
        consumer_ids = clicks.existing_consumer_ids(
            sorted({row["consumer_id"] for row in fresh if row["consumer_id"] is not None})
        )
        link_ids = clicks.existing_link_ids(sorted({row["link_id"] for row in fresh}))
        kept: list[ClickRow] = []
        for row in fresh:
            if row["link_id"] not in link_ids:
                logger.error(
                    "dropping click %s: link %s does not exist", row["token"], row["link_id"]
                )
                continue
            if row["consumer_id"] is not None and row["consumer_id"] not in consumer_ids:
                row = ClickRow(**{**row, "consumer_id": None})
            kept.append(row)
        clicks.insert_many(kept)
    return len(kept)


def build_click_buffer(settings: Settings, database: Database) -> ClickBuffer:
    return ClickBuffer(
        lambda rows: write_batch(database, rows),
        interval_seconds=settings.click_flush_interval_ms / 1000,
        batch_size=settings.click_flush_batch_size,
        max_pending=settings.click_buffer_max_pending,
        database=database,
    )


# ---- the process-wide buffer ---------------------------------------------------------------

_current: list[ClickBuffer] = []


def start_click_buffer(settings: Settings | None = None) -> ClickBuffer:
    """Start the process's buffer (the app's lifespan does); replaces a previous one."""
    stop_click_buffer()
    buffer = build_click_buffer(settings or current_settings(), get_database())
    buffer.start()
    _current.append(buffer)
    return buffer


def stop_click_buffer() -> None:
    """Flush and stop (the app's lifespan shutdown). Safe to call when nothing runs."""
    while _current:
        _current.pop().stop()


def click_buffer() -> ClickBuffer:
    """The running buffer for the current database (started lazily if the lifespan did not)."""
    if _current and _current[0].database is get_database():
        return _current[0]
    return start_click_buffer()


atexit.register(stop_click_buffer)
