"""The state machine, exhaustively: every (who, state, action) against a table written here."""

from datetime import date, timedelta

import pytest

from app.core.errors import DomainError
from app.core.lifecycle import (
    Action,
    Actor,
    Light,
    TaskFacts,
    TaskStatus,
    allowed_actions,
    check,
    check_extension,
    ensure_reason,
    is_overdue,
    light,
    next_status,
    refusal,
)
from app.core.roles import Role
from app.core.workdays import WorkCalendar

A, S = Action, TaskStatus
TODAY = date(2026, 11, 30)  # a Monday
LEAD, HELPER, OTHER = 1, 2, 3

WHO = {
    "lead office": Actor(frozenset({Role.OFFICE}), LEAD),
    "cooperating office": Actor(frozenset({Role.OFFICE}), HELPER),
    "other office": Actor(frozenset({Role.OFFICE}), OTHER),
    "coordinator": Actor(frozenset({Role.COORDINATOR}), None),
    "leader": Actor(frozenset({Role.LEADER}), None),
    "auditor": Actor(frozenset({Role.AUDITOR}), None),
    "admin": Actor(frozenset({Role.ADMIN}), None),
}
OPEN = {S.ASSIGNED, S.IN_PROGRESS, S.SUBMITTED}
ALL = set(S)

# action -> (who may, in which states) — the rules of the issue, written out independently.
SPEC = {
    A.ACCEPT: ({"lead office"}, {S.ASSIGNED}),
    A.UPDATE: ({"lead office", "cooperating office"}, {S.IN_PROGRESS}),
    A.SUBMIT: ({"lead office"}, {S.IN_PROGRESS}),
    A.APPROVE: ({"coordinator"}, {S.SUBMITTED}),
    A.RETURN: ({"coordinator"}, {S.SUBMITTED}),
    A.REQUEST_EXTENSION: ({"lead office"}, {S.ASSIGNED, S.IN_PROGRESS}),
    A.DECIDE_EXTENSION: ({"coordinator"}, OPEN),
    A.EXTEND: ({"coordinator"}, OPEN),
    A.REASSIGN: ({"coordinator"}, OPEN),
    A.CANCEL: ({"coordinator"}, OPEN),
    A.REOPEN: ({"coordinator"}, {S.CLOSED, S.CANCELLED}),
    A.COMMENT: ({"coordinator", "leader", "lead office", "cooperating office"}, ALL),
    A.URGE: ({"coordinator", "leader"}, OPEN),
}


def facts(status: S, **changes) -> TaskFacts:
    base = {"status": status, "lead_office_id": LEAD, "cooperating_office_ids": frozenset({HELPER}),
            "deadline": date(2026, 12, 31), "has_progress": True,
            "has_pending_extension": True}  # fmt: skip
    return TaskFacts(**{**base, **changes})


@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("status", list(S))
def test_every_action_for_every_actor_in_every_state(who: str, status: S) -> None:
    task = facts(status)
    allowed = allowed_actions(WHO[who], task, TODAY)
    expected = {action for action, (actors, states) in SPEC.items()
                if who in actors and status in states}  # fmt: skip
    if task.has_pending_extension:
        expected.discard(A.REQUEST_EXTENSION)
    assert allowed == expected


def test_the_spec_covers_every_action() -> None:
    assert set(SPEC) == set(Action)


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [(S.ASSIGNED, A.ACCEPT, S.IN_PROGRESS), (S.IN_PROGRESS, A.SUBMIT, S.SUBMITTED),
     (S.SUBMITTED, A.APPROVE, S.CLOSED), (S.SUBMITTED, A.RETURN, S.IN_PROGRESS),
     (S.IN_PROGRESS, A.REASSIGN, S.ASSIGNED), (S.SUBMITTED, A.CANCEL, S.CANCELLED),
     (S.CLOSED, A.REOPEN, S.IN_PROGRESS), (S.CANCELLED, A.REOPEN, S.ASSIGNED),
     (S.IN_PROGRESS, A.UPDATE, S.IN_PROGRESS), (S.ASSIGNED, A.COMMENT, S.ASSIGNED)],
)  # fmt: skip
def test_next_status(status, action, after) -> None:
    assert next_status(status, action) == after


def test_submitting_needs_progress_first() -> None:
    reason = refusal(WHO["lead office"], facts(S.IN_PROGRESS, has_progress=False), A.SUBMIT, TODAY)
    assert reason and "请先报送进展" in reason


