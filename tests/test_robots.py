"""Group robots end to end: app.notify.robots posts to a real HTTP server on 127.0.0.1 that
plays 企业微信 or 钉钉 — it checks the method, the JSON body and 钉钉's signature (recomputed
here from the HMAC definition) and answers as it is told to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from app.notify.robots import (
    TRUNCATION_NOTE,
    WECOM_MARKDOWN_LIMIT,
    RateLimited,
    RateLimiter,
    RobotMessage,
    RobotSender,
    dingtalk_payload,
    dingtalk_signed_url,
    mask_url,
    validate_dingtalk_secret,
    validate_webhook,
    wecom_payload,
)
from app.notify.smtp import DeliveryError

WECOM_KEY = "693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN = "c9a2f4d0e8b7aa1e5f3c6d9b0a7e4f21c9a2f4d0e8b7aa1e5f3c6d9b0a7e4f2"
SECRET = "SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc"
NOW_MS = 1_656_000_000_000
MESSAGE = RobotMessage(
    title="催办：完善行政执法程序规定",
    markdown="**甲科室**有 2 项任务临近时限：\n- 完善<行政>执法 & 程序规定（6月30日）\n"
    "- [开展普法宣传](https://luoshi.example.gov.cn/tasks/7)",
)


# --- the fake robot server ------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body.decode("utf-8"))


ANSWERS = {
    "ok": (200, {"errcode": 0, "errmsg": "ok"}),
    "wecom-too-fast": (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
    "dingtalk-too-fast": (200, {"errcode": 130101, "errmsg": "send too fast"}),
    "busy": (200, {"errcode": -1, "errmsg": "system busy"}),
    "wecom-bad-key": (200, {"errcode": 93000, "errmsg": "invalid webhook url"}),
    "dingtalk-keyword": (200, {"errcode": 310000, "errmsg": "keywords not in content"}),
    "echo-secret": (200, {"errcode": 310000, "errmsg": f"sign not match, secret={SECRET}"}),
    "http-500": (500, {"errcode": 0}),
    "http-404": (404, {"errcode": 0}),
    "http-429": (429, {"errcode": 0}),
}


@dataclass
class RobotServer:
    """What the server saw, and how it should answer the next request."""

    base: str = ""
    answer: str = "ok"
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # protocol errors the server noticed
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def wecom_url(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={WECOM_KEY}"

    @property
    def dingtalk_url(self) -> str:
        return f"{self.base}/robot/send?access_token={DINGTALK_TOKEN}"


def expected_sign(timestamp: str, secret: str) -> str:
    """钉钉's definition: base64(HmacSHA256(key=secret, "<timestamp>\\n<secret>")), UTF-8."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def make_handler(state: RobotServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return None

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            parts = urlsplit(self.path)
            got = Received("POST", parts.path, parse_qs(parts.query),
                           self.headers.get("Content-Type", ""), body)  # fmt: skip
            state.received.append(got)
            if not got.content_type.startswith("application/json"):
                state.problems.append(f"content type {got.content_type}")
            if parts.path == "/robot/send" and not self._signature_ok(got.query):
                self._reply(200, {"errcode": 310000, "errmsg": "sign not match"})
                return
            if state.answer == "hang":
                state.release.wait(10)
                return  # the client gave up long ago
            if state.answer == "html":
                self._reply(200, b"<html><body>login</body></html>", "text/html")
            elif state.answer == "redirect":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                status, data = ANSWERS[state.answer]
                self._reply(status, data)

        def do_GET(self) -> None:  # noqa: N802
            state.received.append(Received("GET", self.path, {}, "", b""))
            self._reply(405, {"errcode": 0})

        def _signature_ok(self, query: dict[str, list[str]]) -> bool:
            if len(query.get("timestamp", [])) != 1 or len(query.get("sign", [])) != 1:
                state.problems.append("timestamp or sign missing")
                return False
            if query["sign"][0] != expected_sign(query["timestamp"][0], SECRET):
                state.problems.append("sign not match")
                return False
            return True

        def _reply(self, status: int, data: object, content_type="application/json") -> None:
            raw = data if isinstance(data, bytes) else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours *_proxy variables; the fake robots are on this machine.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def robot() -> Iterator[RobotServer]:
    state = RobotServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sender(clock: FakeClock) -> RobotSender:
    # A limiter of its own: the shared default would carry counts from test to test.
    return RobotSender(timeout=2, limiter=RateLimiter(clock=clock), now_ms=lambda: NOW_MS)


