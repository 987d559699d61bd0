"""What the report parser produces: one tree of frozen dataclasses, JSON-serialisable.

Offsets (start, end) index into ParsedReport.text, the decoded text the parser worked on (line
endings normalised to "\\n"), so the preview can show where each item came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ParseError(Exception):
    """The input cannot be read as a report; MESSAGE is Chinese and shown to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Fact:
    """A quantified fact: 调处化解矛盾纠纷209件 -> (调处化解矛盾纠纷, 209, 件)."""

    metric: str
    value: float
    unit: str
    text: str


@dataclass(frozen=True)
class AchievementItem:
    marker: str
    lead: str
    text: str
    facts: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class AchievementSection:
    """A second-level subsection of 工作情况 (（一）…), or a thematic top-level section."""

    marker: str
    heading: str
    text: str
    items: tuple[AchievementItem, ...] = ()
    facts: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class ProblemItem:
    marker: str
    lead: str
    text: str
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class PlanItem:
    """One commitment of the 下一步打算 section."""

    marker: str
    lead: str
    text: str
    measures: tuple[str, ...] = ()
    time_phrase: str | None = None
    office: str | None = None
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class ParsedReport:
    title: str | None
    unit: str | None
    year: int | None
    plan_heading: str | None
    achievements: tuple[AchievementSection, ...] = ()
    problems: tuple[ProblemItem, ...] = ()
    plans: tuple[PlanItem, ...] = ()
    text: str = ""
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The gold-file schema (title, unit, year, plan_heading, sections) plus details."""
        return {
            "title": self.title,
            "unit": self.unit,
            "year": self.year,
            "plan_heading": self.plan_heading,
            "sections": {
                "achievements": len(self.achievements),
                "problems": [p.lead for p in self.problems],
                "plans": [
                    {
                        "marker": p.marker,
                        "lead": p.lead,
                        "text": p.text,
                        "time_phrase": p.time_phrase,
                        "office": p.office,
                        "measures": list(p.measures),
                        "start": p.start,
                        "end": p.end,
                    }
                    for p in self.plans
                ],
            },
            "details": {
                "achievements": [
                    {
                        "marker": s.marker,
                        "heading": s.heading,
                        "items": [
                            {"marker": i.marker, "lead": i.lead, "text": i.text,
                             "facts": [_fact_json(f) for f in i.facts]}
                            for i in s.items
                        ],
                        "facts": [_fact_json(f) for f in s.facts],
                    }
                    for s in self.achievements
                ],
                "problems": [
                    {"marker": p.marker, "lead": p.lead, "text": p.text} for p in self.problems
                ],
                "warnings": list(self.warnings),
            },
        }  # fmt: skip


def _fact_json(fact: Fact) -> dict[str, Any]:
    return {"metric": fact.metric, "value": fact.value, "unit": fact.unit, "text": fact.text}
