"""The 督办台账 export: the filtered task list with sources and each task's latest progress."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from app.core import lifecycle
from app.core.ledger import COLUMNS, LedgerTask, ledger_rows
from app.core.workdays import WorkCalendar
from app.models import Commitment, ProgressUpdate, Report, Task
from app.xlsx_render import render_table


def _latest_progress(session: Session, task_ids: list[int]) -> dict[int, str]:
    latest = (
        select(func.max(ProgressUpdate.id))
        .where(ProgressUpdate.task_id.in_(task_ids))
        .group_by(ProgressUpdate.task_id)
    )
    rows = session.exec(select(ProgressUpdate).where(ProgressUpdate.id.in_(latest)))
    return {u.task_id: u.text for u in rows}


def _sources(session: Session, tasks: list[Task]) -> dict[int, str]:
    ids = {t.commitment_id for t in tasks if t.commitment_id}
    rows = session.exec(
        select(Commitment, Report.year)
        .join(Report, Report.id == Commitment.report_id)
        .where(Commitment.id.in_(ids))
    )
    return {c.id: f"{year}年度报告 {c.marker}{c.lead}" for c, year in rows}


def ledger_tasks(
    session: Session, tasks: list[Task], today: date, calendar: WorkCalendar
) -> list[LedgerTask]:
    """The ledger's view of TASKS (a fixed number of queries)."""
    ids = [t.id for t in tasks]
    with_offices = {
        t.id: t
        for t in session.exec(
            select(Task).where(Task.id.in_(ids)).options(selectinload(Task.cooperating_offices))
        )
    }
    progress, sources = _latest_progress(session, ids), _sources(session, tasks)
    return [
        LedgerTask(
            title=t.title,
            source=sources.get(t.commitment_id, ""),
            lead_office=t.lead_office.name,
            cooperating=[o.name for o in with_offices[t.id].cooperating_offices],
            owner=t.owner.name if t.owner else None,
            deadline=t.deadline,
            latest_progress=progress.get(t.id),
            status=t.status,
            light=lifecycle.light(t.status, t.deadline, today, calendar),
        )  # fmt: skip
        for t in tasks
    ]


def ledger_xlsx(title: str, tasks: list[LedgerTask]) -> bytes:
    """The 台账 workbook."""
    return render_table(title, COLUMNS, ledger_rows(tasks))
