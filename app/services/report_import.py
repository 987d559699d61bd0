"""Importing a report: parse → an editable draft (preview) → confirm in one transaction."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from app.core import import_plan as plans
from app.core.errors import DomainError
from app.core.glossary import ReportStatus
from app.core.lifecycle import STATUS_LABELS, TaskStatus
from app.core.report_parser import parse_report
from app.core.timefmt import format_date_cn
from app.core.workdays import RECURRENCE_LABELS, WorkCalendar, propose_deadline, recurrence_in
from app.models import (
    Commitment,
    DeadlineChange,
    ImportDraft,
    Office,
    OfficeRule,
    Problem,
    Report,
    Task,
    Unit,
    User,
)
from app.services import audit
from app.services.holidays import load_calendar

DRAFT_OPEN = "open"
DRAFT_CONFIRMED = "confirmed"
DRAFT_DISCARDED = "discarded"


def text_sha256(text: str) -> str:
    """The fingerprint that recognises the same report imported again."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


# -- what proposals are made from -------------------------------------------------------------


def office_choices(session: Session, unit_id: int) -> list[plans.OfficeChoice]:
    """The unit's active offices, as the plan core sees them."""
    rows = session.exec(
        select(Office).where(Office.unit_id == unit_id, Office.is_active).order_by(Office.id)
    )
    return [plans.OfficeChoice(o.id, o.name, o.short_name, o.head_id) for o in rows]


def keyword_rules(session: Session, unit_id: int) -> list[plans.KeywordRule]:
    """The unit's keyword rules for proposing lead offices."""
    rows = session.exec(
        select(OfficeRule)
        .join(Office, Office.id == OfficeRule.office_id)
        .where(Office.unit_id == unit_id, Office.is_active)
    )
    return [plans.KeywordRule(r.keyword, r.office_id, r.position) for r in rows]


def imported_report(session: Session, unit_id: int, year: int) -> Report | None:
    """The unit's imported report on YEAR (关于YEAR年度…的报告), if there is one."""
    return session.exec(
        select(Report).where(
            Report.unit_id == unit_id,
            Report.year == year,
            Report.status == ReportStatus.IMPORTED.value,
        )
    ).first()


def previous_commitments(
    session: Session, unit_id: int, year: int
) -> list[plans.PreviousCommitment]:
    """Last year's commitments of the unit, with what became of their tasks."""
    report = imported_report(session, unit_id, year - 1)
    if report is None:
        return []
    commitments = session.exec(select(Commitment).where(Commitment.report_id == report.id)).all()
    statuses: dict[int, Counter] = {c.id: Counter() for c in commitments}
    tasks = session.exec(select(Task).where(Task.commitment_id.in_(list(statuses)))).all()
    for task in tasks:
        statuses[task.commitment_id][task.status] += 1
    return [
        plans.PreviousCommitment(c.id, c.lead, report.year, _outcome(statuses[c.id]))
        for c in commitments
    ]


def _outcome(counts: Counter) -> str:
    if not counts:
        return "未分解任务"
    parts = [f"{STATUS_LABELS[TaskStatus(s)]}{n}项" for s, n in sorted(counts.items())]
    return f"{sum(counts.values())}项任务：" + "，".join(parts)


def deadline_rule(calendar: WorkCalendar, plan_year: int) -> plans.DeadlineFor:
    """time phrase -> (ISO date, recurrence, explanation) on the working-day calendar."""

    def deadline_for(phrase: str | None, text: str) -> tuple[str | None, str | None, str]:
        proposal = propose_deadline(phrase, plan_year, calendar)
        due, note = proposal.due, proposal.note
        recurrence = proposal.recurrence or recurrence_in(text)
        if due is None:  # a recurring duty only: the task itself runs to the year's end
            year_end = propose_deadline(None, plan_year, calendar)
            due, note = year_end.due, f"{note}{year_end.note}"
        if recurrence and not proposal.recurrence:
            note = f"{note}另须{RECURRENCE_LABELS[recurrence]}报送进展。"
        return (due.isoformat() if due else None), recurrence, note

    return deadline_for