def test_extension_requests_only_before_the_deadline_and_one_at_a_time() -> None:
    lead = WHO["lead office"]
    open_task = facts(S.IN_PROGRESS, has_pending_extension=False)
    assert refusal(lead, open_task, A.REQUEST_EXTENSION, TODAY) is None
    assert refusal(lead, open_task, A.REQUEST_EXTENSION, date(2026, 12, 31)) is None
    late = refusal(lead, open_task, A.REQUEST_EXTENSION, date(2027, 1, 1))
    assert late and "已超过时限" in late
    pending = refusal(lead, facts(S.IN_PROGRESS), A.REQUEST_EXTENSION, TODAY)
    assert pending and "待审批" in pending
    nothing = refusal(WHO["coordinator"], open_task, A.DECIDE_EXTENSION, TODAY)
    assert nothing and "没有待审批" in nothing


def test_check_explains_in_chinese() -> None:
    with pytest.raises(DomainError, match="无权"):
        check(WHO["leader"], facts(S.SUBMITTED), A.APPROVE, TODAY)
    with pytest.raises(DomainError, match="当前为“已办结”"):
        check(WHO["coordinator"], facts(S.CLOSED), A.APPROVE, TODAY)


def test_an_office_user_without_an_office_may_do_nothing() -> None:
    assert allowed_actions(Actor(frozenset({Role.OFFICE}), None), facts(S.ASSIGNED), TODAY) == set()


def test_combined_roles_add_up() -> None:
    both = Actor(frozenset({Role.OFFICE, Role.LEADER}), OTHER)
    assert allowed_actions(both, facts(S.IN_PROGRESS), TODAY) == {A.COMMENT, A.URGE}


def test_overdue_is_derived() -> None:
    deadline = date(2026, 11, 27)
    assert is_overdue(S.IN_PROGRESS, deadline, TODAY)
    assert not is_overdue(S.CLOSED, deadline, TODAY)
    assert not is_overdue(S.IN_PROGRESS, TODAY, TODAY)


def test_lights_count_working_days() -> None:
    calendar = WorkCalendar({date(2026, 12, 4): False}, {2026})  # a Friday off
    assert light(S.IN_PROGRESS, TODAY - timedelta(days=1), TODAY, calendar) == Light.RED
    assert light(S.SUBMITTED, TODAY, TODAY, calendar) == Light.YELLOW
    # Mon 11-30 → Mon 12-07: Tue, Wed, Thu, (Fri off), Mon = 4 working days → yellow
    assert light(S.ASSIGNED, date(2026, 12, 7), TODAY, calendar) == Light.YELLOW
    # → Tue 12-08: 5 working days, still yellow; → Wed 12-09: 6, green
    assert light(S.ASSIGNED, date(2026, 12, 8), TODAY, calendar) == Light.YELLOW
    assert light(S.ASSIGNED, date(2026, 12, 9), TODAY, calendar) == Light.GREEN
    assert light(S.CLOSED, TODAY - timedelta(days=9), TODAY, calendar) == Light.NONE


def test_extension_dates_and_reasons() -> None:
    check_extension(date(2026, 12, 31), date(2027, 3, 31), TODAY)
    with pytest.raises(DomainError, match="晚于当前时限"):
        check_extension(date(2026, 12, 31), date(2026, 12, 31), TODAY)
    with pytest.raises(DomainError, match="晚于今天"):
        check_extension(date(2026, 11, 1), TODAY, TODAY)
    assert ensure_reason("  工作量大  ", "延期") == "工作量大"
    with pytest.raises(DomainError, match="请填写退回理由"):
        ensure_reason("   ", "退回")


def test_on_time_rate() -> None:
    from app.core.lifecycle import on_time_rate

    assert on_time_rate([]) is None
    june, nov = date(2026, 6, 30), date(2026, 11, 30)
    pairs = [(june, june), (date(2026, 7, 1), june), (date(2026, 5, 1), june),
             (date(2026, 12, 1), nov)]  # fmt: skip
    assert on_time_rate(pairs) == 0.5


def test_next_periodic_report() -> None:
    from app.core.lifecycle import next_report_due

    calendar = WorkCalendar({}, {2026})
    # quarterly, last report in May: due at the end of June (30 June 2026 is a Tuesday)
    assert next_report_due("quarterly", date(2026, 5, 10), date(2026, 1, 5), calendar) == date(
        2026, 6, 30
    )
    # never reported: the end of the period after creation; 31 Jan 2026 is a Saturday → Friday
    assert next_report_due("monthly", None, date(2026, 1, 5), calendar) == date(2026, 1, 30)
