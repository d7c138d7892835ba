"""Redirect throughput: siyu's ``GET /s/{code}`` (click recording on) against a bare ASGI app.

Both servers run the same way in the same run: uvicorn, 1 worker, 127.0.0.1, access log off,
pinned to the same CPU when the machine has two or more (the load generator gets another). The
bare app answers the same 302 (same headers, a location of the same shape) with no logic. Both
are driven by the same bounded load: wrk (Debian's ``wrk``) with 64 connections for a fixed
duration over the same random sample of short codes; without wrk, an asyncio httpx client with
64 connections (much slower, so the figures are then bound by the client, and say so).

The two servers take turns: after a warm-up each (every code requested once, then a few
seconds of load), R alternating timed rounds (bare, siyu, bare, siyu, ...). The ratio compares
each server's best round: on a shared machine other work only ever takes throughput away, so
the best round is the least disturbed one; the median ratio is printed too.

siyu serves a seeded SQLite database in a temporary directory (``SIYU_DATABASE_URL`` may point
it at PostgreSQL instead). After the rounds both servers get SIGTERM (a clean shutdown: siyu's
lifespan flushes the click buffer) and the clicks in the database are compared with the
redirects siyu answered (counted by a pass-through wrapper around each app).

    .venv/bin/python bench/redirect.py            # 10,000 links, 5 rounds of 10 s
    .venv/bin/python bench/redirect.py --quick    # 1,000 links, 3 rounds of 4 s, < 1 minute

Ends with ``redirect: ratio=<siyu req/s ÷ bare req/s> target>=0.5 PASS|MISS``. Also printed:
p50/p99 latency (target p99 ≤ 25 ms at 64 connections) and the click check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TARGET_RATIO = 0.5
TARGET_P99_MS = 25.0
CONNECTIONS = 64
KINDS = ("bare", "siyu")
LABELS = {"bare": "bare ASGI 302", "siyu": "siyu /s/{code}"}
COUNT_PATH = "/__bench/count"
BENCH_KEY_FILE = "bench-settings.json"

# ---- the servers (run in child processes: `redirect.py --serve siyu|bare`) --------------------


class Counted:
    """Pass-through wrapper counting 302 responses; answers GET /__bench/count itself."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.redirects = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == COUNT_PATH:
            body = str(self.redirects).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 302:
                self.redirects += 1
            await send(message)

        await self.app(scope, receive, counting_send)


def bare_app() -> Any:
    headers = [
        (b"location", b"/m/products/1?click=Xk3vQ9mZ2pL8sT4wR7yB1a"),
        (b"cache-control", b"no-store"),
        (b"content-length", b"0"),
    ]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


def _settings(data_dir: Path, database_url: str) -> Any:
    from siyu.config import Settings

    keys = json.loads((data_dir / BENCH_KEY_FILE).read_text())
    return Settings(
        environment="production",
        data_dir=data_dir,
        database_url=database_url,
        secret_key=keys["secret_key"],
        encryption_key=keys["encryption_key"],
        jobs_backend="memory",
    )


def serve(kind: str, port: int, data_dir: Path, database_url: str) -> None:
    import uvicorn

    if kind == "siyu":
        from siyu.app import create_app
        from siyu.config import configure
        from siyu.db import configure_database

        settings = configure(_settings(data_dir, database_url))
        configure_database(settings.resolved_database_url)
        app: Any = Counted(create_app(settings, run_jobs=False))
    else:
        app = Counted(bare_app())
    uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            workers=1,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=30,
        )
    ).run()


# ---- seeding ----------------------------------------------------------------------------------


