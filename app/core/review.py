"""进度通报: the progress review's figures at an as-of date. Pure: rows in, ReviewFigures out.

The rules (each one is tested with hand-computed numbers in tests/core/test_review.py):

1. As of D (a local calendar date), a task created after D does not exist yet.
2. What a task was at D comes from its status history: the audit trail's approvals (→ closed),
   cancellations (→ cancelled) and reopenings (→ open) up to D, and the task row itself for
   its final state (closed_at for a closed task, the last change, updated_at, for a cancelled
   one: nothing but comments can follow a cancellation). Before any of these a task is open.
   A task closed on or before D counts as closed, on the day it was closed; a task cancelled
   on or before D is left out of every total and rate (it is only counted as cancelled).
3. The deadline in force at D is the original deadline moved by the deadline changes made on
   or before D. "set" (the import) and "demo" (the demo data re-basing its dates) fix the
   original deadline; "extension" moves it. An extension is written in two ways: the
   coordinator approving an office's 延期申请, and the coordinator's own 调整时限 (one task or
   in bulk). Both count: the coordinator is the one who approves extensions, the change carries
   a reason and is audited, and it is written as the same kind of change. A request that is
   pending or refused never moves a deadline. So "approved" means "decided by the coordinator
   on or before D", and an extension approved after D does not help a task at D.
4. On time: closed on or before the deadline in force. The on-time rate is over the tasks
   closed at D (lifecycle.on_time_rate); None when none is closed.
5. Overdue at D: not closed at D and D later than the deadline in force; the days overdue are
   working days in (deadline, D] (WorkCalendar.workdays_between), so a task due on a Friday is
   overdue on the Saturday by 0 working days. Due soon: open, not overdue, and at most
   lifecycle.YELLOW_WORKDAYS working days left (lifecycle.light's yellow).
6. Per office (the lead office): total, closed, open, overdue, due soon, on-time rate,
   completion rate (closed / total), a light (red if any task is overdue, yellow if any is due
   soon, else green) and a rank: completion rate, then on-time rate (none closed ranks lowest),
   both descending, ties by name. Offices without a task at D have no row.
7. Praised: at most PRAISE_LIMIT offices, best ranked first, with no overdue task, at least one
   closed on time, and a completion rate and an on-time rate each at least the overall one. Named
   (点名): every office with an overdue task, most overdue first, then the lower completion
   rate, then by name.
8. Per commitment (下一步打算): tasks, closed, overdue, progress (closed / tasks), in the order
   the commitments are given; tasks without a commitment in a last row.
9. Closed per month: closed tasks by the month they were closed, every month from the first
   month with a task up to D's month (the last MONTHS_LIMIT of them), zero months included.
10. Outcomes: the quantified outcomes of the progress updates made on or before D, of the tasks
    the review counts (not those created later or cancelled), summed per metric and unit by
    outcomes.aggregate.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from app.core.lifecycle import YELLOW_WORKDAYS, Light, TaskStatus, light, on_time_rate
from app.core.outcomes import OutcomeItem, OutcomeTotal, aggregate
from app.core.workdays import WorkCalendar

BASELINE_KINDS = frozenset({"set", "demo"})  # changes that fix the original deadline
PRAISE_LIMIT = 3
MONTHS_LIMIT = 24
OPEN, CLOSED, CANCELLED = "open", "closed", "cancelled"
NO_COMMITMENT_LABEL = "其他任务（未关联“下一步打算”）"


# -- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewTask:
    """A task row as it is now; dates are local."""

    id: int
    title: str
    office_id: int
    commitment_id: int | None
    created_on: date
    status: str  # a TaskStatus value, now
    deadline: date  # in force now
    closed_on: date | None = None  # closed tasks: when (closed_at, else the last change)
    changed_on: date | None = None  # the last change of the row (updated_at)


@dataclass(frozen=True)
class DeadlineMove:
    """One DeadlineChange row; give them in the order they were made."""

    task_id: int
    kind: str  # set, demo, extension
    old_deadline: date | None
    new_deadline: date
    on: date


@dataclass(frozen=True)
class StatusEvent:
    """One status change from the audit trail (approve, cancel, reopen), in order."""

    task_id: int
    on: date
    status: str  # CLOSED, CANCELLED or OPEN


@dataclass(frozen=True)
class ReviewOutcome:
    task_id: int
    on: date  # when its progress update was made
    metric: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class NamedItem:
    """An office or a commitment: its id and the name the review shows."""

    id: int
    name: str


# -- outputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfficeRow:
    office_id: int
    name: str
    total: int
    closed: int
    open: int
    overdue: int
    due_soon: int
    on_time: int  # closed on time
    on_time_rate: float | None
    completion_rate: float | None
    light: Light
    rank: int = 0


@dataclass(frozen=True)
class CommitmentRow:
    commitment_id: int | None
    label: str
    tasks: int
    closed: int
    overdue: int

    @property
    def progress(self) -> float | None:
        return self.closed / self.tasks if self.tasks else None


@dataclass(frozen=True)
class OverdueTask:
    task_id: int
    title: str
    office_name: str
    deadline: date  # in force at D
    original_deadline: date
    days_overdue: int  # working days

    @property
    def extended(self) -> bool:
        return self.deadline != self.original_deadline


@dataclass(frozen=True)
class MonthCount:
    year: int
    month: int
    closed: int

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"


@dataclass(frozen=True)
class ReviewFigures:
    as_of: date
    total: int
    closed: int
    overdue: int
    due_soon: int
    on_time: int
    on_time_rate: float | None
    extended: int  # tasks whose deadline in force differs from the original
    cancelled: int  # left out
    offices: tuple[OfficeRow, ...]  # in rank order
    commitments: tuple[CommitmentRow, ...]
    overdue_tasks: tuple[OverdueTask, ...]  # most days overdue first
    closed_by_month: tuple[MonthCount, ...]
    outcomes: tuple[OutcomeTotal, ...]
    praised: tuple[OfficeRow, ...]
    named: tuple[OfficeRow, ...]

    @property
    def open(self) -> int:
        return self.total - self.closed

    @property
    def completion_rate(self) -> float | None:
        return self.closed / self.total if self.total else None

    @property
    def is_empty(self) -> bool:
        return self.total == 0


def percent(rate: float | None) -> str:
    """66.7% / 40% / — (no rate): one decimal at most, the way a 通报 writes it."""
    if rate is None:
        return "—"
    value = round(rate * 100, 1)
    return f"{value:.1f}".removesuffix(".0") + "%"


# -- the rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    status: str  # OPEN, CLOSED or CANCELLED at D
    closed_on: date | None
    original: date
    deadline: date


def _status_at(task: ReviewTask, events: list[StatusEvent], as_of: date) -> tuple[str, date | None]:
    """(OPEN/CLOSED/CANCELLED, the closing day) at AS_OF: rule 2."""
    final = _row_event(task)
    if not events:  # most tasks: the row says it all
        if final is None or final[0] > as_of:
            return OPEN, None
        return final[1], final[0] if final[1] == CLOSED else None
    history = [(e.on, e.status) for e in events]
    if final is not None and (not history or history[-1][1] != final[1]):
        history.append(final)
    history.sort(key=lambda item: item[0])  # stable: same-day events keep their order
    status, closed_on = OPEN, None
    for on, value in history:
        if on > as_of:
            break
        status, closed_on = value, on if value == CLOSED else None
    return status, closed_on


def _row_event(task: ReviewTask) -> tuple[date, str] | None:
    if task.status == TaskStatus.CLOSED:
        day = task.closed_on or task.changed_on or task.created_on
        return day, CLOSED
    if task.status == TaskStatus.CANCELLED:
        return task.changed_on or task.created_on, CANCELLED
    return None


def _deadlines(task: ReviewTask, moves: list[DeadlineMove], as_of: date) -> tuple[date, date]:
    """(original, in force) at AS_OF: rule 3."""
    if not moves:
        return task.deadline, task.deadline
    first = moves[0]
    original = in_force = first.old_deadline or first.new_deadline
    for move in moves:
        if move.on > as_of:
            break
        in_force = move.new_deadline
        if move.kind in BASELINE_KINDS:
            original = move.new_deadline
    return original, in_force


def _states(
    tasks: Iterable[ReviewTask], moves: Iterable[DeadlineMove], events: Iterable[StatusEvent],
    as_of: date,
) -> tuple[list[tuple[ReviewTask, _State]], int]:  # fmt: skip
    """The tasks that exist at AS_OF with their state, and how many are cancelled by then."""
    moves_of: dict[int, list[DeadlineMove]] = defaultdict(list)
    for move in moves:
        moves_of[move.task_id].append(move)
    events_of: dict[int, list[StatusEvent]] = defaultdict(list)
    for event in events:
        events_of[event.task_id].append(event)
    counted, cancelled = [], 0
    for task in tasks:
        if task.created_on > as_of:
            continue
        status, closed_on = _status_at(task, events_of.get(task.id, []), as_of)
        if status == CANCELLED:
            cancelled += 1
            continue
        task_moves = moves_of.get(task.id)
        if task_moves and len(task_moves) > 1:
            task_moves.sort(key=lambda m: m.on)  # stable: same-day changes keep their order
        original, deadline = _deadlines(task, task_moves or [], as_of)
        counted.append((task, _State(status, closed_on, original, deadline)))
    return counted, cancelled


@dataclass
class _Tally:
    total: int = 0
    closed: int = 0
    overdue: int = 0
    due_soon: int = 0
    closings: list[tuple[date, date]] = field(default_factory=list)  # (closed on, deadline)

    def add(self, state: _State, shade: Light) -> None:
        self.total += 1
        if state.status == CLOSED:
            self.closed += 1
            self.closings.append((state.closed_on or state.deadline, state.deadline))
        elif shade == Light.RED:
            self.overdue += 1
        elif shade == Light.YELLOW:
            self.due_soon += 1

    @property
    def on_time(self) -> int:
        return sum(1 for closed_on, deadline in self.closings if closed_on <= deadline)


def _light_at(state: _State, as_of: date, calendar: WorkCalendar) -> Light:
    status = TaskStatus.CLOSED if state.status == CLOSED else TaskStatus.IN_PROGRESS
    return light(status, state.deadline, as_of, calendar, YELLOW_WORKDAYS)


def compute_review(
    *,
    as_of: date,
    calendar: WorkCalendar,
    tasks: Iterable[ReviewTask],
    offices: Iterable[NamedItem],
    commitments: Iterable[NamedItem] = (),
    moves: Iterable[DeadlineMove] = (),
    events: Iterable[StatusEvent] = (),
    outcomes: Iterable[ReviewOutcome] = (),
) -> ReviewFigures:
    """The review's figures at AS_OF (see the module docstring for the rules)."""
    counted, cancelled = _states(tasks, moves, events, as_of)
    names = {o.id: o.name for o in offices}
    overall, by_office = _Tally(), defaultdict(_Tally)
    by_commitment: dict[int | None, _Tally] = defaultdict(_Tally)
    overdue: list[OverdueTask] = []
    for task, state in counted:
        shade = _light_at(state, as_of, calendar)
        for tally in (overall, by_office[task.office_id], by_commitment[task.commitment_id]):
            tally.add(state, shade)
        if shade == Light.RED:
            days = calendar.workdays_between(state.deadline, as_of)
            overdue.append(OverdueTask(task.id, task.title, names.get(task.office_id, "—"),
                                       state.deadline, state.original, days))  # fmt: skip
    overdue.sort(key=lambda t: (-t.days_overdue, t.deadline, t.office_name, t.task_id))
    office_rows = _rank(
        [_office_row(office_id, names.get(office_id, "—"), tally)
         for office_id, tally in by_office.items()]
    )  # fmt: skip
    alive = {task.id for task, _ in counted}
    totals = _outcome_totals(o for o in outcomes if o.on <= as_of and o.task_id in alive)
    rate = overall.closed / overall.total if overall.total else None
    on_time = on_time_rate(overall.closings)
    return ReviewFigures(
        as_of=as_of, total=overall.total, closed=overall.closed, overdue=overall.overdue,
        due_soon=overall.due_soon, on_time=overall.on_time, on_time_rate=on_time,
        extended=sum(1 for _, state in counted if state.deadline != state.original),
        cancelled=cancelled, offices=tuple(office_rows),
        commitments=_commitment_rows(commitments, by_commitment), overdue_tasks=tuple(overdue),
        closed_by_month=_months(counted, as_of), outcomes=tuple(totals),
        praised=_praised(office_rows, rate, on_time), named=_named(office_rows),
    )  # fmt: skip


