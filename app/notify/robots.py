"""Group robots: a 企业微信 group robot and a 钉钉 custom robot, each fed markdown digests.

Both robots take a JSON POST to a webhook URL whose query carries the robot's key
(企业微信 `key=`, 钉钉 `access_token=`); 钉钉 additionally wants `timestamp` and `sign`
(HMAC-SHA256 of "<timestamp>\\n<secret>" keyed by the secret, base64, URL-encoded), which this
app always uses. Both answer HTTP 200 with {"errcode": 0} on success and a non-zero errcode
otherwise, and both refuse more than 20 messages a minute to one robot.

RobotSender raises smtp.DeliveryError like the mail senders, so the outbox treats every channel
alike: `permanent` says whether retrying the same message could ever help. A RateLimiter shared
across sweeps keeps each webhook under 20 messages a minute; callers ask `wait_seconds(url)` and
defer a message instead of sleeping. Webhook keys and secrets are credentials: they never appear
in an error message or a log line (mask_url shows a webhook without them).

No Flask and no database here: the outbox gives URLs and messages, and gets errors back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from app.notify.smtp import DeliveryError

__all__ = [
    "DINGTALK_RATE_LIMITED",
    "RATE_PER_MINUTE",
    "WECOM_MARKDOWN_LIMIT",
    "WECOM_RATE_LIMITED",
    "RateLimited",
    "RateLimiter",
    "RobotMessage",
    "RobotSender",
    "dingtalk_payload",
    "dingtalk_signed_url",
    "mask_url",
    "validate_dingtalk_secret",
    "validate_webhook",
    "wecom_payload",
]

log = logging.getLogger(__name__)

# Both platforms refuse a robot's 21st message within a minute.
RATE_PER_MINUTE = 20
WINDOW_SECONDS = 60.0
# 企业微信: "markdown.content 最长不超过4096个字节，必须是utf8编码".
WECOM_MARKDOWN_LIMIT = 4096
TRUNCATION_NOTE = "（内容过长，已截断，详见系统）"
# "Send too fast" answers: the message is fine, the robot wants a pause.
WECOM_RATE_LIMITED = 45009
DINGTALK_RATE_LIMITED = 130101
# -1 is "系统繁忙" on both platforms.
_BUSY = -1
MAX_WEBHOOK_LENGTH = 500  # Office.wecom_webhook / dingtalk_webhook
MAX_SECRET_LENGTH = 200  # Office.dingtalk_secret
# Query parameters that are credentials (or derived from one) and must never be shown.
_SECRET_PARAMS = {"key", "access_token", "sign", "secret", "token"}
_MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class RobotMessage:
    """One digest for a group: TITLE is the heading (and 钉钉's notification text)."""

    title: str
    markdown: str


# --- payloads -------------------------------------------------------------------------------


def _utf8_prefix(text: str, limit: int) -> str:
    """The longest prefix of TEXT that fits in LIMIT bytes of UTF-8 (whole characters only)."""
    return text.encode("utf-8")[: max(limit, 0)].decode("utf-8", "ignore")


def _with_heading(message: RobotMessage) -> str:
    title = message.title.strip()
    return f"### {title}\n{message.markdown}" if title else message.markdown


def wecom_payload(message: RobotMessage) -> dict[str, Any]:
    """The 企业微信 group robot's markdown message, cut to its 4096-byte limit if need be."""
    content = _with_heading(message)
    if len(content.encode("utf-8")) > WECOM_MARKDOWN_LIMIT:
        note = f"\n\n{TRUNCATION_NOTE}"
        kept = _utf8_prefix(content, WECOM_MARKDOWN_LIMIT - len(note.encode("utf-8")))
        # Prefer ending at a line break, so a link or a bold run is not left half open, unless
        # that would throw away much of what fits.
        line_end = kept.rfind("\n")
        if line_end >= len(kept) // 2:
            kept = kept[:line_end]
        content = kept.rstrip() + note
    return {"msgtype": "markdown", "markdown": {"content": content}}


def dingtalk_payload(message: RobotMessage) -> dict[str, Any]:
    """The 钉钉 custom robot's markdown message.

    钉钉 shows `title` only in the notification and the chat list, so the text repeats it as a
    heading.
    """
    title = message.title.strip() or "通知"
    return {"msgtype": "markdown", "markdown": {"title": title, "text": _with_heading(message)}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉's signature, before URL encoding: base64(HMAC-SHA256(secret, "<ts>\\n<secret>"))."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """URL with `timestamp` and `sign` appended, as 钉钉's 加签 security setting requires.

    钉钉 accepts a timestamp within an hour of its own clock, so TIMESTAMP_MS is the current
    time in milliseconds since the epoch.
    """
    sign = urllib.parse.quote_plus(dingtalk_sign(secret, timestamp_ms))
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    if url.endswith(("?", "&")):
        separator = ""
    return f"{url}{separator}timestamp={timestamp_ms}&sign={sign}"


# --- validation (the office form) -----------------------------------------------------------


def validate_webhook(url: str) -> str | None:
    """A Chinese message saying what is wrong with a webhook URL, or None if it will do.

    Any http(s) host is accepted: intranet deployments (政务微信, 专有钉钉) and proxies use
    their own hosts, so the official ones are not enforced.
    """
    url = url.strip()
    if not url:
        return "请填写 Webhook 地址。"
    if len(url) > MAX_WEBHOOK_LENGTH:
        return f"Webhook 地址不能超过{MAX_WEBHOOK_LENGTH}个字符。"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "Webhook 地址不能包含空格或换行。"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "Webhook 地址格式不正确。"
    if parts.scheme.lower() not in ("http", "https"):
        return "Webhook 地址须以 https:// 或 http:// 开头。"
    if not host:
        return "Webhook 地址缺少主机名。"
    if parts.username or parts.password:
        return "Webhook 地址不应包含用户名或密码。"
    return None


def validate_dingtalk_secret(secret: str) -> str | None:
    """A Chinese message saying what is wrong with a 钉钉 加签 secret, or None if it will do."""
    secret = secret.strip()
    if not secret:
        return "请填写钉钉加签密钥。"
    if len(secret) > MAX_SECRET_LENGTH:
        return f"钉钉加签密钥不能超过{MAX_SECRET_LENGTH}个字符。"
    if not secret.startswith("SEC"):
        return "钉钉加签密钥应以 SEC 开头（在机器人安全设置的“加签”一栏复制）。"
    if len(secret) == 3 or not all(33 <= ord(ch) < 127 for ch in secret):
        return "钉钉加签密钥格式不正确，请完整复制“加签”一栏中的字符串。"
    return None


def mask_url(url: str, keep: int = 0) -> str:
    """URL with its credentials (key, access_token, sign, user info) replaced by ***.

    KEEP > 0 leaves that many last characters of a long credential, so that an audit trail
    shows that a key changed without showing the key.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "（无法解析的地址）"
    netloc = parts.netloc.rpartition("@")[2]
    if parts.netloc != netloc:
        netloc = f"***@{netloc}"

    def masked(value: str) -> str:
        return f"***{value[-keep:]}" if keep > 0 and len(value) >= 4 * keep else "***"

    query = "&".join(
        f"{name}={masked(value)}" if name.lower() in _SECRET_PARAMS else f"{name}={value}"
        for name, value in (pair.partition("=")[::2] for pair in parts.query.split("&") if pair)
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _secrets_of(url: str, secret: str | None = None) -> list[str]:
    """The credential values inside URL (and SECRET), to scrub from anything we show."""
    values = [secret] if secret else []
    try:
        query = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        return values
    values += [value for name, value in query if name.lower() in _SECRET_PARAMS and value]
    return values


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if len(value) >= 4:  # a one-letter "secret" would blank out half the message
            text = text.replace(value, "***")
            text = text.replace(urllib.parse.quote_plus(value), "***")
    return text


# --- rate limiting --------------------------------------------------------------------------


class RateLimiter:
    """At most PER_MINUTE sends to one webhook in any 60-second window (a sliding window).

    Thread-safe. One instance should serve every sweep of a process (RobotSender uses a shared
    default), since the robots count across sweeps, not per sweep. CLOCK returns seconds and
    only its differences matter; tests give a fake one.
    """

    def __init__(
        self, per_minute: int = RATE_PER_MINUTE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._held_until: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(url: str) -> str:
        return url.strip()

    def _wait_locked(self, key: str, now: float) -> float:
        sent = self._sent.get(key)
        if sent is not None:
            while sent and sent[0] <= now - WINDOW_SECONDS:
                sent.popleft()
            if not sent:
                del self._sent[key]
                sent = None
        wait = 0.0
        if sent is not None and len(sent) >= self.per_minute:
            wait = sent[0] + WINDOW_SECONDS - now
        held = self._held_until.get(key)
        if held is not None:
            if held <= now:
                del self._held_until[key]
            else:
                wait = max(wait, held - now)
        return max(wait, 0.0)

    def wait_seconds(self, url: str) -> float:
        """Seconds until a message to URL may go: 0 when it may go now."""
        with self._lock:
            return self._wait_locked(self._key(url), self.clock())

    def acquire(self, url: str) -> float:
        """Count a send to URL and return 0 if one may go now; else count nothing and return
        the seconds to wait (check and count in one step, so two threads cannot both take the
        last place)."""
        key = self._key(url)
        with self._lock:
            now = self.clock()
            wait = self._wait_locked(key, now)
            if wait == 0:
                self._sent.setdefault(key, deque()).append(now)
            return wait

    def hold(self, url: str, seconds: float) -> None:
        """Send nothing to URL for SECONDS (the robot said it is getting too much)."""
        key = self._key(url)
        with self._lock:
            until = self.clock() + seconds
            self._held_until[key] = max(until, self._held_until.get(key, until))


DEFAULT_LIMITER = RateLimiter()


class RateLimited(DeliveryError):
    """Not sent because the robot's rate limit is reached; try again after RETRY_AFTER seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, permanent=False)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"RateLimited({self.message!r}, retry_after={self.retry_after:.1f})"


# --- sending --------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected webhook is a wrong webhook: urllib would re-send a POST as a bodiless GET."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        return None


@dataclass(frozen=True)
class _Robot:
    name: str  # 企业微信 / 钉钉, for messages
    rate_limited_code: int


_WECOM = _Robot("企业微信", WECOM_RATE_LIMITED)
_DINGTALK = _Robot("钉钉", DINGTALK_RATE_LIMITED)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class RobotSender:
    """Posts robot messages for one sweep; raises DeliveryError (or RateLimited) per message.

    LIMITER defaults to the process-wide DEFAULT_LIMITER; NOW_MS (milliseconds since the epoch,
    for 钉钉's signature) and OPENER are there for tests.
    """

    def __init__(
        self,
        *,
        timeout: float = 10,
        limiter: RateLimiter | None = None,
        now_ms: Callable[[], int] = _now_ms,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        self.timeout = timeout
        self.limiter = limiter if limiter is not None else DEFAULT_LIMITER
        self.now_ms = now_ms
        self.opener = opener or urllib.request.build_opener(_NoRedirect)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        return None  # urllib opens a connection per request: nothing to close

    def wait_seconds(self, url: str) -> float:
        """Seconds until a message to the webhook URL may go (0: now)."""
        return self.limiter.wait_seconds(url)

    def send_wecom(self, url: str, message: RobotMessage) -> None:
        """Post MESSAGE to a 企业微信 group robot."""
        self._send(_WECOM, url, wecom_payload(message))

    def send_dingtalk(self, url: str, secret: str, message: RobotMessage) -> None:
        """Post MESSAGE to a 钉钉 custom robot, signed with SECRET (加签)."""
        self._send(_DINGTALK, url, dingtalk_payload(message), secret=(secret or "").strip())

    def _send(
        self, robot: _Robot, url: str, payload: dict[str, Any], *, secret: str | None = None
    ) -> None:
        url = (url or "").strip()
        problem = validate_webhook(url)
        if problem is not None:
            raise DeliveryError(f"{robot.name}机器人的{problem}", permanent=True)
        if secret is not None and not secret:
            raise DeliveryError(f"{robot.name}机器人未设置加签密钥，消息未发送。", permanent=True)
        wait = self.limiter.acquire(url)
        if wait > 0:
            raise RateLimited(
                f"{robot.name}机器人每分钟最多发送{self.limiter.per_minute}条消息，"
                f"约{math.ceil(wait)}秒后再发。",
                retry_after=wait,
            )  # fmt: skip
        # Signed at the last moment, after the rate check, so the timestamp is fresh.
        target = dingtalk_signed_url(url, secret, self.now_ms()) if secret else url
        secrets = _secrets_of(url, secret)
        try:
            answer = self._post(robot, target, payload)
        except DeliveryError as error:
            # urllib's reasons carry no URL today; scrub anyway, so a change there cannot leak.
            # The chain is cut: urllib's HTTPError keeps the full URL (key, sign) as an
            # attribute, and the message already says what went wrong.
            scrubbed = DeliveryError(_scrub(error.message, secrets), error.permanent)
            log.warning("%s robot %s: %s", robot.name, mask_url(url), scrubbed.message)
            raise scrubbed from None
        self._check_answer(robot, url, answer, secrets)

    def _post(self, robot: _Robot, target: str, payload: dict[str, Any]) -> bytes:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            target, data=body, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8",
                     "User-Agent": "Luoshi robot"},
        )  # fmt: skip
        host = urllib.parse.urlsplit(target).hostname
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.read(_MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as error:
            with error:  # its body is an open socket
                raise _from_status(robot, error.code) from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise _timed_out(robot, host, self.timeout) from error
            raise DeliveryError(
                f"无法连接{robot.name}机器人接口 {host}：{error.reason}", permanent=False
            ) from error
        except TimeoutError as error:
            raise _timed_out(robot, host, self.timeout) from error
        except (http.client.HTTPException, OSError) as error:
            raise DeliveryError(
                f"与{robot.name}机器人接口 {host} 通信失败：{type(error).__name__}",
                permanent=False,
            ) from error

    def _check_answer(self, robot: _Robot, url: str, answer: bytes, secrets: list[str]) -> None:
        try:
            data = json.loads(answer.decode("utf-8"))
            errcode = int(data["errcode"])
            errmsg = str(data.get("errmsg", ""))
        except (UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
            # An answer that is not the robot API's (a portal page, a wrong path): sending the
            # same message to the same address again will not help.
            raise DeliveryError(
                f"{robot.name}机器人接口的应答无法识别，请检查 Webhook 地址。", permanent=True
            ) from error
        if errcode == 0:
            return
        errmsg = _scrub(errmsg, secrets)[:200]
        if errcode == robot.rate_limited_code:
            self.limiter.hold(url, WINDOW_SECONDS)
            error = RateLimited(
                f"{robot.name}机器人发送过于频繁（错误码 {errcode}：{errmsg}），稍后重发。",
                retry_after=WINDOW_SECONDS,
            )  # fmt: skip
        elif errcode == _BUSY:
            error = DeliveryError(
                f"{robot.name}机器人接口繁忙（错误码 {errcode}：{errmsg}），稍后重发。",
                permanent=False,
            )  # fmt: skip
        else:
            # A wrong or removed key, a signature or keyword mismatch, a malformed message:
            # the same request will be refused again until someone changes the settings.
            error = DeliveryError(
                f"{robot.name}机器人拒绝了消息（错误码 {errcode}：{errmsg}）", permanent=True
            )
        log.warning("%s robot %s: %s", robot.name, mask_url(url), error.message)
        raise error


def _from_status(robot: _Robot, status: int) -> DeliveryError:
    if 300 <= status < 400:
        return DeliveryError(
            f"{robot.name}机器人的 Webhook 地址发生了跳转（HTTP {status}），请检查地址。",
            permanent=True,
        )
    # 408 and 429 are the server asking for patience, not refusing the message.
    permanent = 400 <= status < 500 and status not in (408, 429)
    hint = "，请检查 Webhook 地址" if permanent else "，稍后重发"
    return DeliveryError(f"{robot.name}机器人接口返回 HTTP {status}{hint}。", permanent)


def _timed_out(robot: _Robot, host: str | None, timeout: float) -> DeliveryError:
    return DeliveryError(
        f"{robot.name}机器人接口 {host} 在{timeout:g}秒内没有应答。", permanent=False
    )
