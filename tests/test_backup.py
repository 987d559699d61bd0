"""flask backup / flask restore, on every database backend: a restore brings back every row of
every table and every attachment byte for byte; a damaged, foreign or incompatible backup is
refused with a Chinese message and changes nothing; a failure halfway puts everything back."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

from app import create_app
from app.db import dispose, get_engine
from app.models import (
    Attachment,
    AuditEvent,
    Commitment,
    CommitmentProblem,
    DeadlineChange,
    ExtensionRequest,
    Holiday,
    ImportDraft,
    Outbox,
    Outcome,
    Problem,
    ProgressUpdate,
    ReportDraft,
    ReportDraftVersion,
    Setting,
    Task,
    TaskComment,
    Unit,
    User,
)
from app.services import attachments, audit
from app.services import backup as backup_service
from tests import factories
from tests.conftest import TEST_DATABASE_URL
from tests.dbutil import fresh_postgres_url, migrate
from tests.test_attachments import pdf_bytes, png_bytes

NOW = datetime(2026, 6, 30, 2, 30, tzinfo=UTC)
PG_TOOLS = ("pg_dump", "pg_restore", "psql")
# A migration older than head that lacks tables head has (report_draft*).
OLD_REVISION = "e10f6871f616"


# -- fixtures and helpers ----------------------------------------------------------------------


def dialect_of(app: Flask) -> str:
    return get_engine(app).dialect.name


@pytest.fixture(autouse=True)
def _postgres_tools(request: pytest.FixtureRequest) -> None:
    """PostgreSQL backups need the client programs; CI must have them, elsewhere we say so."""
    if "database_url" not in request.fixturenames:
        return  # a test that touches no database
    if not request.getfixturevalue("database_url").startswith("postgresql"):
        return
    missing = [tool for tool in PG_TOOLS if shutil.which(tool) is None]
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"CI must install postgresql-client: {', '.join(missing)} not found")
    if missing:
        pytest.skip(f"PostgreSQL client programs not installed: {', '.join(missing)}")


def invoke(app: Flask, *args: str, input: str | None = None) -> Result:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def backup(app: Flask, target: Path) -> Result:
    result = invoke(app, "backup", "-o", str(target))
    assert result.exit_code == 0, result.output
    return result


def restore(app: Flask, source: Path, *extra: str, input: str | None = None) -> Result:
    return invoke(app, "restore", str(source), *extra, input=input)


def uploads_folder(app: Flask) -> Path:
    return Path(app.instance_path) / attachments.UPLOADS_FOLDER


def files(app: Flask) -> dict[str, bytes]:
    folder = uploads_folder(app)
    if not folder.is_dir():
        return {}
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def primary_key_order(table: Table) -> list:
    return list(table.primary_key.columns) or list(table.columns)


def tables(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table (and alembic_version), full rows sorted by primary key."""
    state: dict[str, list[tuple]] = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            query = select(table).order_by(*primary_key_order(table))
            state[table.name] = [tuple(row) for row in connection.execute(query)]
        state["alembic_version"] = [
            tuple(row)
            for row in connection.execute(text("SELECT version_num FROM alembic_version"))
        ]
        connection.rollback()
    return state


def leftovers(app: Flask) -> list[str]:
    """Staging or set-aside folders a restore must never leave behind."""
    folder = Path(app.instance_path)
    if not folder.is_dir():
        return []
    return sorted(name for name in os.listdir(folder) if ".restore-" in name or ".old-" in name)


def add_attachment(db: Session, app: Flask, owner: tuple[str, int], name: str, body: bytes,
                   user: User | None) -> Attachment:  # fmt: skip
    return attachments.save_attachment(
        db, instance_path=app.instance_path, owner_type=owner[0], owner_id=owner[1],
        filename=name, stream=io.BytesIO(body), user=user, now=NOW, ip="10.0.0.8",
    )  # fmt: skip


