from datetime import UTC, datetime, timedelta

import pytest

from app.core.security import (
    LoginThrottle,
    after_failed_login,
    is_locked,
    password_problems,
    safe_next_path,
)

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "password", ["Abcdefg1", "abc-defg1", "ABC_DEF_1", "Zz9!zzzz", "长密码Abc12345"]
)
def test_strong_passwords_pass(password: str) -> None:
    assert password_problems(password) == []


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("Ab1!", "至少8位"),
        ("abcdefgh", "至少三类"),
        ("abcdefg1", "至少三类"),
        ("ABCDEFGH12", "至少三类"),
        ("A" * 64 + "b1!" * 30, "不能超过"),
    ],
)
def test_weak_passwords_are_explained(password: str, fragment: str) -> None:
    assert any(fragment in problem for problem in password_problems(password))


def test_failures_count_up_then_lock() -> None:
    throttle = LoginThrottle(max_failures=5, lock_minutes=15)
    failed = 0
    for _ in range(4):
        state = after_failed_login(failed, throttle, NOW)
        assert state.locked_until is None
        failed = state.failed_logins
    assert failed == 4
    state = after_failed_login(failed, throttle, NOW)
    assert state.locked_until == NOW + timedelta(minutes=15)
    assert state.failed_logins == 0


def test_lock_expires() -> None:
    until = NOW + timedelta(minutes=15)
    assert is_locked(until, NOW)
    assert not is_locked(until, until)
    assert not is_locked(None, NOW)


@pytest.mark.parametrize("target", ["/", "/tasks/3", "/tasks/?q=信访&page=2"])
def test_local_next_paths_are_kept(target: str) -> None:
    assert safe_next_path(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None, "", "http://evil.example/", "https://evil.example/x", "//evil.example/",
        "/\\evil.example", "\\\\evil", "javascript:alert(1)", "tasks/3", "/tasks\r\nSet-Cookie: x",
        "///evil.example",
    ],
)  # fmt: skip
def test_foreign_next_targets_are_refused(target) -> None:
    assert safe_next_path(target) is None
