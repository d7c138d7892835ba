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
from siyu.models.ledger import (
    LEDGER_ACCOUNT_KIND_LABELS,
    PLATFORM_OWNER_ID,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerOwnerType,
    LedgerRowImmutable,
    LedgerTransaction,
)
from siyu.models.links import (
    LINK_POSITION_LABELS,
    LINK_TARGET_KIND_LABELS,
    Click,
    LinkPosition,
    LinkTargetKind,
    TrackedLink,
)
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
    "LEDGER_ACCOUNT_KIND_LABELS",
    "LINK_POSITION_LABELS",
    "LINK_TARGET_KIND_LABELS",
    "PLATFORM_OWNER_ID",
    "PROMOTER_KIND_LABELS",
    "REVIEW_STATUS_LABELS",
    "ROLE_LABELS",
    "ApiToken",
    "AuditEvent",
    "Base",
    "BindingMode",
    "Click",
    "Consumer",
    "CouponBatch",
    "LedgerAccount",
    "LedgerAccountKind",
    "LedgerEntry",
    "LedgerOwnerType",
    "LedgerRowImmutable",
    "LedgerTransaction",
    "LinkPosition",
    "LinkTargetKind",
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
    "TrackedLink",
    "User",
]