# --- payloads -------------------------------------------------------------------------------


def test_wecom_payload_is_a_markdown_message_with_the_title_as_heading() -> None:
    payload = wecom_payload(MESSAGE)
    assert payload == {
        "msgtype": "markdown",
        "markdown": {"content": f"### {MESSAGE.title}\n{MESSAGE.markdown}"},
    }


def test_dingtalk_payload_has_title_and_text() -> None:
    payload = dingtalk_payload(MESSAGE)
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"] == MESSAGE.title
    assert payload["markdown"]["text"] == f"### {MESSAGE.title}\n{MESSAGE.markdown}"


def test_wecom_content_is_cut_to_4096_bytes_on_a_character_boundary() -> None:
    # 3-byte characters and no line breaks: the cut falls inside the text.
    long = RobotMessage("督办通报", "法治" * 3000)
    content = wecom_payload(long)["markdown"]["content"]
    size = len(content.encode("utf-8"))
    assert WECOM_MARKDOWN_LIMIT - 3 < size <= WECOM_MARKDOWN_LIMIT
    assert content.endswith(TRUNCATION_NOTE)
    kept = content.removesuffix(TRUNCATION_NOTE).rstrip()
    assert f"### 督办通报\n{'法治' * 3000}".startswith(kept)


def test_wecom_cut_prefers_a_line_break() -> None:
    lines = [f"- 第{n}项任务：开展普法宣传进机关、进乡村、进社区、进企业" for n in range(200)]
    content = wecom_payload(RobotMessage("通报", "\n".join(lines)))["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_MARKDOWN_LIMIT
    body = content.removesuffix(f"\n\n{TRUNCATION_NOTE}")
    assert body.split("\n")[-1] in lines  # the last line kept is whole


def test_wecom_content_at_the_limit_is_left_alone() -> None:
    heading = "### 通报\n"
    filler = "a" * (WECOM_MARKDOWN_LIMIT - len(heading.encode("utf-8")))
    content = wecom_payload(RobotMessage("通报", filler))["markdown"]["content"]
    assert content == heading + filler
    longer = wecom_payload(RobotMessage("通报", filler + "法"))["markdown"]["content"]
    assert longer.endswith(TRUNCATION_NOTE)


def test_signed_url_appends_timestamp_and_sign() -> None:
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", SECRET,
                              NOW_MS)  # fmt: skip
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["abc"]
    assert query["timestamp"] == [str(NOW_MS)]
    assert query["sign"] == [expected_sign(str(NOW_MS), SECRET)]
    # quote_plus: the base64 alphabet's + / = are percent-encoded, never left raw.
    raw_sign = url.rpartition("&sign=")[2]
    assert not set(raw_sign) & set("+/=")
    bare = dingtalk_signed_url("https://robot.example.cn/send", SECRET, NOW_MS)
    assert bare.startswith(f"https://robot.example.cn/send?timestamp={NOW_MS}&sign=")


# --- sending --------------------------------------------------------------------------------


def test_wecom_message_arrives_as_utf8_json(robot: RobotServer, sender: RobotSender) -> None:
    with sender:
        sender.send_wecom(robot.wecom_url, MESSAGE)
    [got] = robot.received
    assert got.method == "POST" and got.path == "/cgi-bin/webhook/send"
    assert got.query == {"key": [WECOM_KEY]}
    assert got.content_type.startswith("application/json")
    assert "催办：完善行政执法程序规定" in got.body.decode("utf-8")  # not \u-escaped
    assert got.json() == wecom_payload(MESSAGE)
    assert robot.problems == []


