"""Quantified outcomes (指标, 数值, 单位) summed the way the review and the draft report them. Pure.

Same metric and same unit add up (开展集中普法宣传 7次 + 5次 → 12次); a different unit stays
apart (12次 and 300人 are not one number). Metrics and units are compared after the small
differences people type (spaces, full-width letters and digits), and shown as first written.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class OutcomeItem:
    metric: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class OutcomeTotal:
    metric: str
    unit: str
    value: float
    count: int  # how many reported values were summed

    @property
    def phrase(self) -> str:
        """开展集中普法宣传12次 — the form a report sentence carries."""
        return f"{self.metric}{format_value(self.value)}{self.unit}"


def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def format_value(value: float) -> str:
    """12 not 12.0; 2.5 stays; no float noise (0.1 + 0.2 → 0.3)."""
    rounded = round(value, 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.2f}".rstrip("0").rstrip(".")


def aggregate(items: Iterable[OutcomeItem]) -> list[OutcomeTotal]:
    """Totals per (metric, unit), in the order each was first reported."""
    totals: dict[tuple[str, str], list] = {}
    for item in items:
        if not item.metric.strip():
            continue
        key = (_key(item.metric), _key(item.unit))
        if key not in totals:
            totals[key] = [item.metric.strip(), item.unit.strip(), 0.0, 0]
        totals[key][2] += item.value
        totals[key][3] += 1
    return [
        OutcomeTotal(metric, unit, value, count) for metric, unit, value, count in totals.values()
    ]
