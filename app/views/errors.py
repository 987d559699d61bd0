"""Error pages in Chinese, and the security headers of every response."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, render_template
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from app.db import database_unavailable

log = logging.getLogger(__name__)
# How long a browser or a load balancer should wait before trying again.
RETRY_AFTER_SECONDS = 30

MESSAGES = {
    400: ("请求无效", "提交的内容无法处理，请返回后重试。"),
    403: ("无权访问", "您的账号没有访问此页面的权限。"),
    404: ("页面不存在", "您要找的页面不存在，或您无权查看。"),
    405: ("请求方式不支持", "此页面不支持该操作方式。"),
    413: ("文件过大", "上传的内容超过大小限制（单个文件不超过20MB）。"),
    503: (
        "系统暂时无法使用",
        "数据库暂时无法连接，本次请求没有完成（提交的内容没有保存）。"
        "请稍候片刻后刷新页面重试；如持续出现，请联系系统管理员。",
    ),
    500: ("系统错误", "系统出现错误，已记录，请稍后重试或联系管理员。"),
}

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Register the handlers and the header hook."""
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_error)
    app.after_request(_security_headers)


def _render(code: int, title: str, message: str):
    return render_template("errors/error.html", code=code, title=title, message=message), code


def _csrf_error(_error: CSRFError):
    return _render(400, "表单已失效", "表单校验失败（页面可能已过期），请刷新页面后重新提交。")


def _http_error(error: HTTPException):
    code = error.code or 500
    title, message = MESSAGES.get(code, (error.name, error.description or ""))
    return _render(code, title, message)


def _database_error(error: DBAPIError):
    """503 while the database cannot be reached (stopped, restarting, a lost connection, an
    SQLite file locked past the busy timeout): the request's transaction is rolled back at
    teardown, so nothing of it was kept, and the pool's pre-ping reconnects once the server
    is back. Any other database error is a bug: re-raised, it becomes a logged 500."""
    if not database_unavailable(error):
        raise error
    log.warning("database unavailable: %s", error.orig)
    # The page must not touch the database again: no user to load for the layout.
    g._login_user = AnonymousUserMixin()
    title, message = MESSAGES[503]
    response = _render(503, title, message)
    return response[0], 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
