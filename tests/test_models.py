"""The tables hold what they should and refuse what they must, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from app.models import (
    AuditEvent,
    Commitment,
    CommitmentProblem,
    DeadlineChange,
    Holiday,
    Office,
    Outbox,
    Outcome,
    Problem,
    ProgressUpdate,
    Report,
    Task,
    TaskCooperatingOffice,
    User,
)
from tests.factories import make_office, make_report, make_task, make_unit


def test_task_with_everything_round_trips(db: Session) -> None:
    unit = make_unit(db)
    lead, helper = make_office(db, unit, "司法所"), make_office(db, unit, "信访办")
    report = make_report(db, unit)
    problem = Problem(report_id=report.id, position=0, lead="宣传不够", text="宣传不够深入。")
    commitment = Commitment(
        report_id=report.id, position=0, marker="一是", lead="加大宣传", text="加大宣传。…",
        time_phrase="年底前", problems=[problem],
    )  # fmt: skip
    db.add_all([problem, commitment])
    db.flush()
    task = make_task(db, lead, "开展普法宣传", cooperating=[helper], commitment=commitment)
    update = ProgressUpdate(task_id=task.id, text="已开展宣传", outcomes=[
        Outcome(metric="开展普法宣传", value=12, unit="次")])  # fmt: skip
    db.add_all([update, DeadlineChange(task_id=task.id, new_deadline=date(2026, 12, 31))])
    db.commit()
    db.expunge_all()

    loaded = db.exec(select(Task).where(Task.title == "开展普法宣传")).one()
    assert loaded.lead_office.name == "司法所"
    assert [o.name for o in loaded.cooperating_offices] == ["信访办"]
    assert loaded.commitment.problems[0].lead == "宣传不够"
    assert loaded.deadline == date(2026, 12, 31) and isinstance(loaded.deadline, date)
    outcome = db.exec(select(Outcome)).one()
    assert (outcome.metric, outcome.value, outcome.unit) == ("开展普法宣传", 12, "次")


def test_timestamps_come_back_aware_in_utc(db: Session) -> None:
    unit = make_unit(db)
    office = make_office(db, unit, "司法所")
    shanghai = timezone(timedelta(hours=8))
    nine_am = datetime(2026, 12, 1, 9, 0, tzinfo=shanghai)
    db.add(Outbox(channel="email", recipient="a@b.cn", subject="主题", body="正文",
                  idempotency_key="k1", next_attempt_at=nine_am))  # fmt: skip
    db.commit()
    db.expunge_all()
    row = db.exec(select(Outbox)).one()
    assert row.next_attempt_at.utcoffset() == timedelta(0)
    assert row.next_attempt_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert db.get(Office, office.id).created_at.tzinfo is not None


def test_naive_timestamps_are_refused(db: Session) -> None:
    unit = make_unit(db)
    db.add(Office(unit_id=unit.id, name="科室", created_at=datetime(2026, 1, 1)))
    with pytest.raises(StatementError):
        db.flush()


def test_foreign_keys_are_enforced(db: Session) -> None:
    db.add(Task(title="孤儿任务", lead_office_id=9999, deadline=date(2026, 12, 31)))
    with pytest.raises(IntegrityError):
        db.flush()


def test_outbox_idempotency_key_is_unique(db: Session) -> None:
    for _ in range(2):
        db.add(Outbox(channel="email", recipient="a@b.cn", subject="s", body="b",
                      idempotency_key="task:1:before10:a@b.cn:2026-12-01"))  # fmt: skip
    with pytest.raises(IntegrityError):
        db.flush()


def test_office_names_are_unique_within_a_unit_only(db: Session) -> None:
    first, second = make_unit(db, "甲乡"), make_unit(db, "乙乡")
    make_office(db, first, "司法所")
    make_office(db, second, "司法所")
    db.add(Office(unit_id=first.id, name="司法所"))
    with pytest.raises(IntegrityError):
        db.flush()


def test_login_is_unique(db: Session) -> None:
    for _ in range(2):
        db.add(User(login="same", name="x", password_hash="h"))
    with pytest.raises(IntegrityError):
        db.flush()


def test_task_version_detects_a_concurrent_edit(db: Session, app) -> None:
    unit = make_unit(db)
    task = make_task(db, make_office(db, unit, "司法所"))
    db.commit()
    from app.db import get_engine

    # The other edit read the task in an earlier request (transaction), as a web form does.
    with Session(get_engine(app), expire_on_commit=False) as other:
        stale = other.get(Task, task.id)
        other.commit()
        task.title = "先改"
        db.commit()
        assert task.version == 2
        stale.title = "后改"
        with pytest.raises(StaleDataError):
            other.commit()


def test_deleting_a_report_removes_its_items(db: Session) -> None:
    unit = make_unit(db)
    report = make_report(db, unit)
    problem = Problem(report_id=report.id, position=0, lead="问题", text="问题。")
    db.add(
        Commitment(report_id=report.id, position=0, lead="承诺", text="承诺。", problems=[problem])
    )
    db.commit()
    db.delete(report)
    db.commit()
    assert db.exec(select(Commitment)).all() == []
    assert db.exec(select(Problem)).all() == []
    assert db.exec(select(CommitmentProblem)).all() == []


def test_cooperating_offices_go_with_their_task(db: Session) -> None:
    unit = make_unit(db)
    task = make_task(db, make_office(db, unit, "甲"), cooperating=[make_office(db, unit, "乙")])
    db.commit()
    db.delete(task)
    db.commit()
    assert db.exec(select(TaskCooperatingOffice)).all() == []


def test_json_columns_keep_chinese(db: Session) -> None:
    unit = make_unit(db)
    db.add(
        Report(
            unit_id=unit.id, year=2021, title="报告", structure={"plan_heading": "三、下一步打算"}
        )
    )
    db.add(AuditEvent(action="task.update", before={"标题": "旧"}, after={"标题": "新"}))
    db.commit()
    db.expunge_all()
    assert db.exec(select(Report)).one().structure == {"plan_heading": "三、下一步打算"}
    assert db.exec(select(AuditEvent)).one().after == {"标题": "新"}


def test_holiday_calendar_rows(db: Session) -> None:
    db.add_all([Holiday(day=date(2026, 10, 1), is_workday=False, name="国庆节"),
                Holiday(day=date(2026, 10, 10), is_workday=True, name="国庆节调休")])  # fmt: skip
    db.commit()
    assert db.get(Holiday, date(2026, 10, 10)).is_workday is True
