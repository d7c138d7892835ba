"""CSV import of external orders, with a per-row error report. Never commits.

One CSV row is one order line; rows sharing ``external_order_id`` form one order (the order's
freight and buyer come from its first row). Each order goes through ``service.place_order`` in
its own savepoint, so good orders are imported and bad ones reported. Re-importing a file is
harmless: an order already imported (same external order id) is counted as a duplicate.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.errors import AppError, ValidationFailed
from siyu.kit.money import parse_yuan
from siyu.models import OrderSource
from siyu.orders import service
from siyu.orders.repository import OrderRepository
from siyu.orders.schemas import DraftLine, OrderDraft

COLUMNS = (
    "external_order_id",
    "external_line_id",
    "merchant_id",
    "product_id",
    "quantity",
    "unit_price_yuan",
    "phone",
    "nickname",
    "freight_yuan",
    "click_token",
)
REQUIRED = COLUMNS[:7]
MAX_ROWS = 5000

COLUMN_HELP = {
    "external_order_id": "外部订单号（同一订单的多行相同）",
    "external_line_id": "外部订单行号（同一订单内唯一）",
    "merchant_id": "商家编号",
    "product_id": "商品编号（该商家已审核通过的商品）",
    "quantity": "数量（正整数）",
    "unit_price_yuan": "成交单价（元，如 54.00）",
    "phone": "买家手机号（11 位）",
    "nickname": "买家昵称（可空）",
    "freight_yuan": "运费（元，可空，取该订单第一行）",
    "click_token": "推广点击标识（可空）",
}


class ImportHeaderInvalid(ValidationFailed):
    code = "import_header_invalid"
    message_en = "The CSV header must contain the columns: {columns} (missing: {missing})."
    message_zh = "CSV 表头缺少以下列：{missing}。请下载模板并按模板填写。"


class ImportTooLarge(ValidationFailed):
    code = "import_too_large"
    message_en = "At most {limit} rows per file."
    message_zh = "每个文件最多 {limit} 行，请拆分后分批导入。"


class ImportRowInvalid(ValidationFailed):
    code = "import_row_invalid"
    message_en = "{field}: {problem}"
    message_zh = "{field_zh}：{problem_zh}"


@dataclass(frozen=True)
class RowError:
    row: int
    """The line number in the file (the header is line 1)."""
    code: str
    message_en: str
    message_zh: str


@dataclass
class ImportReport:
    imported_orders: int = 0
    imported_lines: int = 0
    duplicate_orders: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Row:
    number: int
    external_order_id: str
    external_line_id: str
    merchant_id: int
    product_id: int
    quantity: int
    unit_price_fen: int
    phone: str
    nickname: str
    freight_fen: int
    click_token: str | None


def _integer(value: str, name: str, name_zh: str, minimum: int) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) < minimum:
        raise ImportRowInvalid(
            field=name,
            field_zh=name_zh,
            problem=f"expected an integer ≥ {minimum}, got {value!r}",
            problem_zh=f"应为不小于 {minimum} 的整数，当前为“{value}”",
        )
    return int(text)


def _parse_row(number: int, raw: dict[str, str]) -> _Row:
    values = {key: (raw.get(key) or "").strip() for key in COLUMNS}
    for key in REQUIRED:
        if not values[key]:
            raise ImportRowInvalid(
                field=key,
                field_zh=COLUMN_HELP[key],
                problem="required",
                problem_zh="不能为空",
            )
    if len(values["external_order_id"]) > 64 or len(values["external_line_id"]) > 64:
        raise ImportRowInvalid(
            field="external_order_id",
            field_zh="外部订单号/行号",
            problem="at most 64 characters",
            problem_zh="不能超过 64 个字符",
        )
    return _Row(
        number=number,
        external_order_id=values["external_order_id"],
        external_line_id=values["external_line_id"],
        merchant_id=_integer(values["merchant_id"], "merchant_id", "商家编号", 1),
        product_id=_integer(values["product_id"], "product_id", "商品编号", 1),
        quantity=_integer(values["quantity"], "quantity", "数量", 1),
        unit_price_fen=parse_yuan(values["unit_price_yuan"], "unit_price_yuan", "成交单价"),
        phone=values["phone"],
        nickname=values["nickname"][:64],
        freight_fen=parse_yuan(values["freight_yuan"], "freight_yuan", "运费")
        if values["freight_yuan"]
        else 0,
        click_token=values["click_token"] or None,
    )


def import_orders_csv(session: Session, actor: Principal | None, text: str) -> ImportReport:
    """Import external orders from CSV text (platform staff only)."""
    if actor is not None:
        actor.require_platform()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportHeaderInvalid(columns=", ".join(COLUMNS), missing=", ".join(missing))
    reader.fieldnames = header
    report = ImportReport()
    groups: dict[str, list[_Row]] = {}
    broken: set[str] = set()
    for index, raw in enumerate(reader):
        number = index + 2
        if index >= MAX_ROWS:
            raise ImportTooLarge(limit=MAX_ROWS)
        try:
            row = _parse_row(number, raw)
        except AppError as error:
            report.errors.append(RowError(number, error.code, error.en, error.zh))
            broken.add((raw.get("external_order_id") or "").strip())
            continue
        groups.setdefault(row.external_order_id, []).append(row)
    repository = OrderRepository(session)
    for external_id, rows in groups.items():
        if external_id in broken:
            for row in rows:
                report.errors.append(
                    RowError(
                        row.number,
                        "import_order_incomplete",
                        "Another row of this order is invalid; the order was not imported.",
                        "同一订单的其他行有错误，该订单未导入。",
                    )
                )
            continue
        line_ids = [row.external_line_id for row in rows]
        if len(set(line_ids)) != len(line_ids):
            for row in rows:
                report.errors.append(
                    RowError(
                        row.number,
                        "import_line_id_repeated",
                        "external_line_id repeats within this order.",
                        "同一订单内的外部订单行号重复，该订单未导入。",
                    )
                )
            continue
        if repository.by_external(OrderSource.IMPORT, external_id) is not None:
            report.duplicate_orders += 1
            continue
        first = rows[0]
        draft = OrderDraft(
            lines=tuple(
                DraftLine(
                    product_id=row.product_id,
                    quantity=row.quantity,
                    unit_price_fen=row.unit_price_fen,
                    external_line_id=row.external_line_id,
                )
                for row in rows
            ),
            phone=first.phone,
            nickname=first.nickname,
            source=OrderSource.IMPORT,
            external_order_id=external_id,
            merchant_id=first.merchant_id,
            freight_fen=first.freight_fen,
            click_token=first.click_token,
        )
        try:
            service.place_order(session, draft)
        except AppError as error:
            for row in rows:
                report.errors.append(RowError(row.number, error.code, error.en, error.zh))
            continue
        report.imported_orders += 1
        report.imported_lines += len(rows)
    return report
