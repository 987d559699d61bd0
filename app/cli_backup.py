"""flask backup / flask restore: the whole installation (database and attachments) in one file.

The work is in app/services/backup.py; here are the options, the confirmation and the report.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.clock import utcnow
from app.core.timefmt import format_datetime_cn
from app.db import get_engine
from app.services import backup as backup_service
from app.services.backup import BackupError, Manifest, RestoreIncompleteError

UNCHANGED = "当前数据未做任何更改。"


@click.command("backup")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="备份文件（.tar.gz），内含数据库、附件和校验清单。")  # fmt: skip
@click.option("--force", is_flag=True, help="覆盖已存在的同名文件。")
@with_appcontext
def backup_command(output: Path, force: bool) -> None:
    """Back up the database and the attachments into one .tar.gz file."""
    try:
        result = backup_service.create_backup(
            get_engine(), instance_path=current_app.instance_path, target=output,
            now=utcnow(), overwrite=force,
        )  # fmt: skip
    except BackupError as error:
        raise click.ClickException(error.message) from None
    manifest = result.manifest
    click.echo(f"已备份到 {result.path}（{_size(result.size)}）")
    click.echo(_summary(manifest))


@click.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="不再询问，直接恢复（将替换当前全部数据和附件）。")
@with_appcontext
def restore_command(file: Path, yes: bool) -> None:
    """Replace all data and attachments with those of a backup made by `flask backup`."""
    engine = get_engine()
    try:
        with backup_service.open_backup(
            file, engine=engine, instance_path=current_app.instance_path
        ) as staged:
            manifest = staged.manifest
            click.echo(f"备份文件校验通过：{file}")
            click.echo(_summary(manifest))
            if not yes and not _confirmed():
                raise click.ClickException(f"已取消。{UNCHANGED}")
            result = backup_service.restore_backup(staged, engine=engine)
    except BackupError as error:
        raise click.ClickException(f"{error.message}\n{UNCHANGED}") from None
    except RestoreIncompleteError as error:
        raise click.ClickException(error.message) from None
    click.echo("已恢复：")
    for name, count in sorted(result.manifest.tables.items()):
        click.echo(f"  {name:<28}{count:>10} 行")
    click.echo(f"  附件{result.manifest.attachments:>32} 个")
    if result.upgraded_to:
        click.echo(
            f"数据库已从备份时的版本 {manifest.alembic_revision} 迁移到当前版本 "
            f"{result.upgraded_to}。"
        )


def _confirmed() -> bool:
    try:
        return click.confirm(
            "恢复将用备份替换当前全部数据和附件，当前数据不会保留。是否继续？", default=False
        )
    except click.Abort:  # no terminal to answer (stdin closed) or Ctrl+C: the answer is no
        click.echo()
        return False


def _summary(manifest: Manifest) -> str:
    created = format_datetime_cn(manifest.created_at, current_app.config["TIMEZONE"])
    tables = len(manifest.tables)
    return (
        f"备份时间：{created}；程序版本：{manifest.app_version or '未知'}；"
        f"数据库：{backup_service.DIALECT_LABELS[manifest.dialect]}（版本 "
        f"{manifest.alembic_revision}）；数据表 {tables} 张，共 {manifest.total_rows} 行；"
        f"附件 {manifest.attachments} 个。"
    )


def _size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
