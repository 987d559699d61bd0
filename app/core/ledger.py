"""The 督办台账: the columns of the tabular export of tasks, as plain rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.core.lifecycle import LIGHT_LABELS, STATUS_LABELS, Light, TaskStatus
from app.core.timefmt import format_date_cn

# (header, column width in characters)
COLUMNS: list[tuple[str, int]] = [
    ("序号", 6), ("任务", 36), ("来源", 30), ("牵头单位", 16), ("配合单位", 20),
    ("责任人", 10), ("时限", 14), ("最新进展", 50), ("状态", 8), ("亮灯", 16),
]  # fmt: skip


@dataclass(frozen=True)
class LedgerTask:
    title: str
    source: str
    lead_office: str
    cooperating: list[str]
    owner: str | None
    deadline: date
    latest_progress: str | None
    status: str
    light: Light


def ledger_rows(tasks: list[LedgerTask]) -> list[list[str | int]]:
    """One row per task, numbered from 1, every value as the ledger shows it."""
    return [
        [number, t.title, t.source, t.lead_office, "、".join(t.cooperating), t.owner or "",
         format_date_cn(t.deadline), t.latest_progress or "", STATUS_LABELS[TaskStatus(t.status)],
         "" if t.light == Light.NONE else LIGHT_LABELS[t.light]]
        for number, t in enumerate(tasks, start=1)
    ]  # fmt: skip
