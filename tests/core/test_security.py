from datetime import UTC, datetime, timedelta

import pytest

from app.core.security import (
    AddressPolicy,
    AddressState,
    LockoutPolicy,
    SessionEnd,
    SessionPolicy,
    after_address_failure,
    after_failed_login,
    is_locked,
    password_change_reason,
    password_problems,
    safe_next_path,
    session_end,
)

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "password", ["Abcdefg1", "abc-defg1", "ABC_DEF_1", "Zz9!zzzz", "长密码Abc12345", "密码abcd1234"]
)
def test_strong_passwords_pass(password: str) -> None:
    assert password_problems(password) == []


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("Ab1!", "至少8位"),
        ("Abcdef1", "至少8位"),  # 7 characters, three classes
        ("abcdefgh", "至少三类"),
        ("abcdefg1", "至少三类"),  # two classes
        ("ABCDEFGH12", "至少三类"),
        ("abc!@#$%", "至少三类"),
        ("A" * 64 + "b1!" * 30, "不能超过"),
    ],
)
def test_weak_passwords_are_explained(password: str, fragment: str) -> None:
    assert any(fragment in problem for problem in password_problems(password))


def test_eight_characters_of_three_classes_is_the_minimum() -> None:
    assert password_problems("Abcdefg1") == []
    assert password_problems("Abcdef1") != []


@pytest.mark.parametrize("password", ["Coord1-x!", "my-COORD1-Pass", "xx_coord1_YY"])
def test_a_password_may_not_contain_the_login(password: str) -> None:
    assert password_problems(password) == []
    assert password_problems(password, "coord1") == ["密码不能与用户名相同，也不能包含用户名。"]


def test_a_password_equal_to_a_short_login_is_refused_but_may_contain_it() -> None:
    assert password_problems("Li-pass-1", "li") == []
    assert "不能与用户名相同" in password_problems("Ab", "ab")[-1]


def test_a_new_or_reset_password_must_be_changed() -> None:
    reason = password_change_reason(must_change=True, changed_at=NOW, now=NOW, max_age_days=90)
    assert reason is not None and "首次登录" in reason


def test_a_password_expires_after_its_maximum_age() -> None:
    def reason(age: timedelta, max_age: int = 90) -> str | None:
        return password_change_reason(
            must_change=False, changed_at=NOW - age, now=NOW, max_age_days=max_age
        )

    assert reason(timedelta(days=89, hours=23)) is None
    assert "超过90天" in reason(timedelta(days=90))
    assert reason(timedelta(days=3650), max_age=0) is None  # 0: passwords never expire
    unknown = password_change_reason(must_change=False, changed_at=None, now=NOW, max_age_days=90)
    assert unknown is not None


def test_failures_count_up_then_lock() -> None:
    policy = LockoutPolicy(max_failures=5, lock_minutes=15)
    failed = 0
    for _ in range(4):
        state = after_failed_login(failed, policy, NOW)
        assert state.locked_until is None
        failed = state.failed_logins
    assert failed == 4
    state = after_failed_login(failed, policy, NOW)
    assert state.locked_until == NOW + timedelta(minutes=15)
    assert state.failed_logins == 0


def test_lock_expires() -> None:
    until = NOW + timedelta(minutes=15)
    assert is_locked(until, NOW)
    assert not is_locked(until, until)
    assert not is_locked(None, NOW)


ADDRESS = AddressPolicy(max_failures=20, window_minutes=15, lock_minutes=15)


def test_an_address_is_locked_after_its_failures_within_the_window() -> None:
    state = AddressState(0, None, None)
    for n in range(19):
        state = after_address_failure(state, ADDRESS, NOW + timedelta(seconds=n))
        assert state.locked_until is None
    assert (state.failures, state.window_start) == (19, NOW)
    later = NOW + timedelta(minutes=14)
    state = after_address_failure(state, ADDRESS, later)
    assert state.locked_until == later + timedelta(minutes=15) and state.failures == 0


def test_failures_spread_beyond_the_window_do_not_lock() -> None:
    state = AddressState(19, NOW, None)
    later = NOW + timedelta(minutes=15)
    state = after_address_failure(state, ADDRESS, later)
    assert state == AddressState(1, later, None)


def test_the_address_rule_can_be_turned_off() -> None:
    assert ADDRESS.enabled and not AddressPolicy(0, 15, 15).enabled


SESSIONS = SessionPolicy(idle_minutes=30, absolute_hours=12)


@pytest.mark.parametrize(
    ("signed_in_ago", "seen_ago", "expected"),
    [
        (timedelta(hours=1), timedelta(minutes=29), None),
        (timedelta(hours=1), timedelta(minutes=30), SessionEnd.IDLE),
        (timedelta(hours=11, minutes=59), timedelta(minutes=1), None),
        (timedelta(hours=12), timedelta(seconds=5), SessionEnd.ABSOLUTE),
        (None, timedelta(seconds=5), SessionEnd.ABSOLUTE),
        (timedelta(hours=1), None, SessionEnd.IDLE),
    ],
)
def test_sessions_end_when_idle_or_too_old(signed_in_ago, seen_ago, expected) -> None:
    assert (
        session_end(
            signed_in_at=NOW - signed_in_ago if signed_in_ago is not None else None,
            last_seen=NOW - seen_ago if seen_ago is not None else None,
            now=NOW,
            policy=SESSIONS,
        )
        == expected
    )


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