def populate(db: Session, app: Flask) -> None:
    """A township with a tracked year: a row in every table, attachment files on disk."""
    town = factories.make_township(db)
    unit, offices, head = town["unit"], town["offices"], town["head"]
    coordinator = db.execute(select(User).where(User.login == "coord1")).scalars().one()
    report = factories.make_report(db, unit, 2021)
    report.structure = {"plans": [{"marker": "一是", "lead": "持续加大宣传力度"}]}
    problem = Problem(report_id=report.id, position=0, marker="一是", lead="普法宣传针对性不强",
                      text="一是普法宣传针对性不强，形式较为单一。")  # fmt: skip
    commitment = Commitment(
        report_id=report.id, position=0, marker="一是", lead="持续加大宣传力度",
        text="一是持续加大宣传力度。2022年6月底前开展普法宣传不少于12次。",
        time_phrase="2022年6月底前", office_hint="司法所", source_start=10, source_end=42,
    )  # fmt: skip
    db.add_all([problem, commitment])
    db.flush()
    db.add(CommitmentProblem(commitment_id=commitment.id, problem_id=problem.id))
    task = factories.make_task(
        db, offices["司法所"], "开展普法宣传", commitment=commitment,
        cooperating=[offices["党政办"]], deadline=date(2022, 6, 30),
    )  # fmt: skip
    task.owner_id, task.recurrence, task.description = head.id, "monthly", "每月报送进展。"
    update = ProgressUpdate(task_id=task.id, author_id=head.id, text="开展普法宣传12次。",
                            created_at=NOW)  # fmt: skip
    update.outcomes = [Outcome(metric="开展普法宣传", value=12, unit="次"),
                       Outcome(metric="发放宣传资料", value=1500.5, unit="份")]  # fmt: skip
    db.add_all([
        update,
        DeadlineChange(task_id=task.id, kind="set", new_deadline=date(2022, 6, 30),
                       reason="导入报告时设定", changed_by_id=coordinator.id),
        TaskComment(task_id=task.id, author_id=coordinator.id, kind="urge", text="请抓紧办理。"),
        ExtensionRequest(task_id=task.id, requested_by_id=head.id, old_deadline=date(2022, 6, 30),
                         new_deadline=date(2022, 9, 30), reason="汛期工作冲突。"),
        Outbox(channel="email", kind="reminder", task_id=task.id, office_id=offices["司法所"].id,
               recipient="sfs@example.cn", subject="【催办】开展普法宣传",
               body="请于2022年6月30日前办结。", idempotency_key="reminder:1:2022-06-23"),
        ImportDraft(unit_id=unit.id, year=2022, source_filename="2022年度报告.txt",
                    source_text="下一步打算……", source_sha256="ab" * 32,
                    parsed={"plans": [{"lead": "持续加大宣传力度"}]}, plan={"tasks": [1, 2]}),
        Holiday(day=date(2022, 10, 1), is_workday=False, name="国庆节"),
        Holiday(day=date(2022, 10, 8), is_workday=True, name="国庆节调休"),
        Setting(key="reminder_policy", value={"days_before": [7, 3, 1], "escalate": True},
                updated_by_id=coordinator.id),
    ])  # fmt: skip
    db.flush()
    add_attachment(db, app, ("progress_update", update.id), "现场照片.png", png_bytes(), head)
    add_attachment(db, app, ("task", task.id), "活动方案.pdf", pdf_bytes(), head)
    audit.record(
        db, actor=coordinator, action="task.urge", object_type="task", object_id=task.id,
        before={"status": "assigned"}, after={"note": "请抓紧办理。"}, ip="10.0.0.9",
    )  # fmt: skip
    draft = ReportDraft(unit_id=unit.id, year=2022, source_report_id=report.id,
                        title="关于2022年度法治政府建设情况的报告", current_version=1,
                        created_by_id=coordinator.id)  # fmt: skip
    db.add(draft)
    db.flush()
    content = {"sections": [{"title": "一、工作情况", "items": []}]}
    db.add(ReportDraftVersion(draft_id=draft.id, number=1, kind="generate", note="按任务生成",
                              content=content))  # fmt: skip
    db.commit()
    fill_empty_tables(db)


def fill_empty_tables(db: Session) -> None:
    """One made-up row in each table populate() does not know yet (tables added later), so
    that every table really is backed up and compared."""
    for table in SQLModel.metadata.sorted_tables:
        if db.execute(select(func.count()).select_from(table)).scalar_one():
            continue
        values = {}
        for column in table.columns:
            value = made_up_value(db, column)
            if value is not None:
                values[column.name] = value
        db.execute(insert(table).values(values))
    db.commit()


def made_up_value(db: Session, column) -> Any:
    kind = python_type(column)
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column
        return db.execute(select(target).limit(1)).scalar()
    if column.primary_key and kind is int and column.autoincrement in (True, "auto"):
        return None  # the database numbers it
    samples = {int: 7, float: 2.5, bool: True, str: "203.0.113.7", datetime: NOW,
               date: date(2022, 10, 1), dict: {"样例": [1, "二"]}, bytes: b"\x00\x01"}  # fmt: skip
    return samples.get(kind)


