"""The click write-behind: batching, flushing, shutdown, failures, idempotent retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from siyu.db import Database
from siyu.kit.time import utc_now
from siyu.links import service
from siyu.links.clicks import ClickBuffer, ClickRow, write_batch
from siyu.models import Click, Consumer
from tests.conftest import count_rows
from tests.links.conftest import MadePromoter, Shop, clicks_of


def row(
    number: int, link_id: int = 1, promoter_id: int = 1, consumer_id: int | None = None
) -> ClickRow:
    return ClickRow(
        token=f"token-{number:06d}",
        link_id=link_id,
        promoter_id=promoter_id,
        clicked_at=datetime(2026, 11, 11, 12, 0, number % 60, tzinfo=UTC),
        ip_hash="0" * 64,
        user_agent="MicroMessenger",
        consumer_id=consumer_id,
    )


class Recorder:
    """A batch writer that remembers every batch (and can be told to fail)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.failures_left = 0
        self.written = threading.Event()

    def __call__(self, rows: list[ClickRow]) -> int:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("database unreachable")
        self.batches.append([item["token"] for item in rows])
        self.written.set()
        return len(rows)

    @property
    def tokens(self) -> list[str]:
        return [token for batch in self.batches for token in batch]


def buffer(
    writer: Callable[[list[ClickRow]], int],
    interval: float = 60.0,
    batch_size: int = 100,
    max_pending: int = 10_000,
) -> ClickBuffer:
    return ClickBuffer(
        writer, interval_seconds=interval, batch_size=batch_size, max_pending=max_pending
    )


class TestRecordAndFlush:
    def test_record_writes_nothing_until_a_flush(self) -> None:
        recorder = Recorder()
        clicks = buffer(recorder)
        for number in range(5):
            clicks.record(row(number))
        assert recorder.batches == []
        assert clicks.pending_count == 5
        assert clicks.accepted == 5

    def test_flush_writes_in_batches_of_the_batch_size_in_order(self) -> None:
        recorder = Recorder()
        clicks = buffer(recorder, batch_size=4)
        for number in range(10):
            clicks.record(row(number))
        assert clicks.flush() == 10
        assert [len(batch) for batch in recorder.batches] == [4, 4, 2]
        assert recorder.tokens == [f"token-{number:06d}" for number in range(10)]
        assert clicks.pending_count == 0
        assert clicks.written == 10

    def test_a_full_batch_wakes_the_flusher_before_the_interval(self) -> None:
        recorder = Recorder()
        clicks = buffer(recorder, interval=60.0, batch_size=3)
        clicks.start()
        try:
            for number in range(3):
                clicks.record(row(number))
            assert recorder.written.wait(5), "a full batch must not wait for the interval"
            assert recorder.tokens == ["token-000000", "token-000001", "token-000002"]
        finally:
            clicks.stop()

    def test_the_interval_flushes_a_partial_batch(self) -> None:
        recorder = Recorder()
        clicks = buffer(recorder, interval=0.02, batch_size=1000)
        clicks.start()
        try:
            clicks.record(row(1))
            assert recorder.written.wait(5)
            assert recorder.tokens == ["token-000001"]
        finally:
            clicks.stop()


class TestShutdown:
    def test_stop_writes_everything_pending(self) -> None:
        recorder = Recorder()
        clicks = buffer(recorder, interval=60.0, batch_size=1000)
        clicks.start()
        for number in range(250):
            clicks.record(row(number))
        clicks.stop()
        assert len(recorder.tokens) == 250
        assert clicks.pending_count == 0
        assert not clicks.is_running

    def test_stop_retries_a_failing_final_flush(self) -> None:
        recorder = Recorder()
        clicks = buffer(recorder)
        clicks.record(row(1))
        recorder.failures_left = 2
        clicks.stop()
        assert recorder.tokens == ["token-000001"]