def seed(data_dir: Path, database_url: str, links: int) -> list[str]:
    """Merchants, pooled products, promoters and ``links`` short links, through the services."""
    from cryptography.fernet import Fernet

    from siyu.catalog import service as catalog_service
    from siyu.catalog.schemas import MerchantCreate, ProductCreate
    from siyu.config import configure
    from siyu.db import configure_database, unit_of_work
    from siyu.kit.crypto import blind_index, encrypt
    from siyu.links import service as links_service
    from siyu.links.schemas import LinkCreate
    from siyu.migrations import upgrade_database
    from siyu.models import LinkPosition, Promoter, PromoterKind
    from siyu.promoters.service import ensure_default_grades

    (data_dir / BENCH_KEY_FILE).write_text(
        json.dumps(
            {"secret_key": os.urandom(24).hex(), "encryption_key": Fernet.generate_key().decode()}
        )
    )
    settings = configure(_settings(data_dir, database_url))
    if database_url.startswith("postgresql"):
        from sqlalchemy import create_engine, inspect

        engine = create_engine(database_url)
        tables = inspect(engine).get_table_names()
        engine.dispose()
        if tables:
            raise SystemExit(
                "SIYU_DATABASE_URL must name an empty database: the benchmark creates and fills "
                f"its own tables (found {len(tables)} tables; nothing was changed)"
            )
    upgrade_database(settings.resolved_database_url)
    configure_database(settings.resolved_database_url)
    positions = list(LinkPosition)
    with unit_of_work() as session:
        merchant = catalog_service.create_merchant(session, None, MerchantCreate(name="基准商家"))
        product_ids = []
        for index in range(20):
            product = catalog_service.create_product(
                session,
                None,
                ProductCreate(
                    merchant_id=merchant.id,
                    title=f"基准商品 {index}",
                    category="箱包",
                    list_price_fen=19900,
                    promo_price_fen=5990,
                    stock=1000,
                    commission_rate_bp=500,
                ),
            )
            catalog_service.approve_product(session, None, product.id)
            product_ids.append(product.id)
        grade = ensure_default_grades(session)
        promoter_ids = []
        for index in range(50):
            phone = f"139{index:08d}"
            promoter = Promoter(
                name=f"推手{index}",
                kind=PromoterKind.INDIVIDUAL,
                phone_encrypted=encrypt(phone),
                phone_index=blind_index(phone),
                invite_code=f"BENCH{index:03d}",
                grade_id=grade.id,
            )
            session.add(promoter)
            session.flush()
            promoter_ids.append(promoter.id)
    codes = []
    rng = random.Random(7)
    with unit_of_work() as session:
        for index in range(links):
            link = links_service.create_link(
                session,
                None,
                LinkCreate(
                    product_id=rng.choice(product_ids),
                    position=positions[index % len(positions)],
                    sub_id=f"群{index % 97}",
                ),
                promoter_id=promoter_ids[index % len(promoter_ids)],
            )
            codes.append(link.short_code)
    return codes


def count_clicks(data_dir: Path, database_url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from siyu.models import Click

    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(Click))
    engine.dispose()
    return int(count or 0)


