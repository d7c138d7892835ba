"""Browser fixtures: a real uvicorn server on a free port and Playwright driving Debian's Chromium.

- ``live_server``: a migrated SQLite database in a temp data dir, the app served by uvicorn in a
  thread (embedded job consumer running), and helpers to create users and other data through the
  services (``live_server.create_user(...)``, ``with live_server.unit_of_work() as session: ...``).
- ``page``: a fresh zh-CN browser context and page per test; the browser is shared per session.

Chromium comes from Debian (``apt-get install chromium fonts-noto-cjk``; ``scripts/setup
--with-browser`` does it as root), never from Playwright's own download. Without it the browser
tests skip with that reason.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from huey import MemoryHuey
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.auth.schemas import UserCreate
from siyu.auth.service import create_user
from siyu.config import Settings, configure
from siyu.db import Database, configure_database, unit_of_work
from siyu.jobs import configure_queue
from siyu.models import Role
from tests.conftest import ENCRYPTION_KEY, PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = (
    "Chromium not installed: run `bash scripts/setup --with-browser` as root, or "
    "`sudo apt-get install -y chromium fonts-noto-cjk` (Debian), to run the browser tests"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VENDOR_CSS = Path(__file__).resolve().parents[2] / "src/siyu/web/static/vendor/bootstrap.min.css"


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    database: Database

    def url(self, path: str) -> str:
        return self.base_url + path

    def unit_of_work(self) -> AbstractContextManager[Session]:
        """One committed transaction against the server's database (services never commit)."""
        return unit_of_work()

    def create_user(
        self,
        role: Role,
        username: str,
        password: str = PASSWORD,
        display_name: str | None = None,
        merchant_id: int | None = None,
        promoter_id: int | None = None,
    ) -> Principal:
        with unit_of_work() as session:
            user = create_user(
                session,
                None,
                UserCreate(
                    username=username,
                    display_name=display_name or username,
                    password=password,
                    role=role,
                    merchant_id=merchant_id,
                    promoter_id=promoter_id,
                ),
            )
            session.flush()
            return Principal.of(user)


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    import uvicorn

    from siyu.app import create_app

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sqlite_template, data_dir / "siyu.db")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings = configure(
        Settings(
            environment="test",
            data_dir=data_dir,
            base_url=f"http://127.0.0.1:{port}",
            secret_key="browser-secret-key",
            encryption_key=ENCRYPTION_KEY,
            jobs_backend="embedded",
            jobs_workers=1,
            # Every browser test logs in from 127.0.0.1 and the limiter's memory store lives for
            # the whole process: the login limit (tested in tests/auth) would trip across tests.
            login_rate_limit="1000/minute",
        )
    )
    database = configure_database(settings.resolved_database_url)
    configure_queue()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(settings.base_url, settings, database)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()
        configure_queue(MemoryHuey(name="siyu-test"))
        database.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(CHROMIUM_MISSING)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login(live_server: LiveServer, page: Any) -> Any:
    """login(username, password=PASSWORD): fill the login form as a person would."""

    def submit(username: str, password: str = PASSWORD) -> None:
        page.goto(live_server.url("/login"))
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()

    return submit
