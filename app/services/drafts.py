"""Next year's report draft: generate it from the tracked year, save versions, export.

The report imported for year N−1 (Report.year = N−1) is tracked during year N; its draft is the
report on year N, 关于N年度法治政府建设情况的报告, kept as one ReportDraft per unit and year with
numbered versions. Every change (a generation, an edit, a restore) adds a version on top of the
current one; a change made on top of a version that is no longer current is refused with a
DraftConflict and nothing is written (the view shows the text back).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.core import drafting
from app.core.document import to_markdown, to_text
from app.core.errors import DomainError
from app.core.glossary import ReportStatus
from app.core.outcomes import OutcomeItem
from app.core.timefmt import format_datetime_cn, local_today
from app.models import (
    Commitment,
    CommitmentProblem,
    Office,
    Outcome,
    Problem,
    ProgressUpdate,
    Report,
    ReportDraft,
    ReportDraftVersion,
    Task,
    Unit,
    User,
)
from app.services import audit, report_import

KIND_GENERATE, KIND_EDIT, KIND_RESTORE = "generate", "edit", "restore"
KIND_LABELS = {KIND_GENERATE: "生成", KIND_EDIT: "编辑", KIND_RESTORE: "恢复"}
MAX_NOTE = 200
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "docx": (DOCX_MIME, "docx"),
    "md": ("text/markdown; charset=utf-8", "md"),
    "txt": ("text/plain; charset=utf-8", "txt"),
}
_UNSAFE_FILENAME_RE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


class DraftConflict(DomainError):
    """A change made on top of a version that is no longer the current one."""

    def __init__(self, message: str, current: int) -> None:
        super().__init__(message)
        self.current = current


# -- which report, which year ---------------------------------------------------------------


def tracked_year(report: Report) -> int:
    """The year a report's 下一步打算 were tracked in: the year its draft reports on."""
    return report.year + 1


def source_report(session: Session, unit_id: int, year: int) -> Report:
    """The imported report whose commitments were tracked in YEAR (it reports on YEAR − 1)."""
    report = report_import.imported_report(session, unit_id, year - 1)
    if report is None:
        raise DomainError(
            f"没有找到{year - 1}年度的报告。{year}年度报告初稿根据{year - 1}年度报告的"
            f"“下一步打算”在{year}年的落实情况生成，请先导入{year - 1}年度报告。",
            "year",
        )
    return report


def draft_of(session: Session, unit_id: int, year: int) -> ReportDraft | None:
    return session.exec(
        select(ReportDraft).where(ReportDraft.unit_id == unit_id, ReportDraft.year == year)
    ).first()


# -- loading the tracked year ---------------------------------------------------------------


def draft_input(
    session: Session, report: Report, *, today: date, timezone: str, dated: date | None = None,
    themes: Mapping[int, str] | None = None,
) -> drafting.DraftInput:  # fmt: skip
    """The source report and its tasks, updates and outcomes as the drafting core sees them."""
    unit = session.get(Unit, report.unit_id)
    problems = session.exec(
        select(Problem).where(Problem.report_id == report.id).order_by(Problem.position)
    ).all()
    commitments = session.exec(
        select(Commitment).where(Commitment.report_id == report.id).order_by(Commitment.position)
    ).all()
    links: dict[int, list[int]] = {}
    for commitment_id, problem_id in session.exec(
        select(CommitmentProblem.commitment_id, CommitmentProblem.problem_id)
        .join(Commitment, Commitment.id == CommitmentProblem.commitment_id)
        .where(Commitment.report_id == report.id)
        .order_by(CommitmentProblem.problem_id)
    ):  # fmt: skip
        links.setdefault(commitment_id, []).append(problem_id)
    return drafting.DraftInput(
        year=tracked_year(report),
        unit_name=unit.name if unit else "",
        problems=tuple(drafting.ProblemInput(p.id, p.lead, p.text) for p in problems),
        commitments=tuple(
            drafting.CommitmentInput(c.id, c.lead, c.text, tuple(links.get(c.id, ())))
            for c in commitments
        ),
        tasks=_tasks(session, report, timezone),
        today=today,
        name_block=drafting.find_name_block(report.source_text, report.title),
        addressee=drafting.find_addressee(report.source_text, report.title)
        or drafting.DEFAULT_ADDRESSEE,
        dated=dated,
        themes=dict(themes or {}),
    )


def fresh(session: Session, report: Report, *, today: date, timezone: str) -> drafting.Draft:
    """The draft generated from the tasks as they stand, without saving it."""
    return drafting.build_draft(draft_input(session, report, today=today, timezone=timezone))