# ---- load -------------------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    generator: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def run_wrk(port: int, script: Path, seconds: float, cpu: int | None) -> Load:
    command = [
        *_pin(cpu),
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if not (requests and rate and p50 and p99):
        raise RuntimeError(f"could not read wrk output:\n{output}")
    error_count = int(errors.group(1)) if errors else 0
    if socket_errors:
        error_count += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Load(
        requests=int(requests.group(1)),
        seconds=_ms(requests.group(2) + requests.group(3)) / 1000,
        requests_per_second=float(rate.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        errors=error_count,
        generator="wrk -t1 -c64",
    )


def visit_all(port: int, paths: list[str]) -> None:
    """Every code once before timing: the rounds measure the steady state (links cached), not
    the first click on each of N links."""
    import httpx

    async def visit() -> None:
        queue = list(paths)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def worker() -> None:
                while queue:
                    await client.get(queue.pop())

            await asyncio.gather(*(worker() for _ in range(32)))

    asyncio.run(visit())


def run_httpx(port: int, paths: list[str], seconds: float) -> Load:
    import httpx

    async def drive() -> Load:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, follow_redirects=False
        ) as client:
            deadline = time.perf_counter() + seconds
            rng = random.Random(11)

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    response = await client.get(rng.choice(paths))
                    latencies.append(time.perf_counter() - started)
                    if response.status_code != 302:
                        errors += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
            elapsed = time.perf_counter() - started
        latencies.sort()
        return Load(
            requests=len(latencies),
            seconds=elapsed,
            requests_per_second=len(latencies) / elapsed,
            p50_ms=latencies[len(latencies) // 2] * 1000,
            p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
            errors=errors,
            generator="httpx asyncio, 64 connections (client-bound: wrk not installed)",
        )

    return asyncio.run(drive())


class Server:
    """One server process (``redirect.py --serve kind``) pinned like the other."""

    def __init__(
        self, kind: str, data_dir: Path, database_url: str, server_cpu: int | None
    ) -> None:
        self.kind = kind
        self.port = _free_port()
        command = [
            *_pin(server_cpu),
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            kind,
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            "--database-url",
            database_url,
        ]
        self.process = subprocess.Popen(command)
        _wait_ready(self.port, self.process)

    def answered(self) -> int:
        import httpx

        return int(httpx.get(f"http://127.0.0.1:{self.port}{COUNT_PATH}").text)

    def stop(self) -> None:
        """SIGTERM: uvicorn's clean shutdown (siyu's lifespan flushes the click buffer)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        if self.process.returncode not in (0, -signal.SIGTERM):
            raise RuntimeError(f"{self.kind} server exited with {self.process.returncode}")


def drive(
    server: Server, paths: list[str], script: Path, seconds: float, client_cpu: int | None
) -> Load:
    if shutil.which("wrk"):
        return run_wrk(server.port, script, seconds, client_cpu)
    return run_httpx(server.port, paths, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="CI-sized run, under a minute")
    parser.add_argument("--links", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None, help="alternating timed rounds")
    parser.add_argument("--duration", type=float, default=None, help="seconds per round")
    parser.add_argument("--serve", choices=["siyu", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.data_dir, args.database_url)
        return

    links = args.links or (1_000 if args.quick else 10_000)
    rounds = args.rounds or (3 if args.quick else 5)
    seconds = args.duration or (4.0 if args.quick else 10.0)
    warmup = 2.0 if args.quick else 5.0
    cpus = os.cpu_count() or 1
    server_cpu, client_cpu = (0, 1) if cpus >= 2 and shutil.which("taskset") else (None, None)

    with tempfile.TemporaryDirectory(prefix="siyu-bench-redirect-") as tmp:
        data_dir = Path(tmp)
        database_url = os.environ.get("SIYU_DATABASE_URL") or f"sqlite:///{data_dir / 'siyu.db'}"
        backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        started = time.perf_counter()
        codes = seed(data_dir, database_url, links)
        print(f"seeded {links:,} links on {backend} in {time.perf_counter() - started:.1f} s")
        sample = random.Random(3).sample(codes, min(len(codes), 10_000))
        paths = [f"/s/{code}" for code in sample]
        script = data_dir / "paths.lua"
        script.write_text(
            "local paths = {"
            + ",".join(f'"{path}"' for path in paths)
            + "}\nmath.randomseed(5)\n"
            + "request = function()\n"
            + "  return wrk.format('GET', paths[math.random(#paths)])\nend\n"
        )
        pinning = (
            f"; server CPU {server_cpu}, load generator CPU {client_cpu}"
            if server_cpu is not None
            else ""
        )
        print(
            f"load: {CONNECTIONS} connections, {rounds} alternating rounds of {seconds:.0f} s per "
            f"server after {warmup:.0f} s warm-up, {len(paths):,} distinct codes; uvicorn, "
            f"1 worker, 127.0.0.1{pinning}"
        )
        servers = {kind: Server(kind, data_dir, database_url, server_cpu) for kind in KINDS}
        loads: dict[str, list[Load]] = {kind: [] for kind in KINDS}
        try:
            for server in servers.values():
                visit_all(server.port, paths)
                drive(server, paths, script, warmup, client_cpu)
            for _ in range(rounds):
                for kind, server in servers.items():
                    loads[kind].append(drive(server, paths, script, seconds, client_cpu))
            answered = servers["siyu"].answered()
        finally:
            for server in servers.values():
                server.stop()
        recorded = count_clicks(data_dir, database_url)

    print(f"generator: {loads['siyu'][0].generator}")
    for kind in KINDS:
        rates = ", ".join(f"{load.requests_per_second:,.0f}" for load in loads[kind])
        print(f"{LABELS[kind]:>15} rounds (req/s): {rates}")
    best = {kind: max(loads[kind], key=lambda load: load.requests_per_second) for kind in KINDS}
    for kind in KINDS:
        load = best[kind]
        errors = sum(item.errors for item in loads[kind])
        print(
            f"{LABELS[kind]:>15} best round: {load.requests_per_second:>9,.0f} req/s  "
            f"p50 {load.p50_ms:6.2f} ms  p99 {load.p99_ms:6.2f} ms  "
            f"({load.requests:,} requests in {load.seconds:.1f} s; {errors} errors in all rounds)"
        )
    medians = {
        kind: statistics.median(load.requests_per_second for load in loads[kind]) for kind in KINDS
    }
    print(f"median ratio siyu/bare: {medians['siyu'] / medians['bare']:.2f}")
    p99 = best["siyu"].p99_ms
    p99_verdict = "PASS" if p99 <= TARGET_P99_MS else "MISS"
    print(f"p99 at {CONNECTIONS} connections: siyu {p99:.2f} ms target<=25 ms {p99_verdict}")
    timed = sum(load.requests for load in loads["siyu"])
    match = "MATCH" if recorded == answered else "MISMATCH"
    print(
        f"clicks: recorded={recorded:,} redirects answered={answered:,} {match} "
        f"(answered counts warm-up too; the load generator completed {timed:,} in the timed "
        "rounds and abandons the requests in flight when a round ends)"
    )
    ratio = best["siyu"].requests_per_second / best["bare"].requests_per_second
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(f"redirect: ratio={ratio:.2f} target>={TARGET_RATIO} {verdict}")


if __name__ == "__main__":
    main()
