"""落实 Luoshi: the application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.config import (
    DEFAULTS,
    INSECURE_SECRET_KEY,
    REPO_ROOT,
    default_database_url,
    instance_path,
)


class DatabaseIdConverter(IntegerConverter):
    """<int:…> limited to what an INTEGER column holds: a larger number is no id of ours, so
    it is a 404 rather than an overflow in the database driver."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def _refuse_an_unsafe_production_start(app: Flask) -> None:
    """Anyone who knows the default key can forge sessions: never serve with it."""
    key = str(app.config.get("SECRET_KEY") or "")
    if app.config["PRODUCTION"] and (key == INSECURE_SECRET_KEY or len(key) < 32):
        raise RuntimeError(
            "生产环境拒绝启动：SECRET_KEY 为默认值或过短（至少32个字符）。请运行 "
            "`flask instance init` 或在 instance/config.py / LUOSHI_SECRET_KEY 中设置随机密钥。 "
            "(Refusing to start in production with the default or a short SECRET_KEY.)"
        )


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, database, blueprints, CLI. No other side effects."""
    app = Flask(
        __name__,
        instance_path=(test_config or {}).get("INSTANCE_PATH") or instance_path(),
        instance_relative_config=True,
        template_folder=str(REPO_ROOT / "templates"),
    )
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("LUOSHI")
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = default_database_url(app.instance_path)
    _refuse_an_unsafe_production_start(app)
    if int(app.config["PROXY_HOPS"]) > 0:
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from app import access, cli, db, templating, views
    from app.extensions import csrf, login_manager

    csrf.init_app(app)
    login_manager.init_app(app)
    access.init_app(app)
    db.init_app(app)
    # Before the routes are added: their <int:…> parts compile with the converter in force.
    app.url_map.converters["int"] = DatabaseIdConverter
    views.register_blueprints(app)
    templating.init_app(app)
    cli.init_app(app)
    return app
