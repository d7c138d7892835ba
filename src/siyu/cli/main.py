"""``siyu`` commands.

Options that change settings (``--data-dir``, the demo's choices) are applied with
``configure(Settings(...))`` before any command reads settings, opens the database or builds the
job queue. Expected failures are ``AppError``s: the message is printed in Chinese (with the
English beside it) and the command exits with status 1. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from siyu import __version__
from siyu.config import Settings, configure, current_settings
from siyu.errors import AppError, ValidationFailed

# --- errors -------------------------------------------------------------------------------------


class LintKindInvalid(ValidationFailed):
    code = "lint_kind_invalid"
    message_en = "Unknown --kind {kind!r}: use script, broadcast, moment, poster or campaign."
    message_zh = "未知的 --kind“{kind}”，可选：script、broadcast、moment、poster、campaign。"


class DatabaseNotMigrated(AppError):
    status = 503
    code = "database_not_migrated"
    message_en = "The database at {url} has no tables yet: run `siyu migrate` first."
    message_zh = "数据库（{url}）尚未初始化：请先运行 `siyu migrate`。"


class DatabaseBehind(AppError):
    status = 503
    code = "database_behind"
    message_en = "The database is at revision {current}, the code needs {head}: run `siyu migrate`."
    message_zh = "数据库版本（{current}）落后于程序所需版本（{head}）：请先运行 `siyu migrate`。"


class DatabaseRevisionUnknown(AppError):
    status = 503
    code = "database_revision_unknown"
    message_en = (
        "The database is at revision {current}, which this siyu does not know: upgrade siyu."
    )
    message_zh = "数据库版本（{current}）不属于当前程序，可能由更新版本的 siyu 创建：请升级 siyu。"


class DatabaseUnreachable(AppError):
    status = 503
    code = "database_unreachable"
    message_en = "Cannot open the database at {url}: {reason}"
    message_zh = "无法连接数据库（{url}）：{reason}"


class JobsBackendNotShared(AppError):
    code = "jobs_backend_not_shared"
    message_en = (
        "SIYU_JOBS_BACKEND=memory lives inside one process; a separate worker cannot consume it. "
        "Use embedded, redis or postgresql."
    )
    message_zh = (
        "任务队列为 memory（仅存在于单个进程内），独立的 worker 无法消费。"
        "请将 SIYU_JOBS_BACKEND 设为 embedded、redis 或 postgresql。"
    )


class JobUnknown(AppError):
    code = "job_unknown"
    message_en = "The queue holds a job this worker does not know: {reason}"
    message_zh = "队列中有本 worker 未注册的任务：{reason}（请确认 worker 与服务端版本一致）"


class ServeOptionsConflict(AppError):
    code = "serve_options_conflict"
    message_en = "--reload and --workers > 1 cannot be combined."
    message_zh = "--reload 与 --workers（大于 1）不能同时使用。"


class SettingsInvalid(AppError):
    code = "settings_invalid"
    message_en = "Invalid configuration: {detail}"
    message_zh = "配置无效：{detail}"


class AdminInputInvalid(ValidationFailed):
    code = "admin_input_invalid"
    message_en = "{detail}"
    message_zh = "{detail_zh}"


# --- output -------------------------------------------------------------------------------------

console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False)

Parameters = ParamSpec("Parameters")
Result = TypeVar("Result")


def _print_error(error: AppError) -> None:
    error_console.print(f"[bold red]错误：[/]{escape(error.zh)}", soft_wrap=True)
    if error.en != error.zh:
        error_console.print(f"[dim]{escape(error.en)}[/]", soft_wrap=True)


def friendly_errors(command: Callable[Parameters, Result]) -> Callable[Parameters, Result]:
    """Print an AppError for people and exit 1; Typer reads the wrapped signature."""

    @functools.wraps(command)
    def run(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
        try:
            return command(*args, **kwargs)
        except AppError as error:
            _print_error(error)
            raise typer.Exit(code=1) from error

    return run


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# --- settings -----------------------------------------------------------------------------------


def _load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command line's choices on top."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"])
            problems.append(f"SIYU_{field.upper()}: {item['msg']}")
        raise SettingsInvalid(detail="; ".join(problems)) from error


def _apply(settings: Settings) -> Settings:
    """Make ``settings`` the process's settings and point the database at them."""
    from siyu.db import configure_database

    configure(settings)
    configure_database(settings.resolved_database_url)
    return settings


# --- database state -----------------------------------------------------------------------------


def _script_revisions(url: str) -> tuple[tuple[str, ...], set[str]]:
    """The code's head revisions and every revision it knows."""
    from alembic.script import ScriptDirectory

    from siyu.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config(url))
    return tuple(script.get_heads()), {revision.revision for revision in script.walk_revisions()}