def plan_context(session: Session, unit_id: int, year: int) -> plans.PlanContext:
    """Everything the plan core needs to propose offices, owners and deadlines."""
    return plans.PlanContext(
        offices=office_choices(session, unit_id),
        rules=keyword_rules(session, unit_id),
        deadline_for=deadline_rule(load_calendar(session), year + 1),
        previous=previous_commitments(session, unit_id, year),
    )


# -- the draft ----------------------------------------------------------------------------------


def check_not_imported(session: Session, *, unit_id: int, year: int, sha256: str) -> None:
    """Refuse a report this unit has already imported (same text, or same unit and year)."""
    same_text = session.exec(
        select(Report).where(Report.unit_id == unit_id, Report.source_sha256 == sha256)
    ).first()
    if same_text is not None:
        raise DomainError(
            f"该报告已于{format_date_cn(same_text.created_at.date())}导入"
            f"（{same_text.year}年度：{same_text.title}），不会重复导入。"
        )
    same_year = session.exec(
        select(Report).where(
            Report.unit_id == unit_id,
            Report.year == year,
            Report.status == ReportStatus.IMPORTED.value,
        )
    ).first()
    if same_year is not None:
        raise DomainError(f"本单位{year}年度的报告已经导入（{same_year.title}），不会重复导入。")