def _outcome_totals(outcomes: Iterable[ReviewOutcome]) -> list[OutcomeTotal]:
    """Rule 10 through outcomes.aggregate, in the order first reported. The many values of a
    few spellings are summed first, so aggregate's normalising runs once per spelling; a
    second pass with the counts as values gives each total's count in the same order."""
    spellings: dict[tuple[str, str], list] = {}
    for o in sorted(outcomes, key=lambda o: o.on):
        entry = spellings.setdefault((o.metric, o.unit), [0.0, 0])
        entry[0] += o.value
        entry[1] += 1
    sums = aggregate(OutcomeItem(m, v, u) for (m, u), (v, _) in spellings.items())
    counts = aggregate(OutcomeItem(m, n, u) for (m, u), (_, n) in spellings.items())
    return [
        OutcomeTotal(t.metric, t.unit, t.value, int(c.value))
        for t, c in zip(sums, counts, strict=True)
    ]


def _office_row(office_id: int, name: str, tally: _Tally) -> OfficeRow:
    shade = Light.RED if tally.overdue else Light.YELLOW if tally.due_soon else Light.GREEN
    return OfficeRow(
        office_id=office_id, name=name, total=tally.total, closed=tally.closed,
        open=tally.total - tally.closed, overdue=tally.overdue, due_soon=tally.due_soon,
        on_time=tally.on_time, on_time_rate=on_time_rate(tally.closings),
        completion_rate=tally.closed / tally.total if tally.total else None, light=shade,
    )  # fmt: skip


