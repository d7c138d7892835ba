"""Shared set-up for the money-loop benchmarks (``orders.py``, ``settlement.py``): which database,
a migrated empty schema, siyu's settings, and the few rows every run needs (a merchant, approved
products, promoters with inviters, ledger accounts).

Not a benchmark itself (no ``<name>: ratio=`` line); imported as ``_common`` because a benchmark
runs as ``python bench/<name>.py`` and so has ``bench/`` on its path.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

WEBHOOK_SECRET = "bench-webhook-secret"


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on this PostgreSQL database (default: SIYU_DATABASE_URL if it is one)",
    )
    parser.add_argument(
        "--reset-postgres",
        action="store_true",
        help="drop and recreate the PostgreSQL database's public schema first (a throwaway "
        "database only); without it a database that has tables is refused",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")


def postgres_url(args: argparse.Namespace) -> str | None:
    """``--postgres`` first, then ``SIYU_DATABASE_URL`` when it names PostgreSQL."""
    url = args.postgres or os.environ.get("SIYU_DATABASE_URL") or ""
    if not url:
        return None
    if not url.startswith("postgresql"):
        raise SystemExit(f"not a PostgreSQL URL: {url.split('@')[-1]}")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def backends(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str]]:
    """(label, url) of every database this run measures, SQLite first."""
    result = []
    if not args.no_sqlite:
        result.append(("SQLite", f"sqlite:///{tmp / 'siyu.db'}"))
    pg = postgres_url(args)
    if pg is not None:
        result.append(("PostgreSQL", pg))
    elif args.no_sqlite:
        raise SystemExit("--no-sqlite needs --postgres URL or SIYU_DATABASE_URL")
    else:
        print(
            "PostgreSQL: not measured (give --postgres URL or SIYU_DATABASE_URL=postgresql+"
            "psycopg://…); SQLite only"
        )
    return result


def settings_for(url: str, data_dir: Path, **overrides: Any) -> Any:
    from cryptography.fernet import Fernet

    from siyu.config import Settings

    return Settings(
        environment="production",
        data_dir=data_dir,
        database_url=url,
        secret_key=os.urandom(24).hex(),
        encryption_key=Fernet.generate_key().decode(),
        order_webhook_secret=WEBHOOK_SECRET,
        jobs_backend="memory",
        **overrides,
    )


def prepare_database(url: str, data_dir: Path, reset_postgres: bool, **overrides: Any) -> Any:
    """A migrated empty schema; siyu's settings and database configured for it."""
    from sqlalchemy import create_engine, inspect, text

    from siyu.config import configure
    from siyu.db import configure_database
    from siyu.migrations import upgrade_database

    if url.startswith("postgresql"):
        engine = create_engine(url)
        try:
            tables = inspect(engine).get_table_names()
            if tables and not reset_postgres:
                raise SystemExit(
                    "the PostgreSQL database must be empty: the benchmark creates and fills its "
                    f"own tables (found {len(tables)} tables; nothing was changed). Pass "
                    "--reset-postgres to drop its public schema first (throwaway databases only)."
                )
            if tables:
                with engine.begin() as connection:
                    connection.execute(text("DROP SCHEMA public CASCADE"))
                    connection.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    settings = configure(settings_for(url, data_dir, **overrides))
    upgrade_database(settings.resolved_database_url)
    return configure_database(settings.resolved_database_url)


@dataclass(frozen=True)
class World:
    merchant_id: int
    product_ids: list[int]
    promoter_ids: list[int]
    """Every other promoter has an inviter (so L2 shares occur), all active."""


def seed_world(products: int, promoters: int) -> World:
    """A merchant, approved products (5 % commission) and promoters, through the services."""
    from siyu.catalog import service as catalog_service
    from siyu.catalog.schemas import MerchantCreate, ProductCreate
    from siyu.db import unit_of_work
    from siyu.kit.crypto import blind_index, encrypt
    from siyu.models import Promoter, PromoterKind
    from siyu.promoters.service import ensure_default_grades

    with unit_of_work() as session:
        merchant = catalog_service.create_merchant(session, None, MerchantCreate(name="基准商家"))
        product_ids = []
        for index in range(products):
            product = catalog_service.create_product(
                session,
                None,
                ProductCreate(
                    merchant_id=merchant.id,
                    title=f"基准商品 {index}",
                    category="箱包",
                    list_price_fen=19900,
                    promo_price_fen=5990,
                    stock=1_000_000_000,
                    commission_rate_bp=500,
                ),
            )
            catalog_service.approve_product(session, None, product.id)
            product_ids.append(product.id)
        grade = ensure_default_grades(session)
        promoter_ids: list[int] = []
        for index in range(promoters):
            phone = f"139{index:08d}"
            promoter = Promoter(
                name=f"推手{index}",
                kind=PromoterKind.INDIVIDUAL,
                phone_encrypted=encrypt(phone),
                phone_index=blind_index(phone),
                invite_code=f"B{index:07d}",
                grade_id=grade.id,
                inviter_id=promoter_ids[index - 1] if index % 2 == 1 else None,
            )
            session.add(promoter)
            session.flush()
            promoter_ids.append(promoter.id)
        return World(merchant.id, product_ids, promoter_ids)


def verdict(name: str, ratio: float, target: float) -> str:
    return f"{name}: ratio={ratio:.2f} target>={target} {'PASS' if ratio >= target else 'MISS'}"