def test_dingtalk_message_is_signed(robot: RobotServer, sender: RobotSender) -> None:
    with sender:
        sender.send_dingtalk(robot.dingtalk_url, SECRET, MESSAGE)
    [got] = robot.received
    assert got.method == "POST" and got.path == "/robot/send"
    assert got.query["access_token"] == [DINGTALK_TOKEN]
    assert got.query["timestamp"] == [str(NOW_MS)]
    assert got.query["sign"] == [expected_sign(str(NOW_MS), SECRET)]
    assert got.content_type.startswith("application/json")
    assert got.json() == dingtalk_payload(MESSAGE)
    assert robot.problems == []


def test_dingtalk_timestamp_is_now_in_milliseconds(robot: RobotServer) -> None:
    before = time.time() * 1000
    RobotSender(limiter=RateLimiter()).send_dingtalk(robot.dingtalk_url, SECRET, MESSAGE)
    [got] = robot.received
    assert before - 1 <= int(got.query["timestamp"][0]) <= time.time() * 1000 + 1
    assert robot.problems == []


def test_a_wrong_secret_is_refused_for_good(robot: RobotServer, sender: RobotSender) -> None:
    with pytest.raises(DeliveryError) as caught:
        sender.send_dingtalk(robot.dingtalk_url, "SECnot-the-robots-secret", MESSAGE)
    assert caught.value.permanent
    assert caught.value.message == "钉钉机器人拒绝了消息（错误码 310000：sign not match）"


def test_truncated_wecom_message_goes_out_within_the_limit(robot, sender) -> None:
    sender.send_wecom(robot.wecom_url, RobotMessage("通报", "法治政府建设\n" * 1000))
    content = robot.received[0].json()["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_MARKDOWN_LIMIT
    assert content.endswith(TRUNCATION_NOTE)


@pytest.mark.parametrize(
    ("answer", "permanent", "text"),
    [
        ("wecom-too-fast", False, "发送过于频繁（错误码 45009"),
        ("busy", False, "繁忙（错误码 -1"),
        ("wecom-bad-key", True, "企业微信机器人拒绝了消息（错误码 93000：invalid webhook url）"),
        ("http-500", False, "HTTP 500"),
        ("http-429", False, "HTTP 429"),
        ("http-404", True, "HTTP 404"),
        ("html", True, "应答无法识别"),
        ("redirect", True, "跳转（HTTP 302）"),
    ],
)
def test_wecom_answers_are_classified(
    robot: RobotServer, sender: RobotSender, answer: str, permanent: bool, text: str
) -> None:
    robot.answer = answer
    with pytest.raises(DeliveryError) as caught:
        sender.send_wecom(robot.wecom_url, MESSAGE)
    assert caught.value.permanent is permanent
    assert text in caught.value.message
    assert len(robot.received) == 1  # a redirect is not followed
    assert WECOM_KEY not in str(caught.value) and WECOM_KEY not in repr(caught.value)


@pytest.mark.parametrize(
    ("answer", "permanent", "text"),
    [
        ("dingtalk-too-fast", False, "钉钉机器人发送过于频繁（错误码 130101：send too fast）"),
        ("dingtalk-keyword", True, "拒绝了消息（错误码 310000：keywords not in content）"),
        ("http-500", False, "钉钉机器人接口返回 HTTP 500"),
        ("http-404", True, "钉钉机器人接口返回 HTTP 404"),
    ],
)
def test_dingtalk_answers_are_classified(
    robot: RobotServer, sender: RobotSender, answer: str, permanent: bool, text: str
) -> None:
    robot.answer = answer
    with pytest.raises(DeliveryError) as caught:
        sender.send_dingtalk(robot.dingtalk_url, SECRET, MESSAGE)
    assert caught.value.permanent is permanent
    assert text in caught.value.message
    assert robot.problems == []


def test_a_server_side_rate_limit_pauses_that_robot(robot, sender, clock) -> None:
    robot.answer = "dingtalk-too-fast"
    with pytest.raises(RateLimited) as caught:
        sender.send_dingtalk(robot.dingtalk_url, SECRET, MESSAGE)
    assert caught.value.retry_after == 60 and not caught.value.permanent
    assert sender.wait_seconds(robot.dingtalk_url) == 60
    assert sender.wait_seconds(robot.wecom_url) == 0
    clock.now += 60
    robot.answer = "ok"
    sender.send_dingtalk(robot.dingtalk_url, SECRET, MESSAGE)
    assert len(robot.received) == 2


def test_a_hanging_robot_times_out_as_transient(robot: RobotServer, clock: FakeClock) -> None:
    robot.answer = "hang"
    sender = RobotSender(timeout=0.3, limiter=RateLimiter(clock=clock))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        sender.send_wecom(robot.wecom_url, MESSAGE)
    assert time.monotonic() - started < 3
    assert not caught.value.permanent
    assert "没有应答" in caught.value.message


def test_an_unreachable_robot_is_transient(sender: RobotSender) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryError) as caught:
        sender.send_wecom(f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={WECOM_KEY}",
                          MESSAGE)  # fmt: skip
    assert not caught.value.permanent
    assert "无法连接企业微信机器人接口 127.0.0.1" in caught.value.message
    assert WECOM_KEY not in caught.value.message