def _rank(rows: list[OfficeRow]) -> list[OfficeRow]:
    """Rule 6: completion, then on time (none closed lowest), descending; ties by name."""

    def key(row: OfficeRow) -> tuple[float, float, str, int]:
        on_time = -1.0 if row.on_time_rate is None else row.on_time_rate
        return (-(row.completion_rate or 0.0), -on_time, row.name, row.office_id)

    ordered = sorted(rows, key=key)
    return [_with_rank(row, number) for number, row in enumerate(ordered, start=1)]


def _with_rank(row: OfficeRow, rank: int) -> OfficeRow:
    values = {name: getattr(row, name) for name in row.__dataclass_fields__}
    return OfficeRow(**{**values, "rank": rank})


def _praised(
    rows: Sequence[OfficeRow], completion: float | None, on_time: float | None
) -> tuple[OfficeRow, ...]:
    """Rule 7: the best ranked offices with nothing overdue and at least the overall rates."""
    good = [
        r for r in rows
        if not r.overdue and r.on_time and (r.completion_rate or 0.0) >= (completion or 0.0)
        and (r.on_time_rate or 0.0) >= (on_time or 0.0)
    ]  # fmt: skip
    return tuple(good[:PRAISE_LIMIT])


def _named(rows: Sequence[OfficeRow]) -> tuple[OfficeRow, ...]:
    """Rule 7: every office with an overdue task, most overdue first."""
    late = [r for r in rows if r.overdue]
    return tuple(sorted(late, key=lambda r: (-r.overdue, r.completion_rate or 0.0, r.name)))