def start_import(
    session: Session,
    *,
    unit_id: int,
    text: str,
    filename: str | None,
    year: int | None,
    actor: User | None,
    now: datetime,
) -> ImportDraft:
    """Parse TEXT and keep it as a draft to preview; ParseError or DomainError if it cannot be."""
    if session.get(Unit, unit_id) is None:
        raise DomainError("所选单位不存在。", "unit_id")
    parsed = parse_report(text)
    year = year or parsed.year
    if year is None:
        raise DomainError("无法从报告中识别年度，请填写报告年度。", "year")
    if not parsed.plans:
        raise DomainError(
            parsed.warnings[0] if parsed.warnings else "报告中没有找到“下一步打算”部分。"
        )
    sha = text_sha256(parsed.text)
    check_not_imported(session, unit_id=unit_id, year=year, sha256=sha)
    structure = parsed.to_json()
    draft = ImportDraft(
        unit_id=unit_id, year=year, source_filename=filename, source_text=parsed.text,
        source_sha256=sha, parsed=structure,
        plan=plans.build_plan(structure, plan_context(session, unit_id, year)),
        created_by_id=actor.id if actor else None, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(draft)
    session.flush()
    return draft


def save_plan(session: Session, draft: ImportDraft, plan: plans.Plan, now: datetime) -> None:
    """Keep an edited plan (JSON columns are replaced, never mutated in place)."""
    if draft.status != DRAFT_OPEN:
        raise DomainError("该导入已经完成或已放弃，不能再修改。")
    draft.plan = plan
    draft.updated_at = now
    session.add(draft)
    session.flush()


def discard(session: Session, draft: ImportDraft, now: datetime) -> None:
    """Give up a draft; nothing was imported."""
    if draft.status == DRAFT_OPEN:
        draft.status = DRAFT_DISCARDED
        draft.updated_at = now
        session.add(draft)


# -- confirm ------------------------------------------------------------------------------------


def confirm_import(
    session: Session, *, draft: ImportDraft, actor: User | None, now: datetime,
    ip: str | None = None,
) -> Report:  # fmt: skip
    """Create the Report, its Problems, Commitments and Tasks from the draft, all at once."""
    if draft.status != DRAFT_OPEN:
        raise DomainError("该导入已经完成或已放弃。")
    problems = plans.plan_problems(draft.plan)
    if problems:
        raise DomainError("；".join(problems))
    check_not_imported(session, unit_id=draft.unit_id, year=draft.year, sha256=draft.source_sha256)
    offices = {o.id for o in office_choices(session, draft.unit_id)}
    report = _create_report(session, draft, actor)
    problem_rows = _create_problems(session, report, draft.plan["problems"])
    task_count = 0
    for position, item in enumerate(draft.plan["commitments"]):
        commitment = _create_commitment(session, report, position, item, problem_rows)
        for spec in item["tasks"]:
            _create_task(session, commitment, spec, offices, actor, now)
            task_count += 1
    draft.status = DRAFT_CONFIRMED
    draft.report_id = report.id
    draft.updated_at = now
    session.add(draft)
    audit.record(
        session, actor=actor, action="report.import", object_type="report", object_id=report.id,
        after={"year": report.year, "title": report.title, "commitments":
               len(draft.plan["commitments"]), "tasks": task_count}, ip=ip,
    )  # fmt: skip
    session.flush()
    return report


def _create_report(session: Session, draft: ImportDraft, actor: User | None) -> Report:
    title = draft.parsed.get("title") or f"关于{draft.year}年度法治政府建设情况的报告"
    report = Report(
        unit_id=draft.unit_id, year=draft.year, title=title[:200],
        source_filename=draft.source_filename, source_text=draft.source_text,
        source_sha256=draft.source_sha256, structure=draft.parsed,
        status=ReportStatus.IMPORTED.value, created_by_id=actor.id if actor else None,
    )  # fmt: skip
    session.add(report)
    session.flush()
    return report


def _create_problems(session: Session, report: Report, items: list[dict]) -> list[Problem]:
    rows = [
        Problem(report_id=report.id, position=i, marker=p["marker"][:20], lead=p["lead"][:200],
                text=p["text"])
        for i, p in enumerate(items)
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()
    return rows


def _create_commitment(
    session: Session, report: Report, position: int, item: dict, problems: list[Problem]
) -> Commitment:
    repeats = item.get("repeats") or {}
    commitment = Commitment(
        report_id=report.id, position=position, marker=item["marker"][:20],
        lead=item["lead"][:200], text=item["text"], time_phrase=_clip(item.get("time_phrase"), 50),
        office_hint=_clip(item.get("office_hint"), 200), source_start=_offset(item.get("start")),
        source_end=_offset(item.get("end")), repeats_id=repeats.get("id"),
        problems=[problems[i] for i in item.get("problems", []) if 0 <= i < len(problems)],
    )  # fmt: skip
    session.add(commitment)
    session.flush()
    return commitment


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


def _offset(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _create_task(
    session: Session, commitment: Commitment, spec: dict, offices: set[int],
    actor: User | None, now: datetime,
) -> Task:  # fmt: skip
    if spec["office_id"] not in offices:
        raise DomainError(f"任务“{spec['title']}”的牵头单位无效。")
    owner_id = spec.get("owner_id")
    if owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is None or not owner.is_active:
            raise DomainError(f"任务“{spec['title']}”的责任人无效。")
    try:
        deadline = date.fromisoformat(spec["deadline"])
    except (TypeError, ValueError) as exc:
        raise DomainError(f"任务“{spec['title']}”的时限无效。") from exc
    task = Task(
        commitment_id=commitment.id, title=spec["title"].strip()[:200],
        description=commitment.text, lead_office_id=spec["office_id"], owner_id=owner_id,
        deadline=deadline, recurrence=spec.get("recurrence"), status=TaskStatus.ASSIGNED.value,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(task)
    session.flush()
    session.add(DeadlineChange(
        task_id=task.id, kind="set", new_deadline=deadline, changed_at=now,
        changed_by_id=actor.id if actor else None,
        reason=spec.get("note") or "导入时确定",
    ))  # fmt: skip
    return task


def import_report(
    session: Session, *, unit_id: int, text: str, filename: str | None, year: int | None,
    actor: User | None, now: datetime, default_office_id: int | None = None,
) -> Report:  # fmt: skip
    """The command line's path: the proposals as they are, no preview."""
    draft = start_import(
        session, unit_id=unit_id, text=text, filename=filename, year=year, actor=actor, now=now
    )
    if default_office_id is not None:
        plan = copy.deepcopy(draft.plan)
        for item in plan["commitments"]:
            for task in item["tasks"]:
                task["office_id"] = task["office_id"] or default_office_id
        save_plan(session, draft, plan, now)
    return confirm_import(session, draft=draft, actor=actor, now=now)


def proposal_summary(draft: ImportDraft) -> dict[str, int]:
    """Counts shown on the preview page."""
    items = draft.plan["commitments"]
    return {
        "commitments": len(items),
        "tasks": sum(len(c["tasks"]) for c in items),
        "repeats": sum(1 for c in items if c.get("repeats")),
        "unassigned": sum(1 for c in items for t in c["tasks"] if not t.get("office_id")),
    }
