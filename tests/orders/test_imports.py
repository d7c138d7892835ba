"""CSV import: good rows imported, bad rows reported per row, re-import idempotent."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.models import Order, OrderLine, OrderSource, Role
from siyu.orders import imports
from tests.conftest import count_rows
from tests.orders.conftest import Shop, stock_of

HEADER = ",".join(imports.COLUMNS)


def csv_text(shop: Shop, *rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def good(shop: Shop, order: str, line: str = "1", quantity: int = 1) -> str:
    return (
        f"{order},{line},{shop.merchant_id},{shop.product_id},{quantity},49.90,13900000005,阿花,6,"
    )


class TestImport:
    def test_good_rows_imported_bad_rows_reported(
        self, session: Session, database: Database, shop: Shop
    ) -> None:
        text = csv_text(
            shop,
            good(shop, "T-1", "1", 2),
            good(shop, "T-1", "2", 1),
            f"T-2,1,{shop.merchant_id},{shop.product_id},0,49.90,13900000005,,,",
            f"T-3,1,{shop.merchant_id},{shop.product_id},1,abc,13900000005,,,",
            good(shop, "T-4", "1", 50),
        )
        report = imports.import_orders_csv(session, None, text)
        session.commit()
        assert (report.imported_orders, report.imported_lines, report.duplicate_orders) == (1, 2, 0)
        assert [(error.row, error.code) for error in report.errors] == [
            (4, "import_row_invalid"),
            (5, "money_invalid"),
            (6, "product_out_of_stock"),
        ]
        assert "数量" in report.errors[0].message_zh
        assert count_rows(database, Order) == 1
        assert count_rows(database, OrderLine) == 2
        assert stock_of(database, shop.product_id) == 7
        with database.sessions() as check:
            order = check.query(Order).one()
            assert order.source == OrderSource.IMPORT
            assert (order.items_fen, order.freight_fen, order.paid_fen) == (14970, 600, 15570)

    def test_reimport_is_idempotent(self, session: Session, database: Database, shop: Shop) -> None:
        text = csv_text(shop, good(shop, "T-1"))
        imports.import_orders_csv(session, None, text)
        session.commit()
        again = imports.import_orders_csv(session, None, text)
        session.commit()
        assert (again.imported_orders, again.duplicate_orders, again.errors) == (0, 1, [])
        assert count_rows(database, Order) == 1

    def test_missing_columns(self, session: Session, shop: Shop) -> None:
        with pytest.raises(imports.ImportHeaderInvalid) as caught:
            imports.import_orders_csv(session, None, "external_order_id,phone\nA,1\n")
        assert "product_id" in caught.value.zh

    def test_repeated_line_id(self, session: Session, database: Database, shop: Shop) -> None:
        report = imports.import_orders_csv(
            session, None, csv_text(shop, good(shop, "T-1"), good(shop, "T-1"))
        )
        session.commit()
        assert [error.code for error in report.errors] == ["import_line_id_repeated"] * 2
        assert count_rows(database, Order) == 0

    def test_merchants_cannot_import(self, session: Session, shop: Shop) -> None:
        merchant = Principal(1, "m", "m", Role.MERCHANT, merchant_id=shop.merchant_id)
        with pytest.raises(PermissionDenied):
            imports.import_orders_csv(session, merchant, csv_text(shop, good(shop, "T-1")))