def _tasks(session: Session, report: Report, timezone: str) -> tuple[drafting.TaskInput, ...]:
    """Every task of the report's commitments with its updates and outcomes: three queries."""
    of_report = Commitment.report_id == report.id
    outcomes: dict[int, list[OutcomeItem]] = {}
    for update_id, metric, value, unit in session.exec(
        select(Outcome.update_id, Outcome.metric, Outcome.value, Outcome.unit)
        .join(ProgressUpdate, ProgressUpdate.id == Outcome.update_id)
        .join(Task, Task.id == ProgressUpdate.task_id)
        .join(Commitment, Commitment.id == Task.commitment_id)
        .where(of_report)
        .order_by(Outcome.id)
    ):  # fmt: skip
        outcomes.setdefault(update_id, []).append(OutcomeItem(metric, value, unit))
    updates: dict[int, list[drafting.UpdateInput]] = {}
    for update_id, task_id, text, created_at in session.exec(
        select(ProgressUpdate.id, ProgressUpdate.task_id, ProgressUpdate.text,
               ProgressUpdate.created_at)
        .join(Task, Task.id == ProgressUpdate.task_id)
        .join(Commitment, Commitment.id == Task.commitment_id)
        .where(of_report)
        .order_by(ProgressUpdate.created_at, ProgressUpdate.id)
    ):  # fmt: skip
        updates.setdefault(task_id, []).append(
            drafting.UpdateInput(update_id, text, created_at, tuple(outcomes.get(update_id, ())))
        )
    rows = session.exec(
        select(Task.id, Task.commitment_id, Task.title, Office.name, Task.status, Task.deadline,
               Task.closed_at)
        .join(Office, Office.id == Task.lead_office_id)
        .join(Commitment, Commitment.id == Task.commitment_id)
        .where(of_report)
        .order_by(Task.id)
    )  # fmt: skip
    return tuple(
        drafting.TaskInput(
            id=task_id, commitment_id=commitment_id, title=title, office=office, status=status,
            deadline=deadline,
            closed_on=local_today(closed_at, timezone) if closed_at else None,
            updates=tuple(updates.get(task_id, ())),
        )
        for task_id, commitment_id, title, office, status, deadline, closed_at in rows
    )  # fmt: skip


# -- versions -------------------------------------------------------------------------------


def version_row(session: Session, draft: ReportDraft, number: int) -> ReportDraftVersion:
    if number < 1:
        raise DomainError("版本号无效。" if draft.current_version else "该初稿还没有版本。")
    row = session.exec(
        select(ReportDraftVersion).where(
            ReportDraftVersion.draft_id == draft.id, ReportDraftVersion.number == number
        )
    ).first()
    if row is None:
        raise DomainError(f"该初稿没有第{number}版。")
    return row


def content_of(row: ReportDraftVersion) -> drafting.Draft:
    try:
        return drafting.draft_from_json(row.content)
    except ValueError as error:
        raise DomainError(f"第{row.number}版的内容无法读取。") from error


def current(session: Session, draft: ReportDraft) -> tuple[ReportDraftVersion, drafting.Draft]:
    row = version_row(session, draft, draft.current_version)
    return row, content_of(row)


@dataclass(frozen=True)
class VersionInfo:
    number: int
    kind: str
    note: str
    author: str
    created_at: datetime

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


def versions(session: Session, draft: ReportDraft) -> list[VersionInfo]:
    """The draft's versions, newest first, with who saved them."""
    rows = session.exec(
        select(ReportDraftVersion.number, ReportDraftVersion.kind, ReportDraftVersion.note,
               User.name, ReportDraftVersion.created_at)
        .outerjoin(User, User.id == ReportDraftVersion.created_by_id)
        .where(ReportDraftVersion.draft_id == draft.id)
        .order_by(ReportDraftVersion.number.desc())
    )  # fmt: skip
    return [VersionInfo(n, kind, note, name or "系统", at) for n, kind, note, name, at in rows]


def _conflict(session: Session, draft: ReportDraft, base: int, timezone: str) -> DraftConflict:
    session.refresh(draft)
    latest = versions(session, draft)[:1]
    who = (
        f"{latest[0].author}于{format_datetime_cn(latest[0].created_at, timezone)}"
        if latest
        else "其他用户"
    )
    return DraftConflict(
        f"未保存：您是在第{base}版上修改的，而{who}已保存了第{draft.current_version}版。"
        "您的修改原样显示在下方，没有丢失；请核对后再次保存（对方的版本仍保留在版本历史中）。",
        draft.current_version,
    )


