"""The progress review's figures on a known data set, every number computed by hand.

The township (all dates 2022; the calendar has the 国庆 arrangement: 10月1日–7日 off, Saturday
10月8日 and Sunday 10月9日 worked):

    task office commitment created now         deadline (history)              at 10-12
    T1   司法所  一         01-10   closed 06-20 06-30                         closed on time
    T2   司法所  一         01-10   closed 08-05 set 07-31, →08-31 on 07-20    on time, extended
    T3   司法所  二         01-10   in progress  set 09-30, →11-30 on 10-20    overdue 5 wd
    T4   综治办  二         01-10   closed 10-11 09-30                         closed late
    T5   综治办  二         01-10   cancel 05-01 04-20                         left out
    T6   综治办  —          01-10   cancel 10-20 10-14                         open, due soon
    T7   农业站  一         11-01   assigned     12-31                         not yet
    T8   农业站  一         02-01   closed 10-25 12-31                         open, green
    T9   农业站  一         02-01   closed 03-15 03-31                         closed on time
    T10  司法所  一         01-10   in progress  10-10 (closed 04-01, reopened 05-10) overdue 2 wd

(→ is an extension, approved on the day given.)
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.core.lifecycle import Light, TaskStatus
from app.core.review import (
    CANCELLED,
    CLOSED,
    NO_COMMITMENT_LABEL,
    OPEN,
    DeadlineMove,
    NamedItem,
    ReviewOutcome,
    ReviewTask,
    StatusEvent,
    compute_review,
    parse_as_of,
    percent,
)
from app.core.workdays import WorkCalendar

D = date(2022, 10, 12)  # a Wednesday
CALENDAR = WorkCalendar(
    {**{date(2022, 10, d): False for d in range(3, 8)},
     date(2022, 10, 8): True, date(2022, 10, 9): True},
    known_years=[2022],
)  # fmt: skip
OFFICES = [NamedItem(1, "司法所"), NamedItem(2, "综治办"), NamedItem(3, "农业站"),
           NamedItem(4, "信访办")]  # fmt: skip
COMMITMENTS = [NamedItem(10, "2021年度 一是加强宣传"), NamedItem(11, "2021年度 二是化解矛盾")]
JAN, FEB = date(2022, 1, 10), date(2022, 2, 1)
IN_PROGRESS, CLOSED_NOW, CANCELLED_NOW = (
    TaskStatus.IN_PROGRESS.value, TaskStatus.CLOSED.value, TaskStatus.CANCELLED.value,
)  # fmt: skip


def d(month: int, day: int) -> date:
    return date(2022, month, day)


TASKS = [
    ReviewTask(1, "T1", 1, 10, JAN, CLOSED_NOW, d(6, 30), closed_on=d(6, 20)),
    ReviewTask(2, "T2", 1, 10, JAN, CLOSED_NOW, d(8, 31), closed_on=d(8, 5)),
    ReviewTask(3, "T3", 1, 11, JAN, IN_PROGRESS, d(11, 30), changed_on=d(10, 20)),
    ReviewTask(4, "T4", 2, 11, JAN, CLOSED_NOW, d(9, 30), closed_on=d(10, 11)),
    ReviewTask(5, "T5", 2, 11, JAN, CANCELLED_NOW, d(4, 20), changed_on=d(5, 1)),
    ReviewTask(6, "T6", 2, None, JAN, CANCELLED_NOW, d(10, 14), changed_on=d(10, 20)),
    ReviewTask(7, "T7", 3, 10, d(11, 1), TaskStatus.ASSIGNED.value, d(12, 31)),
    ReviewTask(8, "T8", 3, 10, FEB, CLOSED_NOW, d(12, 31), closed_on=d(10, 25)),
    ReviewTask(9, "T9", 3, 10, FEB, CLOSED_NOW, d(3, 31), closed_on=d(3, 15)),
    ReviewTask(10, "T10", 1, 10, JAN, IN_PROGRESS, d(10, 10), changed_on=d(5, 10)),
]
MOVES = [
    DeadlineMove(2, "set", None, d(7, 31), JAN),
    DeadlineMove(3, "set", None, d(9, 30), JAN),
    DeadlineMove(2, "extension", d(7, 31), d(8, 31), d(7, 20)),
    DeadlineMove(3, "extension", d(9, 30), d(11, 30), d(10, 20)),  # approved after D
]
EVENTS = [StatusEvent(10, d(4, 1), CLOSED), StatusEvent(10, d(5, 10), OPEN)]
OUTCOMES = [
    ReviewOutcome(5, d(3, 1), "开展普法宣传", 100, "次"),  # T5: cancelled by D
    ReviewOutcome(1, d(6, 1), "开展普法宣传", 7, "次"),
    ReviewOutcome(2, d(7, 1), "开展普法宣传", 5, "次"),
    ReviewOutcome(2, d(7, 1), "开展普法宣传", 300, "人"),
    ReviewOutcome(4, d(9, 1), "化解矛盾纠纷", 3, "件"),
    ReviewOutcome(8, d(10, 20), "化解矛盾纠纷", 4, "件"),  # after D
]


def review(as_of: date = D, **changes):
    data = {"tasks": TASKS, "offices": OFFICES, "commitments": COMMITMENTS, "moves": MOVES,
            "events": EVENTS, "outcomes": OUTCOMES, **changes}  # fmt: skip
    return compute_review(as_of=as_of, calendar=CALENDAR, **data)


def test_overall_figures() -> None:
    f = review()
    assert (f.total, f.closed, f.open, f.overdue, f.due_soon) == (8, 4, 4, 2, 1)
    assert (f.on_time, f.on_time_rate, f.completion_rate) == (3, 0.75, 0.5)
    assert (f.extended, f.cancelled) == (1, 1)  # T2 extended; T5 cancelled, T6 not yet


def test_overdue_list_counts_working_days_across_the_national_day_holiday() -> None:
    f = review()
    # T3: (09-30, 10-12] has 10-08, 10-09 (make-up days), 10-10, 10-11, 10-12 = 5
    # T10: (10-10, 10-12] = 10-11, 10-12 = 2
    assert [(t.title, t.days_overdue, t.deadline, t.extended) for t in f.overdue_tasks] == [
        ("T3", 5, d(9, 30), False), ("T10", 2, d(10, 10), False),
    ]  # fmt: skip
    assert f.overdue_tasks[0].office_name == "司法所"


def test_rows_per_office_rank_by_completion_then_on_time_then_name() -> None:
    f = review()
    rows = [(o.rank, o.name, o.total, o.closed, o.open, o.overdue, o.due_soon, o.on_time,
             o.on_time_rate, o.completion_rate, o.light) for o in f.offices]  # fmt: skip
    assert rows == [
        (1, "农业站", 2, 1, 1, 0, 0, 1, 1.0, 0.5, Light.GREEN),  # 农 (U+519C) before 司
        (2, "司法所", 4, 2, 2, 2, 0, 2, 1.0, 0.5, Light.RED),
        (3, "综治办", 2, 1, 1, 0, 1, 0, 0.0, 0.5, Light.YELLOW),
    ]  # 信访办 has no task: no row
    assert [o.name for o in f.praised] == ["农业站"]  # 综治办: on time 0% < 75%
    assert [o.name for o in f.named] == ["司法所"]


def test_rows_per_commitment() -> None:
    f = review()
    rows = [(c.label, c.tasks, c.closed, c.overdue, c.progress) for c in f.commitments]
    assert rows == [
        ("2021年度 一是加强宣传", 5, 3, 1, 0.6),  # T1 T2 T8 T9 T10
        ("2021年度 二是化解矛盾", 2, 1, 1, 0.5),  # T3 T4
        (NO_COMMITMENT_LABEL, 1, 0, 0, 0.0),  # T6
    ]


def test_closed_per_month_from_the_first_month_with_zeros() -> None:
    f = review()
    assert [(m.month, m.closed) for m in f.closed_by_month] == [
        (1, 0), (2, 0), (3, 1), (4, 0), (5, 0), (6, 1), (7, 0), (8, 1), (9, 0), (10, 1),
    ]  # fmt: skip
    assert f.closed_by_month[-1].label == "2022年10月"


def test_outcomes_same_metric_and_unit_summed_different_units_apart() -> None:
    f = review()
    assert [(t.phrase, t.count) for t in f.outcomes] == [
        ("开展普法宣传12次", 2), ("开展普法宣传300人", 1), ("化解矛盾纠纷3件", 1),
    ]  # fmt: skip


def test_an_earlier_date_sees_the_tasks_as_they_were() -> None:
    f = review(d(4, 15))
    # T5 and T6 not cancelled yet, T7 not created; T9 closed 03-15, T10 closed 04-01 (reopened
    # later); T5 due 04-20: (04-15, 04-20] = 18, 19, 20 → due soon. No extension approved yet.
    assert (f.total, f.closed, f.overdue, f.due_soon, f.cancelled) == (9, 2, 0, 1, 0)
    assert (f.on_time, f.extended) == (2, 0)
    assert [(t.phrase, t.count) for t in f.outcomes] == [("开展普法宣传100次", 1)]
    assert [(m.month, m.closed) for m in f.closed_by_month] == [(1, 0), (2, 0), (3, 1), (4, 1)]


def test_an_extension_counts_from_the_day_it_is_approved() -> None:
    before, after = review(d(7, 19)), review(d(8, 3))
    t2_before = [t for t in before.overdue_tasks if t.title == "T2"]
    assert t2_before == []  # due 07-31, not yet overdue on 07-19
    # 08-03: without the extension (approved 07-20) T2 would be overdue since 07-31.
    assert "T2" not in [t.title for t in after.overdue_tasks] and after.extended == 1
    late = review(d(8, 3), moves=[m for m in MOVES if m.kind == "set"])
    assert [(t.title, t.days_overdue) for t in late.overdue_tasks] == [("T2", 3)]  # 1, 2, 3 Aug


def test_closing_after_the_original_but_within_the_extension_is_on_time() -> None:
    on_time = review()
    without = review(moves=[m for m in MOVES if m.kind == "set"])
    assert (on_time.on_time, without.on_time) == (3, 2)  # T2 closed 08-05 > 07-31
    assert without.extended == 0


def test_demo_kind_rebases_the_original_deadline() -> None:
    tasks = [ReviewTask(1, "演示", 1, None, JAN, IN_PROGRESS, d(12, 1))]
    moves = [DeadlineMove(1, "set", None, d(3, 1), JAN),
             DeadlineMove(1, "demo", d(3, 1), d(12, 1), FEB)]  # fmt: skip
    f = compute_review(as_of=D, calendar=CALENDAR, tasks=tasks, offices=OFFICES, moves=moves)
    assert (f.overdue, f.extended) == (0, 0)


def test_a_closing_day_on_a_saturday_after_a_friday_deadline_is_overdue_by_under_a_day() -> None:
    tasks = [ReviewTask(1, "周五到期", 1, None, JAN, IN_PROGRESS, d(9, 16))]  # Friday
    f = compute_review(as_of=d(9, 17), calendar=CALENDAR, tasks=tasks, offices=OFFICES)
    assert [(t.days_overdue, f.offices[0].light) for t in f.overdue_tasks] == [(0, Light.RED)]


def test_a_task_without_history_uses_its_row() -> None:
    # Closed with no closed_at (older rows): the last change is the closing day.
    tasks = [ReviewTask(1, "旧任务", 1, None, JAN, CLOSED_NOW, d(6, 30), changed_on=d(6, 1))]
    assert review(d(5, 31), tasks=tasks, moves=[], events=[]).closed == 0
    assert review(d(6, 1), tasks=tasks, moves=[], events=[]).on_time == 1


def test_audit_history_wins_over_the_row_for_the_closing_day() -> None:
    # Approved 06-01 (audit), reopened and approved again 11-01 (the row's closed_at).
    tasks = [ReviewTask(1, "二次办结", 1, None, JAN, CLOSED_NOW, d(6, 30), closed_on=d(11, 1))]
    events = [StatusEvent(1, d(6, 1), CLOSED)]  # the service reads events up to D only
    f = review(D, tasks=tasks, moves=[], events=events)
    assert (f.closed, f.on_time) == (1, 1)
    cancelled = [StatusEvent(1, d(3, 1), CANCELLED), StatusEvent(1, d(3, 5), OPEN)]
    assert review(d(3, 2), tasks=tasks, moves=[], events=cancelled).cancelled == 1
    assert review(d(3, 6), tasks=tasks, moves=[], events=cancelled).total == 1


def test_none_closed_ranks_after_any_on_time_rate_and_ties_go_by_name() -> None:
    tasks = [
        ReviewTask(1, "a", 1, None, JAN, IN_PROGRESS, d(12, 31)),
        ReviewTask(2, "b", 2, None, JAN, CLOSED_NOW, d(3, 1), closed_on=d(3, 5)),
        ReviewTask(3, "c", 2, None, JAN, IN_PROGRESS, d(12, 31)),
        ReviewTask(4, "d", 3, None, JAN, IN_PROGRESS, d(12, 31)),
    ]
    f = compute_review(as_of=D, calendar=CALENDAR, tasks=tasks, offices=OFFICES)
    # 综治办 50%; 司法所 and 农业站 0% with nothing closed: by name (农 before 司)
    assert [(o.rank, o.name) for o in f.offices] == [(1, "综治办"), (2, "农业站"), (3, "司法所")]
    assert f.praised == ()  # 综治办 closed its task late: nothing on time to praise


def test_before_any_task_the_review_is_empty() -> None:
    f = review(d(1, 9))
    assert f.is_empty and f.offices == () and f.closed_by_month == () and f.outcomes == ()
    assert (f.completion_rate, f.on_time_rate) == (None, None)


def test_months_keep_the_last_two_years() -> None:
    tasks = [ReviewTask(1, "早", 1, None, date(2019, 1, 1), IN_PROGRESS, d(12, 31))]
    f = compute_review(as_of=D, calendar=CALENDAR, tasks=tasks, offices=OFFICES)
    assert len(f.closed_by_month) == 24 and f.closed_by_month[0].label == "2020年11月"


@pytest.mark.parametrize(
    ("rate", "text"), [(None, "—"), (0.4, "40%"), (2 / 3, "66.7%"), (1.0, "100%"), (0.0, "0%")]
)
def test_percent(rate, text) -> None:
    assert percent(rate) == text


@pytest.mark.parametrize(
    ("text", "day", "message"),
    [
        (None, D, None), ("", D, None), ("2022-10-01", d(10, 1), None),
        ("2022-13-01", D, "无法识别的日期"), ("abc", D, "无法识别的日期"),
        ("1999-12-31", D, "不能早于2000年"),
        ((D + timedelta(days=1)).isoformat(), D, "不能晚于今天"),
    ],
)  # fmt: skip
def test_parse_as_of(text, day, message) -> None:
    parsed, error = parse_as_of(text, D)
    assert parsed == day
    assert (error is None) if message is None else (message in error)
