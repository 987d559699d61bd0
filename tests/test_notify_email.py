"""Reminder mails end to end: built by app.notify.email, sent by app.notify.smtp to a real
aiosmtpd server on 127.0.0.1, and parsed back the way a mail client would."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from app.notify import email as email_module
from app.notify import smtp as smtp_module
from app.notify.email import (
    ReminderMail,
    build_message,
    calendar_for,
    message_id_for,
    subject_for,
)
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


# -- the composed message against the standard library's own ------------------------------------


def stdlib_build(mail: ReminderMail, *, sender: str, sender_name: str = "落实督办系统",
                 domain: str = DOMAIN, now: datetime = NOW) -> EmailMessage:  # fmt: skip
    """The reminder as EmailMessage's own API under the default policy builds it (what
    build_message did before compose()): the reference the fast builder must match."""
    message = EmailMessage()
    message["Subject"] = subject_for(mail)
    message["From"] = Address(display_name=sender_name, addr_spec=sender)
    if mail.to:
        message["To"] = tuple(Address(addr_spec=a) for a in mail.to)
    if mail.cc:
        message["Cc"] = tuple(Address(addr_spec=a) for a in mail.cc)
    message["Date"] = format_datetime(now.astimezone(ZoneInfo("Asia/Shanghai")))
    message["Message-ID"] = message_id_for(mail, domain)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(email_module._text_body(mail, sender_name), cte="base64")
    message.add_alternative(email_module._html_body(mail, sender_name), subtype="html",
                            cte="base64")  # fmt: skip
    message.add_attachment(
        calendar_for(mail, domain=domain, now=now, sender_name=sender_name),
        maintype="text", subtype="calendar", filename=f"deadline-task{mail.task_id}.ics",
        params={"method": "PUBLISH", "charset": "utf-8"},
    )  # fmt: skip
    return message


HEADERS = ("Subject", "From", "To", "Cc", "Date", "Message-ID", "Auto-Submitted",
           "X-Auto-Response-Suppress", "MIME-Version")  # fmt: skip
LONG_TITLE = "关于进一步加强和改进行政执法监督工作、全面推行行政执法“三项制度”的实施方案落实情况😀"


def shape(message: EmailMessage) -> list[tuple]:
    """What a mail client reads of each part: type, parameters (but the boundary: any string
    not in the body will do), disposition, decoded body."""
    return [
        (part.get_content_type(),
         {k: v for k, v in part["Content-Type"].params.items() if k != "boundary"},
         part.get_content_disposition(), part.get_filename(),
         None if part.is_multipart() else part.get_payload(decode=True))
        for part in message.walk()
    ]  # fmt: skip


@pytest.mark.parametrize(("title", "to", "cc", "sender_name"), [
    ("完善<行政>执法 & 程序规定", ("zhang@sfj.example.gov.cn",), ("li@gaj.example.gov.cn",),
     "落实督办系统"),
    (LONG_TITLE, ("a@b.cn", "c.d@e-f.example.gov.cn", "g+h@i.cn", "jjjjjjjjjjjj@kkkkkkkkkkkk.cn",
                  "x@y.cn"), ("l@m.cn", "n@o.cn"), "落实督办系统"),
    ("Plain ASCII title", ("a@b.cn",), (), "Luoshi"),
    ('Quotes "and", commas; a \\ backslash', ("a@b.cn",), (), 'Luoshi "Bot", 督办'),
    ("x" * 120, (), ("only@cc.cn",), "落实督办系统"),
])  # fmt: skip
def test_composed_mail_reads_as_the_stdlib_one(title, to, cc, sender_name) -> None:
    mail = replace(MAIL, task_title=title, to=to, cc=cc)
    ours = build_message(mail, sender=SENDER, sender_name=sender_name, domain=DOMAIN, now=NOW)
    theirs = stdlib_build(mail, sender=SENDER, sender_name=sender_name)
    got, expected = parse(ours.as_bytes(policy=SMTP)), parse(theirs.as_bytes(policy=SMTP))
    for name in HEADERS:
        assert str(got[name]) == str(expected[name]), name
        if expected[name] is not None:
            assert str(ours[name]) == str(theirs[name]), name  # read before sending, too
    assert got["Subject"] == subject_for(mail)
    assert [a.addr_spec for a in got["To"].addresses] == list(to) if to else got["To"] is None
    assert got["From"].addresses[0].display_name == sender_name
    assert shape(got) == shape(expected)
    assert got.get_body(("plain",)).get_content() == ours.get_body(("plain",)).get_content()
    assert [p.get_filename() for p in ours.iter_attachments()] == [
        f"deadline-task{mail.task_id}.ics"
    ]
    assert not got.defects and not any(part.defects for part in got.walk())


def test_a_title_that_looks_encoded_stays_as_written() -> None:
    # The stdlib's default policy would decode "=?utf-8?q?x?=" typed into a title as "x".
    mail = replace(MAIL, task_title="ASCII =?utf-8?q?x?= title", rule="due")
    message = parse(build_message(mail, sender=SENDER, domain=DOMAIN, now=NOW).as_bytes())
    assert message["Subject"] == "【今日到期】ASCII =?utf-8?q?x?= title"


def header_lines(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return head.split("\r\n")


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=200))
@settings(max_examples=300, deadline=None)
def test_any_subject_folds_and_decodes_exactly(title: str) -> None:
    mail = replace(MAIL, task_title=title, rule="due")
    raw = build_message(mail, sender=SENDER, domain=DOMAIN, now=NOW).as_bytes(policy=SMTP)
    lines = header_lines(raw)  # ASCII only: non-ASCII would fail to decode above
    assert all(len(line) <= 78 for line in lines)
    assert all(len(word) <= 75 for word in re.findall(r"=\?utf-8\?b\?[^?]*\?=", raw.decode()))
    assert parse(raw)["Subject"] == subject_for(mail)


def test_line_breaks_in_a_title_cannot_break_the_header() -> None:
    mail = replace(MAIL, task_title="第一行\r\n第二行\nBcc: x@evil.example", rule="due")
    message = parse(build_message(mail, sender=SENDER, domain=DOMAIN, now=NOW).as_bytes())
    assert message["Subject"] == "【今日到期】第一行 第二行 Bcc: x@evil.example"
    assert message["Bcc"] is None


def test_an_unusual_address_still_goes_through_the_header_registry() -> None:
    mail = replace(MAIL, to=('"zhang san"@sfj.example.gov.cn',), cc=())
    message = build_message(mail, sender=SENDER, domain=DOMAIN, now=NOW)
    parsed = parse(message.as_bytes())
    assert [a.addr_spec for a in parsed["To"].addresses] == ['"zhang san"@sfj.example.gov.cn']


def test_one_reminder_to_several_recipients_shares_its_bodies() -> None:
    first = build_message(replace(MAIL, to=("a@b.cn",), cc=()), sender=SENDER, domain=DOMAIN,
                          now=NOW)  # fmt: skip
    second = build_message(replace(MAIL, to=("c@d.cn",), cc=()), sender=SENDER, domain=DOMAIN,
                           now=NOW)  # fmt: skip
    assert first["Message-ID"] != second["Message-ID"]
    assert first.get_body(("html",)).get_content() == second.get_body(("html",)).get_content()
    assert [p.get_payload() for p in first.iter_attachments()] == [
        p.get_payload() for p in second.iter_attachments()
    ]


# -- the SMTP connection between mails ----------------------------------------------------------


class NoopCounter(Recorder):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.noops = 0

    async def handle_NOOP(self, server, session, envelope, arg) -> str:  # noqa: N802
        self.noops += 1
        return "250 OK"


def test_mails_back_to_back_need_no_noop(smtp_server: StartServer) -> None:
    handler, port = smtp_server(NoopCounter())
    with sender_for(port) as sender:
        for task_id in range(1, 6):
            sender.send(build_message(replace(MAIL, task_id=task_id), sender=SENDER,
                                      domain=DOMAIN, now=NOW))  # fmt: skip
    assert len(handler.received) == 5 and handler.noops == 0 and len(handler.peers) == 1


def test_a_connection_idle_for_a_while_is_checked_first(smtp_server, monkeypatch) -> None:
    monkeypatch.setattr(smtp_module, "IDLE_CHECK_SECONDS", 0.05)
    handler, port = smtp_server(NoopCounter())
    with sender_for(port) as sender:
        sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
        time.sleep(0.1)
        sender.send(build_message(replace(MAIL, task_id=8), sender=SENDER, domain=DOMAIN,
                                  now=NOW))  # fmt: skip
    assert handler.noops == 1 and len(handler.received) == 2 and len(handler.peers) == 1


class HangUpAfterData(Recorder):
    """Takes each message, then closes the connection: before its reply (IN_DATA) or just
    after it."""

    def __init__(self, in_data: bool) -> None:
        super().__init__()
        self.in_data = in_data

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        if self.in_data:
            server.transport.close()
        else:
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return reply


def test_a_server_that_hung_up_between_mails_gets_the_next_on_a_new_connection(
    smtp_server: StartServer,
) -> None:
    handler, port = smtp_server(HangUpAfterData(in_data=False))
    with sender_for(port) as sender:
        sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
        time.sleep(0.2)  # well under IDLE_CHECK_SECONDS: no NOOP first
        sender.send(build_message(replace(MAIL, task_id=8), sender=SENDER, domain=DOMAIN,
                                  now=NOW))  # fmt: skip
    assert len(handler.received) == 2 and len(handler.peers) == 2


def test_a_hang_up_during_data_is_never_resent_by_the_sender(smtp_server: StartServer) -> None:
    # The server may have kept the message: only the outbox decides (a transient error).
    handler, port = smtp_server(HangUpAfterData(in_data=True))
    with sender_for(port) as sender, pytest.raises(DeliveryError) as caught:
        sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
    assert caught.value.permanent is False
    assert len(handler.received) == 1 and len(handler.peers) == 1


# -- stored messages: rendered when planned, the Date stamped when sent -------------------------


def header_items(message: EmailMessage) -> list[tuple[str, str]]:
    return sorted((name, str(value)) for name, value in message.items())


@pytest.mark.parametrize("mail", [MAIL, replace(MAIL, task_title=LONG_TITLE, cc=())])
def test_stored_bytes_with_the_date_read_as_build_message(mail: ReminderMail) -> None:
    from app.notify.email import date_line, flatten

    sent_at = NOW + timedelta(hours=3)  # the sweep that sends comes after the one that planned
    stored = flatten(build_message(mail, sender=SENDER, domain=DOMAIN, now=NOW, dated=False))
    assert b"\nDate:" not in stored and not stored.startswith(b"Date:")
    assert b"\r\n" in stored and b"\n" not in stored.replace(b"\r\n", b"")  # SMTP line ends
    got = parse(date_line(sent_at) + stored)
    # What the outbox used to send: built at sending time, but for the .ics's DTSTAMP, which
    # is the planning time (when the mail was made).
    expected = parse(build_message(mail, sender=SENDER, domain=DOMAIN, now=NOW).as_bytes(
        policy=SMTP))  # fmt: skip
    assert got["Date"].datetime == sent_at
    assert str(got["Date"]).endswith("+0800")  # Beijing time
    assert [i for i in header_items(got) if i[0] != "Date"] == [
        i for i in header_items(expected) if i[0] != "Date"
    ]
    assert shape(got) == shape(expected)
    assert got["Message-ID"] == message_id_for(mail, DOMAIN)


def test_stored_notice_bytes_with_the_date_read_as_build_notice_message() -> None:
    from app.notify.digest import build_notice_message, calendar_warning
    from app.notify.email import date_line, flatten

    notice = calendar_warning(2027, "https://luoshi.example.gov.cn")
    to = ("admin@example.gov.cn",)
    stored = flatten(build_notice_message(notice, to=to, sender=SENDER, domain=DOMAIN, now=NOW,
                                          dated=False))  # fmt: skip
    got = parse(date_line(NOW) + stored)
    expected = parse(build_notice_message(notice, to=to, sender=SENDER, domain=DOMAIN,
                                          now=NOW).as_bytes(policy=SMTP))  # fmt: skip
    assert header_items(got) == header_items(expected)
    assert shape(got) == shape(expected)


def test_send_bytes_hands_over_the_bytes_as_they_are(smtp_server: StartServer) -> None:
    from app.notify.email import date_line, flatten

    handler, port = smtp_server()
    raw = date_line(NOW) + flatten(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW,
                                                 dated=False))  # fmt: skip
    recipients = [*MAIL.to, *MAIL.cc]
    with sender_for(port) as sender:
        sender.send_bytes(raw, SENDER, recipients)
        sender.send(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW))
    assert len(handler.peers) == 1  # one connection for both kinds
    (mail_from, rcpt_tos, content), (_, _, built) = handler.received
    assert (mail_from, rcpt_tos) == (SENDER, recipients)
    assert content == raw
    assert header_items(parse(content)) == header_items(parse(built))
    assert shape(parse(content)) == shape(parse(built))


def test_send_bytes_refused_and_outside_the_context(smtp_server: StartServer) -> None:
    handler, port = smtp_server(Recorder(rcpt_replies={"zhang@sfj.example.gov.cn": "550 no"}))
    with sender_for(port) as sender, pytest.raises(DeliveryError) as caught:
        sender.send_bytes(b"Subject: x\r\n\r\nbody\r\n", SENDER, ["zhang@sfj.example.gov.cn"])
    assert caught.value.permanent
    with pytest.raises(RuntimeError):
        sender_for(port).send_bytes(b"Subject: x\r\n\r\nbody\r\n", SENDER, ["a@b.cn"])


@pytest.mark.parametrize("smtputf8", [True, False])
def test_send_bytes_to_a_non_ascii_address_needs_smtputf8(smtp_server: StartServer,
                                                          smtputf8: bool) -> None:  # fmt: skip
    handler, port = smtp_server(enable_SMTPUTF8=smtputf8)
    raw = "Subject: x\r\nTo: 张三@例子.中国\r\n\r\nbody\r\n".encode()
    with sender_for(port) as sender:
        if smtputf8:
            sender.send_bytes(raw, SENDER, ["张三@例子.中国"])
        else:
            with pytest.raises(DeliveryError) as caught:
                sender.send_bytes(raw, SENDER, ["张三@例子.中国"])
            assert caught.value.permanent
    assert [rcpt for _, rcpt, _ in handler.received] == ([["张三@例子.中国"]] if smtputf8 else [])


def _time_of(name: str) -> datetime:
    return datetime.strptime(name[:15], "%Y%m%d-%H%M%S")


def test_file_sender_writes_stored_bytes(tmp_path) -> None:
    from app.notify.email import date_line, flatten

    raw = date_line(NOW) + flatten(build_message(MAIL, sender=SENDER, domain=DOMAIN, now=NOW,
                                                 dated=False))  # fmt: skip
    with FileSender(tmp_path) as sender:
        sender.send_bytes(raw, SENDER, [*MAIL.to, *MAIL.cc])
    (written,) = list(tmp_path.iterdir())
    assert written.name == FileSender(tmp_path).path_for(message_id_for(MAIL, DOMAIN),
                                                         _time_of(written.name)).name  # fmt: skip
    assert written.read_bytes() == raw


def test_on_handover_runs_before_the_final_dot(smtp_server: StartServer) -> None:
    """The outbox commits 'sent' in on_handover: the server must have the whole message then,
    but must not have accepted it yet (no final dot), and must accept it right after."""
    handler, port = smtp_server()
    raw = b"Subject: x\r\nMessage-ID: <a@b>\r\n\r\n.leading dot\r\nbody\r\n"
    seen_at_handover: list[int] = []
    with sender_for(port) as sender:
        sender.send_bytes(
            raw,
            SENDER,
            ["a@b.cn"],
            on_handover=lambda: seen_at_handover.append(len(handler.received)),
        )
    assert seen_at_handover == [0]
    assert [content for _, _, content in handler.received] == [raw]  # dot-stuffing undone


def test_a_failing_handover_leaves_the_server_without_the_message(smtp_server: StartServer) -> None:
    """When the commit at the handover fails, the final dot never leaves: the server throws
    the message away, so the row (still 'sending') can go again without a duplicate."""
    handler, port = smtp_server()

    def fail() -> None:
        raise ConnectionError("database gone")

    with sender_for(port) as sender:
        with pytest.raises(ConnectionError):
            sender.send_bytes(b"Subject: x\r\n\r\nbody\r\n", SENDER, ["a@b.cn"], on_handover=fail)
        sender.send_bytes(b"Subject: y\r\n\r\nbody\r\n", SENDER, ["a@b.cn"])  # reconnects
    time.sleep(0.2)  # the server has seen the hang-up
    assert [content for _, _, content in handler.received] == [b"Subject: y\r\n\r\nbody\r\n"]


def test_a_refusal_after_the_handover_is_an_error(smtp_server: StartServer) -> None:
    handler, port = smtp_server(Recorder(data_reply="554 5.6.0 content rejected"))
    calls: list[str] = []
    with sender_for(port) as sender, pytest.raises(DeliveryError) as caught:
        sender.send_bytes(
            b"Subject: x\r\n\r\nbody\r\n",
            SENDER,
            ["a@b.cn"],
            on_handover=lambda: calls.append("handover"),
        )
    assert calls == ["handover"] and caught.value.permanent
