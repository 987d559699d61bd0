"""The mail backend named by the config: files under <instance>/mail, or SMTP."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.notify.smtp import FileSender, SmtpSender


def make_sender(config: Mapping[str, Any], instance_path: str) -> FileSender | SmtpSender:
    """MAIL_BACKEND=file (the default: .eml files, no server needed) or smtp."""
    if config["MAIL_BACKEND"] == "smtp":
        return SmtpSender(
            host=config["SMTP_HOST"], port=int(config["SMTP_PORT"]),
            user=config["SMTP_USER"] or None, password=config["SMTP_PASSWORD"] or None,
            starttls=bool(config["SMTP_STARTTLS"]), ssl=bool(config["SMTP_SSL"]),
        )  # fmt: skip
    return FileSender(Path(instance_path) / "mail")


def mail_domain(config: Mapping[str, Any]) -> str:
    """The domain of Message-IDs: the sender's."""
    return str(config["MAIL_FROM"]).rpartition("@")[2] or "localhost"
