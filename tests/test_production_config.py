"""A production start: no default secret key, and the client's address seen through the proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import request

from app import create_app
from app.config import INSECURE_SECRET_KEY


def make(tmp_path: Path, **config):
    database = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    return create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                       "DATABASE_URL": database, **config})  # fmt: skip


@pytest.mark.parametrize("key", [INSECURE_SECRET_KEY, "short-key", ""])
def test_production_refuses_a_default_or_short_secret_key(tmp_path: Path, key: str) -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        make(tmp_path, PRODUCTION=True, SECRET_KEY=key)


def test_production_starts_with_a_real_key_and_development_with_any(tmp_path: Path) -> None:
    assert make(tmp_path, PRODUCTION=True, SECRET_KEY="k" * 48).config["PRODUCTION"]
    assert make(tmp_path, SECRET_KEY=INSECURE_SECRET_KEY)  # make run / tests: allowed


def test_production_flag_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LUOSHI_PRODUCTION", "true")
    monkeypatch.setenv("LUOSHI_SECRET_KEY", INSECURE_SECRET_KEY)
    with pytest.raises(RuntimeError):
        create_app({"INSTANCE_PATH": str(tmp_path / "i"),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'y.sqlite3'}"})  # fmt: skip


def seen_address(app) -> str:
    @app.route("/_whoami")
    def whoami() -> str:
        return f"{request.remote_addr} {request.scheme}"

    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    client = app.test_client()
    response = client.get("/_whoami", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    return response.get_data(as_text=True)


def test_behind_one_proxy_the_client_address_is_the_forwarded_one(tmp_path: Path) -> None:
    assert seen_address(make(tmp_path, PROXY_HOPS=1, SECRET_KEY="x")) == "203.0.113.7 https"


def test_without_a_proxy_forwarded_headers_are_not_trusted(tmp_path: Path) -> None:
    assert seen_address(make(tmp_path, SECRET_KEY="x")) == "127.0.0.1 http"
