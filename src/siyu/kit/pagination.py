from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    size: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "page", max(1, self.page))
        object.__setattr__(self, "size", min(max(1, self.size), MAX_PAGE_SIZE))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    request: PageRequest

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.size))

    @property
    def has_next(self) -> bool:
        return self.request.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.request.page > 1
