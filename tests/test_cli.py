"""The ``siyu`` command line, in-process (CliRunner) and, for the entry point, as a real process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huey import MemoryHuey
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from siyu import __version__
from siyu.auth.service import authenticate
from siyu.cli.main import app
from siyu.jobs import configure_queue
from siyu.models import Role, User


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only what a test passes reaches the CLI's settings; global state is reset afterwards."""
    for key in list(os.environ):
        if key.startswith("SIYU_") and not key.startswith("SIYU_TEST_"):
            monkeypatch.delenv(key)
    yield
    configure_queue(MemoryHuey(name="siyu-test"))


def run(*arguments: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(arguments), env=env, input=stdin)


def users(url: str) -> list[tuple[str, Role, str]]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(User.username, User.role, User.display_name).order_by(User.id)
            )
            return [(row[0], row[1], row[2]) for row in rows]
    finally:
        engine.dispose()


@pytest.fixture
def migrated_dir(tmp_path: Path, sqlite_template: Path) -> Path:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sqlite_template, data_dir / "siyu.db")
    return data_dir


class TestVersionAndHelp:
    def test_version(self) -> None:
        result = run("--version")
        assert result.exit_code == 0
        assert result.stdout.strip() == f"siyu {__version__}"

    def test_help_lists_the_commands(self) -> None:
        result = run("--help")
        assert result.exit_code == 0
        for command in ("migrate", "serve", "worker", "create-admin", "demo"):
            assert command in result.stdout

    def test_invalid_setting_names_the_variable(self, tmp_path: Path) -> None:
        result = run("migrate", env={"SIYU_JOBS_BACKEND": "rabbit", "SIYU_DATA_DIR": str(tmp_path)})
        assert result.exit_code == 1
        assert "配置无效" in result.stderr
        assert "SIYU_JOBS_BACKEND" in result.stderr


