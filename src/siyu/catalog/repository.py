from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from siyu.kit.pagination import Page, PageRequest
from siyu.models import CouponBatch, Merchant, MerchantStatus, Product, ReviewStatus

RowT = TypeVar("RowT")

# A <select> of merchants in a form stays usable up to about this many; beyond it, type an id.
MERCHANT_CHOICES_LIMIT = 500


def _paginate(session: Session, statement: Select[RowT], page: PageRequest) -> Page[RowT]:
    """``statement`` carries its ORDER BY; the count ignores it."""
    counted = statement.order_by(None).subquery()
    total = session.scalar(select(func.count()).select_from(counted)) or 0
    items = session.scalars(statement.offset(page.offset).limit(page.size)).all()
    return Page(list(items), total, page)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class MerchantRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, merchant_id: int) -> Merchant | None:
        return self.session.get(Merchant, merchant_id)

    def get_by_name(self, name: str) -> Merchant | None:
        return self.session.scalar(select(Merchant).where(Merchant.name == name))

    def add(self, merchant: Merchant) -> Merchant:
        self.session.add(merchant)
        self.session.flush()
        return merchant

    def list(
        self, page: PageRequest, query: str = "", only_id: int | None = None
    ) -> Page[Merchant]:
        statement = select(Merchant)
        if only_id is not None:
            statement = statement.where(Merchant.id == only_id)
        if query:
            statement = statement.where(Merchant.name.ilike(_like(query), escape="\\"))
        return _paginate(self.session, statement.order_by(Merchant.id), page)

    def choices(self, only_id: int | None = None) -> Sequence[Merchant]:
        statement = select(Merchant).order_by(Merchant.name).limit(MERCHANT_CHOICES_LIMIT)
        if only_id is not None:
            statement = statement.where(Merchant.id == only_id)
        return self.session.scalars(statement).all()


class ProductRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, product_id: int) -> Product | None:
        return self.session.get(Product, product_id)

    def get_for_update(self, product_id: int) -> Product | None:
        """Review decisions lock the row so two reviewers cannot both decide."""
        return self.session.scalar(
            select(Product).where(Product.id == product_id).with_for_update(of=Product)
        )

    def add(self, product: Product) -> Product:
        self.session.add(product)
        self.session.flush()
        return product

    def list(
        self,
        page: PageRequest,
        merchant_id: int | None = None,
        status: ReviewStatus | None = None,
        query: str = "",
        on_shelf: bool | None = None,
    ) -> Page[Product]:
        statement = select(Product)
        if merchant_id is not None:
            statement = statement.where(Product.merchant_id == merchant_id)
        if status is not None:
            statement = statement.where(Product.review_status == status)
        if on_shelf is not None:
            statement = statement.where(Product.on_shelf.is_(on_shelf))
        if query:
            statement = statement.where(Product.title.ilike(_like(query), escape="\\"))
        return _paginate(self.session, statement.order_by(Product.id.desc()), page)

    def review_queue(self, page: PageRequest) -> Page[Product]:
        """Pending products, oldest first: a resubmitted product has waited longest."""
        statement = (
            select(Product)
            .where(Product.review_status == ReviewStatus.PENDING)
            .order_by(Product.id)
        )
        return _paginate(self.session, statement, page)

    def _pool_statement(self) -> Select[Product]:
        return (
            select(Product)
            .join(Merchant, Merchant.id == Product.merchant_id)
            .where(
                Product.review_status == ReviewStatus.APPROVED,
                Product.on_shelf.is_(True),
                Merchant.status == MerchantStatus.ACTIVE,
            )
        )

    def pool(
        self, page: PageRequest, query: str = "", category: str = "", product_line: str = ""
    ) -> Page[Product]:
        statement = self._pool_statement()
        if query:
            statement = statement.where(Product.title.ilike(_like(query), escape="\\"))
        if category:
            statement = statement.where(Product.category == category)
        if product_line:
            statement = statement.where(Product.product_line == product_line)
        ordered = statement.order_by(Product.rank_weight.desc(), Product.id)
        return _paginate(self.session, ordered, page)

    def get_in_pool(self, product_id: int) -> Product | None:
        return self.session.scalar(self._pool_statement().where(Product.id == product_id))

    def count_by_status(self, merchant_id: int | None = None) -> dict[ReviewStatus, int]:
        statement = select(Product.review_status, func.count()).group_by(Product.review_status)
        if merchant_id is not None:
            statement = statement.where(Product.merchant_id == merchant_id)
        counts = {status: 0 for status in ReviewStatus}
        for status, count in self.session.execute(statement).all():
            counts[status] = count
        return counts


class CouponBatchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, coupon_batch_id: int) -> CouponBatch | None:
        return self.session.get(CouponBatch, coupon_batch_id)

    def add(self, coupon_batch: CouponBatch) -> CouponBatch:
        self.session.add(coupon_batch)
        self.session.flush()
        return coupon_batch

    def list(
        self,
        page: PageRequest,
        merchant_id: int | None = None,
        product_id: int | None = None,
        active: bool | None = None,
    ) -> Page[CouponBatch]:
        statement = select(CouponBatch)
        if merchant_id is not None:
            statement = statement.where(CouponBatch.merchant_id == merchant_id)
        if product_id is not None:
            statement = statement.where(CouponBatch.product_id == product_id)
        if active is not None:
            statement = statement.where(CouponBatch.is_active.is_(active))
        return _paginate(self.session, statement.order_by(CouponBatch.id.desc()), page)