def _current_revisions(url: str) -> tuple[str, ...]:
    """The revisions stamped in the database; () when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    from siyu.db import build_engine

    parsed = make_url(url)
    is_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    )
    # Connecting would create an empty file; a missing file simply means "not migrated".
    if is_file and not Path(str(parsed.database)).exists():
        return ()
    engine = build_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return tuple(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        raise DatabaseUnreachable(url=_safe_url(url), reason=_first_line(error)) from error
    finally:
        engine.dispose()


def _first_line(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def require_migrated(settings: Settings) -> None:
    url = settings.resolved_database_url
    current = _current_revisions(url)
    if not current:
        raise DatabaseNotMigrated(url=_safe_url(url))
    heads, known = _script_revisions(url)
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        raise DatabaseRevisionUnknown(current=", ".join(unknown))
    if set(current) != set(heads):
        raise DatabaseBehind(current=", ".join(current), head=", ".join(heads))


def _migrate(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from siyu.migrations import upgrade_database

    url = settings.resolved_database_url
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    before = _current_revisions(url)
    try:
        upgrade_database(url)
    except SQLAlchemyError as error:
        raise DatabaseUnreachable(url=_safe_url(url), reason=_first_line(error)) from error
    return before, _current_revisions(url)


# --- the app ------------------------------------------------------------------------------------

app = typer.Typer(
    name="siyu",
    help="siyu 私域：私域流量与 B2K2C 社交电商运营系统 (private-domain traffic, social commerce).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"siyu {__version__}")
        raise typer.Exit()


@app.callback()
@friendly_errors
def main(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="SIYU_DATA_DIR",
            help="数据目录：SQLite 数据库、任务队列、密钥、上传文件 (data directory).",
            show_default="data",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="显示版本 (show the version)."
        ),
    ] = False,
) -> None:
    """siyu 私域 command line."""
    if data_dir is not None:
        configure(_load_settings(data_dir=data_dir))
    else:
        configure(_load_settings())


@app.command()
@friendly_errors
def migrate() -> None:
    """执行数据库迁移到最新版本 (alembic upgrade head)."""
    settings = current_settings()
    url = settings.resolved_database_url
    console.print(f"数据库 Database: [bold]{escape(_safe_url(url))}[/]")
    before, after = _migrate(settings)
    if before == after:
        console.print(f"[green]✓[/] 已是最新版本 already at {', '.join(after)}")
    else:
        old = ", ".join(before) or "空库 empty"
        console.print(f"[green]✓[/] 已迁移 migrated {old} → {', '.join(after)}")


def _serve(settings: Settings, host: str, port: int, reload: bool, workers: int) -> None:
    import uvicorn

    require_migrated(settings)
    if reload and workers > 1:
        raise ServeOptionsConflict()
    if reload or workers > 1:
        # uvicorn starts fresh interpreters that read settings from the environment, so the
        # command line's data directory has to travel there.
        os.environ.update({"SIYU_DATA_DIR": str(settings.data_dir.resolve())})
    if workers > 1 and settings.jobs_backend == "embedded":
        console.print(
            "[yellow]提示：[/]多个进程共享嵌入式任务队列；横向扩展请使用 "
            "SIYU_JOBS_BACKEND=redis 并单独运行 `siyu worker`。"
        )
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(
        f"siyu {__version__} · 控制台 Console: [bold cyan]http://{shown_host}:{port}[/]"
        f" · 任务队列 jobs: {settings.jobs_backend}"
    )
    uvicorn.run(
        "siyu.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        reload_dirs=[str(Path(__file__).resolve().parents[1])] if reload else None,
        workers=workers,
        proxy_headers=True,
    )


@app.command()
@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="监听地址 (bind address).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 (port).", min=1, max=65535)] = 8000,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="代码变更后自动重启 (development).")
    ] = False,
    workers: Annotated[int, typer.Option(help="API 进程数 (worker processes).", min=1, max=64)] = 1,
) -> None:
    """启动 Web 服务：控制台、H5 与 /api/v1 (run the web server)."""
    _serve(current_settings(), host, port, reload, workers)


def _drain(queue: Any) -> int:
    """Run every job that is due, including retries whose time has come, then stop."""
    from huey.exceptions import HueyException

    executed_total = 0
    while True:
        for task in queue.huey.read_schedule():
            queue.huey.enqueue(task)
        try:
            executed = int(queue.run_pending())
        except HueyException as error:
            raise JobUnknown(reason=str(error)) from error
        executed_total += executed
        if executed == 0:
            return executed_total


@app.command()
@friendly_errors
def worker(
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=64,
            help="工作线程数 (threads; default SIYU_JOBS_WORKERS).",
        ),
    ] = None,
    burst: Annotated[
        bool, typer.Option("--burst", help="执行完队列中已到期的任务后退出 (drain and exit).")
    ] = False,
    periodic: Annotated[
        bool,
        typer.Option(
            "--periodic/--no-periodic",
            help="调度定时任务；多个 worker 时只开一个 (periodic jobs: one worker only).",
        ),
    ] = True,
    imports: Annotated[
        list[str] | None,
        typer.Option(
            "--import",
            help="额外导入声明任务的模块，可重复 (extra modules that declare jobs; repeatable).",
        ),
    ] = None,
) -> None:
    """消费后台任务队列 (consume the configured job queue)."""
    from siyu.jobs import configure_queue

    settings = current_settings()
    if settings.jobs_backend == "memory":
        raise JobsBackendNotShared()
    require_migrated(settings)
    _apply(settings)
    for module in imports or []:
        importlib.import_module(module)
    queue = configure_queue()
    if burst:
        executed = _drain(queue)
        waiting = int(queue.huey.scheduled_count())
        console.print(
            f"[green]✓[/] 已执行 {executed} 个任务 executed {executed} job(s)"
            + (f"；{waiting} 个任务等待重试或定时 ({waiting} scheduled)" if waiting else "")
        )
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    count = workers or settings.jobs_workers
    console.print(
        f"siyu worker · 任务队列 jobs: {settings.jobs_backend} · 线程 threads: {count}"
        " · Ctrl+C 停止"
    )
    queue.run_worker(count, periodic=periodic)


_ADMIN_FIELDS = {
    "username": (
        "username: 3-64 letters, digits, _ . -",
        "用户名须为 3–64 位字母、数字、下划线、点或连字符",
    ),
    "password": ("password: 8-128 characters", "密码长度须为 8 到 128 位"),
    "display_name": ("display name: 1-64 characters", "显示名称须为 1–64 个字符"),
}


@app.command("create-admin")
@friendly_errors
def create_admin(
    username: Annotated[str, typer.Option(prompt="用户名 Username", help="登录用户名.")],
    password: Annotated[
        str | None, typer.Option(help="密码；省略时隐藏输入 (prompted, hidden, when omitted).")
    ] = None,
    display_name: Annotated[
        str | None, typer.Option(help="显示名称 (defaults to the username).")
    ] = None,
) -> None:
    """创建平台管理员账号 (create a platform administrator)."""
    from siyu.auth.schemas import UserCreate
    from siyu.auth.service import create_user
    from siyu.db import unit_of_work
    from siyu.models import Role

    settings = current_settings()
    require_migrated(settings)
    if password is None:
        password = typer.prompt("密码 Password", hide_input=True, confirmation_prompt=True)
    try:
        data = UserCreate(
            username=username.strip(),
            display_name=(display_name or username).strip(),
            password=password,
            role=Role.ADMIN,
        )
    except ValidationError as error:
        fields = [str(item["loc"][0]) for item in error.errors() if item["loc"]]
        known = [_ADMIN_FIELDS[field] for field in fields if field in _ADMIN_FIELDS]
        raise AdminInputInvalid(
            detail="; ".join(english for english, _ in known) or str(error),
            detail_zh="；".join(chinese for _, chinese in known) or "输入有误",
        ) from error
    _apply(settings)
    with unit_of_work() as session:
        user = create_user(session, None, data)
        user_id = user.id
    console.print(
        f"[green]✓[/] 已创建管理员 created admin [bold]{escape(data.username)}[/] (id {user_id})"
    )


_DEMO_FILES = ("siyu.db", "siyu.db-wal", "siyu.db-shm", "jobs.db", "jobs.db-wal", "jobs.db-shm")


def _reset_demo(data_dir: Path) -> None:
    import shutil

    for name in _DEMO_FILES:
        (data_dir / name).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "uploads", ignore_errors=True)


# The default market: the whole `siyu demo --no-serve` stays well under 2 minutes on 2 cores
# (docs/market.md has the timings).
DEMO_MARKET_SIZE = 2_000


def _simulate_market(size: int) -> list[str]:
    """Two weeks of the synthetic market on top of the committed scripted demo, with a
    progress bar (days × actors); nothing when the database already has the market."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from siyu.db import unit_of_work
    from siyu.demo import market

    if size <= 0:
        return []
    with unit_of_work() as session:
        if market.market_loaded(session):
            return ["模拟市场已存在，未重复模拟。"]
        admin = market.demo_admin(session)
    extra = market.extra_actors()
    steps = market.DAYS * (market.generic_actor_count() + len(extra))
    with Progress(
        TextColumn("[bold]模拟市场[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("准备中", total=steps)

        def progress(day: int, days: int, label: str) -> None:
            if label:
                bar.update(task, advance=1, description=f"第 {day + 1}/{days} 天 · {label}")

        outcome = market.run_market_demo(admin, size=size, progress=progress, extra_actors=extra)
    return outcome.highlights if outcome is not None else ["模拟市场已存在，未重复模拟。"]


def _demo_logins(result: Any) -> list[tuple[str, str, str]]:
    """``load_demo`` returns the logins, or an object with ``.logins``."""
    logins: Iterable[Sequence[str]] = getattr(result, "logins", result) or []
    return [(str(row[0]), str(row[1]), str(row[2])) for row in logins]


@app.command()
@friendly_errors
def lint(
    text: Annotated[str, typer.Argument(help="要检查的文案 (the copy to check).")],
    kind: Annotated[
        str,
        typer.Option(help="用在哪里 (where it goes): script, broadcast, moment, poster, campaign."),
    ] = "moment",
) -> None:
    """检查文案是否合规；有“禁止”级问题时退出码为 1 (lint copy; exit 1 on a blocking finding)."""
    from siyu.compliance import rules, service

    try:
        chosen = rules.TextKind(kind)
    except ValueError:
        raise LintKindInvalid(kind=kind) from None
    findings = service.lint_text(text, chosen)
    if not findings:
        console.print("[green]✓[/] 未发现问题 no findings")
        return
    table = Table(title=f"{len(findings)} 处问题 findings", title_justify="left")
    table.add_column("级别 Severity")
    table.add_column("规则 Rule")
    table.add_column("位置 Where")
    table.add_column("建议 Fix")
    for finding in findings:
        table.add_row(
            rules.SEVERITY_LABELS[finding.severity],
            finding.rule_id,
            escape(finding.excerpt),
            escape(finding.suggestion_zh),
        )
    console.print(table)
    if rules.blocking(findings):
        raise typer.Exit(1)


@app.command()
@friendly_errors
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="演示数据目录 (demo data directory).", show_default="data"),
    ] = None,
    host: Annotated[str, typer.Option(help="监听地址 (bind address).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 (port).", min=1, max=65535)] = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="载入后启动服务 (serve after loading).")
    ] = True,
    reset: Annotated[
        bool, typer.Option("--reset", help="先删除已有演示数据库 (start from an empty database).")
    ] = False,
    size: Annotated[
        int,
        typer.Option(
            "--size",
            min=0,
            max=1_000_000,
            help="模拟市场的消费者人数，0 = 不模拟 (market consumers to simulate; 0 = none).",
        ),
    ] = DEMO_MARKET_SIZE,
) -> None:
    """一条命令体验：SQLite 建库、载入演示数据、模拟两周市场并启动控制台 (load the demo,
    simulate two weeks of a synthetic market, serve it)."""
    from siyu.db import unit_of_work
    from siyu.jobs import configure_queue

    directory = data_dir if data_dir is not None else current_settings().data_dir
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    # The demo always runs on SQLite with in-process jobs, whatever the environment says.
    settings = _load_settings(
        data_dir=directory,
        database_url=None,
        jobs_backend="embedded",
        base_url=f"http://{shown_host}:{port}",
    )
    if reset:
        _reset_demo(directory)
        console.print(f"[yellow]已清空演示数据 reset[/] {escape(str(directory))}")
    _migrate(settings)
    _apply(settings)
    configure_queue()

    from siyu.demo.scenario import load_demo

    with unit_of_work() as session:
        result = load_demo(session)
    market_lines = _simulate_market(size)

    location = escape(str(directory.resolve()))
    console.print(f"[green]✓[/] 演示数据已就绪 demo loaded · 数据目录 data: {location}")
    for line in [*(getattr(result, "highlights", None) or []), *market_lines]:
        console.print(f"  • {escape(str(line))}")
    table = Table(title="演示账号 Demo logins", title_justify="left")
    table.add_column("角色 Role")
    table.add_column("用户名 Username", style="bold")
    table.add_column("密码 Password")
    for role, username, password in _demo_logins(result):
        table.add_row(escape(role), escape(username), escape(password))
    console.print(table)
    console.print(f"控制台 Console: [bold cyan]{escape(settings.base_url)}[/]")
    if serve_after:
        _serve(settings, host, port, reload=False, workers=1)


# siyu forecast (src/siyu/cli/forecast.py)
from siyu.cli.forecast import forecast as _forecast  # noqa: E402

app.command(name="forecast")(friendly_errors(_forecast))

if __name__ == "__main__":
    app()
