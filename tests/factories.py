"""Plain functions that make rows for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.clock import utcnow
from app.core.lifecycle import TaskStatus
from app.core.roles import Role
from app.models import Commitment, Office, Report, Task, Unit, User
from app.services import users as user_service

PASSWORD = "Test-pass-2026"


def make_unit(db: Session, name: str = "测试乡人民政府") -> Unit:
    unit = Unit(name=name)
    db.add(unit)
    db.flush()
    return unit


def make_office(db: Session, unit: Unit, name: str, **kwargs) -> Office:
    office = Office(unit_id=unit.id, name=name, **kwargs)
    db.add(office)
    db.flush()
    return office


def make_user(
    db: Session, login: str, *roles: Role, office: Office | None = None, password: str = PASSWORD
) -> User:
    return user_service.create_user(
        db, login=login, name=login, password=password, roles=roles,
        office_id=office.id if office else None, now=utcnow(),
    )  # fmt: skip


def make_report(db: Session, unit: Unit, year: int = 2021) -> Report:
    report = Report(unit_id=unit.id, year=year, title=f"关于{year}年度法治政府建设情况的报告")
    db.add(report)
    db.flush()
    return report


def make_task(
    db: Session,
    office: Office,
    title: str = "测试任务",
    *,
    deadline: date = date(2026, 12, 31),
    cooperating: list[Office] | None = None,
    commitment: Commitment | None = None,
    status: TaskStatus = TaskStatus.ASSIGNED,
) -> Task:
    task = Task(
        title=title, lead_office_id=office.id, deadline=deadline, status=status.value,
        cooperating_offices=cooperating or [], commitment_id=commitment.id if commitment else None,
    )  # fmt: skip
    db.add(task)
    db.flush()
    return task


@dataclass
class World:
    unit: Unit
    office_a: Office
    office_b: Office
    task_a: Task
    task_b: Task
    shared_task: Task  # led by B, A cooperates
    users: dict[Role, User]
    office_b_user: User


def make_world(db: Session) -> World:
    """Two offices, a task led by each, one led by B with A cooperating, a user per role (the
    three administrators admin1, security1 and auditor1 among them)."""
    unit = make_unit(db)
    office_a = make_office(db, unit, "甲科室")
    office_b = make_office(db, unit, "乙科室")
    report = make_report(db, unit)
    commitment = Commitment(report_id=report.id, position=0, lead="加强宣传", text="加强宣传。")
    db.add(commitment)
    db.flush()
    users = {
        Role.ADMIN: make_user(db, "admin1", Role.ADMIN),
        Role.SECURITY: make_user(db, "security1", Role.SECURITY),
        Role.COORDINATOR: make_user(db, "coord1", Role.COORDINATOR),
        Role.OFFICE: make_user(db, "staff_a", Role.OFFICE, office=office_a),
        Role.LEADER: make_user(db, "leader1", Role.LEADER),
        Role.AUDITOR: make_user(db, "auditor1", Role.AUDITOR),
    }
    world = World(
        unit=unit,
        office_a=office_a,
        office_b=office_b,
        task_a=make_task(db, office_a, "甲科室的任务", commitment=commitment),
        task_b=make_task(db, office_b, "乙科室的任务"),
        shared_task=make_task(db, office_b, "乙牵头甲配合的任务", cooperating=[office_a]),
        users=users,
        office_b_user=make_user(db, "staff_b", Role.OFFICE, office=office_b),
    )
    db.commit()
    return world


def make_township(db: Session) -> dict:
    """A township with the offices the default keyword rules name, a coordinator, a leader and
    office staff; 司法所 has a head (the proposed owner of its tasks)."""
    from app.services.offices import install_default_rules

    unit = make_unit(db, "黔江区蓬东乡人民政府")
    names = [("党政办公室", "党政办"), ("司法所", "司法所"), ("信访办公室", "信访办"),
             ("综合行政执法办公室", "综合执法办")]  # fmt: skip
    offices = {short: make_office(db, unit, name, short_name=short) for name, short in names}
    make_user(db, "coord1", Role.COORDINATOR)
    head = make_user(db, "sfs_head", Role.OFFICE, office=offices["司法所"])
    offices["司法所"].head_id = head.id
    make_user(db, "leader1", Role.LEADER)
    make_user(db, "staff_x", Role.OFFICE, office=offices["信访办"])
    install_default_rules(db, unit_id=unit.id)
    db.commit()
    return {"unit": unit, "offices": offices, "head": head}
