"""Every ORM model, imported here so Alembic and the app see one metadata."""

from siyu.models.audit import AuditEvent
from siyu.models.base import Base
from siyu.models.catalog import (
    REVIEW_STATUS_LABELS,
    CouponBatch,
    Merchant,
    MerchantStatus,
    Product,
    ReviewStatus,
)
from siyu.models.consumers import Consumer
from siyu.models.promoters import (
    PROMOTER_KIND_LABELS,
    BindingMode,
    Promoter,
    PromoterBinding,
    PromoterGrade,
    PromoterKind,
    PromoterStatus,
)
from siyu.models.users import ROLE_LABELS, ApiToken, Role, User

__all__ = [
    "PROMOTER_KIND_LABELS",
    "REVIEW_STATUS_LABELS",
    "ROLE_LABELS",
    "ApiToken",
    "AuditEvent",
    "Base",
    "BindingMode",
    "Consumer",
    "CouponBatch",
    "Merchant",
    "MerchantStatus",
    "Product",
    "Promoter",
    "PromoterBinding",
    "PromoterGrade",
    "PromoterKind",
    "PromoterStatus",
    "ReviewStatus",
    "Role",
    "User",
]