def python_type(column) -> type | None:
    # SQLModel's AutoString and UTCDateTime wrap String and DateTime (TypeDecorator).
    kind = getattr(column.type, "impl_instance", column.type)
    try:
        return kind.python_type
    except NotImplementedError:
        return None


def mutate(db: Session, app: Flask) -> None:
    """Insert, update and delete rows; delete an attachment file and add another."""
    task = db.execute(select(Task).order_by(Task.id)).scalars().first()
    task.title, task.status = "改过的标题", "in_progress"
    db.add(Unit(name="备份后新增的单位"))
    db.add(AuditEvent(action="backup.test", actor_login="tester", after={"x": 1}))
    db.delete(db.execute(select(Holiday)).scalars().first())
    db.delete(db.execute(select(TaskComment)).scalars().first())
    db.commit()
    first = sorted(uploads_folder(app).iterdir())[0]
    first.unlink()
    add_attachment(db, app, ("task", task.id), "新增.pdf", pdf_bytes() + b"\n% later", None)
    db.commit()


@pytest.fixture
def arranged(app: Flask, db: Session) -> dict[str, Any]:
    """Data in every table and files on disk; their state as the backup will see them."""
    populate(db, app)
    db.close()
    state = tables(get_engine(app))
    empty = [name for name, rows in state.items() if not rows]
    assert not empty, f"tables without rows: {empty}"
    return {"tables": state, "files": files(app)}


