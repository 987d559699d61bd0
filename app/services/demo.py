"""Demo data (the township of the example report) and synthetic data sets for benchmarks."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources

from sqlalchemy import func, insert
from sqlmodel import Session, select

from app.core import import_plan as plan_core
from app.core.glossary import OfficeKind
from app.core.lifecycle import TaskStatus
from app.core.roles import Role
from app.models import (
    Commitment,
    DeadlineChange,
    Office,
    Outcome,
    ProgressUpdate,
    Report,
    Task,
    TaskCooperatingOffice,
    Unit,
    User,
)
from app.services import report_import
from app.services import users as user_service
from app.services.holidays import library_years, seed_from_library
from app.services.offices import ensure_unit, install_default_rules

DEMO_UNIT = "黔江区蓬东乡人民政府"
DEMO_PASSWORD = "Luoshi@2026"
# The demo password is published, so every demo account must choose its own at first sign-in
# (as an account an administrator creates must); `flask demo load` says so when it prints them.
DEMO_PASSWORD_NOTE = "首次登录须修改密码"
DEMO_DOMAIN = "pengdong.example.cn"

# name, short name, kind, mailbox local part
DEMO_OFFICES = [
    ("党政办公室", "党政办", OfficeKind.SECTION, "dzb"),
    ("综合行政执法办公室", "综合执法办", OfficeKind.SECTION, "zfb"),
    ("司法所", "司法所", OfficeKind.STATION, "sfs"),
    ("信访办公室", "信访办", OfficeKind.SECTION, "xfb"),
    ("平安法治办公室", "平安办", OfficeKind.SECTION, "pab"),
    ("社会事务办公室", "社会事务办", OfficeKind.SECTION, "shswb"),
    ("蓬东社区", "蓬东社区", OfficeKind.COMMUNITY, "pdsq"),
    ("石桥村", "石桥村", OfficeKind.COMMUNITY, "sqc"),
    ("新华村", "新华村", OfficeKind.COMMUNITY, "xhc"),
    ("麒麟村", "麒麟村", OfficeKind.COMMUNITY, "qlc"),
    ("杉岭村", "杉岭村", OfficeKind.COMMUNITY, "slc"),
]


@dataclass(frozen=True)
class DemoUser:
    login: str
    name: str
    role: Role
    office: str | None


DEMO_USERS = [
    DemoUser("admin", "系统管理员", Role.ADMIN, None),
    DemoUser("security", "安全管理员", Role.SECURITY, None),
    DemoUser("auditor", "赵敏（安全审计员）", Role.AUDITOR, None),
    DemoUser("coordinator", "张明（司法所）", Role.COORDINATOR, "司法所"),
    DemoUser("office", "李华（综合执法办）", Role.OFFICE, "综合执法办"),
    DemoUser("xinfang", "王芳（信访办）", Role.OFFICE, "信访办"),
    DemoUser("leader", "陈刚（分管领导）", Role.LEADER, None),
]


@dataclass(frozen=True)
class DemoProgress:
    """How far the demo has got with one imported task, relative to today."""

    due_in_days: int
    status: TaskStatus
    update: str | None = None
    outcomes: tuple[tuple[str, float, str], ...] = ()


# One entry per task the import creates, in order (commitment 四 is split into its measures).
DEMO_PROGRESS = [
    DemoProgress(40, TaskStatus.IN_PROGRESS, "在蓬东社区、石桥村开展集中普法宣传，发放资料1200份。",
                 (("开展集中普法宣传", 5, "次"), ("发放宣传资料", 1200, "份"))),
    DemoProgress(3, TaskStatus.IN_PROGRESS, "梳理信访积案6件，已依法终结2件。",
                 (("依法终结信访事项", 2, "件"),)),
    DemoProgress(20, TaskStatus.SUBMITTED, "已制定重大行政决策程序规定并经党委会审议通过。",
                 (("制定制度文件", 1, "项"),)),
    DemoProgress(-4, TaskStatus.ASSIGNED),
    DemoProgress(-30, TaskStatus.CLOSED, "完成规范性文件统一登记、编号、印发，全年印发5件。",
                 (("统一印发规范性文件", 5, "件"),)),
]  # fmt: skip
SPLIT_COMMITMENT = 3  # 全面健全工作机制: one task per measure


def _read_demo_file(name: str) -> str:
    return resources.files("app.demo").joinpath(name).read_text(encoding="utf-8")


def database_is_empty(session: Session) -> bool:
    """Whether the database holds no unit, office or user yet."""
    return all(
        session.exec(select(func.count()).select_from(model)).one() == 0
        for model in (Unit, Office, User)
    )


def load_demo(
    session: Session, *, today: date, now: datetime, must_change_password: bool = True
) -> Report:
    """The example township: offices, one user per role, its report imported through the real
    import path, then some progress so the pages have something to show. The demo accounts
    share the published DEMO_PASSWORD, so by default each must change it at first sign-in."""
    unit = ensure_unit(session, DEMO_UNIT)
    unit.short_name = "蓬东乡"
    offices = _demo_offices(session, unit)
    users = _demo_users(session, offices, now, must_change_password)
    _demo_heads(offices, users)
    install_default_rules(session, unit_id=unit.id)
    supported = library_years()
    seed_from_library(session, range(max(supported.start, 2020), supported.stop))
    report = _demo_import(session, unit, now)
    tasks = session.exec(
        select(Task)
        .join(Commitment, Commitment.id == Task.commitment_id)
        .where(Commitment.report_id == report.id)
        .order_by(Commitment.position, Task.id)
    ).all()
    for task, progress in zip(tasks, DEMO_PROGRESS, strict=False):
        _demo_progress(session, task, progress, today, now)
    return report


def _demo_heads(offices: dict[str, Office], users: dict[str, User]) -> None:
    for spec in DEMO_USERS:
        if spec.role == Role.OFFICE or spec.login == "coordinator":
            offices[spec.office].head_id = users[spec.login].id


def _demo_import(session: Session, unit: Unit, now: datetime) -> Report:
    draft = report_import.start_import(
        session, unit_id=unit.id, text=_read_demo_file("seed-2021.txt"),
        filename="seed-2021.txt", year=2021, actor=None, now=now,
    )  # fmt: skip
    context = report_import.plan_context(session, unit.id, draft.year)
    plan = plan_core.set_per_measure(draft.plan, SPLIT_COMMITMENT, True, context)
    # The coordinator's edit in the preview: the filing system goes to 综合执法办.
    office = next(o for o in context.offices if o.short_name == "综合执法办")
    plan = plan_core.update_task(
        plan, SPLIT_COMMITMENT, 1, office_id=office.id, owner_id=office.head_id
    )
    report_import.save_plan(session, draft, plan, now)
    return report_import.confirm_import(session, draft=draft, actor=None, now=now)


def _demo_progress(
    session: Session, task: Task, progress: DemoProgress, today: date, now: datetime
) -> None:
    """Move the task to today's calendar and state, as if the year were under way."""
    deadline = today + timedelta(days=progress.due_in_days)
    session.add(DeadlineChange(
        task_id=task.id, kind="demo", old_deadline=task.deadline, new_deadline=deadline,
        reason="演示数据：按当前日期调整时限", changed_at=now,
    ))  # fmt: skip
    task.deadline = deadline
    task.status = progress.status.value
    task.closed_at = now if progress.status == TaskStatus.CLOSED else None
    session.add(task)
    if progress.update:
        session.add(ProgressUpdate(
            task_id=task.id, author_id=task.owner_id, text=progress.update,
            created_at=now - timedelta(days=2),
            outcomes=[Outcome(metric=m, value=v, unit=u) for m, v, u in progress.outcomes],
        ))  # fmt: skip
    session.flush()


