"""Engine, sessions and the one place a transaction commits.

Services never commit. A request (``web``/``api`` dependencies), a job or a CLI command opens a
``unit_of_work``; it commits once at the end or rolls back on any error. Jobs requested inside the
transaction are handed to the queue only after the commit succeeds (see ``siyu.jobs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import current_settings

AFTER_COMMIT_KEY = "siyu.after_commit"


def build_engine(url: str, **options: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **options,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when a transaction begins: BEGIN IMMEDIATE
            # takes the write lock up front, so concurrent writers queue instead of deadlocking.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if "poolclass" not in options:
        options.update(pool_size=10, max_overflow=20)
    return create_engine(url, pool_pre_ping=True, **options)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = build_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()


_database: list[Database] = []


def get_database() -> Database:
    if not _database:
        _database.append(Database(current_settings().resolved_database_url))
    return _database[0]


def configure_database(url: str) -> Database:
    for database in _database:
        database.dispose()
    _database.clear()
    database = Database(url)
    _database.append(database)
    return database


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once this session's transaction has committed (never on rollback)."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, _previous_transaction: Any) -> None:
    session.info.pop(AFTER_COMMIT_KEY, None)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    session = get_database().sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