def unchanged(app: Flask, before: dict[str, Any]) -> None:
    assert tables(get_engine(app)) == before["tables"]
    assert files(app) == before["files"]
    assert leftovers(app) == []


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def repack(path: Path, target: Path, parts: dict[str, bytes], *, rehash: bool = True) -> Path:
    """PARTS as a backup archive (manifest first); REHASH: make the manifest match the parts."""
    manifest = json.loads(parts["manifest.json"])
    if rehash:
        manifest["members"] = {
            name: {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
            for name, body in parts.items()
            if name != "manifest.json"
        }
        manifest["attachments"] = sum(name.startswith("uploads/") for name in manifest["members"])
    parts = {"manifest.json": json.dumps(manifest).encode()} | {
        k: v for k, v in parts.items() if k != "manifest.json"
    }
    with tarfile.open(target, "w:gz") as tar:
        for name, body in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return target


def with_manifest(parts: dict[str, bytes], **changes: Any) -> dict[str, bytes]:
    manifest = json.loads(parts["manifest.json"]) | changes
    return parts | {"manifest.json": json.dumps(manifest).encode()}


# -- the round trip ----------------------------------------------------------------------------


def test_restore_brings_back_every_row_and_every_file(
    app: Flask, db: Session, arranged: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    archive = out / "luoshi-backup.tar.gz"
    result = backup(app, archive)
    assert "已备份到" in result.output and "附件 2 个" in result.output
    assert archive.stat().st_mode & 0o777 == 0o600  # it holds password hashes
    assert list(out.iterdir()) == [archive]  # no scratch folder left beside it

    mutate(db, app)
    db.close()
    assert tables(get_engine(app)) != arranged["tables"]
    assert files(app) != arranged["files"]

    result = restore(app, archive, "--yes")
    assert result.exit_code == 0, result.output
    assert "已恢复" in result.output and "task_comment" in result.output
    unchanged(app, arranged)
    # The sequences came back too: a new row gets a fresh id, not one of the restored ones.
    db.add(Unit(name="恢复后新增的单位"))
    db.commit()
    new_id = db.execute(select(func.max(Unit.id))).scalar_one()
    assert new_id > max(row[0] for row in arranged["tables"]["unit"])


def test_the_manifest_describes_the_archive(app: Flask, arranged: dict, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    backup(app, archive)
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
    parts = members(archive)
    manifest = json.loads(parts["manifest.json"])
    dialect = dialect_of(app)
    database_member = backup_service.DATABASE_MEMBERS[dialect]
    uploads = sorted(f"uploads/{name}" for name in arranged["files"])
    assert names == ["manifest.json", database_member, *uploads]
    assert manifest["format"] == "luoshi-backup" and manifest["format_version"] == 1
    assert manifest["dialect"] == dialect
    assert manifest["alembic_revision"] == backup_service.head_revision()
    assert manifest["app_version"] == backup_service.app_version()
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert manifest["attachments"] == len(arranged["files"])
    for name, body in parts.items():
        if name != "manifest.json":
            assert manifest["members"][name] == {
                "size": len(body), "sha256": hashlib.sha256(body).hexdigest()
            }  # fmt: skip
    expected = {name: len(rows) for name, rows in arranged["tables"].items()}
    assert {name: manifest["tables"][name] for name in expected} == expected
    for name, body in arranged["files"].items():
        assert parts[f"uploads/{name}"] == body


# -- refusals ----------------------------------------------------------------------------------


def flip_middle_byte(archive: Path, target: Path) -> Path:
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def truncate(archive: Path, target: Path) -> Path:
    target.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    return target


def cut_last_bytes(archive: Path, target: Path) -> Path:
    # Only the gzip trailer (CRC and length) goes: every member is still whole.
    target.write_bytes(archive.read_bytes()[:-4])
    return target


def alter_a_file(archive: Path, target: Path) -> Path:
    parts = members(archive)
    name = next(n for n in parts if n.startswith("uploads/"))
    body = bytearray(parts[name])
    body[-1] ^= 0x01  # same size: only the checksum can tell
    return repack(archive, target, parts | {name: bytes(body)}, rehash=False)


def drop_a_file(archive: Path, target: Path) -> Path:
    parts = members(archive)
    name = next(n for n in parts if n.startswith("uploads/"))
    return repack(archive, target, {k: v for k, v in parts.items() if k != name}, rehash=False)


def add_a_file(archive: Path, target: Path) -> Path:
    return repack(archive, target, members(archive) | {"uploads/extra.pdf": b"%PDF"}, rehash=False)


def escape_the_folder(archive: Path, target: Path) -> Path:
    parts = members(archive) | {"uploads/../../evil.txt": b"owned"}
    return repack(archive, target, parts)


def not_gzip(_archive: Path, target: Path) -> Path:
    target.write_bytes(b"PK\x03\x04 this is not a backup")
    return target


def empty(_archive: Path, target: Path) -> Path:
    target.write_bytes(b"")
    return target


def foreign_tar(_archive: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        info = tarfile.TarInfo("etc/passwd")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"root:"))
    return target


def foreign_manifest(archive: Path, target: Path) -> Path:
    parts = members(archive) | {"manifest.json": b'{"format": "something-else"}'}
    return repack(archive, target, parts, rehash=False)


def newer_format(archive: Path, target: Path) -> Path:
    return repack(archive, target, with_manifest(members(archive), format_version=99))


def newer_revision(archive: Path, target: Path) -> Path:
    return repack(archive, target, with_manifest(members(archive), alembic_revision="fff000999"))


def counts_disagree(archive: Path, target: Path) -> Path:
    parts = members(archive)
    tables_ = json.loads(parts["manifest.json"])["tables"]
    return repack(archive, target, with_manifest(parts, tables=tables_ | {"unit": 99}))


DAMAGE: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "one byte changed": (flip_middle_byte, "损坏"),
    "truncated": (truncate, "损坏"),
    "gzip trailer missing": (cut_last_bytes, "不完整"),
    "a file altered": (alter_a_file, "SHA-256 校验值与清单不符"),
    "a file missing": (drop_a_file, "缺少 1 个文件"),
    "a file added": (add_a_file, "清单以外的文件"),
    "a name leading out of the folder": (escape_the_folder, "不应包含的文件"),
    "not a gzip file": (not_gzip, "不是有效的 .tar.gz 压缩包"),
    "an empty file": (empty, "不是有效的 .tar.gz 压缩包"),
    "another program's archive": (foreign_tar, "不是本系统（落实）的备份文件"),
    "another program's manifest": (foreign_manifest, "不是本系统（落实）的备份文件"),
    "a newer backup format": (newer_format, "格式版本（99）比本程序新"),
    "a migration this code does not know": (newer_revision, "比本程序新或不为本程序所知"),
    "row counts that disagree with the database": (counts_disagree, "行数或版本不符"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_or_foreign_backup_is_refused_and_nothing_changes(
    app: Flask, arranged: dict, tmp_path: Path, damage: str
) -> None:
    make, message = DAMAGE[damage]
    if damage == "row counts that disagree with the database" and dialect_of(app) != "sqlite":
        message = "恢复数据库失败（已全部回滚，数据未改动）"  # checked inside the transaction
    archive = tmp_path / "good.tar.gz"
    backup(app, archive)
    damaged = make(archive, tmp_path / "damaged.tar.gz")
    result = restore(app, damaged, "--yes")
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "当前数据未做任何更改" in result.output
    unchanged(app, arranged)
    # The good one still restores: the refusals left nothing in the way.
    assert restore(app, archive, "--yes").exit_code == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.tar.gz", "找不到备份文件"), ("backup.zip", "扩展名须为 .tar.gz")],
)
def test_a_missing_file_or_wrong_extension_is_refused(
    app: Flask, arranged: dict, tmp_path: Path, name: str, message: str
) -> None:
    if name.endswith(".zip"):
        (tmp_path / name).write_bytes(b"PK\x03\x04")
    result = restore(app, tmp_path / name, "--yes")
    assert result.exit_code == 1 and message in result.output
    unchanged(app, arranged)


def test_a_backup_of_the_other_database_kind_is_refused(
    app: Flask, arranged: dict, tmp_path: Path
) -> None:
    archive = tmp_path / "mine.tar.gz"
    backup(app, archive)
    parts = members(archive)
    dialect = dialect_of(app)
    other = "postgresql" if dialect == "sqlite" else "sqlite"
    database = parts.pop(backup_service.DATABASE_MEMBERS[dialect])
    parts[backup_service.DATABASE_MEMBERS[other]] = database
    foreign = repack(archive, tmp_path / "other.tar.gz",
                     with_manifest(parts, dialect=other, schema="public"))  # fmt: skip
    result = restore(app, foreign, "--yes")
    assert result.exit_code == 1
    labels = backup_service.DIALECT_LABELS
    assert (
        f"这是 {labels[other]} 数据库的备份，当前配置的是 {labels[dialect]} 数据库" in result.output
    )
    unchanged(app, arranged)


def test_a_real_sqlite_backup_is_refused_by_postgresql(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path, sqlite_template: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the other direction is covered by the crafted manifest above")
    app, arranged = request.getfixturevalue("app"), request.getfixturevalue("arranged")
    shutil.copy(sqlite_template, tmp_path / "other.sqlite3")
    other = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}",
                        "INSTANCE_PATH": str(tmp_path / "other")})  # fmt: skip
    try:
        backup(other, tmp_path / "sqlite.tar.gz")
    finally:
        dispose(other)
    result = restore(app, tmp_path / "sqlite.tar.gz", "--yes")
    assert result.exit_code == 1 and "这是 SQLite 数据库的备份" in result.output
    unchanged(app, arranged)


