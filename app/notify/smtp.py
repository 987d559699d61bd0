"""Delivering built messages: over SMTP, or as .eml files for development and tests.

Both senders are context managers for one sweep and raise DeliveryError, whose `permanent`
tells the outbox whether retrying the same mail could ever help (a 5xx reply) or not yet
(4xx, network trouble, a misconfigured or unreachable server).

SmtpSender connects lazily, at the first send: a sweep with nothing to send opens no
connection, and an unreachable server surfaces as a per-mail transient error that the outbox
retries, not as an exception out of `with`. After a failed connect the rest of the sweep fails
fast instead of waiting out the timeout once per mail.

A sweep sends over one connection. Servers drop clients that sit idle, so a connection unused
for IDLE_CHECK_SECONDS is checked (NOOP) before it carries the next message; one used moments
ago is not (a round trip per mail for nothing). Should the server have hung up all the same,
the mail is sent again over a new connection, once, but only if the server hung up before the
DATA command: until then it cannot have taken the message.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl as ssl_module
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from zoneinfo import ZoneInfo

__all__ = ["DeliveryError", "FileSender", "MailSender", "SmtpSender"]

log = logging.getLogger(__name__)
IDLE_CHECK_SECONDS = 5.0  # idle longer than this, a connection is checked before use


class DeliveryError(Exception):
    """A mail was not handed over. PERMANENT: the server refused it for good (5xx)."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent

    def __repr__(self) -> str:
        return f"DeliveryError({self.message!r}, permanent={self.permanent})"


