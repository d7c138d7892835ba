"""A short-lived, per-process cache of each code's candidate snapshot.

Reading the candidates is the one query of a scan that touches many rows (every account the rule
names, ordered by load). Routing only needs an *ordering hint*: the conditional UPDATE is what
guarantees the caps. So each process keeps, per (database, code, rule, day, minute), the
snapshot it last read for up to ``SIYU_ROUTING_SNAPSHOT_SECONDS``, applies its own reservations
to it (so least-loaded keeps spreading), drops an account the moment a reservation on it fails,
and reads again when the snapshot runs dry. Other processes' reservations show up at the next
read; until then an account may look emptier than it is, which costs at most a failed UPDATE.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from siyu.pool.rules import AccountSnapshot

Key = tuple[Any, ...]

_lock = threading.Lock()
_entries: dict[Key, tuple[float, list[AccountSnapshot]]] = {}
MAX_ENTRIES = 10_000


def get(key: Key, ttl: float, load: Callable[[], list[AccountSnapshot]]) -> list[AccountSnapshot]:
    if ttl <= 0:
        return load()
    now = time.monotonic()
    with _lock:
        entry = _entries.get(key)
        if entry is not None and now - entry[0] < ttl and entry[1]:
            return list(entry[1])
    fresh = load()
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (now, list(fresh))
    return fresh


def reserved(key: Key, account_id: int, day: Any) -> None:
    """Apply this process's successful reservation to the cached snapshot."""
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            return
        updated = []
        for snapshot in entry[1]:
            if snapshot.id == account_id:
                snapshot = replace(
                    snapshot,
                    friends_used=snapshot.friends_used + 1,
                    adds_day=day,
                    passive_adds_today=snapshot.adds_on(day) + 1,
                )
            updated.append(snapshot)
        _entries[key] = (entry[0], updated)


def refused(key: Key, account_id: int) -> None:
    """A reservation on this account failed: it is full (or changed); stop offering it."""
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            return
        _entries[key] = (entry[0], [s for s in entry[1] if s.id != account_id])


def clear() -> None:
    with _lock:
        _entries.clear()
        _codes.clear()


# Channel codes by their public text, for the scan path (same TTL; a change made in this
# process drops the entry at once, other processes see it within the TTL).
_codes: dict[tuple[str, str], tuple[float, Any]] = {}


def code(database_url: str, text: str, ttl: float, load: Callable[[], Any]) -> Any:
    if ttl <= 0:
        return load()
    key = (database_url, text)
    now = time.monotonic()
    with _lock:
        entry = _codes.get(key)
        if entry is not None and now - entry[0] < ttl and _usable(entry[1]):
            return entry[1]
    value = load()
    if value is not None:
        with _lock:
            if len(_codes) >= MAX_ENTRIES:
                _codes.clear()
            _codes[key] = (now, value)
    return value


def _usable(value: Any) -> bool:
    """A cached row whose attributes were expired (``session.expire_all`` in the session that
    loaded it, e.g. a settlement in the same unit of work) cannot be read once that session
    is closed: read it again instead."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import NoInspectionAvailable

    try:
        return not inspect(value).expired_attributes
    except NoInspectionAvailable:
        return True


def forget_codes() -> None:
    with _lock:
        _codes.clear()