def _commitment_rows(
    commitments: Iterable[NamedItem], tallies: dict[int | None, _Tally]
) -> tuple[CommitmentRow, ...]:
    rows = [
        CommitmentRow(c.id, c.name, t.total, t.closed, t.overdue)
        for c in commitments if (t := tallies.get(c.id)) is not None
    ]  # fmt: skip
    labelled = {c.commitment_id for c in rows}
    rest = [t for key, t in tallies.items() if key is None or key not in labelled]
    if rest:
        total, closed = sum(t.total for t in rest), sum(t.closed for t in rest)
        overdue = sum(t.overdue for t in rest)
        rows.append(CommitmentRow(None, NO_COMMITMENT_LABEL, total, closed, overdue))
    return tuple(rows)


def _months(counted: list[tuple[ReviewTask, _State]], as_of: date) -> tuple[MonthCount, ...]:
    """Rule 9."""
    if not counted:
        return ()
    closed = Counter(
        (s.closed_on.year, s.closed_on.month) for _, s in counted if s.closed_on is not None
    )
    first = min(
        [(t.created_on.year, t.created_on.month) for t, _ in counted] + list(closed)
    )  # fmt: skip
    months, (year, month) = [], first
    while (year, month) <= (as_of.year, as_of.month):
        months.append(MonthCount(year, month, closed.get((year, month), 0)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(months[-MONTHS_LIMIT:])


EARLIEST_AS_OF = date(2000, 1, 1)


def parse_as_of(text: str | None, today: date) -> tuple[date, str | None]:
    """The as-of date typed in ?as_of=YYYY-MM-DD: TODAY when none is given; TODAY and why (in
    Chinese) when it is not a date, is before 2000 or is after TODAY (a review tells what has
    happened, so a future date would only repeat today's figures under a false date)."""
    if not text or not text.strip():
        return today, None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return (
            today,
            f"无法识别的日期“{text.strip()[:20]}”，请按 2022-10-10 的格式填写。",
        )
    if day < EARLIEST_AS_OF:
        return today, "统计日期不能早于2000年1月1日。"
    if day > today:
        return today, "统计日期不能晚于今天。"
    return day, None