@pytest.mark.parametrize(
    "url",
    ["ftp://robot.example.cn/send?key=1", "file:///etc/passwd", "javascript:alert(1)",
     "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1", "", "http://"],
)  # fmt: skip
def test_only_http_urls_are_accepted(url: str, sender: RobotSender, clock) -> None:
    with pytest.raises(DeliveryError) as caught:
        sender.send_wecom(url, MESSAGE)
    assert caught.value.permanent
    with pytest.raises(DeliveryError) as caught:
        sender.send_dingtalk(url, SECRET, MESSAGE)
    assert caught.value.permanent
    assert sender.limiter.acquire(url) == 0  # refused before counting, too


def test_dingtalk_without_a_secret_is_refused(robot: RobotServer, sender: RobotSender) -> None:
    with pytest.raises(DeliveryError) as caught:
        sender.send_dingtalk(robot.dingtalk_url, "  ", MESSAGE)
    assert caught.value.permanent and "加签密钥" in caught.value.message
    assert robot.received == []


def test_secrets_stay_out_of_errors_and_logs(robot, sender, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[DeliveryError] = []
    for answer in ("echo-secret", "http-500", "http-404", "html", "dingtalk-too-fast"):
        robot.answer = answer
        try:
            sender.send_dingtalk(robot.dingtalk_url, SECRET, MESSAGE)
        except DeliveryError as error:
            errors.append(error)
        sender.limiter = RateLimiter()  # undo the pause after "too fast"
    assert len(errors) == 5
    shown = " ".join([*(f"{e} {e!r}" for e in errors), caplog.text])
    assert SECRET not in shown and DINGTALK_TOKEN not in shown
    assert "access_token=***" in caplog.text  # the logs still say which kind of robot


# --- the rate limit -------------------------------------------------------------------------


def test_twenty_a_minute_then_wait(robot: RobotServer, sender: RobotSender, clock) -> None:
    start = clock.now
    with sender:
        for _ in range(20):
            assert sender.wait_seconds(robot.wecom_url) == 0
            sender.send_wecom(robot.wecom_url, MESSAGE)
            clock.now += 1
        clock.now = start + 19.5
        assert sender.wait_seconds(robot.wecom_url) == pytest.approx(40.5)
        with pytest.raises(RateLimited) as caught:
            sender.send_wecom(robot.wecom_url, MESSAGE)
        assert caught.value.retry_after == pytest.approx(40.5)
        assert not caught.value.permanent and "每分钟最多发送20条" in caught.value.message
        assert len(robot.received) == 20  # the 21st reached no server
        # Another robot has a budget of its own.
        sender.send_dingtalk(robot.dingtalk_url, SECRET, MESSAGE)
        # The window slides: once the first send is a minute old, one more may go.
        clock.now = start + 60
        assert sender.wait_seconds(robot.wecom_url) == 0
        sender.send_wecom(robot.wecom_url, MESSAGE)
        assert sender.wait_seconds(robot.wecom_url) == pytest.approx(1)
    assert len(robot.received) == 22


def test_failed_sends_count_against_the_limit(robot, sender, clock) -> None:
    # The robot may have counted a request it answered with an error.
    robot.answer = "http-500"
    for _ in range(20):
        with pytest.raises(DeliveryError):
            sender.send_wecom(robot.wecom_url, MESSAGE)
    assert sender.wait_seconds(robot.wecom_url) == 60


def test_the_limiter_is_shared_between_senders(clock: FakeClock) -> None:
    limiter = RateLimiter(per_minute=2, clock=clock)
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"
    assert limiter.acquire(url) == 0 and limiter.acquire(url) == 0
    assert RobotSender(limiter=limiter).wait_seconds(url) == 60
    assert RobotSender(limiter=limiter).wait_seconds(f" {url} ") == 60


def test_the_limiter_is_thread_safe(clock: FakeClock) -> None:
    limiter = RateLimiter(clock=clock)
    granted: list[float] = []
    threads = [
        threading.Thread(target=lambda: granted.extend(limiter.acquire("u") for _ in range(10)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(0) == 20


def test_default_senders_share_one_limiter() -> None:
    assert RobotSender().limiter is RobotSender().limiter


# --- validation and masking -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", None),
        ("https://oapi.dingtalk.com/robot/send?access_token=abc", None),
        ("http://10.1.2.3:8080/robot/send?access_token=abc", None),  # an intranet relay
        ("ftp://robot.example.cn/", "须以 https:// 或 http:// 开头"),
        ("qyapi.weixin.qq.com/cgi-bin/webhook/send", "须以 https:// 或 http:// 开头"),
        ("https:///send", "缺少主机名"),
        ("https://robot.example.cn/send?key=a b", "不能包含空格"),
        ("https://robot.example.cn:99999/", "格式不正确"),
        ("https://user:pw@robot.example.cn/", "不应包含用户名或密码"),
        ("https://robot.example.cn/?" + "k" * 500, "不能超过500个字符"),
    ],
)
def test_validate_webhook(url: str, problem: str | None) -> None:
    result = validate_webhook(url)
    assert result == problem if problem is None else problem in result


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (SECRET, None),
        ("5a3ecf88f2b3eb50db30", "应以 SEC 开头"),
        ("sec5a3ecf88f2b3eb50db30", "应以 SEC 开头"),
        ("SEC", "格式不正确"),
        ("SEC5a3e cf88", "格式不正确"),
        ("SEC密钥", "格式不正确"),
        ("SEC" + "a" * 200, "不能超过200个字符"),
    ],
)
def test_validate_dingtalk_secret(secret: str, problem: str | None) -> None:
    result = validate_dingtalk_secret(secret)
    assert result == problem if problem is None else problem in result


def test_mask_url_hides_keys_tokens_and_signatures() -> None:
    signed = dingtalk_signed_url(f"https://oapi.dingtalk.com/robot/send?access_token="
                                 f"{DINGTALK_TOKEN}", SECRET, NOW_MS)  # fmt: skip
    masked = mask_url(signed)
    assert masked == (
        f"https://oapi.dingtalk.com/robot/send?access_token=***&timestamp={NOW_MS}&sign=***"
    )
    wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key="
    assert mask_url(f"{wecom}{WECOM_KEY}", keep=4) == f"{wecom}***5aaa"


def test_errors_carry_no_urllib_exception_with_the_url(robot, sender) -> None:
    # urllib's HTTPError keeps the full signed URL; it must not travel with our error.
    robot.answer = "http-500"
    with pytest.raises(DeliveryError) as caught:
        sender.send_dingtalk(robot.dingtalk_url, SECRET, MESSAGE)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
