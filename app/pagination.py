"""Pages of query results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func
from sqlmodel import Session, select


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(session: Session, query: Select, number: int, size: int) -> Page:
    """Page NUMBER (1-based, clamped to the last page) of QUERY."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    last = max(1, -(-total // size))
    number = min(max(1, number), last)
    items = list(session.exec(query.limit(size).offset((number - 1) * size)))
    return Page(items=items, number=number, size=size, total=total)
