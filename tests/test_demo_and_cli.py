"""The command line: demo data, synthetic data, users, and instance separation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, func, select

from app.core.lifecycle import TaskStatus
from app.core.roles import Role
from app.models import Commitment, Office, Outcome, Problem, Report, Task, User
from app.services import demo as demo_service
from tests.conftest import login, reread

REPO = Path(__file__).resolve().parents[1]
SEED = json.loads((REPO / "app" / "demo" / "seed-2021.json").read_text(encoding="utf-8"))


def count(db: Session, model) -> int:
    return db.exec(select(func.count()).select_from(model)).one()


def test_demo_load_builds_the_example_township(app, db: Session) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "coordinator" in result.output and demo_service.DEMO_PASSWORD in result.output
    report = db.exec(select(Report)).one()
    assert (report.year, report.title) == (2021, "关于2021年度法治政府建设情况的报告")
    assert "下一步打算" in report.source_text
    commitments = db.exec(select(Commitment).order_by(Commitment.position)).all()
    assert [c.lead for c in commitments] == [p["lead"] for p in SEED["sections"]["plans"]]
    assert [p.lead for p in db.exec(select(Problem).order_by(Problem.position))] == SEED[
        "sections"
    ]["problems"]
    names = {o.short_name for o in db.exec(select(Office))}
    assert {"党政办", "综合执法办", "司法所", "信访办", "平安办", "社会事务办"} <= names
    assert sum(o.kind == "community" for o in db.exec(select(Office))) == 5
    roles = {r for u in db.exec(select(User)) for r in u.roles}
    assert roles == set(Role)
    tasks = db.exec(select(Task)).all()
    assert {t.commitment_id for t in tasks} == {c.id for c in commitments}
    assert {t.status for t in tasks} >= {s.value for s in TaskStatus if s != TaskStatus.CANCELLED}
    assert count(db, Outcome) > 0


def test_demo_load_twice_keeps_the_data(app, db: Session) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "load"])
    tasks = count(db, Task)
    reread(db)
    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0
    assert "已有数据，未加载演示数据" in second.output
    assert count(db, Task) == tasks


def test_demo_logins_work(app) -> None:
    app.test_cli_runner().invoke(args=["demo", "load"])
    client = app.test_client()
    login(client, "office", demo_service.DEMO_PASSWORD)
    # The published demo password must be replaced at first sign-in.
    assert client.get("/tasks/mine").headers["Location"] == "/password"
    client.post("/password", data={"current_password": demo_service.DEMO_PASSWORD,
                                   "new_password": "Lihua-pass-2026",
                                   "confirm_password": "Lihua-pass-2026"})  # fmt: skip
    page = client.get("/tasks/mine")
    assert page.status_code == 200 and "规范性文件" in page.text


def test_demo_synth_makes_the_requested_size(app, db: Session) -> None:
    result = app.test_cli_runner().invoke(
        args=["demo", "synth", "--offices", "7", "--tasks", "120", "--updates", "30"]
    )
    assert result.exit_code == 0, result.output
    assert count(db, Office) == 7 and count(db, Task) == 120 and count(db, Outcome) == 30


def test_users_create(app, db: Session) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "load"])
    result = runner.invoke(
        args=["users", "create", "Zhao", "--role", "office", "--office", "司法所",
              "--password", "Good-pass-1"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    reread(db)
    user = db.exec(select(User).where(User.login == "zhao")).one()
    assert user.roles == {Role.OFFICE} and user.office.short_name == "司法所"


def test_users_create_explains_bad_input(app, db: Session) -> None:
    runner = app.test_cli_runner()
    before = count(db, User)
    reread(db)
    cases = [
        (["--role", "office", "--password", "Good-pass-1"], "必须属于一个科室"),
        (["--role", "office", "--office", "无此科室", "--password", "Good-pass-1"], "找不到科室"),
        (["--role", "leader", "--password", "short"], "至少8位"),
    ]
    for args, message in cases:
        result = runner.invoke(args=["users", "create", "someone", *args])
        assert result.exit_code != 0 and message in result.output, result.output
    result = runner.invoke(
        args=["users", "create", "x1", "--role", "god", "--password", "P-ass-12"]
    )
    assert result.exit_code != 0
    assert count(db, User) == before


def run_flask(instance: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUOSHI_", "FLASK_"))}
    env["LUOSHI_INSTANCE_PATH"] = str(instance)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_commands_honour_the_instance_path(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for instance in (first, second):
        assert run_flask(instance, "instance", "init").returncode == 0
        upgraded = run_flask(instance, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
    assert run_flask(first, "demo", "load").returncode == 0
    assert (first / "luoshi.sqlite3").exists() and (second / "luoshi.sqlite3").exists()
    assert "SECRET_KEY" in (first / "config.py").read_text(encoding="utf-8")
    # The second installation is still empty: loading there creates the demo afresh.
    assert "已加载演示数据" in run_flask(second, "demo", "load").stdout
    assert "已有数据" in run_flask(first, "demo", "load").stdout


def test_database_url_from_the_environment(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.sqlite3"
    env_instance = tmp_path / "inst"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUOSHI_", "FLASK_"))}
    env.update(LUOSHI_INSTANCE_PATH=str(env_instance), LUOSHI_DATABASE_URL=f"sqlite:///{target}")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert target.exists() and not (env_instance / "luoshi.sqlite3").exists()


def test_users_create_forces_a_change_at_first_sign_in_unless_told(app, db: Session) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["users", "create", "qian", "--role", "leader", "--password",
                                "Good-pass-1"])  # fmt: skip
    scripted = runner.invoke(args=["users", "create", "sun", "--role", "leader", "--password",
                                   "Good-pass-1", "--no-must-change"])  # fmt: skip
    assert first.exit_code == scripted.exit_code == 0
    assert "首次登录时须修改密码" in first.output and "首次登录" not in scripted.output
    reread(db)
    forced = {u.login: u.must_change_password for u in db.exec(select(User))}
    assert forced == {"qian": True, "sun": False}


def test_users_reset_password_on_the_server(app, db: Session) -> None:
    """The way back in for an administrator: a temporary password to change at the next
    sign-in, the lockout lifted, every open session ended, the reset audited."""
    from datetime import timedelta

    from app.clock import utcnow
    from app.models import AuditEvent

    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "sec", "--role", "security", "--password",
                        "Good-pass-1", "--no-must-change"])  # fmt: skip
    reread(db)
    user = db.exec(select(User).where(User.login == "sec")).one()
    user.failed_logins, user.locked_until = 5, utcnow() + timedelta(minutes=15)
    db.commit()
    version = user.session_version
    result = runner.invoke(args=["users", "reset-password", "SEC", "--password", "Temp-pass-9"])
    assert result.exit_code == 0, result.output
    reread(db)
    user = db.exec(select(User).where(User.login == "sec")).one()
    assert user.must_change_password and user.session_version > version
    assert user.failed_logins == 0 and user.locked_until is None
    actions = {e.action for e in db.exec(select(AuditEvent).where(AuditEvent.object_id == user.id))}
    assert "user.password" in actions
    for args, message in [(["nobody", "--password", "Temp-pass-9"], "找不到用户"),
                          (["sec", "--password", "short"], "至少8位")]:  # fmt: skip
        bad = runner.invoke(args=["users", "reset-password", *args])
        assert bad.exit_code != 0 and message in bad.output