def _add_version(
    session: Session, draft: ReportDraft, content: drafting.Draft, *, kind: str, note: str,
    base: int, actor: User | None, now: datetime, timezone: str,
) -> ReportDraftVersion:  # fmt: skip
    """Version BASE + 1, only if BASE is still the current version (checked in the UPDATE)."""
    moved = session.execute(
        update(ReportDraft)
        .where(ReportDraft.id == draft.id, ReportDraft.current_version == base)
        .values(current_version=base + 1, title=content.title[:200], updated_at=now,
                updated_by_id=actor.id if actor else None)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if moved.rowcount != 1:
        raise _conflict(session, draft, base, timezone)
    row = ReportDraftVersion(
        draft_id=draft.id, number=base + 1, kind=kind, content=drafting.draft_to_json(content),
        note=note, created_by_id=actor.id if actor else None, created_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.refresh(draft)
    return row


def _note(note: str | None) -> str:
    text = drafting.squash(drafting.clean(note or "")).strip()
    if len(text) > MAX_NOTE:
        raise DomainError(f"版本说明不超过{MAX_NOTE}字。", "note")
    return text


def _base(draft: ReportDraft, base_version: int | None) -> int:
    if base_version is None:
        raise DomainError("缺少版本号，请刷新页面后重试。")
    if base_version < 0 or base_version > draft.current_version:
        raise DomainError(f"该初稿没有第{base_version}版，请刷新页面后重试。")
    return base_version


# -- use cases ------------------------------------------------------------------------------


def generate(
    session: Session, *, report: Report, actor: User | None, now: datetime, today: date,
    timezone: str, dated: date | None = None, themes: Mapping[int, str] | None = None,
    base_version: int | None = None, note: str | None = None, ip: str | None = None,
) -> ReportDraft:  # fmt: skip
    """Draft the report on the year REPORT was tracked in, as a new version of its draft (the
    first one creates the draft). BASE_VERSION guards a regeneration like an edit."""
    if report.status != ReportStatus.IMPORTED.value:
        raise DomainError("只能根据已导入的报告生成下一年度报告初稿。")
    themes = _themes(session, report, themes or {})
    note = _note(note)
    year = tracked_year(report)
    data = draft_input(session, report, today=today, timezone=timezone, dated=dated,
                       themes=themes)  # fmt: skip
    content = drafting.build_draft(data)
    draft = draft_of(session, report.unit_id, year)
    if draft is None:
        draft = _create(session, report, content, actor, now)
        base = 0
    else:
        base = draft.current_version if base_version is None else _base(draft, base_version)
    row = _add_version(
        session, draft, content, kind=KIND_GENERATE, note=note or "根据任务办理情况生成",
        base=base, actor=actor, now=now, timezone=timezone,
    )  # fmt: skip
    audit.record(
        session, actor=actor, action="draft.generate", object_type="report_draft",
        object_id=draft.id, after={"year": year, "version": row.number,
                                   "source_report_id": report.id, "themes": len(themes)},
        ip=ip, at=now,
    )  # fmt: skip
    return draft


def _create(
    session: Session, report: Report, content: drafting.Draft, actor: User | None, now: datetime
) -> ReportDraft:
    draft = ReportDraft(
        unit_id=report.unit_id, year=tracked_year(report), source_report_id=report.id,
        title=content.title[:200], current_version=0, created_by_id=actor.id if actor else None,
        created_at=now, updated_by_id=actor.id if actor else None, updated_at=now,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(draft)
            session.flush()
    except IntegrityError:
        raise DraftConflict(
            f"{tracked_year(report)}年度报告初稿刚刚由其他用户生成，请刷新页面后查看。", 1
        ) from None
    return draft


def _themes(session: Session, report: Report, themes: Mapping[int, str]) -> dict[int, str]:
    ids = set(session.exec(select(Commitment.id).where(Commitment.report_id == report.id)))
    if any(cid not in ids for cid in themes):
        raise DomainError("所选承诺事项不属于该报告，请刷新页面后重试。")
    problems = drafting.check_themes(themes)
    if problems:
        raise DomainError("；".join(problems), "themes")
    return drafting.normalise_themes(themes)


def edited(session: Session, draft: ReportDraft, base_version: int,
           edits: drafting.DraftEdits) -> drafting.Draft:  # fmt: skip
    """The base version with EDITS applied (unchecked): what the edit form shows back."""
    return drafting.edit_draft(content_of(version_row(session, draft, base_version)), edits)


def save(
    session: Session, *, draft: ReportDraft, base_version: int | None,
    edits: drafting.DraftEdits, note: str | None, actor: User | None, now: datetime,
    timezone: str, ip: str | None = None,
) -> ReportDraftVersion:  # fmt: skip
    """Save the coordinator's text as a new version on top of BASE_VERSION."""
    base = _base(draft, base_version)
    if base == 0:
        raise DomainError("该初稿还没有可编辑的版本，请先生成初稿。")
    note = _note(note)
    content = edited(session, draft, base, edits)
    problems = drafting.check_draft(content)
    if problems:
        raise DomainError("；".join(problems))
    if base != draft.current_version:
        raise _conflict(session, draft, base, timezone)
    row = _add_version(session, draft, content, kind=KIND_EDIT, note=note, base=base,
                       actor=actor, now=now, timezone=timezone)  # fmt: skip
    audit.record(
        session, actor=actor, action="draft.save", object_type="report_draft",
        object_id=draft.id, after={"version": row.number, "base": base, "note": note},
        ip=ip, at=now,
    )  # fmt: skip
    return row


def restore(
    session: Session, *, draft: ReportDraft, number: int, base_version: int | None,
    actor: User | None, now: datetime, timezone: str, ip: str | None = None,
) -> ReportDraftVersion:  # fmt: skip
    """Make an old version current again, as a new version (nothing is overwritten)."""
    base = _base(draft, base_version)
    old = version_row(session, draft, number)
    content = content_of(old)
    if base != draft.current_version:
        raise _conflict(session, draft, base, timezone)
    row = _add_version(session, draft, content, kind=KIND_RESTORE, note=f"恢复第{number}版",
                       base=base, actor=actor, now=now, timezone=timezone)  # fmt: skip
    audit.record(
        session, actor=actor, action="draft.restore", object_type="report_draft",
        object_id=draft.id, after={"version": row.number, "restored": number}, ip=ip, at=now,
    )  # fmt: skip
    return row


# -- export and sources ---------------------------------------------------------------------


def render(content: drafting.Draft, fmt: str) -> bytes:
    """The draft as .docx, .md or .txt bytes."""
    if fmt not in EXPORT_FORMATS:
        raise DomainError("导出格式只能是 docx、md 或 txt。", "format")
    spec = drafting.draft_to_document(content)
    if fmt == "docx":
        from app.docx_render import render_docx  # the only python-docx user

        return render_docx(spec)
    return (to_markdown(spec) if fmt == "md" else to_text(spec)).encode("utf-8")


def export_filename(content: drafting.Draft, number: int | None, fmt: str) -> str:
    """关于2022年度法治政府建设情况的报告（初稿第3版）.docx — safe on every file system."""
    title = _UNSAFE_FILENAME_RE.sub("_", content.title).strip() or "报告初稿"
    version = f"（初稿第{number}版）" if number else "（初稿）"
    return f"{title[:100]}{version}.{EXPORT_FORMATS[fmt][1]}"


def record_export(
    session: Session, *, draft: ReportDraft, number: int, fmt: str, actor: User | None,
    now: datetime, ip: str | None = None,
) -> None:  # fmt: skip
    audit.record(session, actor=actor, action="draft.export", object_type="report_draft",
                 object_id=draft.id, after={"version": number, "format": fmt}, ip=ip,
                 at=now)  # fmt: skip


@dataclass(frozen=True)
class Sources:
    """What the draft's sentences point at, for the page beside the text."""

    tasks: dict[int, Any]
    updates: dict[int, Any]
    outcomes: dict[int, list[Outcome]]
    offices: dict[int, str]
    commitments: dict[int, Commitment]
    problems: dict[int, Problem]


def sources(session: Session, content: drafting.Draft) -> Sources:
    """The tasks, updates, commitments and problems the draft's sentences name (four queries)."""
    paragraphs = [content.opening, *(p for s in content.sections for p in s.paragraphs)]
    task_ids = {t for p in paragraphs for s in p.sentences for t in s.task_ids}
    update_ids = {u for p in paragraphs for s in p.sentences for u in s.update_ids}
    commitment_ids = {c for p in paragraphs for c in p.commitment_ids}
    problem_ids = {q for p in paragraphs for q in p.problem_ids}
    tasks = {t.id: t for t in _in(session, Task, task_ids)}
    updates = {u.id: u for u in _in(session, ProgressUpdate, update_ids)}
    outcomes: dict[int, list[Outcome]] = {}
    if update_ids:
        for outcome in session.exec(
            select(Outcome).where(Outcome.update_id.in_(list(update_ids))).order_by(Outcome.id)
        ):
            outcomes.setdefault(outcome.update_id, []).append(outcome)
    office_ids = {t.lead_office_id for t in tasks.values()}
    offices = {o.id: o.name for o in _in(session, Office, office_ids)}
    return Sources(
        tasks=tasks, updates=updates, outcomes=outcomes, offices=offices,
        commitments={c.id: c for c in _in(session, Commitment, commitment_ids)},
        problems={p.id: p for p in _in(session, Problem, problem_ids)},
    )  # fmt: skip


def _in(session: Session, model: Any, ids: set[int]) -> list[Any]:
    if not ids:
        return []
    return list(session.exec(select(model).where(model.id.in_(sorted(ids)))))
