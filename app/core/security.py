"""Rules for passwords, login throttling, session lifetimes and redirects (等保2.0 level 2).

Everything here is pure: "now" is a parameter, and the settings come in as small dataclasses
built from the app's configuration.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MIN_CHARACTER_CLASSES = 3
# Logins shorter than this are too common as substrings to forbid inside a password.
MIN_LOGIN_LENGTH_TO_CHECK_CONTAINED = 3


def password_problems(password: str, login: str | None = None) -> list[str]:
    """Why PASSWORD is too weak for the account LOGIN (empty when it is acceptable).

    At least 8 characters, at most 128, from at least three of the four classes (lower case,
    upper case, digits, anything else), and not the login name nor containing it.
    """
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"密码至少{MIN_PASSWORD_LENGTH}位。")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"密码不能超过{MAX_PASSWORD_LENGTH}位。")
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c in string.digits for c in password),
        any(not (c.isascii() and c.isalnum()) for c in password),
    ]
    if sum(classes) < MIN_CHARACTER_CLASSES:
        problems.append("密码须包含大写字母、小写字母、数字、符号中的至少三类。")
    name = (login or "").strip().casefold()
    folded = password.casefold()
    if name and (
        folded == name or (len(name) >= MIN_LOGIN_LENGTH_TO_CHECK_CONTAINED and name in folded)
    ):
        problems.append("密码不能与用户名相同，也不能包含用户名。")
    return problems


# -- forced password change -------------------------------------------------------------------


def password_change_reason(
    *, must_change: bool, changed_at: datetime | None, now: datetime, max_age_days: int
) -> str | None:
    """Why the user must change their password before doing anything else (None: no need).

    MUST_CHANGE is set for accounts an administrator created or reset. A password older than
    MAX_AGE_DAYS (0: passwords never expire), or of unknown age, has expired.
    """
    if must_change:
        return "首次登录或密码被重置后，须先修改密码。"
    if max_age_days > 0 and (
        changed_at is None or now - changed_at >= timedelta(days=max_age_days)
    ):
        return f"密码已超过{max_age_days}天未修改，须先修改密码。"
    return None


# -- lockout per account ------------------------------------------------------------------------


@dataclass(frozen=True)
class LockoutPolicy:
    """An account is locked for LOCK_MINUTES after MAX_FAILURES failed logins in a row."""

    max_failures: int
    lock_minutes: int


@dataclass(frozen=True)
class FailureState:
    failed_logins: int
    locked_until: datetime | None


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """Whether something locked until LOCKED_UNTIL is still locked at NOW."""
    return locked_until is not None and now < locked_until


def after_failed_login(failed_logins: int, policy: LockoutPolicy, now: datetime) -> FailureState:
    """The account's state after one more failed login; the Nth failure locks it."""
    failed = failed_logins + 1
    if failed >= policy.max_failures:
        return FailureState(0, now + timedelta(minutes=policy.lock_minutes))
    return FailureState(failed, None)


# -- lockout per source address -----------------------------------------------------------------


@dataclass(frozen=True)
class AddressPolicy:
    """An address is locked for LOCK_MINUTES, for every account, after MAX_FAILURES failed
    logins within WINDOW_MINUTES. MAX_FAILURES 0 turns the rule off."""

    max_failures: int
    window_minutes: int
    lock_minutes: int

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0


@dataclass(frozen=True)
class AddressState:
    failures: int
    window_start: datetime | None
    locked_until: datetime | None


def after_address_failure(
    state: AddressState, policy: AddressPolicy, now: datetime
) -> AddressState:
    """The address's state after one more failed login from it.

    Failures are counted in a window that opens with the first failure; a failure after the
    window has closed opens a new one. The failure that reaches MAX_FAILURES locks the address
    and starts the count afresh.
    """
    window_open = state.window_start is not None and now - state.window_start < timedelta(
        minutes=policy.window_minutes
    )
    failures, start = (state.failures + 1, state.window_start) if window_open else (1, now)
    if failures >= policy.max_failures:
        return AddressState(0, None, now + timedelta(minutes=policy.lock_minutes))
    return AddressState(failures, start, state.locked_until)


# -- web sessions -----------------------------------------------------------------------------


class SessionEnd(StrEnum):
    IDLE = "idle"
    ABSOLUTE = "absolute"


@dataclass(frozen=True)
class SessionPolicy:
    """A session ends after IDLE_MINUTES without a request, and ABSOLUTE_HOURS after sign-in."""

    idle_minutes: int
    absolute_hours: int


def session_end(
    *,
    signed_in_at: datetime | None,
    last_seen: datetime | None,
    now: datetime,
    policy: SessionPolicy,
) -> SessionEnd | None:
    """Why a session must end at NOW (None: it may go on).

    A session that does not know when it began or was last used (one made before these rules,
    or tampered with) has ended.
    """
    if signed_in_at is None or now - signed_in_at >= timedelta(hours=policy.absolute_hours):
        return SessionEnd.ABSOLUTE
    if last_seen is None or now - last_seen >= timedelta(minutes=policy.idle_minutes):
        return SessionEnd.IDLE
    return None


# -- redirects ------------------------------------------------------------------------------


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
