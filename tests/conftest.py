"""Test fixtures: a real database per test (SQLite always, PostgreSQL when configured).

- SQLite: the migrations run once into a template file; each test gets a fresh copy.
- PostgreSQL (``SIYU_TEST_DATABASE_URL``): the migrations run once into a fresh schema; each test
  starts from empty tables (TRUNCATE … RESTART IDENTITY after the test).

Tests that take the ``db_url`` fixture (directly or through ``app``/``session``/``client``) run
once per backend; the PostgreSQL run is skipped with a reason when no URL is set.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from huey import MemoryHuey
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from siyu.auth import ratelimit
from siyu.auth.principal import Principal
from siyu.auth.schemas import UserCreate
from siyu.auth.service import create_user
from siyu.config import Settings, configure
from siyu.db import Database, configure_database
from siyu.jobs import JobQueue, configure_queue
from siyu.migrations import upgrade_database
from siyu.models import Base, Role, User

# Under pytest-xdist each worker gets its own PostgreSQL database (<name>_gw0, …) and its own
# Redis database (15, 14, …), so workers never drop each other's schema or flush each other's queue.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKER_NUMBER = int(WORKER.removeprefix("gw")) if WORKER.startswith("gw") else None


def _per_worker_pg(url: str | None) -> str | None:
    if not url or WORKER_NUMBER is None:
        return url
    base, _, name = url.rpartition("/")
    return f"{base}/{name}_gw{WORKER_NUMBER}"


def _per_worker_redis(url: str | None) -> str | None:
    if not url or WORKER_NUMBER is None:
        return url
    base, _, number = url.rpartition("/")
    return f"{base}/{max(0, int(number or 15) - WORKER_NUMBER)}"


BASE_PG_URL = os.environ.get("SIYU_TEST_DATABASE_URL")
PG_URL = _per_worker_pg(BASE_PG_URL)
REDIS_URL = _per_worker_redis(os.environ.get("SIYU_TEST_REDIS_URL"))
ENCRYPTION_KEY = Fernet.generate_key().decode()
PASSWORD = "correct-horse-42"


def _pg_url() -> str:
    assert PG_URL is not None
    if PG_URL.startswith("postgresql://"):
        return "postgresql+psycopg://" + PG_URL.removeprefix("postgresql://")
    return PG_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


def _ensure_database(url: str) -> None:
    """Create this worker's database on first use (connecting through the configured one)."""
    assert BASE_PG_URL is not None
    base = BASE_PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    name = url.rpartition("/")[2]
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    url = _pg_url()
    if WORKER_NUMBER is not None:
        _ensure_database(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "siyu.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set SIYU_TEST_DATABASE_URL to run this test there")
    url = request.getfixturevalue("postgres_migrated")
    yield url
    engine = create_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Iterator[Settings]:
    value = configure(
        Settings(
            environment="test",
            data_dir=tmp_path / "data",
            database_url=db_url,
            secret_key="test-secret-key",
            encryption_key=ENCRYPTION_KEY,
            jobs_backend="memory",
        )
    )
    ratelimit.reset()
    return value


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = configure_database(settings.resolved_database_url)
    yield database
    database.dispose()


@pytest.fixture
def queue(settings: Settings) -> JobQueue:
    return configure_queue(MemoryHuey(name="siyu-test"))


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session for service-level tests. The test decides when to commit."""
    with database.sessions() as session:
        yield session


@pytest.fixture
def app(settings: Settings, database: Database, queue: JobQueue) -> Any:
    from siyu.app import create_app

    return create_app(settings, run_jobs=False)


class ConsoleClient(TestClient):
    """A TestClient that fills in the console's CSRF token on form posts."""

    def csrf(self) -> str:
        page = self.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, "no CSRF token on /login"
        return match.group(1)

    def submit(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        form = dict(data or {})
        form.setdefault("csrf_token", self.csrf())
        kwargs.setdefault("follow_redirects", False)
        return self.post(url, data=form, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        response = self.submit("/login", {"username": username, "password": password})
        assert response.status_code == 303, response.text
        return response


@pytest.fixture
def client(app: Any) -> Iterator[ConsoleClient]:
    with ConsoleClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def make_user(database: Database) -> Any:
    """Create a committed user: make_user(Role.ADMIN, "alice", merchant_id=..., promoter_id=...)."""

    def factory(
        role: Role,
        username: str,
        merchant_id: int | None = None,
        promoter_id: int | None = None,
        password: str = PASSWORD,
    ) -> Principal:
        with database.sessions() as session:
            user = create_user(
                session,
                None,
                UserCreate(
                    username=username,
                    display_name=username,
                    password=password,
                    role=role,
                    merchant_id=merchant_id,
                    promoter_id=promoter_id,
                ),
            )
            session.commit()
            return Principal.of(user)

    return factory


@pytest.fixture
def admin(make_user: Any) -> Principal:
    principal: Principal = make_user(Role.ADMIN, "admin")
    return principal


@pytest.fixture
def api_as(app: Any, database: Database) -> Any:
    """api_as(principal) -> a TestClient sending that user's fresh API token."""
    from siyu.auth.service import create_api_token

    clients: list[TestClient] = []

    def factory(principal: Principal) -> TestClient:
        with database.sessions() as session:
            _token, raw = create_api_token(session, principal, "test")
            session.commit()
        test_client = TestClient(app, base_url="http://testserver")
        test_client.headers["Authorization"] = f"Bearer {raw}"
        clients.append(test_client)
        return test_client

    yield factory
    for test_client in clients:
        test_client.close()


def count_rows(database: Database, model: type[Any]) -> int:
    from sqlalchemy import func, select

    with database.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def get_user(database: Database, username: str) -> User:
    from sqlalchemy import select

    with database.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Per-process caches keyed by row ids — the pool's routing snapshots, the flow engine's
    parsed flow versions — are right for one database; every test has its own, so a cache
    left by another test (same ids, other rows) must not leak into the next."""
    from siyu.flows import engine
    from siyu.pool import snapshots

    snapshots.clear()
    engine.clear_cache()
    yield
    snapshots.clear()
    engine.clear_cache()