class MailSender(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...  # fmt: skip

    def send(self, message: EmailMessage) -> None: ...

    def send_bytes(self, raw: bytes, sender: str, recipients: list[str]) -> None: ...


def _reply_text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _from_reply(what: str, code: int, reply: bytes | str) -> DeliveryError:
    return DeliveryError(f"{what}: {code} {_reply_text(reply)}", permanent=500 <= code < 600)


class _TracksData:
    """Remembers whether the current message got as far as the DATA command: before it, a
    server that hung up cannot have taken the message."""

    data_started = False

    def data(self, msg):  # type: ignore[no-untyped-def]
        self.data_started = True
        return super().data(msg)  # type: ignore[misc]


class _SMTP(_TracksData, smtplib.SMTP):
    pass


class _SMTP_SSL(_TracksData, smtplib.SMTP_SSL):  # noqa: N801 - smtplib's name
    pass


class SmtpSender:
    """One SMTP connection per `with` block, reused for every message of the sweep."""

    def __init__(
        self, host: str, port: int, user: str | None = None, password: str | None = None,
        starttls: bool = False, ssl: bool = False, timeout: float = 30,
    ) -> None:  # fmt: skip
        if starttls and ssl:
            raise ValueError("choose STARTTLS or implicit TLS (ssl), not both")
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.starttls, self.ssl, self.timeout = starttls, ssl, timeout
        self._smtp: _SMTP | _SMTP_SSL | None = None
        self._last_used = 0.0  # time.monotonic() when the open connection last answered
        self._connect_error: DeliveryError | None = None
        self._entered = False

    def __enter__(self) -> Self:
        self._entered = True
        self._connect_error = None
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._entered = False
        self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()  # the server is gone already; nothing to say goodbye to

    def _connect(self) -> None:
        if self._connect_error is not None:
            raise self._connect_error
        context = ssl_module.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            if self.ssl:
                smtp = _SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                 context=context)  # fmt: skip
            else:
                smtp = _SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
            # The final dot is a write of its own (see _transaction): without NODELAY, Nagle
            # holds it back until the server's delayed ACK, some 40 ms a mail.
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (smtplib.SMTPException, OSError) as error:
            if smtp is not None:
                smtp.close()
            # Transient even for a 5xx (bad password, no STARTTLS): the mail itself is fine and
            # should go once the configuration or the server is fixed.
            self._connect_error = DeliveryError(
                f"cannot connect to SMTP server {self.host}:{self.port}: "
                f"{type(error).__name__}: {error}", permanent=False,
            )  # fmt: skip
            raise self._connect_error from error
        self._smtp, self._last_used = smtp, time.monotonic()

    def _alive(self) -> bool:
        """Whether the open connection still answers (servers drop idle clients)."""
        assert self._smtp is not None
        try:
            code, _ = self._smtp.noop()
        except (smtplib.SMTPException, OSError):
            return False
        return code == 250

    def _ensure_connection(self) -> None:
        idle = time.monotonic() - self._last_used > IDLE_CHECK_SECONDS
        if self._smtp is not None and idle and not self._alive():
            log.info("SMTP server %s:%s dropped the connection; reconnecting", self.host, self.port)
            self._drop()
        if self._smtp is None:
            self._connect()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def send(self, message: EmailMessage) -> None:
        """Hand MESSAGE to the server; envelope sender and recipients come from its headers."""
        self._deliver(lambda smtp: smtp.send_message(message), lambda: message.get("Message-ID"))

    # The outbox may pass on_handover to send_bytes (see _transaction).
    supports_handover = True

    def send_bytes(
        self, raw: bytes, sender: str, recipients: list[str],
        on_handover: Callable[[], Callable[[], None] | None] | None = None,
    ) -> None:  # fmt: skip
        """Hand RAW, a message flattened for SMTP (CRLF line ends), to the server as it is, with
        the envelope SENDER and RECIPIENTS: no parsing, no flattening. ON_HANDOVER, if given,
        is called once the whole message is with the server but for the final dot."""
        options: list[str] = []
        if not all(address.isascii() for address in (sender, *recipients)):
            options = ["SMTPUTF8", "BODY=8BITMIME"]  # what send_message asks for such a mail

        def send(smtp: smtplib.SMTP) -> dict:
            if options and not smtp.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(
                    "One or more source or delivery addresses require internationalized "
                    "email support, but the server does not advertise the required SMTPUTF8 "
                    "capability"
                )  # send_message's words
            return _transaction(smtp, sender, recipients, raw, options, on_handover)

        self._deliver(send, lambda: _message_id(raw))

    def _deliver(self, send, message_id) -> None:  # type: ignore[no-untyped-def]
        """One message out: SEND(smtp) hands it over, MESSAGE_ID() names it in the log."""
        if not self._entered:
            raise RuntimeError("use SmtpSender as a context manager: `with SmtpSender(...) as s:`")
        self._ensure_connection()
        try:
            refused = self._send_once(send)
        except smtplib.SMTPServerDisconnected:
            # Only when DATA was never sent (_send_once re-raises nothing else): the server
            # hung up between mails, and has not got this one.
            log.info("SMTP server %s:%s dropped the connection; reconnecting", self.host, self.port)
            self._ensure_connection()
            refused = self._send_once(send, reconnected=True)
        self._last_used = time.monotonic()
        if refused:
            # The others have the mail already: raising would make a retry send it twice.
            log.warning("SMTP server refused some recipients of %s: %s",
                        message_id(), refused)  # fmt: skip

    def _send_once(self, send, reconnected: bool = False) -> dict:  # type: ignore[no-untyped-def]
        """One try over the open connection. SMTPServerDisconnected comes out only when the
        server hung up before DATA and this is not already the try after a reconnect; every
        other failure is a DeliveryError. A disconnect after DATA may still have delivered
        the message, so that is a transient error for the outbox, never a resend here."""
        smtp = self._smtp
        assert smtp is not None
        smtp.data_started = False
        try:
            return send(smtp)
        except _HandoverFailed as failed:
            self._drop()
            raise failed.original from None
        except smtplib.SMTPServerDisconnected as error:
            self._drop()
            if not smtp.data_started and not reconnected:
                raise
            raise DeliveryError(f"{type(error).__name__}: {error}", permanent=False) from error
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            detail = "; ".join(
                f"{addr}: {code} {_reply_text(reply)}"
                for addr, (code, reply) in error.recipients.items()
            )
            permanent = bool(codes) and all(500 <= code < 600 for code in codes)
            raise DeliveryError(f"all recipients refused: {detail}", permanent) from error
        except smtplib.SMTPSenderRefused as error:
            raise _from_reply("sender refused", error.smtp_code, error.smtp_error) from error
        except smtplib.SMTPDataError as error:
            raise _from_reply("message refused", error.smtp_code, error.smtp_error) from error
        except smtplib.SMTPNotSupportedError as error:
            # e.g. a non-ASCII address and no SMTPUTF8: this server will never take it.
            raise DeliveryError(f"not supported by the server: {error}", permanent=True) from error
        except smtplib.SMTPResponseException as error:
            self._drop()  # an unexpected reply leaves the session in an unknown state
            raise _from_reply("SMTP error", error.smtp_code, error.smtp_error) from error
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise DeliveryError(f"{type(error).__name__}: {error}", permanent=False) from error


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _transaction(
    smtp: smtplib.SMTP, sender: str, recipients: list[str], raw: bytes, options: list[str],
    on_handover: Callable[[], Callable[[], None] | None] | None,
) -> dict:  # fmt: skip
    """smtplib's sendmail, with ON_HANDOVER called between the message and its final dot.

    Why: a mail whose final dot never left is discarded by the server, and one whose dot left is
    delivered. The outbox commits 'sent' in ON_HANDOVER, so a process killed at any moment
    leaves a row that is either 'sent' with the mail delivered, or still 'sending' with the
    mail discarded, which is safe to send again: exactly once, but for the instant between
    that commit and writing five bytes. If ON_HANDOVER fails, the connection is dropped before
    the dot, and the server discards the mail. ON_HANDOVER may return a callable, called right
    after the dot is written, to finish what it started (the outbox's commit on PostgreSQL)."""
    smtp.ehlo_or_helo_if_needed()
    mail_options = list(options)
    if smtp.does_esmtp and smtp.has_extn("size"):
        mail_options.append(f"size={len(raw)}")
    code, reply = smtp.mail(sender, mail_options)
    if code != 250:
        _reset_or_close(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused: dict = {}
    for recipient in recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
        if code == 421:
            smtp.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        _reset_or_close(smtp, 0)
        raise smtplib.SMTPRecipientsRefused(refused)
    smtp.data_started = True  # type: ignore[attr-defined]
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        _reset_or_close(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    body = _LEADING_DOT.sub(b"..", raw)
    smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")
    settle = None
    if on_handover is not None:
        try:
            settle = on_handover()
        except BaseException as error:
            smtp.close()  # no final dot: the server throws the message away
            raise _HandoverFailed(error) from error
    smtp.send(b".\r\n")
    if settle is not None:
        try:
            settle()  # what on_handover started, finished while the dot travels
        except BaseException as error:
            raise _HandoverFailed(error) from error
    code, reply = smtp.getreply()
    if code != 250:
        _reset_or_close(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    return refused


class _HandoverFailed(Exception):
    """on_handover raised ORIGINAL: not the mail's fault, so not a DeliveryError."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


def _reset_or_close(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: RSET for the next message, or hang up when the server is closing."""
    if code == 421:
        smtp.close()
        return
    with suppress(smtplib.SMTPServerDisconnected):  # gone already: the next mail reconnects
        smtp.rset()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)


def _message_id(raw: bytes) -> str | None:
    """The Message-ID of RAW, a flattened message, read from its header section."""
    end = raw.find(b"\r\n\r\n")
    match = _MESSAGE_ID.search(raw, 0, end if end >= 0 else len(raw))
    return match.group(1).decode("ascii", "replace").strip() if match else None


class FileSender:
    """Writes each message to FOLDER as <YYYYmmdd-HHMMSS>-<message id>.eml (local time).

    The write goes through a temporary file and os.replace, so a reader never sees half a
    mail; a retry of the same message in the same second replaces the earlier file.
    """

    def __init__(self, folder: str | os.PathLike[str], timezone: str = "Asia/Shanghai") -> None:
        self.folder = Path(folder)
        self.timezone = timezone

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        return None

    def path_for(self, message: EmailMessage | str | None, now: datetime) -> Path:
        """MESSAGE: the message, or its Message-ID."""
        if isinstance(message, EmailMessage):
            message = message.get("Message-ID")
        message_id = str(message or "").strip().strip("<>")
        safe = _UNSAFE.sub("_", message_id).strip("._")[:150] or uuid.uuid4().hex
        return self.folder / f"{now:%Y%m%d-%H%M%S}-{safe}.eml"

    def send(self, message: EmailMessage) -> None:
        target = self.path_for(message, datetime.now(ZoneInfo(self.timezone)))
        try:
            self._write(target, message.as_bytes(policy=SMTP))
        except OSError as error:
            raise DeliveryError(f"cannot write {target}: {error}", permanent=False) from error

    def send_bytes(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """RAW as it is (the envelope is not kept: the headers say as much)."""
        target = self.path_for(_message_id(raw), datetime.now(ZoneInfo(self.timezone)))
        try:
            self._write(target, raw)
        except OSError as error:
            raise DeliveryError(f"cannot write {target}: {error}", permanent=False) from error

    def _write(self, target: Path, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
