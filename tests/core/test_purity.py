"""app/core is pure: it imports nothing from Flask, the database, mail, Word or the rest of app."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "app" / "core"
FORBIDDEN_ROOTS = {
    "flask", "flask_login", "flask_wtf", "werkzeug", "sqlmodel", "sqlalchemy", "alembic",
    "psycopg", "smtplib", "docx", "openpyxl", "requests", "apscheduler",
}  # fmt: skip


def imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def violations(source: str) -> list[str]:
    bad = []
    for module in imported_modules(source):
        root = module.split(".")[0]
        if root in FORBIDDEN_ROOTS or (root == "app" and not module.startswith("app.core")):
            bad.append(module)
    return sorted(bad)


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


def test_core_has_modules() -> None:
    assert len(list(CORE.rglob("*.py"))) >= 5


@pytest.mark.parametrize(
    "source",
    [
        "import flask",
        "from sqlmodel import Session",
        "import smtplib",
        "from docx import Document",
        "from app.models import Task",
        "from app import db",
        "import sqlalchemy.orm",
    ],
)
def test_the_guard_catches_impure_imports(source: str) -> None:
    assert violations(source)


def test_the_guard_allows_core_and_stdlib() -> None:
    assert violations("from app.core.roles import Role\nimport datetime\nfrom . import x") == []
