"""Weekly digests, the leaders' monthly summary and the unknown-year notice, end to end:
planned by the sweep, delivered to a real SMTP server (aiosmtpd), once each."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes
from email.policy import default
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from app.core.lifecycle import TaskStatus
from app.core.roles import Role
from app.db import get_engine
from app.models import AuditEvent, Outbox, Setting
from app.notify.smtp import SmtpSender
from app.scheduler import plan_due
from app.services import reminders
from app.services.holidays import seed_from_library
from tests.conftest import login, reread
from tests.factories import make_office, make_task, make_unit, make_user
from tests.test_notify_email import Recorder, smtp_server  # noqa: F401 - fixture
from tests.test_robots import _no_proxy, robot  # noqa: F401 - fixtures

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def township(db: Session):
    seed_from_library(db, [2022])
    unit = make_unit(db)
    sfs = make_office(db, unit, "司法所", mailbox="sfs@example.cn")
    zhb = make_office(db, unit, "综治办")  # no mailbox: its members get the digest
    idle = make_office(db, unit, "农业站", mailbox="nyz@example.cn")  # nothing open
    member = make_user(db, "zhb1", Role.OFFICE, office=zhb)
    member.email = "zhb1@example.cn"
    leader = make_user(db, "leader1", Role.LEADER)
    leader.email = "leader@example.cn"
    tasks = {
        "green": make_task(db, sfs, "绿灯任务", deadline=date(2022, 12, 30),
                           status=TaskStatus.IN_PROGRESS),
        "red": make_task(db, sfs, "红灯任务", deadline=date(2022, 9, 1),
                         status=TaskStatus.IN_PROGRESS, cooperating=[zhb]),
        "closed": make_task(db, sfs, "已办结任务", deadline=date(2022, 9, 1),
                            status=TaskStatus.CLOSED),
        "zhb": make_task(db, zhb, "综治办任务", deadline=date(2022, 10, 12)),
        "done": make_task(db, idle, "农业站已办结", deadline=date(2022, 6, 1),
                          status=TaskStatus.CLOSED),
    }  # fmt: skip
    for task in tasks.values():  # made today, but the sweeps run in 2022: the review counts
        task.created_at = datetime(2022, 1, 4, tzinfo=UTC)  # only what existed by then
        if task.status == TaskStatus.CLOSED.value:
            task.closed_at = datetime(2022, 6, 1, tzinfo=UTC)
    db.commit()
    return {"offices": (sfs, zhb, idle), "tasks": tasks}


def sweep(app, moment: datetime, port: int) -> reminders.SweepPlan:
    with Session(get_engine(app)) as session:
        planned = plan_due(session, app.config, moment)
        session.commit()
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        reminders.deliver_pending(get_engine(app), sender=sender, now=moment,
                                  from_address="l@example.cn", domain="example.cn")  # fmt: skip
    return planned


def mails_of(recorder: Recorder, prefix: str) -> list:
    found = []
    for _, rcpts, content in recorder.received:
        message = message_from_bytes(content, policy=default)
        if message["Message-ID"].startswith(f"<{prefix}"):
            found.append((message, tuple(rcpts)))
    return found


def test_digests_go_out_once_a_week_on_its_first_working_day(
    app,
    db,
    township,
    smtp_server,  # noqa: F811
) -> None:
    recorder, port = smtp_server()
    day = date(2022, 9, 26)
    while day <= date(2022, 10, 16):
        for hour in (8, 9, 15):  # before 09:00 nothing; the later sweep must not repeat it
            sweep(app, local(day, hour), port)
        day += timedelta(days=1)
    digests = mails_of(recorder, "digest.")
    sent_on = sorted({(m["Date"].datetime.astimezone(SHANGHAI).date(), r) for m, r in digests})
    weeks = [date(2022, 9, 26), date(2022, 10, 8), date(2022, 10, 10)]  # 国庆: Saturday 10-08
    assert sent_on == sorted(
        (week, (rcpt,)) for week in weeks for rcpt in ("sfs@example.cn", "zhb1@example.cn")
    )
    assert all(m["Date"].datetime.astimezone(SHANGHAI).hour == 9 for m, _ in digests)


def test_a_digest_lists_open_tasks_red_first(app, db, township, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    sweep(app, local(date(2022, 9, 26), 10), port)
    ((sfs_mail, _),) = [
        (m, r) for m, r in mails_of(recorder, "digest.") if r == ("sfs@example.cn",)
    ]
    text = sfs_mail.get_body(("plain",)).get_content()
    assert text.index("红灯任务") < text.index("绿灯任务")
    assert "已办结任务" not in text and "综治办任务" not in text
    assert sfs_mail["Subject"] == "【每周任务提示】司法所：在办任务2项，其中已逾期1项"
    ((zhb_mail, _),) = [
        (m, r) for m, r in mails_of(recorder, "digest.") if r == ("zhb1@example.cn",)
    ]
    zhb_text = zhb_mail.get_body(("plain",)).get_content()
    assert "综治办任务" in zhb_text and "红灯任务" in zhb_text  # as a cooperating office
    assert not [r for _, r in mails_of(recorder, "digest.") if r == ("nyz@example.cn",)]


def test_leaders_get_the_month_once(app, db, township, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    for moment in (local(date(2022, 9, 30), 17), local(date(2022, 10, 8), 8),
                   local(date(2022, 10, 8), 9), local(date(2022, 10, 9), 9),
                   local(date(2022, 10, 10), 9)):  # fmt: skip
        sweep(app, moment, port)
    summaries = mails_of(recorder, "summary.")
    assert [(m["Subject"], r) for m, r in summaries] == [
        ("【月度进展】2022年10月法治政府建设任务落实情况", ("leader@example.cn",))
    ]
    text = summaries[0][0].get_body(("plain",)).get_content()
    assert "共有任务5项，已办结2项（40%），在办3项，其中已逾期1项" in text
    assert text.index("司法所") < text.index("农业站")


def test_the_admin_is_warned_once_about_a_year_the_calendar_does_not_know(
    app,
    db,
    township,
    smtp_server,  # noqa: F811
) -> None:
    admin = make_user(db, "admin1", Role.ADMIN)
    admin.email = "admin@example.cn"
    db.commit()
    recorder, port = smtp_server()
    sweep(app, local(date(2022, 11, 1), 10), port)
    assert not mails_of(recorder, "calendar.")  # 2022 is known
    for day in (date(2031, 3, 3), date(2031, 3, 4), date(2031, 3, 5)):
        planned = sweep(app, local(day, 10), port)
    warnings = mails_of(recorder, "calendar.2031")
    assert [(m["Subject"], r) for m, r in warnings] == [
        ("【系统提示】工作日历缺少2031年的节假日安排", ("admin@example.cn",))
    ]
    assert planned.notices == 0
    # Without the calendar, reminders still go out Monday to Friday only.
    task = make_task(db, township["offices"][0], "2031年任务", deadline=date(2031, 3, 10),
                     status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    assert sweep(app, local(date(2031, 3, 8), 10), port).due == []  # a Saturday
    due = sweep(app, local(date(2031, 3, 7), 10), port).due
    assert [r.rule for r in due if r.task_id == task.id] == ["before-1"]


def test_the_stored_policy_is_the_one_the_sweep_follows(app, db, township) -> None:
    db.add(Setting(key="reminder_policy", value={"weekly_digest": False, "monthly_summary": False,
                                                  "before_workdays": [2]}))  # fmt: skip
    make_task(db, township["offices"][0], "周三到期", deadline=date(2022, 10, 12),
              status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    with Session(get_engine(app)) as session:
        planned = plan_due(session, app.config, local(date(2022, 10, 10), 10))
        session.commit()
    assert (planned.digests, planned.summaries) == (0, 0)
    assert {r.rule for r in planned.due} == {"before-2", "overdue"}


def test_robots_get_the_digest_and_a_removed_robot_is_skipped(app, db, township) -> None:
    sfs = township["offices"][0]
    sfs.wecom_webhook = "http://127.0.0.1:9/cgi-bin/webhook/send?key=abc"
    db.commit()
    with Session(get_engine(app)) as session:
        plan_due(session, app.config, local(date(2022, 9, 26), 10))
        session.commit()
    reread(db)
    robot_rows = db.exec(select(Outbox).where(Outbox.channel == "wecom")).all()
    assert [(r.kind, r.recipient, r.office_id) for r in robot_rows] == [
        ("digest", f"office:{sfs.id}", sfs.id)
    ]

    # Mail-only sweeps leave robot rows for a sweep that can post them.
    class NoMail:
        def send(self, message):
            raise AssertionError("no mail expected")

    for row in db.exec(select(Outbox).where(Outbox.channel == "email")).all():
        row.status = "sent"
    sfs.wecom_webhook = None
    db.commit()
    options = {"now": local(date(2022, 9, 26), 11), "from_address": "l@example.cn",
               "domain": "example.cn", "sender": NoMail()}  # fmt: skip
    result = reminders.deliver_pending(get_engine(app), **options)
    assert result.sent == result.skipped == 0
    result = reminders.deliver_pending(get_engine(app), robots=object(), **options)
    reread(db)
    assert result.skipped == 1
    assert db.get(Outbox, robot_rows[0].id).last_error == "该单位已不再配置企业微信机器人。"


def test_admin_edits_the_policy(app, client, db) -> None:
    make_user(db, "admin1", Role.ADMIN)
    make_user(db, "coord1", Role.COORDINATOR)
    db.commit()
    login(client, "coord1")
    assert client.get("/admin/settings/reminders").status_code == 403
    client.post("/logout")
    login(client, "admin1")
    page = client.get("/admin/settings/reminders").get_data(as_text=True)
    assert 'value="10、5、1"' in page and 'value="09:00"' in page
    bad = client.post("/admin/settings/reminders", data={
        "before_workdays": "10、五", "overdue_every_workdays": "0", "submitted_after_workdays": "3",
        "send_time": "25:00", "weekly_digest": "y",
    }).get_data(as_text=True)  # fmt: skip
    assert "请填写以逗号或顿号分隔的整数" in bad and "请按“时:分”填写" in bad
    assert "1 至 30 之间的整数" in bad
    reread(db)
    assert db.get(Setting, "reminder_policy") is None
    response = client.post("/admin/settings/reminders", data={
        "before_workdays": "7,2", "overdue_every_workdays": "2", "submitted_after_workdays": "4",
        "send_time": "8:30", "weekly_digest": "y",
    })  # fmt: skip
    assert response.status_code == 302
    reread(db)
    stored = db.get(Setting, "reminder_policy").value
    assert stored == {"before_workdays": [7, 2], "overdue_every_workdays": 2,
                      "submitted_after_workdays": 4, "periodic": False, "weekly_digest": True,
                      "monthly_summary": False, "send_time": "08:30"}  # fmt: skip
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "settings.reminder_policy")).one()
    assert event.before["before_workdays"] == [10, 5, 1] and event.after == stored
    assert "设置没有变化" in client.post("/admin/settings/reminders", data={
        "before_workdays": "7、2", "overdue_every_workdays": "2", "submitted_after_workdays": "4",
        "send_time": "08:30", "weekly_digest": "y",
    }, follow_redirects=True).get_data(as_text=True)  # fmt: skip


def test_the_form_needs_its_csrf_token(app, db) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(db, "admin1", Role.ADMIN)
    db.commit()
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/login", data={"login": "admin1", "password": "Luoshi@2026", "csrf_token": token})
    response = client.post("/admin/settings/reminders", data={"before_workdays": "3",
                           "overdue_every_workdays": "2", "submitted_after_workdays": "2",
                           "send_time": "10:00"})  # fmt: skip
    assert response.status_code == 400
    reread(db)
    assert db.get(Setting, "reminder_policy") is None


def test_robot_digests_reach_the_group_once_and_signed(app, db, township, robot) -> None:  # noqa: F811
    from app.scheduler import deliver_due
    from tests.test_robots import SECRET

    sfs = township["offices"][0]
    sfs.wecom_webhook, sfs.dingtalk_webhook = robot.wecom_url, robot.dingtalk_url
    sfs.dingtalk_secret = SECRET
    db.commit()
    for hour in (10, 11):
        moment = local(date(2022, 9, 26), hour)
        with Session(get_engine(app)) as session:
            plan_due(session, app.config, moment)
            session.commit()
        deliver_due(app, moment)
    assert robot.problems == []  # JSON, UTF-8 and a correct 钉钉 signature
    assert sorted(r.path for r in robot.received) == ["/cgi-bin/webhook/send", "/robot/send"]
    wecom = next(r.json() for r in robot.received if r.path == "/cgi-bin/webhook/send")
    assert wecom["msgtype"] == "markdown" and "红灯任务" in wecom["markdown"]["content"]
    reread(db)
    rows = db.exec(select(Outbox).where(Outbox.channel.in_(["wecom", "dingtalk"]))).all()
    assert {r.status for r in rows} == {"sent"}


def test_a_rate_limited_robot_row_waits_without_using_a_try(app, db, township, robot) -> None:  # noqa: F811
    from app.scheduler import deliver_due

    sfs = township["offices"][0]
    sfs.wecom_webhook = robot.wecom_url
    db.commit()
    robot.answer = "wecom-too-fast"
    moment = local(date(2022, 9, 26), 10)
    with Session(get_engine(app)) as session:
        plan_due(session, app.config, moment)
        session.commit()
    deliver_due(app, moment)
    reread(db)
    row = db.exec(select(Outbox).where(Outbox.channel == "wecom")).one()
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at >= moment + timedelta(seconds=59)


def test_the_log_shows_a_digest_as_the_office_reads_it(app, client, db, township) -> None:
    make_user(db, "admin1", Role.ADMIN)
    db.commit()
    with Session(get_engine(app)) as session:
        plan_due(session, app.config, local(date(2022, 9, 26), 10))
        session.commit()
    reread(db)
    row = db.exec(select(Outbox).where(Outbox.kind == "digest",
                                       Outbox.recipient == "sfs@example.cn")).one()  # fmt: skip
    login(client, "admin1")
    listing = client.get("/admin/notifications?kind=digest").get_data(as_text=True)
    assert "【每周任务提示】司法所：在办任务2项，其中已逾期1项" in listing
    page = client.get(f"/admin/notifications/{row.id}").get_data(as_text=True)
    assert "Message-ID" in page and "&lt;digest.2022-09-26." in page
    assert "红灯（已逾期）1项" in page
