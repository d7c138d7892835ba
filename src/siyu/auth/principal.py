"""Who is asking. Every service call that reads or changes an owned object takes one."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.errors import PermissionDenied
from siyu.models import Role, User


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: Role
    merchant_id: int | None = None
    promoter_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            merchant_id=user.merchant_id,
            promoter_id=user.promoter_id,
        )

    @property
    def is_platform(self) -> bool:
        """Platform staff (admin or operator) see every merchant's and promoter's objects."""
        return self.role in (Role.ADMIN, Role.OPERATOR)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise PermissionDenied()

    def require_platform(self) -> None:
        self.require(Role.ADMIN, Role.OPERATOR)

    def require_admin(self) -> None:
        self.require(Role.ADMIN)


SYSTEM = Principal(user_id=0, username="system", display_name="系统", role=Role.ADMIN)