class TestMigrate:
    def test_migrates_a_new_sqlite_database_then_is_a_no_op(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "fresh"
        first = run("--data-dir", str(data_dir), "migrate")
        assert first.exit_code == 0, first.output
        assert "已迁移" in first.stdout
        assert (data_dir / "siyu.db").is_file()
        second = run("--data-dir", str(data_dir), "migrate")
        assert second.exit_code == 0
        assert "已是最新版本" in second.stdout

    def test_data_dir_can_come_from_the_environment(self, tmp_path: Path) -> None:
        result = run("migrate", env={"SIYU_DATA_DIR": str(tmp_path / "from-env")})
        assert result.exit_code == 0, result.output
        assert (tmp_path / "from-env" / "siyu.db").is_file()

    def test_migrate_on_a_migrated_database_changes_nothing(self, db_url: str) -> None:
        result = run("migrate", env={"SIYU_DATABASE_URL": db_url})
        assert result.exit_code == 0, result.output
        assert "已是最新版本" in result.stdout
        assert users(db_url) == []


class TestCreateAdmin:
    def test_creates_an_admin_who_can_log_in(self, db_url: str) -> None:
        result = run(
            "create-admin",
            "--username",
            "boss",
            "--password",
            "long-enough-1",
            "--display-name",
            "王总",
            env={"SIYU_DATABASE_URL": db_url},
        )
        assert result.exit_code == 0, result.output
        assert "已创建管理员" in result.stdout
        assert users(db_url) == [("boss", Role.ADMIN, "王总")]
        engine = create_engine(db_url)
        with Session(engine) as session:
            assert authenticate(session, "boss", "long-enough-1").role == Role.ADMIN
        engine.dispose()

    def test_taken_username_is_refused_in_chinese_and_nothing_changes(self, db_url: str) -> None:
        env = {"SIYU_DATABASE_URL": db_url}
        first = run("create-admin", "--username", "boss", "--password", "long-enough-1", env=env)
        assert first.exit_code == 0, first.output
        second = run("create-admin", "--username", "boss", "--password", "other-pass-2", env=env)
        assert second.exit_code == 1
        assert "用户名“boss”已被使用" in second.stderr
        assert "already taken" in second.stderr
        assert users(db_url) == [("boss", Role.ADMIN, "boss")]

    def test_invalid_input_is_explained_and_nothing_is_created(self, migrated_dir: Path) -> None:
        result = run(
            "--data-dir",
            str(migrated_dir),
            "create-admin",
            "--username",
            "a b",
            "--password",
            "short",
        )
        assert result.exit_code == 1
        assert "用户名须为 3–64 位" in result.stderr
        assert "密码长度须为 8 到 128 位" in result.stderr
        assert users(f"sqlite:///{migrated_dir / 'siyu.db'}") == []

    def test_password_is_prompted_hidden_with_confirmation(self, migrated_dir: Path) -> None:
        result = run(
            "--data-dir",
            str(migrated_dir),
            "create-admin",
            "--username",
            "boss",
            stdin="hidden-pass-3\nhidden-pass-3\n",
        )
        assert result.exit_code == 0, result.output
        assert "hidden-pass-3" not in result.output
        assert users(f"sqlite:///{migrated_dir / 'siyu.db'}") == [("boss", Role.ADMIN, "boss")]

    def test_unmigrated_database_is_refused(self, tmp_path: Path) -> None:
        result = run(
            "--data-dir", str(tmp_path), "create-admin", "--username", "boss", "--password", "x" * 9
        )
        assert result.exit_code == 1
        assert "siyu migrate" in result.stderr


class TestServeChecks:
    def test_refuses_an_unmigrated_database_without_creating_it(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "empty"
        result = run("--data-dir", str(data_dir), "serve")
        assert result.exit_code == 1
        assert "尚未初始化" in result.stderr
        assert "siyu migrate" in result.stderr
        assert not (data_dir / "siyu.db").exists()

    def test_refuses_an_unreachable_database(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"postgresql+psycopg://nobody:secret@127.0.0.1:{port}/none"
        result = run("serve", env={"SIYU_DATABASE_URL": url})
        assert result.exit_code == 1
        assert "无法连接数据库" in result.stderr
        assert "secret" not in result.stderr

    def test_refuses_a_database_from_a_newer_siyu(self, migrated_dir: Path) -> None:
        engine = create_engine(f"sqlite:///{migrated_dir / 'siyu.db'}")
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        engine.dispose()
        result = run("--data-dir", str(migrated_dir), "serve")
        assert result.exit_code == 1
        assert "数据库版本（f00d）不属于当前程序" in result.stderr

    def test_refuses_a_database_behind_the_code(
        self, migrated_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from siyu.cli import main

        current = main._current_revisions(f"sqlite:///{migrated_dir / 'siyu.db'}")
        # A release that adds revision "0002" on top of what this database has.
        monkeypatch.setattr(main, "_script_revisions", lambda _url: (("0002",), {*current, "0002"}))
        result = run("--data-dir", str(migrated_dir), "serve")
        assert result.exit_code == 1
        assert f"数据库版本（{current[0]}）落后于程序所需版本（0002）" in result.stderr

    def test_refuses_reload_with_several_workers(self, migrated_dir: Path) -> None:
        result = run("--data-dir", str(migrated_dir), "serve", "--reload", "--workers", "2")
        assert result.exit_code == 1
        assert "--reload" in result.stderr


class TestWorker:
    def test_memory_backend_cannot_be_consumed_by_a_worker(self, migrated_dir: Path) -> None:
        env = {"SIYU_JOBS_BACKEND": "memory"}
        result = run("--data-dir", str(migrated_dir), "worker", "--burst", env=env)
        assert result.exit_code == 1
        assert "memory" in result.stderr

    def test_burst_on_an_empty_embedded_queue_exits_at_once(self, migrated_dir: Path) -> None:
        result = run("--data-dir", str(migrated_dir), "worker", "--burst")
        assert result.exit_code == 0, result.output
        assert "executed 0 job(s)" in result.stdout
        assert (migrated_dir / "jobs.db").is_file()

    def test_refuses_an_unmigrated_database(self, tmp_path: Path) -> None:
        result = run("--data-dir", str(tmp_path), "worker", "--burst")
        assert result.exit_code == 1
        assert "siyu migrate" in result.stderr


# The CLI tests simulate a small market (the default size takes about a minute on 2 cores).
SMALL_MARKET = ("--size", "150")


class TestDemo:
    def test_loads_twice_without_duplicates(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "demo"
        outputs = []
        for _ in range(2):
            result = run("demo", "--no-serve", "--data-dir", str(data_dir), *SMALL_MARKET)
            assert result.exit_code == 0, result.output
            assert "http://127.0.0.1:8000" in result.stdout
            assert "admin" in result.stdout
            assert "siyu-demo" in result.stdout
            outputs.append(result.stdout)
        admins = [row for row in users(f"sqlite:///{data_dir / 'siyu.db'}") if row[0] == "admin"]
        assert admins == [("admin", Role.ADMIN, admins[0][2])]
        # The market ran once, on top of the scripted demo, and is not simulated again.
        assert "模拟市场：150 位消费者" in outputs[0]
        assert "模拟市场已存在，未重复模拟。" not in outputs[0]
        assert "模拟市场已存在，未重复模拟。" in outputs[1]
        assert "模拟市场：" not in outputs[1]
        with sqlite3.connect(data_dir / "siyu.db") as connection:
            (spares,) = connection.execute(
                "SELECT count(*) FROM operator_account WHERE external_id = 'market_spare'"
            ).fetchone()
        assert spares == 1

    def test_size_zero_loads_only_the_scripted_demo_on_sqlite_whatever_the_environment_says(
        self, tmp_path: Path
    ) -> None:
        # One scripted load checks both (each load takes tens of seconds on 2 cores).
        data_dir = tmp_path / "demo"
        env = {"SIYU_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
        result = run(
            "demo",
            "--no-serve",
            "--data-dir",
            str(data_dir),
            "--port",
            "8123",
            "--size",
            "0",
            env=env,
        )
        assert result.exit_code == 0, result.output
        assert "模拟市场" not in result.stdout
        assert "http://127.0.0.1:8123" in result.stdout
        assert (data_dir / "siyu.db").is_file()
        with sqlite3.connect(data_dir / "siyu.db") as connection:
            (accounts,) = connection.execute(
                "SELECT count(*) FROM operator_account WHERE external_id LIKE 'market_%'"
            ).fetchone()
        assert accounts == 0

    def test_refuses_a_negative_size(self, tmp_path: Path) -> None:
        result = run("demo", "--no-serve", "--data-dir", str(tmp_path / "d"), "--size", "-1")
        assert result.exit_code == 2
        assert not (tmp_path / "d" / "siyu.db").exists()

    def test_reset_starts_from_an_empty_database(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "demo"
        # A database with something in it (the reset does not care what): migrate, add a user.
        assert run("--data-dir", str(data_dir), "migrate").exit_code == 0
        created = run(
            "--data-dir",
            str(data_dir),
            "create-admin",
            "--username",
            "extra",
            "--password",
            "x" * 9,
        )
        assert created.exit_code == 0, created.output
        result = run("demo", "--no-serve", "--reset", "--data-dir", str(data_dir), "--size", "0")
        assert result.exit_code == 0, result.output
        assert "extra" not in [row[0] for row in users(f"sqlite:///{data_dir / 'siyu.db'}")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestEntryPoint:
    def test_demo_serves_the_console_until_interrupted(self, tmp_path: Path) -> None:
        script = Path(sys.executable).with_name("siyu")
        if not script.exists():
            pytest.skip("the siyu console script is not installed next to this Python")
        port = _free_port()
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("SIYU_")
        }
        process = subprocess.Popen(
            [
                str(script),
                "demo",
                "--data-dir",
                str(tmp_path / "d"),
                "--port",
                str(port),
                *SMALL_MARKET,
            ],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 240  # the demo loads two weeks of data first
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert httpx.get(f"{base}/healthz").json()["version"] == __version__
            login = httpx.get(f"{base}/login")
            assert login.status_code == 200
            assert "私域运营台" in login.text
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert f"控制台 Console: http://127.0.0.1:{port}" in output
