"""Configuration defaults.

Order of precedence (lowest first): these defaults, <instance>/config.py, LUOSHI_* environment
variables, then the mapping handed to create_app() by tests.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
INSECURE_SECRET_KEY = "dev-insecure-secret-key-change-me"

DEFAULTS: dict[str, object] = {
    "SECRET_KEY": INSECURE_SECRET_KEY,
    # Filled in by create_app() from the instance path when left empty.
    "DATABASE_URL": "",
    "MAIL_BACKEND": "file",
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 25,
    "SMTP_USER": "",
    "SMTP_PASSWORD": "",
    "SMTP_STARTTLS": False,
    "SMTP_SSL": False,
    "MAIL_FROM": "luoshi@localhost",
    "BASE_URL": "http://127.0.0.1:5000",
    "TIMEZONE": "Asia/Shanghai",
    "SCHEDULER": False,
    # The scheduler process (`flask scheduler`): a tick every this many seconds; a standby
    # checks this often whether the leader is gone.
    "SCHEDULER_TICK_SECONDS": 300,
    "SCHEDULER_STANDBY_SECONDS": 30,
    # Sessions: no remember-me cookie, a cookie that scripts cannot read, sent first-party only.
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # None: Secure exactly when BASE_URL is https:// (production); http://127.0.0.1 in
    # development gets a cookie the browser will send back. True/False force it.
    "SESSION_COOKIE_SECURE": None,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    # 等保2.0 level 2 (app/core/security.py): a session ends after this many idle minutes and
    # this many hours after sign-in, whichever comes first.
    "SESSION_IDLE_MINUTES": 30,
    "SESSION_ABSOLUTE_HOURS": 12,
    # A password must be changed after this many days (0: never).
    "PASSWORD_MAX_AGE_DAYS": 90,
    # A form left open over lunch must still submit: tie the CSRF token to the session instead.
    "WTF_CSRF_TIME_LIMIT": None,
    # WTForms' own translations (Flask-WTF's need Babel); the forms ask for Chinese.
    "WTF_I18N_ENABLED": False,
    # Attachments may be 20 MB each (checked per file); the request may carry several.
    "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
    # Lockout per account: this many failed logins in a row lock it for this many minutes.
    "LOCKOUT_FAILURES": 5,
    "LOCKOUT_MINUTES": 15,
    # Lockout per source address: this many failed logins from one address within the window
    # lock that address, for every account, for this many minutes (failures 0: off).
    "LOCKOUT_ADDRESS_FAILURES": 20,
    "LOCKOUT_ADDRESS_WINDOW_MINUTES": 15,
    "LOCKOUT_ADDRESS_MINUTES": 15,
    "PAGE_SIZE": 50,
    # A production start (gunicorn, `make run-prod`) refuses the default SECRET_KEY.
    "PRODUCTION": False,
    # Reverse proxies in front that set X-Forwarded-For/-Proto/-Host (nginx: 1). 0 trusts none:
    # behind a proxy that would make every visitor 127.0.0.1 to the lockout and the audit.
    "PROXY_HOPS": 0,
}


def instance_path() -> str:
    """The instance folder: LUOSHI_INSTANCE_PATH, or instance/ beside the package."""
    configured = os.environ.get("LUOSHI_INSTANCE_PATH")
    return str(Path(configured).resolve()) if configured else str(REPO_ROOT / "instance")


def default_database_url(instance: str) -> str:
    """The embedded default database, inside the instance folder."""
    return f"sqlite:///{Path(instance) / 'luoshi.sqlite3'}"
