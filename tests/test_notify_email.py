"""Reminder mails end to end: built by app.notify.email, sent by app.notify.smtp to a real
aiosmtpd server on 127.0.0.1, and parsed back the way a mail client would."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from icalendar import Calendar

from app.notify.email import ReminderMail, build_message, subject_for
from app.notify.smtp import DeliveryError, FileSender, SmtpSender

SENDER = "noreply@fzb.example.gov.cn"
DOMAIN = "fzb.example.gov.cn"
NOW = datetime(2022, 6, 23, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
MAIL = ReminderMail(
    task_id=7, task_title="完善<行政>执法 & 程序规定", office_name="市司法局",
    deadline=date(2022, 6, 30), rule="before-5", for_day=date(2022, 6, 23),
    link="https://luoshi.example.gov.cn/tasks/7", to=("zhang@sfj.example.gov.cn",),
    cc=("li@gaj.example.gov.cn",), status_label="办理中", days_note="距时限还有5个工作日",
)  # fmt: skip


class Recorder:
    """An aiosmtpd handler that keeps what it receives and refuses what it is told to."""

    def __init__(self, rcpt_replies: dict[str, str] | None = None, data_reply: str | None = None):
        self.rcpt_replies = rcpt_replies or {}
        self.data_reply = data_reply
        self.peers: set[tuple[str, int]] = set()  # one per SMTP connection that said EHLO
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses) -> list[str]:
        session.host_name = hostname
        self.peers.add(session.peer)
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def free_port() -> int:
    # Controller(port=0) fails: start() probes the port it was given.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


StartServer = Callable[..., tuple[Recorder, int]]


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    controllers: list[Controller] = []

    def start(handler: Recorder | None = None, **smtp_parameters: Any) -> tuple[Recorder, int]:
        handler = handler or Recorder()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_parameters)
        controller.start()
        controllers.append(controller)
        return handler, port

    yield start
    for controller in controllers:
        controller.stop()


def sender_for(port: int, **options: Any) -> SmtpSender:
    options.setdefault("timeout", 5)
    return SmtpSender("127.0.0.1", port, **options)


def parse(content: bytes) -> EmailMessage:
    message = message_from_bytes(content, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def ics_of(message: EmailMessage) -> Calendar:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_filename() == f"deadline-task{MAIL.task_id}.ics"
    assert part.get_param("method") == "PUBLISH"
    return Calendar.from_ical(part.get_payload(decode=True))


# -- the message ------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "subject"), [
    ("before-10", "【任务提醒】完善<行政>执法 & 程序规定（距时限还有5个工作日）"),
    ("before-1", "【任务提醒】完善<行政>执法 & 程序规定（距时限还有5个工作日）"),
    ("due", "【今日到期】完善<行政>执法 & 程序规定"),
    ("overdue", "【督办】完善<行政>执法 & 程序规定（已逾期）"),
    ("submitted", "【待审核】完善<行政>执法 & 程序规定"),
    ("periodic", "【进展报送提醒】完善<行政>执法 & 程序规定"),
])  # fmt: skip
def test_subject_per_rule(rule: str, subject: str) -> None:
    assert subject_for(replace(MAIL, rule=rule)) == subject
    build_message(replace(MAIL, rule=rule), sender=SENDER, domain=DOMAIN, now=NOW)


@pytest.mark.parametrize("rule", ["before-0", "before-x", "remind", ""])
def test_unknown_rule_is_refused(rule: str) -> None:
    with pytest.raises(ValueError, match="unknown reminder rule"):
        subject_for(replace(MAIL, rule=rule))


def test_message_id_is_stable_and_per_recipient() -> None:
    first = build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW)
    retry = build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW + timedelta(hours=3))
    assert first["Message-ID"] == retry["Message-ID"]
    assert re.fullmatch(rf"<task7\.before-5\.2022-06-23\.[0-9a-f]{{16}}@{DOMAIN}>",
                        first["Message-ID"])  # fmt: skip
    other = build_message(replace(MAIL, to=("wang@sfj.example.gov.cn",)), sender=SENDER,
                          domain=DOMAIN, now=NOW)  # fmt: skip
    assert other["Message-ID"] != first["Message-ID"]


def test_date_is_beijing_time() -> None:
    message = build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW)
    assert message["Date"] == "Thu, 23 Jun 2022 09:30:00 +0800"
    naive_utc = build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW.replace(tzinfo=None))
    assert naive_utc["Date"] == message["Date"]


def test_html_escapes_the_title_and_text_has_the_facts() -> None:
    message = build_message(replace(MAIL, deadline=date(2022, 6, 5)), sender=SENDER,
                            domain=DOMAIN, now=NOW)  # fmt: skip
    html = message.get_body(("html",)).get_content()
    assert "完善&lt;行政&gt;执法 &amp; 程序规定" in html
    assert "<行政>" not in html
    assert f'<a href="{MAIL.link}">' in html
    text = message.get_body(("plain",)).get_content()
    for fact in ("完善<行政>执法 & 程序规定", "市司法局", "2022年6月5日", "办理中",
                 "距时限还有5个工作日", MAIL.link):  # fmt: skip
        assert fact in text


def test_a_mail_needs_a_recipient() -> None:
    with pytest.raises(ValueError, match="no recipients"):
        build_message(replace(MAIL, to=(), cc=()), sender=SENDER, domain=DOMAIN, now=NOW)


# -- SMTP -------------------------------------------------------------------------------------


def test_a_sweep_sends_over_one_connection(smtp_server: StartServer) -> None:
    handler, port = smtp_server()
    second = replace(MAIL, task_id=8, rule="overdue", cc=())
    with sender_for(port) as sender:
        sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
        sender.send(build_message(second, sender=SENDER, domain=DOMAIN, now=NOW))

    assert len(handler.peers) == 1
    assert len(handler.received) == 2
    mail_from, rcpt_tos, content = handler.received[0]
    assert mail_from == SENDER
    assert rcpt_tos == ["zhang@sfj.example.gov.cn", "li@gaj.example.gov.cn"]  # Cc included
    assert handler.received[1][1] == ["zhang@sfj.example.gov.cn"]

    message = parse(content)
    assert message["Subject"] == "【任务提醒】完善<行政>执法 & 程序规定（距时限还有5个工作日）"
    assert message["From"].addresses[0].display_name == "落实督办系统"
    assert message["From"].addresses[0].addr_spec == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == ["zhang@sfj.example.gov.cn"]
    assert [a.addr_spec for a in message["Cc"].addresses] == ["li@gaj.example.gov.cn"]
    assert message["Message-ID"] == build_message(MAIL, sender=SENDER, domain=DOMAIN,
                                                  now=NOW)["Message-ID"]  # fmt: skip
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert MAIL.link in text and MAIL.link in html
    assert "2022年6月30日" in text and "市司法局" in html

    calendar = ics_of(message)
    assert calendar["METHOD"] == "PUBLISH"
    (event,) = calendar.walk("VEVENT")
    start = event.decoded("DTSTART")
    assert start == date(2022, 6, 30) and not isinstance(start, datetime)
    assert event.decoded("DTEND") == date(2022, 7, 1)
    assert str(event["UID"]) == f"task-7@{DOMAIN}"
    assert str(event["SUMMARY"]) == "时限：完善<行政>执法 & 程序规定"
    assert MAIL.link in str(event["DESCRIPTION"])
    (alarm,) = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm.decoded("TRIGGER") == timedelta(hours=-15)  # 09:00 the day before

    assert parse(handler.received[1][2])["Subject"] == "【督办】完善<行政>执法 & 程序规定（已逾期）"


@pytest.mark.parametrize(("reply", "permanent"), [
    ("550 5.1.1 Mailbox unavailable", True),
    ("451 4.3.0 Try again later", False),
])  # fmt: skip
def test_refused_recipient(smtp_server: StartServer, reply: str, permanent: bool) -> None:
    handler, port = smtp_server(
        Recorder(rcpt_replies={"zhang@sfj.example.gov.cn": reply, "li@gaj.example.gov.cn": reply})
    )
    with sender_for(port) as sender:
        with pytest.raises(DeliveryError) as caught:
            sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
        assert caught.value.permanent is permanent
        assert reply.split()[0] in caught.value.message
        # The session was reset, not lost: the next mail of the sweep still goes.
        sender.send(build_message(replace(MAIL, to=("wang@sfj.example.gov.cn",), cc=()),
                                  sender=SENDER, domain=DOMAIN, now=NOW))  # fmt: skip
    assert len(handler.peers) == 1
    assert [rcpt for _, rcpt, _ in handler.received] == [["wang@sfj.example.gov.cn"]]


def test_one_refused_recipient_of_two_is_not_an_error(smtp_server: StartServer) -> None:
    # The other recipient has the mail: an error would make the outbox send it again.
    handler, port = smtp_server(Recorder(rcpt_replies={"li@gaj.example.gov.cn": "550 No"}))
    with sender_for(port) as sender:
        sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
    assert [rcpt for _, rcpt, _ in handler.received] == [["zhang@sfj.example.gov.cn"]]


def test_refused_message_is_permanent(smtp_server: StartServer) -> None:
    _, port = smtp_server(Recorder(data_reply="554 5.7.1 Message rejected"))
    with sender_for(port) as sender, pytest.raises(DeliveryError) as caught:
        sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
    assert caught.value.permanent is True


def test_nothing_listening_is_transient_and_fails_fast() -> None:
    port = free_port()
    with sender_for(port) as sender:
        with pytest.raises(DeliveryError) as first:
            sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
        assert first.value.permanent is False
        # The rest of the sweep does not try (and wait) again for every mail.
        with pytest.raises(DeliveryError) as second:
            sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
        assert second.value is first.value


def test_a_silent_server_times_out_as_transient() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        with sender_for(port, timeout=0.3) as sender, pytest.raises(DeliveryError) as caught:
            sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
    assert caught.value.permanent is False
    assert time.monotonic() - started < 2


def test_reconnects_when_the_server_dropped_an_idle_connection(smtp_server: StartServer) -> None:
    handler, port = smtp_server(timeout=0.3)  # aiosmtpd closes a connection idle this long
    with sender_for(port) as sender:
        sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
        time.sleep(0.6)
        sender.send(build_message(replace(MAIL, task_id=8), sender=SENDER, domain=DOMAIN,
                                  now=NOW))  # fmt: skip
    assert len(handler.peers) == 2
    assert len(handler.received) == 2


def _authenticate(server, session, envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"luoshi", b"secret")
    # handled=False: aiosmtpd then answers 535 itself (True would leave the client waiting).
    return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize(("password", "delivered"), [("secret", True), ("wrong", False)])
def test_login(smtp_server: StartServer, password: str, delivered: bool) -> None:
    handler, port = smtp_server(authenticator=_authenticate, auth_require_tls=False)
    with sender_for(port, user="luoshi", password=password) as sender:
        if delivered:
            sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
        else:
            # A bad password is the configuration's fault, not the mail's: retry it later.
            with pytest.raises(DeliveryError) as caught:
                sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
            assert caught.value.permanent is False
            assert "535" in caught.value.message
    assert len(handler.received) == (1 if delivered else 0)


def test_send_needs_the_context_and_one_kind_of_tls() -> None:
    with pytest.raises(RuntimeError):
        sender_for(free_port()).send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
    with pytest.raises(ValueError):
        SmtpSender("127.0.0.1", 465, starttls=True, ssl=True)


# -- files ------------------------------------------------------------------------------------


def test_file_sender_writes_parseable_eml(tmp_path) -> None:
    folder = tmp_path / "mail" / "out"
    message = build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW)
    with FileSender(folder) as sender:
        sender.send(message)
    (written,) = list(folder.iterdir())  # no temporary file left behind
    assert re.fullmatch(r"\d{8}-\d{6}-task7\.before-5\.2022-06-23\.[0-9a-f]{16}_"
                        r"fzb\.example\.gov\.cn\.eml", written.name)  # fmt: skip
    content = written.read_bytes()
    assert b"\r\n" in content  # policy SMTP: what the server would have seen
    parsed = parse(content)
    assert parsed["Message-ID"] == message["Message-ID"]
    assert parsed["Subject"] == subject_for(MAIL)
    assert ics_of(parsed).walk("VEVENT")[0].decoded("DTSTART") == MAIL.deadline


def test_subject_without_a_days_note_names_the_rule_days() -> None:
    assert subject_for(replace(MAIL, rule="before-10", days_note="")).endswith(
        "（10个工作日后到期）"
    )
