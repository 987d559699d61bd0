"""Reminders end to end: the outbox, a real SMTP server (aiosmtpd), China's 2022 calendar."""

from __future__ import annotations

import os
import threading
import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes
from email.policy import default
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from app.core.lifecycle import TaskStatus
from app.core.reminder_policy import ReminderPolicy
from app.core.reminder_policy import reminders_due as policy_due
from app.db import get_engine
from app.models import Office, Outbox, Task
from app.notify.smtp import SmtpSender
from app.services import reminders
from app.services.holidays import load_calendar, seed_from_library
from tests.conftest import reread
from tests.factories import make_office, make_task, make_unit, make_user
from tests.test_notify_email import Recorder, free_port, smtp_server  # noqa: F401 - fixture

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = ReminderPolicy()


def nine_am(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def setup(db: Session):
    from app.core.roles import Role

    seed_from_library(db, [2022])
    unit = make_unit(db)
    office = make_office(db, unit, "司法所", mailbox="sfs@example.cn", leader_email="ld@example.cn")
    owner = make_user(db, "owner1", Role.OFFICE, office=office)
    owner.email = "owner1@example.cn"
    coordinator = make_user(db, "coord1", Role.COORDINATOR)
    coordinator.email = "coord@example.cn"
    tasks = {
        "june": make_task(db, office, "六月到期的任务", deadline=date(2022, 6, 17),
                          status=TaskStatus.IN_PROGRESS),
        "holiday": make_task(db, office, "国庆期间到期的任务", deadline=date(2022, 10, 5),
                             status=TaskStatus.IN_PROGRESS),
        "closed": make_task(db, office, "已办结的任务", deadline=date(2022, 6, 20),
                            status=TaskStatus.CLOSED),
    }  # fmt: skip
    for task in tasks.values():
        task.owner_id = owner.id
    db.commit()
    return tasks


def sweep(app, db: Session, day: date, sender) -> reminders.DeliveryResult:
    """Plan (the messages rendered, as the sender is known) and deliver at 09:00 on DAY."""
    now = nine_am(day)
    with Session(get_engine(app)) as session:
        reminders.plan(session, now=now, today=day, calendar=load_calendar(session), policy=POLICY,
                       timezone="Asia/Shanghai", base_url="http://luoshi.test",
                       from_address="l@example.cn", domain="example.cn")  # fmt: skip
        session.commit()
    return reminders.deliver_pending(
        get_engine(app), sender=sender, now=now, from_address="l@example.cn", domain="example.cn"
    )


def received(recorder: Recorder) -> list:
    return [message_from_bytes(content, policy=default) for _, _, content in recorder.received]


def test_a_year_day_by_day(app, db, setup, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    start, end = date(2022, 5, 20), date(2022, 10, 20)
    day = start
    while day <= end:
        with SmtpSender("127.0.0.1", port, timeout=5) as sender:
            sweep(app, db, day, sender)
        day += timedelta(days=1)
    mails = received(recorder)
    sent_days = [m["Date"].datetime.astimezone(SHANGHAI).date() for m in mails]
    assert not [d for d in sent_days if date(2022, 10, 1) <= d <= date(2022, 10, 7)]
    assert len({m["Message-ID"] for m in mails}) == len(mails)  # nothing twice
    holiday_task = setup["holiday"].id
    due = [m for m in mails if f"task{holiday_task}.due." in m["Message-ID"]]
    assert due and {m["Date"].datetime.astimezone(SHANGHAI).date() for m in due} == {
        date(2022, 10, 8)
    }  # a Saturday, but a make-up working day
    # The whole received list equals what the policy says, recipient by recipient.
    reread(db)
    calendar = load_calendar(db)
    expected: set[tuple[int, str, str, str]] = set()
    facts = reminders._facts(db, [setup["june"], setup["holiday"], setup["closed"]], calendar,
                             "Asia/Shanghai")  # fmt: skip
    day = start
    while day <= end:
        for r in policy_due(facts, POLICY, day, calendar, ("coord@example.cn",)):
            for recipient in (*r.to, *r.cc):
                expected.add((r.task_id, r.rule, recipient, r.for_day.isoformat()))
        day += timedelta(days=1)
    got = set()
    for _, rcpts, content in recorder.received:
        message = message_from_bytes(content, policy=default)
        task_part = message["Message-ID"].strip("<>").split(".")
        task_id, rule = int(task_part[0].removeprefix("task")), task_part[1]
        for_day = ".".join(task_part[2:3])
        for recipient in rcpts:
            got.add((task_id, rule, recipient, for_day))
    assert got == expected
    assert not [e for e in got if e[0] == setup["closed"].id]


def test_a_sweep_killed_after_planning_loses_nothing(app, db, setup, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    day = date(2022, 6, 17)
    with Session(get_engine(app)) as session:  # the sweep that died after writing the outbox
        reminders.plan(session, now=nine_am(day), today=day, calendar=load_calendar(session),
                       policy=POLICY, timezone="Asia/Shanghai", base_url="http://x")  # fmt: skip
        session.commit()
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        first = sweep(app, db, day, sender)
        second = sweep(app, db, day, sender)
    assert first.sent > 0 and second.sent == 0
    assert len(recorder.received) == first.sent


def test_smtp_down_then_up(app, db, setup, smtp_server) -> None:  # noqa: F811
    day = date(2022, 6, 17)
    with SmtpSender("127.0.0.1", free_port(), timeout=2) as down:
        result = sweep(app, db, day, down)
    assert result.sent == 0 and result.retried > 0
    reread(db)
    assert {r.status for r in db.exec(select(Outbox))} == {"pending"}
    recorder, port = smtp_server()
    later = nine_am(day) + timedelta(hours=2)
    with SmtpSender("127.0.0.1", port, timeout=5) as up:
        delivered = reminders.deliver_pending(
            get_engine(app), sender=up, now=later, from_address="l@example.cn", domain="example.cn"
        )
        again = reminders.deliver_pending(
            get_engine(app), sender=up, now=later, from_address="l@example.cn", domain="example.cn"
        )
    assert delivered.sent == result.retried and again.sent == 0
    assert len(recorder.received) == delivered.sent


def test_two_sweeps_at_once_send_each_mail_once(app, db, setup, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    day = date(2022, 6, 17)
    with Session(get_engine(app)) as session:
        reminders.plan(session, now=nine_am(day), today=day, calendar=load_calendar(session),
                       policy=POLICY, timezone="Asia/Shanghai", base_url="http://x")  # fmt: skip
        session.commit()
    planned = len(db.exec(select(Outbox)).all())

    def run() -> None:
        with SmtpSender("127.0.0.1", port, timeout=5) as sender:
            reminders.deliver_pending(
                get_engine(app),
                sender=sender,
                now=nine_am(day),
                from_address="l@example.cn",
                domain="example.cn",
            )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [message_from_bytes(c, policy=default)["Message-ID"] for _, _, c in recorder.received]
    assert planned > 0 and len(ids) == planned == len(set(ids))


def test_a_task_closed_before_delivery_gets_nothing(app, db, setup, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    day = date(2022, 6, 17)
    with Session(get_engine(app)) as session:
        reminders.plan(session, now=nine_am(day), today=day, calendar=load_calendar(session),
                       policy=POLICY, timezone="Asia/Shanghai", base_url="http://x")  # fmt: skip
        session.commit()
    task = db.get(Task, setup["june"].id)
    task.status = TaskStatus.CLOSED.value
    db.commit()
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        result = reminders.deliver_pending(
            get_engine(app),
            sender=sender,
            now=nine_am(day),
            from_address="l@example.cn",
            domain="example.cn",
        )
    assert result.sent == 0 and result.skipped > 0 and recorder.received == []


def test_cli_send_reminders(app, db, setup) -> None:
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["send-reminders", "--now", "2022-06-17T09:00", "--dry-run"])
    assert dry.exit_code == 0 and "到期提醒" in dry.output and "due" in dry.output
    assert db.exec(select(Outbox)).all() == []
    real = runner.invoke(args=["send-reminders", "--now", "2022-06-17T09:00"])
    assert real.exit_code == 0 and "已发送" in real.output
    reread(db)
    assert (
        len(os.listdir(os.path.join(app.instance_path, "mail")))
        == len(db.exec(select(Outbox)).all())
        > 0
    )
    bad = runner.invoke(args=["send-reminders", "--now", "昨天"])
    assert bad.exit_code != 0 and "无法识别的时间" in bad.output


# -- delivery in batches: drained, bounded in time, nothing twice, nothing lost ------------------

DAY = date(2022, 6, 17)


class Keep:
    """A sender that keeps what it is given; FAIL_AT: the send (1-based) that blows up."""

    def __init__(self, fail_at: int | None = None, on_send=None) -> None:
        self.messages: list = []
        self.fail_at, self.on_send, self.calls = fail_at, on_send, 0

    def send(self, message) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("the process dies here")
        self.messages.append(message)
        if self.on_send:
            self.on_send()


@pytest.fixture
def backlog(app, db: Session, setup) -> int:
    """Twelve more tasks due on DAY, planned: the number of outbox rows."""
    office = db.get(Office, db.get(Task, setup["june"].id).lead_office_id)
    for number in range(12):
        make_task(db, office, f"积压任务{number}", deadline=DAY,
                  status=TaskStatus.IN_PROGRESS)  # fmt: skip
    db.commit()
    with Session(get_engine(app)) as session:
        reminders.plan(session, now=nine_am(DAY), today=DAY, calendar=load_calendar(session),
                       policy=POLICY, timezone="Asia/Shanghai", base_url="http://x")  # fmt: skip
        session.commit()
    rows = len(db.exec(select(Outbox)).all())
    assert rows > 12
    return rows


def deliver(app, sender, now: datetime | None = None, **options) -> reminders.DeliveryResult:
    return reminders.deliver_pending(get_engine(app), sender=sender, now=now or nine_am(DAY),
                                     from_address="l@example.cn", domain="example.cn",
                                     **options)  # fmt: skip


def statuses(db: Session) -> dict[str, int]:
    reread(db)
    found: dict[str, int] = {}
    for row in db.exec(select(Outbox)):
        found[row.status] = found.get(row.status, 0) + 1
    return found


def test_one_call_drains_the_backlog_batch_after_batch(app, db, backlog, monkeypatch) -> None:
    monkeypatch.setattr(reminders, "CLAIM_BATCH", 5)
    sender = Keep()
    result = deliver(app, sender)
    assert result.sent == backlog == len({m["Message-ID"] for m in sender.messages})
    assert statuses(db) == {"sent": backlog}
    assert deliver(app, sender).sent == 0


def test_limit_caps_one_call(app, db, backlog, monkeypatch) -> None:
    monkeypatch.setattr(reminders, "CLAIM_BATCH", 3)
    assert deliver(app, Keep(), limit=4).sent == 4
    assert statuses(db) == {"sent": 4, "pending": backlog - 4}


def test_out_of_time_hands_the_claimed_rest_back(app, db, backlog, monkeypatch) -> None:
    monkeypatch.setattr(reminders, "CLAIM_BATCH", 5)
    clock = {"now": 1000.0}
    monkeypatch.setattr(reminders.time, "monotonic", lambda: clock["now"])

    def late() -> None:
        clock["now"] += reminders.DELIVERY_BUDGET_SECONDS  # the first send took all the time

    first = Keep(on_send=late)
    assert deliver(app, first).sent == 1
    assert statuses(db) == {"sent": 1, "pending": backlog - 1}  # none left 'sending'
    reread(db)
    assert {r.attempts for r in db.exec(select(Outbox).where(Outbox.status == "pending"))} == {0}
    rest = Keep()
    assert deliver(app, rest).sent == backlog - 1
    ids = [m["Message-ID"] for m in first.messages + rest.messages]
    assert len(ids) == len(set(ids)) == backlog


def test_a_sweep_dying_mid_batch_loses_nothing(app, db, backlog, monkeypatch) -> None:
    monkeypatch.setattr(reminders, "CLAIM_BATCH", 5)
    dying = Keep(fail_at=3)
    with pytest.raises(RuntimeError):
        deliver(app, dying)
    # Two sent; the third is in doubt and stays claimed; the batch's rest went back at once.
    assert statuses(db) == {"sent": 2, "sending": 1, "pending": backlog - 3}
    later = nine_am(DAY) + timedelta(minutes=31)
    assert (
        reminders.release_stuck(get_engine(app), now=later, older_than=timedelta(minutes=30)) == 1
    )
    rest = Keep()
    assert deliver(app, rest, now=later).sent == backlog - 2
    ids = [m["Message-ID"] for m in dying.messages + rest.messages]
    assert len(ids) == len(set(ids)) == backlog  # the one in doubt was never handed over here


def test_a_body_that_cannot_be_worded_fails_alone(app, db, backlog) -> None:
    broken = Outbox(channel="email", kind="reminder", recipient="x@example.cn", subject="坏",
                    body='{"task_id": 1}', idempotency_key="broken", status="pending",
                    attempts=0, next_attempt_at=nine_am(DAY) - timedelta(days=1))  # fmt: skip
    db.add(broken)
    db.commit()
    result = deliver(app, Keep())
    assert (result.sent, result.failed) == (backlog, 1)
    reread(db)
    row = db.get(Outbox, broken.id)
    assert row.status == "failed" and "无法读取提醒内容" in row.last_error


@pytest.mark.parametrize("batch", [1, 4])
def test_two_sweeps_in_small_batches_send_each_mail_once(app, db, backlog, monkeypatch,
                                                         batch) -> None:  # fmt: skip
    monkeypatch.setattr(reminders, "CLAIM_BATCH", batch)
    senders = [Keep(), Keep()]
    threads = [threading.Thread(target=deliver, args=(app, s)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [m["Message-ID"] for s in senders for m in s.messages]
    assert len(ids) == len(set(ids)) == backlog
    assert statuses(db) == {"sent": backlog}


# -- messages rendered when planned ------------------------------------------------------------


def plan_rendered(app, day: date, from_address: str | None = "l@example.cn") -> None:
    with Session(get_engine(app)) as session:
        reminders.plan(session, now=nine_am(day), today=day, calendar=load_calendar(session),
                       policy=POLICY, timezone="Asia/Shanghai", base_url="http://luoshi.test",
                       from_address=from_address, domain="example.cn")  # fmt: skip
        session.commit()


def shape(message) -> list:
    return [(part.get_content_type(), part.get_filename(),
             None if part.is_multipart() else part.get_payload(decode=True))
            for part in message.walk()]  # fmt: skip


def test_the_stored_message_goes_out_with_the_sending_date(app, db, setup, smtp_server) -> None:  # noqa: F811
    from app.notify.email import build_message

    recorder, port = smtp_server()
    plan_rendered(app, DAY)
    reread(db)
    rows = db.exec(select(Outbox).order_by(Outbox.id)).all()
    assert rows and all(row.message for row in rows)
    assert all(b"\r\nDate:" not in row.message.split(b"\r\n\r\n")[0] for row in rows)
    later = nine_am(DAY) + timedelta(hours=2)  # planned at 09:00, sent at 11:00
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        result = reminders.deliver_pending(
            get_engine(app),
            sender=sender,
            now=later,
            from_address="l@example.cn",
            domain="example.cn",
        )
    assert result.sent == len(rows) == len(recorder.received)
    for row, (mail_from, rcpt_tos, content) in zip(rows, recorder.received, strict=True):
        got = message_from_bytes(content, policy=default)
        mail = reminders._mail_from_json(row.body)
        built = build_message(mail, sender="l@example.cn", domain="example.cn",
                              now=nine_am(DAY))  # fmt: skip
        expected = message_from_bytes(built.as_bytes(), policy=default)
        assert (mail_from, rcpt_tos) == ("l@example.cn", [row.recipient])
        assert got["Date"].datetime == later and str(got["Date"]).endswith("+0800")
        assert sorted((k, str(v)) for k, v in got.items() if k != "Date") == sorted(
            (k, str(v)) for k, v in expected.items() if k != "Date"
        )
        assert shape(got) == shape(expected)


def test_a_row_without_a_stored_message_still_goes(app, db, setup, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    plan_rendered(app, DAY, from_address=None)  # a planner that did not know the sender
    plan_rendered(app, DAY)  # nothing new: the rows exist
    reread(db)
    rows = db.exec(select(Outbox)).all()
    assert rows and all(row.message is None for row in rows)
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        result = deliver(app, sender)
    assert result.sent == len(rows) == len(recorder.received)
    got = [message_from_bytes(c, policy=default) for _, _, c in recorder.received]
    assert all(m["Date"].datetime == nine_am(DAY) for m in got)
    assert all(m.get_body(("plain",)).get_content() for m in got)


def test_a_message_stored_for_another_sender_is_built_again(app, db, setup, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    plan_rendered(app, DAY, from_address="old@example.cn")  # MAIL_FROM changed since
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        result = deliver(app, sender)
    assert result.sent == len(recorder.received) > 0
    for mail_from, _, content in recorder.received:
        message = message_from_bytes(content, policy=default)
        assert mail_from == "l@example.cn" == message["From"].addresses[0].addr_spec


def test_a_resend_sends_the_same_message_id(app, db, setup, smtp_server) -> None:  # noqa: F811
    recorder, port = smtp_server()
    plan_rendered(app, DAY)
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        first = deliver(app, sender)
    reread(db)
    rows = db.exec(select(Outbox).order_by(Outbox.id)).all()
    for row in rows:  # e.g. an administrator sends them again
        row.status = "pending"
    db.commit()
    later = nine_am(DAY) + timedelta(days=1)
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        second = deliver(app, sender, now=later)
    assert first.sent == second.sent == len(rows) > 0
    mails = received(recorder)
    once, again = mails[: len(rows)], mails[len(rows) :]
    assert [m["Message-ID"] for m in once] == [m["Message-ID"] for m in again]
    assert len({m["Message-ID"] for m in once}) == len(rows)
    assert {m["Date"].datetime for m in again} == {later}
    assert [shape(m) for m in once] == [shape(m) for m in again]


def test_notices_are_stored_rendered_and_robot_rows_are_not(app, db, setup, tmp_path) -> None:
    from app.notify.smtp import FileSender

    office = db.get(Office, db.get(Task, setup["june"].id).lead_office_id)
    office.wecom_webhook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"
    db.commit()
    monday = date(2022, 6, 20)  # a week's first working day: the weekly digest
    with Session(get_engine(app)) as session:
        plan = reminders.plan_sweep(session, now=nine_am(monday), calendar=load_calendar(session),
                                    policy=POLICY, timezone="Asia/Shanghai",
                                    base_url="http://luoshi.test", from_address="l@example.cn",
                                    domain="example.cn")  # fmt: skip
        session.commit()
    assert plan.digests > 0
    reread(db)
    digests = db.exec(select(Outbox).where(Outbox.kind == "digest")).all()
    assert {(row.channel, row.message is not None) for row in digests} == {
        ("email", True),
        ("wecom", False),
    }
    folder = tmp_path / "sent-mail"
    with FileSender(folder) as sender:
        result = deliver(app, sender, now=nine_am(monday))  # robots wait: no robot sender
    written = [message_from_bytes(p.read_bytes(), policy=default) for p in folder.iterdir()]
    assert result.sent == len(written) > 0
    digest_mails = [m for m in written if m["Message-ID"].startswith("<digest.")]
    assert digest_mails and all(m["Date"].datetime == nine_am(monday) for m in digest_mails)


class CountsSentAtData(Recorder):
    """Reads the outbox, on a connection of its own, as each message's final dot arrives."""

    def __init__(self, engine) -> None:
        super().__init__()
        self.engine = engine
        self.sent_at_data: list[int] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        # On PostgreSQL the mark's commit may still be travelling as the dot arrives; the
        # sender finishes it without waiting for this reply, so it shows within moments. Were
        # it committed only after the reply, this would wait in vain and see one row fewer.
        expected, deadline = len(self.sent_at_data) + 1, time_module.monotonic() + 2
        while True:
            with Session(self.engine) as other:
                sent = len(other.exec(select(Outbox).where(Outbox.status == "sent")).all())
            if sent >= expected or time_module.monotonic() > deadline:
                break
            time_module.sleep(0.01)
        self.sent_at_data.append(sent)
        return await super().handle_DATA(server, session, envelope)


def test_sent_is_committed_before_the_server_takes_the_message(app, db, setup, smtp_server) -> None:  # noqa: F811
    """The k-th mail's row is 'sent', committed, by the time its final dot reaches the server:
    a scheduler killed after that never sends it again, and one killed before has not
    delivered it."""
    recorder, port = smtp_server(CountsSentAtData(get_engine(app)))
    plan_rendered(app, DAY)
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        result = deliver(app, sender)
    assert result.sent == len(recorder.received) > 1
    assert recorder.sent_at_data == list(range(1, result.sent + 1))


@pytest.mark.parametrize(("reply", "status", "outcome"),
                         [("451 4.3.0 try later", "pending", "retried"),
                          ("554 5.6.0 rejected", "failed", "failed")])  # fmt: skip
def test_a_refusal_after_the_handover_rewrites_the_row(
    app, db, setup, smtp_server, reply: str, status: str, outcome: str,  # noqa: F811
) -> None:  # fmt: skip
    recorder, port = smtp_server(Recorder(data_reply=reply))
    plan_rendered(app, DAY)
    with SmtpSender("127.0.0.1", port, timeout=5) as sender:
        result = deliver(app, sender)
    rows = db.exec(select(Outbox)).all()
    reread(db)
    assert getattr(result, outcome) == len(rows) > 0 and result.sent == 0
    assert {row.status for row in db.exec(select(Outbox))} == {status}
    assert all(row.sent_at is None and row.last_error for row in db.exec(select(Outbox)))