class TestFailures:
    def test_a_failed_batch_goes_back_to_the_front_in_order(self) -> None:
        recorder = Recorder()
        clicks = buffer(recorder, batch_size=2)
        for number in range(5):
            clicks.record(row(number))
        recorder.failures_left = 1
        with pytest.raises(ConnectionError):
            clicks.flush()
        assert recorder.batches == []
        clicks.record(row(5))
        assert clicks.flush() == 6
        assert recorder.tokens == [f"token-{number:06d}" for number in range(6)]
        assert clicks.dropped == 0

    def test_a_failure_after_some_batches_requeues_only_the_rest(self) -> None:
        calls: list[int] = []

        def flaky(rows: list[ClickRow]) -> int:
            calls.append(len(rows))
            if len(calls) == 2:
                raise ConnectionError("lost")
            return len(rows)

        clicks = buffer(flaky, batch_size=2)
        for number in range(5):
            clicks.record(row(number))
        with pytest.raises(ConnectionError):
            clicks.flush()
        assert clicks.written == 2
        assert clicks.pending_count == 3

    def test_the_flusher_thread_survives_a_failure_and_retries(self) -> None:
        recorder = Recorder()
        recorder.failures_left = 1
        clicks = buffer(recorder, interval=0.01)
        clicks.start()
        try:
            clicks.record(row(1))
            assert recorder.written.wait(5)
            assert recorder.tokens == ["token-000001"]
            assert clicks.failed_flushes == 1
        finally:
            clicks.stop()

    def test_beyond_max_pending_the_oldest_are_dropped_and_counted(self) -> None:
        recorder = Recorder()
        clicks = buffer(recorder, max_pending=3)
        for number in range(5):
            clicks.record(row(number))
        assert clicks.dropped == 2
        clicks.flush()
        assert recorder.tokens == ["token-000002", "token-000003", "token-000004"]


@pytest.fixture
def link_id(shop: Shop, alice: MadePromoter, make_link: Callable[..., int]) -> int:
    return make_link(alice, shop.product_id)


class TestWriteBatch:
    def test_one_batch_is_inserted_with_every_field(
        self, database: Database, link_id: int, alice: MadePromoter
    ) -> None:
        rows = [row(number, link_id, alice.id) for number in range(3)]
        assert write_batch(database, rows) == 3
        stored = clicks_of(database)
        assert [click.token for click in stored] == ["token-000000", "token-000001", "token-000002"]
        first = stored[0]
        assert (first.link_id, first.promoter_id, first.consumer_id) == (link_id, alice.id, None)
        assert first.clicked_at == datetime(2026, 11, 11, 12, 0, 0, tzinfo=UTC)
        assert first.ip_hash == "0" * 64
        assert first.user_agent == "MicroMessenger"

    def test_a_retried_batch_writes_nothing_twice(
        self, database: Database, link_id: int, alice: MadePromoter
    ) -> None:
        rows = [row(number, link_id, alice.id) for number in range(4)]
        write_batch(database, rows[:2])  # committed, but (say) the acknowledgement was lost
        assert write_batch(database, rows) == 2
        assert [click.token for click in clicks_of(database)] == [
            f"token-{number:06d}" for number in range(4)
        ]

    def test_a_deleted_consumer_keeps_the_click_without_the_consumer(
        self, database: Database, link_id: int, alice: MadePromoter
    ) -> None:
        with database.sessions() as session:
            consumer = Consumer(nickname="小李")
            session.add(consumer)
            session.commit()
            consumer_id = consumer.id
        rows = [row(1, link_id, alice.id, consumer_id), row(2, link_id, alice.id, consumer_id + 99)]
        assert write_batch(database, rows) == 2
        assert [click.consumer_id for click in clicks_of(database)] == [consumer_id, None]

    def test_a_click_on_a_missing_link_is_dropped_and_the_rest_kept(
        self, database: Database, link_id: int, alice: MadePromoter
    ) -> None:
        rows = [row(1, link_id, alice.id), row(2, link_id + 999, alice.id)]
        assert write_batch(database, rows) == 1
        assert count_rows(database, Click) == 1


class TestTokens:
    def test_tokens_are_32_hex_unique_and_time_ordered(self) -> None:
        tokens = [service.new_click_token() for _ in range(2000)]
        assert len(set(tokens)) == 2000
        assert all(len(token) == 32 and int(token, 16) >= 0 for token in tokens)
        prefixes = [token[:12] for token in tokens]
        assert prefixes == sorted(prefixes)
        now_ms = int(time.time() * 1000)
        assert abs(int(prefixes[-1], 16) - now_ms) < 60_000

    def test_utc_now_is_what_clicks_carry(self) -> None:
        assert utc_now().tzinfo is not None
