"""Rules for passwords, login throttling and redirects."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def password_problems(password: str) -> list[str]:
    """Why PASSWORD is too weak (empty when it is acceptable)."""
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"密码至少{MIN_PASSWORD_LENGTH}位。")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"密码不能超过{MAX_PASSWORD_LENGTH}位。")
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c in string.digits for c in password),
        any(not c.isalnum() for c in password),
    ]
    if sum(classes) < 3:
        problems.append("密码须包含大写字母、小写字母、数字、符号中的至少三类。")
    return problems


@dataclass(frozen=True)
class LoginThrottle:
    max_failures: int
    lock_minutes: int


@dataclass(frozen=True)
class FailureState:
    failed_logins: int
    locked_until: datetime | None


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """Whether an account locked until LOCKED_UNTIL is still locked at NOW."""
    return locked_until is not None and now < locked_until


def after_failed_login(failed_logins: int, throttle: LoginThrottle, now: datetime) -> FailureState:
    """The account's state after one more failed login; the Nth failure locks it."""
    failed = failed_logins + 1
    if failed >= throttle.max_failures:
        return FailureState(0, now + timedelta(minutes=throttle.lock_minutes))
    return FailureState(failed, None)


def safe_next_path(target: str | None) -> str | None:
    """TARGET when it is a path on this site (no scheme, no host), else None.

    Browsers treat "//evil" and "/\\evil" as another host, so both are refused.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch in target for ch in "\r\n\t\\"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