def _demo_offices(session: Session, unit: Unit) -> dict[str, Office]:
    offices: dict[str, Office] = {}
    for name, short, kind, box in DEMO_OFFICES:
        office = Office(
            unit_id=unit.id, name=name, short_name=short, kind=kind.value,
            mailbox=f"{box}@{DEMO_DOMAIN}", leader_name="刘军" if kind != OfficeKind.COMMUNITY
            else None, leader_email=f"liujun@{DEMO_DOMAIN}" if kind != OfficeKind.COMMUNITY
            else None,
        )  # fmt: skip
        session.add(office)
        offices[short] = office
    session.flush()
    return offices


def _demo_users(
    session: Session, offices: dict[str, Office], now: datetime, must_change_password: bool
) -> dict[str, User]:
    created: dict[str, User] = {}
    for spec in DEMO_USERS:
        created[spec.login] = user_service.create_user(
            session,
            login=spec.login,
            name=spec.name,
            password=DEMO_PASSWORD,
            roles=[spec.role],
            office_id=offices[spec.office].id if spec.office else None,
            email=f"{spec.login}@{DEMO_DOMAIN}",
            must_change_password=must_change_password,
            now=now,
        )
    return created


@dataclass(frozen=True)
class SynthSummary:
    offices: int
    tasks: int
    updates: int