# -- confirmation, failures halfway ------------------------------------------------------------


def test_restore_asks_first_and_no_means_nothing_changes(
    app: Flask, db: Session, arranged: dict, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar.gz"
    backup(app, archive)
    mutate(db, app)
    db.close()
    changed = {"tables": tables(get_engine(app)), "files": files(app)}
    for answer in ("n\n", None):  # "no", and no answer at all (stdin closed)
        result = restore(app, archive, input=answer)
        assert result.exit_code == 1
        assert "是否继续" in result.output and "已取消" in result.output
        unchanged(app, changed)
    result = restore(app, archive, input="y\n")
    assert result.exit_code == 0, result.output
    unchanged(app, arranged)


def test_a_failure_while_restoring_puts_the_old_data_and_files_back(
    app: Flask, db: Session, arranged: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "b.tar.gz"
    backup(app, archive)
    mutate(db, app)
    db.close()
    changed = {"tables": tables(get_engine(app)), "files": files(app)}
    if dialect_of(app) == "sqlite":

        def fail_midway(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(backup_service, "_match_page_size", fail_midway)
    else:
        # The last statement of the one transaction fails, after the schema was emptied and
        # the dump replayed: all of it must roll back.
        failing = "DO $$ BEGIN RAISE EXCEPTION 'simulated failure'; END $$;\n"
        monkeypatch.setattr(backup_service, "_check_counts_sql", lambda *_: failing)
    result = restore(app, archive, "--yes")
    assert result.exit_code == 1, result.output
    assert "恢复数据库失败" in result.output
    unchanged(app, changed)


def test_restore_waits_for_a_writer_then_gives_up_clearly_on_sqlite(
    app: Flask, arranged: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine_factory
) -> None:
    if dialect_of(app) != "sqlite":
        pytest.skip("SQLite's single writer lock")
    archive = tmp_path / "b.tar.gz"
    backup(app, archive)
    monkeypatch.setattr(backup_service, "SQLITE_BUSY_TIMEOUT_SECONDS", 1)
    writer = engine_factory(str(get_engine(app).url)).connect()
    writer.execute(insert(Unit.__table__).values(name="写到一半", created_at=NOW))  # holds the lock
    try:
        result = restore(app, archive, "--yes")
    finally:
        writer.rollback()
        writer.close()
    assert result.exit_code == 1
    assert "数据库正被其他程序写入" in result.output and "当前数据未做任何更改" in result.output
    unchanged(app, arranged)


# -- live databases ----------------------------------------------------------------------------


def test_restore_while_another_connection_is_open(
    app: Flask, db: Session, arranged: dict, tmp_path: Path, engine_factory
) -> None:
    archive = tmp_path / "b.tar.gz"
    backup(app, archive)
    mutate(db, app)
    db.close()
    url = get_engine(app).url.render_as_string(hide_password=False)
    other = engine_factory(url).execution_options(sqlite_begin="DEFERRED")
    idle = other.connect()
    idle.execute(select(func.count()).select_from(Unit)).scalar_one()
    idle.commit()  # open, between transactions, as a web worker's pooled connection is
    result = restore(app, archive, "--yes")
    assert result.exit_code == 0, result.output
    # The same connection reads the restored data.
    count = idle.execute(select(func.count()).select_from(Unit)).scalar_one()
    assert count == len(arranged["tables"]["unit"])
    idle.close()
    unchanged(app, arranged)


def test_a_sqlite_reader_in_a_transaction_does_not_block_the_restore(
    app: Flask, db: Session, arranged: dict, tmp_path: Path, engine_factory
) -> None:
    if dialect_of(app) != "sqlite":
        pytest.skip("PostgreSQL waits for open transactions (lock_timeout), by design")
    archive = tmp_path / "b.tar.gz"
    backup(app, archive)
    mutate(db, app)
    db.close()
    url = str(get_engine(app).url)
    reader = engine_factory(url).execution_options(sqlite_begin="DEFERRED").connect()
    before = reader.execute(select(func.count()).select_from(Unit)).scalar_one()
    result = restore(app, archive, "--yes")
    assert result.exit_code == 0, result.output
    # Its snapshot is kept until it ends the transaction, then it sees the restored data.
    assert reader.execute(select(func.count()).select_from(Unit)).scalar_one() == before
    reader.commit()
    count = reader.execute(select(func.count()).select_from(Unit)).scalar_one()
    assert count == len(arranged["tables"]["unit"])
    reader.close()
    live = sqlite3.connect(make_url(url).database)
    assert live.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert live.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    live.close()
    unchanged(app, arranged)


def test_a_backup_taken_while_another_thread_writes_is_consistent(
    app: Flask, arranged: dict, tmp_path: Path, engine_factory
) -> None:
    url = get_engine(app).url.render_as_string(hide_password=False)
    writer_engine = engine_factory(url)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                with writer_engine.begin() as connection:
                    connection.execute(insert(AuditEvent.__table__).values(
                        action="backup.concurrent", actor_login="writer", at=NOW,
                        after={"n": len(written)},
                    ))  # fmt: skip
                written.append(1)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(written) < 20:  # the writer is well under way before the backup starts
            time.sleep(0.01)
        during = len(written)
        archive = tmp_path / "live.tar.gz"
        backup(app, archive)
        after = len(written)
        time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert after > during  # the writer kept committing while the backup ran
    manifest = json.loads(members(archive)["manifest.json"])
    if dialect_of(app) == "sqlite":
        copy = tmp_path / "copy.sqlite3"
        copy.write_bytes(members(archive)["database/luoshi.sqlite3"])
        connection = sqlite3.connect(copy)
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count = connection.execute("SELECT count(*) FROM audit_event").fetchone()[0]
        connection.close()
        assert count == manifest["tables"]["audit_event"]
    # Restoring checks every count against the manifest: it must come back exactly.
    result = restore(app, archive, "--yes")
    assert result.exit_code == 0, result.output
    with get_engine(app).connect() as connection:
        count = connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    assert count == manifest["tables"]["audit_event"]
    before = len(arranged["tables"]["audit_event"])
    assert before + during <= count < before + len(written)
    if dialect_of(app) == "sqlite":
        live = sqlite3.connect(make_url(url).database)
        assert live.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        live.close()


@pytest.fixture
def old_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database at OLD_REVISION, with one unit."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        assert TEST_DATABASE_URL
        url = fresh_postgres_url(TEST_DATABASE_URL, "backup_old")
    migrate(url, OLD_REVISION)
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO unit (name, created_at) VALUES ('旧版本的单位', :at)"),
                           {"at": NOW})  # fmt: skip
    engine.dispose()
    yield url
    if not database_url.startswith("sqlite"):
        fresh_postgres_url(TEST_DATABASE_URL, "backup_old", drop_only=True)


def test_an_older_backup_is_restored_then_migrated(
    app: Flask, db: Session, old_database: str, tmp_path: Path
) -> None:
    factories.make_world(db)
    db.close()
    old = create_app({"TESTING": True, "DATABASE_URL": old_database,
                      "INSTANCE_PATH": str(tmp_path / "old")})  # fmt: skip
    try:
        backup(old, tmp_path / "old.tar.gz")
    finally:
        dispose(old)
    result = restore(app, tmp_path / "old.tar.gz", "--yes")
    assert result.exit_code == 0, result.output
    head = backup_service.head_revision()
    assert f"从备份时的版本 {OLD_REVISION} 迁移到当前版本 {head}" in result.output
    state = tables(get_engine(app))
    assert state["alembic_version"] == [(head,)]
    assert [row[1] for row in state["unit"]] == ["旧版本的单位"]
    assert state["report_draft"] == [] and state["task"] == []


# -- making backups ----------------------------------------------------------------------------


def test_backup_refuses_targets_that_would_not_do(app: Flask, tmp_path: Path) -> None:
    existing = tmp_path / "exists.tar.gz"
    existing.write_bytes(b"an older backup")
    cases = {
        str(existing): "文件已存在",
        str(tmp_path / "no-such-dir" / "b.tar.gz"): "目录不存在",
        str(tmp_path / "b.zip"): "扩展名须为 .tar.gz",
    }
    for target, message in cases.items():
        result = invoke(app, "backup", "-o", target)
        assert result.exit_code == 1 and message in result.output, result.output
    assert existing.read_bytes() == b"an older backup"
    result = invoke(app, "backup", "-o", str(existing), "--force")
    assert result.exit_code == 0, result.output
    assert "manifest.json" in members(existing)


def test_a_failed_backup_leaves_no_file(
    app: Flask, arranged: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = backup_service._write_archive

    def write_then_fail(archive: Path, *args: Any) -> None:
        real(archive, *args)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup_service, "_write_archive", write_then_fail)
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(app, "backup", "-o", str(out / "b.tar.gz"))
    assert result.exit_code == 1
    assert "无法写入备份文件：No space left on device" in result.output
    assert list(out.iterdir()) == []  # neither the target nor the scratch folder


def test_postgresql_credentials_travel_in_the_environment() -> None:
    url = make_url("postgresql+psycopg://luoshi:s3cr%40t@db.example:5433/luoshi?sslmode=require")
    assert backup_service.libpq_environment(url) == {
        "PGHOST": "db.example", "PGPORT": "5433", "PGUSER": "luoshi", "PGPASSWORD": "s3cr@t",
        "PGDATABASE": "luoshi", "PGSSLMODE": "require",
    }  # fmt: skip


def test_the_postgresql_tools_never_see_the_password_in_their_arguments(
    app: Flask, arranged: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if dialect_of(app) != "postgresql":
        pytest.skip("SQLite needs no client programs")
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = backup_service.subprocess.run

    def record(argv, *args, **kwargs):
        calls.append((list(argv), dict(kwargs.get("env") or {})))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(backup_service.subprocess, "run", record)
    backup(app, tmp_path / "b.tar.gz")
    assert restore(app, tmp_path / "b.tar.gz", "--yes").exit_code == 0
    url = get_engine(app).url
    programs = [Path(argv[0]).name for argv, _env in calls]
    assert {"pg_dump", "pg_restore", "psql"} <= set(programs)
    for argv, env in calls:
        assert not any("://" in a or (url.password and url.password in a) for a in argv)
        if "--version" not in argv:
            assert env["PGDATABASE"] == url.database and env["PGHOST"] == url.host


def test_missing_postgresql_tools_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(backup_service.BackupError) as error:
        backup_service.require_tool("pg_dump")
    assert "找不到 pg_dump" in error.value.message and "postgresql-client" in error.value.message


@pytest.fixture
def pg_trigger(app: Flask) -> Iterator[None]:
    """A function and a trigger of our own in the schema (as an append-only audit trail has)."""
    if dialect_of(app) != "postgresql":
        pytest.skip("functions and triggers of PostgreSQL")
    engine = get_engine(app)
    with engine.begin() as connection:
        connection.execute(text(
            "CREATE FUNCTION backup_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'holiday rows are read-only in this test'; END $$"
        ))  # fmt: skip
        connection.execute(text(
            "CREATE TRIGGER backup_test_refuse BEFORE DELETE ON holiday "
            "FOR EACH ROW EXECUTE FUNCTION backup_test_refuse()"
        ))  # fmt: skip
    yield
    with engine.begin() as connection:
        connection.execute(text("DROP FUNCTION IF EXISTS backup_test_refuse() CASCADE"))


def test_functions_and_triggers_survive_on_postgresql(
    app: Flask, db: Session, pg_trigger: None, tmp_path: Path
) -> None:
    factories.make_world(db)
    db.add(Holiday(day=date(2022, 10, 1), is_workday=False, name="国庆节"))
    db.commit()
    db.close()
    backup(app, tmp_path / "b.tar.gz")
    result = restore(app, tmp_path / "b.tar.gz", "--yes")
    assert result.exit_code == 0, result.output
    engine = get_engine(app)
    with pytest.raises(Exception, match="read-only in this test"), engine.begin() as connection:
        connection.execute(text("DELETE FROM holiday"))


def test_a_failed_migration_of_an_older_backup(
    app: Flask, db: Session, old_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite migrates in staging, so nothing changes; PostgreSQL migrates after its commit, so
    the backup's data stays at its own revision, and the message says what to do."""
    factories.make_world(db)
    db.close()
    before = {"tables": tables(get_engine(app)), "files": files(app)}
    old = create_app({"TESTING": True, "DATABASE_URL": old_database,
                      "INSTANCE_PATH": str(tmp_path / "old")})  # fmt: skip
    try:
        backup(old, tmp_path / "old.tar.gz")
    finally:
        dispose(old)

    def broken_migration(url: str) -> None:
        raise RuntimeError("simulated migration failure")

    monkeypatch.setattr(backup_service, "_upgrade", broken_migration)
    try:
        result = restore(app, tmp_path / "old.tar.gz", "--yes")
    finally:
        # The suite's PostgreSQL database must be at head again for the tests that follow.
        monkeypatch.undo()
        if dialect_of(app) == "postgresql":
            check = tables_at_old_revision(get_engine(app))
            dispose(app)
            migrate(get_engine(app).url.render_as_string(hide_password=False), "head")
    assert result.exit_code == 1
    assert "simulated migration failure" in result.output
    if dialect_of(app) == "sqlite":
        assert "当前数据未做任何更改" in result.output
        unchanged(app, before)
    else:
        assert "数据已恢复到备份时的状态" in result.output and "flask db upgrade" in result.output
        assert check == {"alembic_version": [(OLD_REVISION,)], "unit": ["旧版本的单位"]}
        assert leftovers(app) == []


def tables_at_old_revision(engine: Engine) -> dict[str, list]:
    with engine.connect() as connection:
        return {
            "alembic_version": [tuple(r) for r in connection.execute(
                text("SELECT version_num FROM alembic_version"))],
            "unit": list(connection.execute(text("SELECT name FROM unit")).scalars()),
        }  # fmt: skip


def test_a_sqlite_backup_with_another_page_size_is_restored(
    app: Flask, arranged: dict, db: Session, tmp_path: Path
) -> None:
    if dialect_of(app) != "sqlite":
        pytest.skip("SQLite's page size")
    archive = tmp_path / "b.tar.gz"
    backup(app, archive)
    parts = members(archive)
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes(parts["database/luoshi.sqlite3"])
    connection = sqlite3.connect(copy, isolation_level=None)
    connection.execute("PRAGMA page_size=8192")
    connection.execute("VACUUM")
    assert connection.execute("PRAGMA page_size").fetchone() == (8192,)
    connection.close()
    repacked = repack(archive, tmp_path / "big-pages.tar.gz",
                      parts | {"database/luoshi.sqlite3": copy.read_bytes()})  # fmt: skip
    mutate(db, app)
    db.close()
    result = restore(app, repacked, "--yes")
    assert result.exit_code == 0, result.output
    unchanged(app, arranged)


def test_a_pg_dump_older_than_the_server_is_refused(
    app: Flask, arranged: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if dialect_of(app) != "postgresql":
        pytest.skip("SQLite needs no client programs")
    monkeypatch.setattr(backup_service, "_tool_version", lambda _path: "9.6.24")
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(app, "backup", "-o", str(out / "b.tar.gz"))
    assert result.exit_code == 1
    assert "pg_dump 的版本（9.6.24）低于数据库服务器" in result.output
    assert list(out.iterdir()) == []
