"""flask holidays: the working-day calendar from the command line (seed, import)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from app.core.errors import DomainError
from app.db import session_scope
from app.services import holidays as holiday_service

holidays_cli = AppGroup("holidays", help="工作日历：法定节假日与调休上班日。")

FIRST_SEED_YEAR = 2022


@holidays_cli.command("seed")
@click.option("--from-year", type=int, default=FIRST_SEED_YEAR, show_default=True)
@click.option("--to-year", type=int, default=None, help="默认：日历库收录的最后一年。")
def seed(from_year: int, to_year: int | None) -> None:
    """Fill the calendar from the bundled chinese-calendar library (safe to run again)."""
    to_year = to_year if to_year is not None else holiday_service.library_years()[-1]
    if to_year < from_year:
        raise click.UsageError("--to-year 不能早于 --from-year。")
    try:
        with session_scope() as session:
            count = holiday_service.seed_from_library(session, range(from_year, to_year + 1))
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"已导入{from_year}—{to_year}年：{count}天有新增或更正。")


@holidays_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_file(file: Path) -> None:
    """Import FILE (UTF-8, one day a line: 2027-01-01,休,元旦); all lines or none."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException("文件不是 UTF-8 编码，请另存为 UTF-8 后重试。") from None
    try:
        with session_scope() as session:
            result = holiday_service.import_lines(session, text, actor=None)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"已导入：新增{result.added}天，修改{result.updated}天，{result.unchanged}天无变化。"
    )