def synthesize(
    session: Session,
    *,
    offices: int,
    tasks: int,
    updates: int,
    today: date,
    now: datetime,
    seed: int = 20261130,
) -> SynthSummary:
    """A synthetic data set of the given size, for benchmarks; deterministic for a seed."""
    rng = random.Random(seed)
    unit = ensure_unit(session, "示例区合成数据单位")
    start = session.exec(select(func.count()).select_from(Office)).one()
    office_rows = [
        {"unit_id": unit.id, "name": f"合成科室{start + i + 1:04d}",
         "kind": OfficeKind.SECTION.value, "is_active": True, "created_at": now}
        for i in range(offices)
    ]  # fmt: skip
    office_ids = list(session.scalars(insert(Office).returning(Office.id), office_rows))
    report = Report(unit_id=unit.id, year=today.year - 1, title="合成数据报告", status="imported")
    session.add(report)
    session.flush()
    commitment_ids = list(
        session.scalars(
            insert(Commitment).returning(Commitment.id),
            [{"report_id": report.id, "position": i, "lead": f"合成承诺{i + 1}",
              "text": f"合成承诺{i + 1}。推进相关工作。", "marker": f"{i + 1}."}
             for i in range(max(1, tasks // 20))],
        )
    )  # fmt: skip
    statuses = [s.value for s in TaskStatus]
    task_rows = [
        {"commitment_id": rng.choice(commitment_ids), "title": f"合成任务{i + 1}",
         "description": "用于性能测试的合成任务。", "lead_office_id": rng.choice(office_ids),
         "deadline": today + timedelta(days=rng.randint(-60, 300)),
         "status": rng.choice(statuses), "version": 1, "created_at": now, "updated_at": now}
        for i in range(tasks)
    ]  # fmt: skip
    task_ids = list(session.scalars(insert(Task).returning(Task.id), task_rows)) if tasks else []
    if task_ids and updates:
        update_rows = [
            {"task_id": rng.choice(task_ids), "text": f"合成进展{i + 1}", "created_at": now}
            for i in range(updates)
        ]
        update_ids = list(session.scalars(insert(ProgressUpdate).returning(ProgressUpdate.id),
                                          update_rows))  # fmt: skip
        session.execute(
            insert(Outcome),
            [{"update_id": uid, "metric": "开展普法宣传", "value": rng.randint(1, 9), "unit": "次"}
             for uid in update_ids],
        )  # fmt: skip
    if task_ids and len(office_ids) > 1:
        session.execute(
            insert(TaskCooperatingOffice),
            [{"task_id": tid, "office_id": rng.choice(office_ids)} for tid in task_ids[::3]],
        )
    session.flush()
    return SynthSummary(offices=len(office_ids), tasks=len(task_ids), updates=updates)
