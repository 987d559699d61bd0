"""Backup and restore: one .tar.gz holding a manifest, the database and the attachments.

The archive (members in this order):

    manifest.json              format, app version, time, dialect, alembic revision, schema,
                               row counts per table, size and SHA-256 of every other member
    database/luoshi.sqlite3    SQLite: a copy made with SQLite's online backup API
    database/luoshi.pgdump     PostgreSQL: pg_dump --format=custom of the app's schema
    uploads/<stored name>      the attachment files, byte for byte, with their mtimes

Why it is built this way:
- The manifest comes first, so a foreign or incompatible file (another dialect, a migration this
  code does not know) is refused after reading a few kilobytes, and so that every member can be
  checked against its SHA-256 while it is unpacked, before anything is replaced.
- SQLite's backup API copies a consistent snapshot while the app keeps writing (WAL readers do
  not block writers); the row counts are read from the copy itself, so they match it exactly.
- PostgreSQL: the row counts are taken in a REPEATABLE READ transaction whose snapshot pg_dump
  then shares (--snapshot), so they describe exactly the dump. Credentials go to pg_dump,
  pg_restore and psql through libpq's environment (PGPASSWORD), never on a command line that
  `ps` shows to every user of the machine.
- The archive is written to a private temporary folder beside the target and renamed into
  place: a failed backup leaves no partial file under the target's name.

Restoring replaces everything, and every failure before the end leaves the previous data:
- The whole archive is unpacked into staging folders and verified (manifest, sizes, SHA-256,
  gzip CRC, the database's own checks, row counts) before anything is touched.
- The attachments folder is swapped by two renames; the old one is deleted only after the
  database has been restored, and renamed back if that fails.
- SQLite: an older backup is first migrated in its staging copy; the copy is then written into
  the live database with the backup API in the other direction. That is one write transaction
  of SQLite's own, so other connections (web workers, the scheduler) stay valid and see either
  the old or the new data, and WAL/-shm files stay consistent: replacing the file under them
  would let a stale -wal be replayed onto the new file.
- PostgreSQL: one psql --single-transaction run empties the schema, replays the dump and checks
  the row counts against the manifest; any error rolls all of it back. Migrating an older backup
  to the current code comes after that commit: if that step fails, the backup's data is in place
  at its own revision and the error says so.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from app.config import REPO_ROOT
from app.core.errors import DomainError
from app.db import SQLITE_BUSY_TIMEOUT_SECONDS
from app.services.attachments import UPLOADS_FOLDER

logger = logging.getLogger(__name__)

FORMAT = "luoshi-backup"
FORMAT_VERSION = 1
SUFFIX = ".tar.gz"
MANIFEST_NAME = "manifest.json"
UPLOADS_PREFIX = "uploads/"
DATABASE_MEMBERS = {"sqlite": "database/luoshi.sqlite3", "postgresql": "database/luoshi.pgdump"}
DIALECT_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
CHUNK_BYTES = 1024 * 1024
# Counts and sizes of a large installation fit many times over; a bigger "manifest" is not ours.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
GZIP_LEVEL = 6
# PostgreSQL: how long the restore waits for the app's open transactions to let go of a table.
PG_LOCK_TIMEOUT = "60s"
SQLITE_INTERNAL = "sqlite_%"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]{0,62}")
_REVISION = re.compile(r"[0-9A-Za-z_]{1,32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# libpq reads these from the environment (see "Environment Variables" in the libpq manual).
_LIBPQ_ENVIRONMENT = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
    "user": "PGUSER", "password": "PGPASSWORD", "passfile": "PGPASSFILE",
    "service": "PGSERVICE", "options": "PGOPTIONS", "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT", "sslcrl": "PGSSLCRL", "sslpassword": "PGSSLPASSWORD",
    "requirepeer": "PGREQUIREPEER", "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING", "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "krbsrvname": "PGKRBSRVNAME",
}  # fmt: skip

MSG_CORRUPT = "备份文件已损坏或不完整：{detail}。"
MSG_NOT_OURS = "不是本系统（落实）的备份文件：{detail}。"
MSG_BAD_MANIFEST = "备份清单（manifest.json）无效：{detail}。"


class BackupError(DomainError):
    """A backup or restore that was refused or failed with nothing changed."""


class RestoreIncompleteError(DomainError):
    """The backup's data was restored, but a later step (the migration) failed."""


@dataclass(frozen=True)
class MemberDigest:
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    app_version: str
    created_at: datetime
    dialect: str
    alembic_revision: str
    tables: dict[str, int]
    members: dict[str, MemberDigest]
    attachments: int
    # PostgreSQL: the schema the tables live in (the dump names it in every statement).
    schema: str | None = None
    # Versions of the database server and tools, for the operator reading the manifest.
    database: dict[str, str] = field(default_factory=dict)

    @property
    def database_member(self) -> str:
        return DATABASE_MEMBERS[self.dialect]

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": self.app_version,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
            "dialect": self.dialect,
            "schema": self.schema,
            "database": self.database,
            "alembic_revision": self.alembic_revision,
            "tables": dict(sorted(self.tables.items())),
            "attachments": self.attachments,
            "members": {
                name: {"size": digest.size, "sha256": digest.sha256}
                for name, digest in self.members.items()
            },
        }


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    manifest: Manifest


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    # The revision the database was migrated to after the restore (None: it was current).
    upgraded_to: str | None


# -- the manifest ----------------------------------------------------------------------------


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest in RAW, checked field by field; BackupError on anything amiss."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BackupError(MSG_NOT_OURS.format(detail="清单不是 JSON")) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError(MSG_NOT_OURS.format(detail="清单格式不符"))
    version = data.get("format_version")
    if not _is_int(version) or version < 1:
        raise BackupError(MSG_BAD_MANIFEST.format(detail="缺少格式版本"))
    if version > FORMAT_VERSION:
        raise BackupError(f"备份文件的格式版本（{version}）比本程序新，请先升级程序再恢复。")
    dialect = data.get("dialect")
    if dialect not in DATABASE_MEMBERS:
        raise BackupError(MSG_BAD_MANIFEST.format(detail=f"不支持的数据库类型 {dialect!r}"))
    revision = data.get("alembic_revision")
    if not isinstance(revision, str) or not _REVISION.fullmatch(revision):
        raise BackupError(MSG_BAD_MANIFEST.format(detail="数据库版本号无效"))
    try:
        created_at = datetime.fromisoformat(str(data.get("created_at")))
    except ValueError:
        raise BackupError(MSG_BAD_MANIFEST.format(detail="备份时间无效")) from None
    if created_at.tzinfo is None:
        raise BackupError(MSG_BAD_MANIFEST.format(detail="备份时间缺少时区"))
    schema = data.get("schema")
    if dialect == "postgresql" and not (isinstance(schema, str) and _IDENTIFIER.fullmatch(schema)):
        raise BackupError(MSG_BAD_MANIFEST.format(detail="PostgreSQL 模式名无效"))
    tables = data.get("tables")
    if not isinstance(tables, dict) or not all(
        isinstance(name, str) and _IDENTIFIER.fullmatch(name) and _is_int(count) and count >= 0
        for name, count in tables.items()
    ):
        raise BackupError(MSG_BAD_MANIFEST.format(detail="数据表行数无效"))
    members = _parse_members(data.get("members"), DATABASE_MEMBERS[dialect])
    attachments = sum(name.startswith(UPLOADS_PREFIX) for name in members)
    if data.get("attachments") != attachments:
        raise BackupError(MSG_BAD_MANIFEST.format(detail="附件数与文件清单不符"))
    database = data.get("database") or {}
    if not isinstance(database, dict):
        raise BackupError(MSG_BAD_MANIFEST.format(detail="数据库信息无效"))
    return Manifest(
        app_version=str(data.get("app_version") or ""), created_at=created_at, dialect=dialect,
        alembic_revision=revision, tables=dict(tables), members=members,
        attachments=attachments, schema=schema if dialect == "postgresql" else None,
        database={str(k): str(v) for k, v in database.items()},
    )  # fmt: skip


def _parse_members(members: object, database_member: str) -> dict[str, MemberDigest]:
    if not isinstance(members, dict) or database_member not in members:
        raise BackupError(MSG_BAD_MANIFEST.format(detail="缺少数据库文件"))
    parsed: dict[str, MemberDigest] = {}
    for name, digest in members.items():
        if name != database_member and not _is_upload_member(name):
            raise BackupError(MSG_BAD_MANIFEST.format(detail=f"不应包含的文件 {name!r}"))
        if not isinstance(digest, dict):
            raise BackupError(MSG_BAD_MANIFEST.format(detail=f"{name} 缺少校验值"))
        size, sha256 = digest.get("size"), digest.get("sha256")
        if not (_is_int(size) and size >= 0 and isinstance(sha256, str)):
            raise BackupError(MSG_BAD_MANIFEST.format(detail=f"{name} 的大小或校验值无效"))
        if not _SHA256.fullmatch(sha256):
            raise BackupError(MSG_BAD_MANIFEST.format(detail=f"{name} 的校验值无效"))
        parsed[name] = MemberDigest(size=size, sha256=sha256)
    return parsed


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_upload_member(name: object) -> bool:
    """uploads/<one plain file name>: nothing in a member name may lead out of the folder."""
    if not isinstance(name, str) or not name.startswith(UPLOADS_PREFIX):
        return False
    base = name.removeprefix(UPLOADS_PREFIX)
    return _is_plain_file_name(base)


def _is_plain_file_name(name: str) -> bool:
    return (
        0 < len(name) <= 255
        and not name.startswith(".")
        and not any(c in name for c in "/\\\0")
        and name.isprintable()
    )


# -- making a backup ---------------------------------------------------------------------------


def check_target(target: Path, *, instance_path: str, overwrite: bool) -> None:
    """Refuse an output path that would not do, before any work is done."""
    if not target.name.lower().endswith(SUFFIX):
        raise BackupError(f"备份文件的扩展名须为 {SUFFIX}：{target.name}")
    if not target.parent.is_dir():
        raise BackupError(f"目录不存在：{target.parent}")
    if target.is_dir():
        raise BackupError(f"{target} 是一个目录，请指定文件名。")
    if target.exists() and not overwrite:
        raise BackupError(f"文件已存在：{target}。如要覆盖，请加 --force。")
    uploads = (Path(instance_path) / UPLOADS_FOLDER).resolve()
    if target.parent.resolve() == uploads:
        raise BackupError("备份文件不能放在附件目录中。")


def create_backup(
    engine: Engine, *, instance_path: str, target: Path, now: datetime, overwrite: bool = False
) -> BackupResult:
    """Write a backup of ENGINE's database and the attachments to TARGET."""
    check_target(target, instance_path=instance_path, overwrite=overwrite)
    dialect = _dialect_of(engine)
    # A private folder (mode 700) beside the target: the same file system, so the final step is
    # a rename, and nothing half-written ever carries the target's name.
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        database_file = scratch / Path(DATABASE_MEMBERS[dialect]).name
        if dialect == "sqlite":
            tables, revision, info, schema = _snapshot_sqlite(engine, database_file)
        else:
            tables, revision, info, schema = _dump_postgres(engine, database_file)
        # After the database snapshot: every attachment row in it had its file in place before
        # it committed (attachments.py publishes the file first), so no row lacks its file.
        uploads = _list_uploads(Path(instance_path) / UPLOADS_FOLDER)
        members = {DATABASE_MEMBERS[dialect]: _digest(database_file)}
        members |= {f"{UPLOADS_PREFIX}{path.name}": digest for path, digest in uploads}
        manifest = Manifest(
            app_version=app_version(), created_at=now, dialect=dialect, alembic_revision=revision,
            tables=tables, members=members, attachments=len(uploads), schema=schema,
            database=info,
        )  # fmt: skip
        archive = scratch / "backup.tar.gz"
        _write_archive(archive, manifest, database_file, uploads, now)
        os.replace(archive, target)
        _fsync_folder(target.parent)
    except OSError as error:
        logger.exception("backup to %s failed", target)
        raise BackupError(f"无法写入备份文件：{error.strerror or error}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("backup written to %s (%s, %d rows)", target, dialect, manifest.total_rows)
    return BackupResult(path=target, size=target.stat().st_size, manifest=manifest)


def app_version() -> str:
    """The installed package's version, or "unknown" when it runs from a bare checkout."""
    try:
        return metadata.version("luoshi")
    except metadata.PackageNotFoundError:
        return "unknown"


def _dialect_of(engine: Engine) -> str:
    name = engine.dialect.name
    if name not in DATABASE_MEMBERS:
        raise BackupError(f"不支持备份或恢复 {name} 数据库（仅支持 SQLite 和 PostgreSQL）。")
    return name


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("只能备份或恢复文件形式的 SQLite 数据库。")
    return Path(database)


def _snapshot_sqlite(
    engine: Engine, copy: Path
) -> tuple[dict[str, int], str, dict[str, str], None]:
    live = _sqlite_path(engine)
    if not live.is_file():
        raise BackupError(f"数据库文件不存在：{live}")
    raw = engine.raw_connection()
    try:
        destination = sqlite3.connect(copy, isolation_level=None)
        try:
            # One step (pages=-1): the whole copy is read in one read transaction, a consistent
            # snapshot however much the app writes meanwhile.
            raw.driver_connection.backup(
                destination,
                progress=_give_up_when_busy("数据库被长时间锁定，无法备份，请稍后重试。"),
            )
            # The copy inherits WAL from the live file; make it a single self-contained file.
            destination.execute("PRAGMA journal_mode=DELETE")
            _check_sqlite_integrity(destination, "数据库")
            tables = _sqlite_counts(destination)
            revision = _sqlite_revision(destination, tables)
            info = {"sqlite_version": sqlite3.sqlite_version}
        finally:
            destination.close()
    finally:
        raw.close()
    return tables, revision, info, None


def _check_sqlite_integrity(connection: sqlite3.Connection, what: str) -> None:
    result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(f"{what}未通过完整性检查：{'；'.join(map(str, result[:3]))}")


def _sqlite_counts(connection: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE ? ORDER BY name",
            (SQLITE_INTERNAL,),
        )
    ]
    return {
        name: connection.execute(f'SELECT count(*) FROM "{_sqlite_ident(name)}"').fetchone()[0]
        for name in names
    }


def _sqlite_ident(name: str) -> str:
    return name.replace('"', '""')


def _sqlite_revision(connection: sqlite3.Connection, tables: dict[str, int]) -> str:
    if "alembic_version" not in tables:
        raise BackupError("数据库尚未初始化（没有迁移版本），请先运行 flask db upgrade。")
    rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(rows) != 1:
        raise BackupError("数据库的迁移版本不唯一，无法备份。")
    return rows[0][0]


def _dump_postgres(engine: Engine, dump: Path) -> tuple[dict[str, int], str, dict[str, str], str]:
    pg_dump = require_tool("pg_dump")
    client_version = _tool_version(pg_dump)
    with engine.connect() as connection:
        connection = connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        server_version = connection.execute(text("SHOW server_version")).scalar_one()
        server_number = connection.execute(text("SHOW server_version_num")).scalar_one()
        server_major = int(server_number) // 10000
        if _major(client_version) < server_major:
            raise BackupError(
                f"pg_dump 的版本（{client_version}）低于数据库服务器（{server_version}），"
                f"请安装不低于 {server_major} 版的 PostgreSQL 客户端并放在 PATH 中。"
            )
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        if not _IDENTIFIER.fullmatch(schema or ""):
            raise BackupError(f"不支持备份模式“{schema}”（模式名须为小写字母、数字和下划线）。")
        # pg_dump reads through this transaction's snapshot: the counts describe the dump.
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        tables = _postgres_counts(connection, schema)
        if "alembic_version" not in tables:
            raise BackupError("数据库尚未初始化（没有迁移版本），请先运行 flask db upgrade。")
        revisions = connection.execute(
            text(f'SELECT version_num FROM "{schema}".alembic_version')
        ).all()
        if len(revisions) != 1:
            raise BackupError("数据库的迁移版本不唯一，无法备份。")
        _run(
            [pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot}",
             f"--schema={schema}", f"--file={dump}"],
            engine.url, failure="pg_dump 备份数据库失败",
        )  # fmt: skip
        connection.rollback()
    info = {"server_version": server_version, "pg_dump_version": client_version}
    return tables, revisions[0][0], info, schema


def _postgres_counts(connection, schema: str) -> dict[str, int]:
    names = connection.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') ORDER BY c.relname"
        ),
        {"schema": schema},
    ).scalars()
    counts: dict[str, int] = {}
    for name in names:
        if not _IDENTIFIER.fullmatch(name):
            raise BackupError(f"不支持备份数据表“{name}”（表名须为小写字母、数字和下划线）。")
        counts[name] = connection.execute(
            text(f'SELECT count(*) FROM "{schema}"."{name}"')
        ).scalar_one()
    return counts


def _list_uploads(folder: Path) -> list[tuple[Path, MemberDigest]]:
    """The attachment files, hashed; not the uploads in progress (".upload-*.part")."""
    if not folder.is_dir():
        return []
    found: list[tuple[Path, MemberDigest]] = []
    with os.scandir(folder) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        if not entry.is_file(follow_symlinks=False) or not _is_plain_file_name(entry.name):
            # The app never stores such a thing: somebody put it there by hand.
            logger.warning("not backed up: %s is not a plain file", path)
            continue
        try:
            found.append((path, _digest(path)))
        except FileNotFoundError:
            # Removed meanwhile by the orphan sweep: it belonged to no row.
            logger.info("attachment file %s vanished during the backup", entry.name)
    return found


def _digest(path: Path) -> MemberDigest:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return MemberDigest(size=size, sha256=digest.hexdigest())


def _write_archive(
    archive: Path,
    manifest: Manifest,
    database_file: Path,
    uploads: list[tuple[Path, MemberDigest]],
    now: datetime,
) -> None:
    # The backup holds password hashes and webhook secrets: readable by its owner only.
    descriptor = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        with tarfile.open(fileobj=out, mode="w:gz", compresslevel=GZIP_LEVEL) as tar:
            body = json.dumps(manifest.to_json(), ensure_ascii=False, indent=2).encode("utf-8")
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size, info.mtime, info.mode = len(body), int(now.timestamp()), 0o600
            tar.addfile(info, _BytesReader(body))
            _add_file(tar, manifest.database_member, database_file,
                      manifest.members[manifest.database_member])  # fmt: skip
            for path, digest in uploads:
                _add_file(tar, f"{UPLOADS_PREFIX}{path.name}", path, digest)
        out.flush()
        os.fsync(out.fileno())


def _add_file(tar: tarfile.TarFile, name: str, path: Path, expected: MemberDigest) -> None:
    """Add PATH as NAME, hashing what is actually written: it must be what the manifest says."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        raise BackupError(f"文件在备份过程中被删除：{path.name}，请重试。") from None
    with file:
        info = tarfile.TarInfo(name)
        info.size, info.mode = expected.size, 0o600
        info.mtime = int(os.fstat(file.fileno()).st_mtime)
        reader = _HashingReader(file)
        tar.addfile(info, reader)
    if reader.size != expected.size or reader.hexdigest() != expected.sha256:
        raise BackupError(f"文件在备份过程中被修改：{path.name}，请重试。")


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._offset + size
        chunk = self._data[self._offset : end]
        self._offset += len(chunk)
        return chunk


class _HashingReader:
    def __init__(self, file: IO[bytes]) -> None:
        self._file, self._hash, self.size = file, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk.
    with suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# -- PostgreSQL client tools -------------------------------------------------------------------


def require_tool(name: str) -> str:
    """The path of a PostgreSQL client program, or a BackupError that says how to get it."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"找不到 {name}。请安装 PostgreSQL 客户端（Debian/Ubuntu：apt-get install "
            f"postgresql-client），其版本不能低于数据库服务器，并确保它在 PATH 中。"
        )
    return path


def libpq_environment(url: URL) -> dict[str, str]:
    """libpq environment variables for URL: the password travels here, not in argv."""
    env: dict[str, str] = {}
    for key, value in url.query.items():
        variable = _LIBPQ_ENVIRONMENT.get(key)
        if variable is None:
            logger.debug("URL parameter %s is not passed to the PostgreSQL tools", key)
            continue
        env[variable] = value[-1] if isinstance(value, tuple) else value
    # The URL's own parts win over its query, as they do for the app's own connections.
    parts = {"PGHOST": url.host, "PGPORT": url.port, "PGUSER": url.username,
             "PGPASSWORD": url.password, "PGDATABASE": url.database}  # fmt: skip
    env |= {variable: str(value) for variable, value in parts.items() if value not in (None, "")}
    return env


def _run(argv: list[str], url: URL, *, failure: str) -> str:
    env = os.environ | libpq_environment(url)
    try:
        completed = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise BackupError(f"{failure}：{error.strerror or error}") from None
    if completed.returncode != 0:
        detail = _tail(completed.stderr or completed.stdout)
        logger.error("%s exited with %d: %s", Path(argv[0]).name, completed.returncode, detail)
        raise BackupError(f"{failure}：{detail}")
    return completed.stdout


def _tail(output: str, lines: int = 5) -> str:
    kept = [line for line in output.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept) or "（无输出）"


def _tool_version(path: str) -> str:
    output = subprocess.run(
        [path, "--version"], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    ).stdout
    match = re.search(r"(\d+(?:\.\d+)*)", output)
    if match is None:
        raise BackupError(f"无法识别 {Path(path).name} 的版本：{output.strip()}")
    return match.group(1)


def _major(version: str) -> int:
    return int(version.split(".")[0])


# -- reading a backup --------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedBackup:
    """A backup unpacked and verified, waiting in staging folders to replace the live data."""

    source: Path
    manifest: Manifest
    # <instance>/.restore-<token>: the database file and, for PostgreSQL, the SQL to replay.
    workdir: Path
    database_file: Path
    # The new attachments folder, beside the live one so that the swap is a rename.
    uploads: Path
    live_uploads: Path


@contextmanager
def open_backup(path: Path, *, engine: Engine, instance_path: str) -> Iterator[StagedBackup]:
    """Unpack PATH into staging folders and verify all of it; nothing live is touched. The
    staging folders are removed on leaving the block, whatever happened."""
    _check_source(path)
    dialect = _dialect_of(engine)
    if dialect == "postgresql":
        for tool in ("pg_restore", "psql"):
            require_tool(tool)
    live_uploads = _live_uploads(instance_path)
    token = secrets.token_hex(8)
    workdir = Path(instance_path) / f".restore-{token}"
    uploads = live_uploads.parent / f".{live_uploads.name}.restore-{token}"
    try:
        try:
            manifest = _unpack(path, engine, dialect, workdir, uploads)
        except OSError as error:  # writing the staging folders: disk full, permissions
            logger.exception("unpacking %s failed", path)
            raise BackupError(f"无法解压备份文件：{error.strerror or error}") from None
        staged = StagedBackup(
            source=path, manifest=manifest, workdir=workdir,
            database_file=workdir / Path(manifest.database_member).name, uploads=uploads,
            live_uploads=live_uploads,
        )  # fmt: skip
        if dialect == "sqlite":
            _verify_sqlite_copy(staged.database_file, manifest)
        else:
            _verify_postgres_dump(staged, engine)
        yield staged
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(uploads, ignore_errors=True)


def _check_source(path: Path) -> None:
    if not path.name.lower().endswith(SUFFIX):
        raise BackupError(f"备份文件的扩展名须为 {SUFFIX}：{path.name}")
    if not path.exists():
        raise BackupError(f"找不到备份文件：{path}")
    if not path.is_file():
        raise BackupError(f"{path} 不是文件。")


def _live_uploads(instance_path: str) -> Path:
    # Resolved: when uploads/ is a symbolic link to another disk, the swap happens over there
    # and the link keeps pointing at the (new) folder.
    return (Path(instance_path) / UPLOADS_FOLDER).resolve()


_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def _unpack(path: Path, engine: Engine, dialect: str, workdir: Path, uploads: Path) -> Manifest:
    try:
        # Not a with-block: an error here (not a gzip/tar at all) is told apart from later ones.
        tar = tarfile.open(path, mode="r:gz")  # noqa: SIM115
    except _READ_ERRORS:
        raise BackupError(
            f"无法读取备份文件 {path.name}：不是有效的 {SUFFIX} 压缩包，或文件已损坏。"
        ) from None
    except OSError as error:
        raise BackupError(f"无法读取备份文件：{error.strerror or error}") from None
    with tar:
        try:
            manifest = _read_manifest(tar)
            check_compatible(manifest, engine, dialect)
            workdir.mkdir(mode=0o700, parents=True)
            uploads.parent.mkdir(parents=True, exist_ok=True)
            uploads.mkdir(mode=0o700)
            _extract_members(tar, manifest, workdir, uploads)
            # Read to the end of the gzip stream: its CRC and length are checked only there.
            while tar.fileobj.read(CHUNK_BYTES):
                pass
        except _READ_ERRORS as error:
            raise BackupError(MSG_CORRUPT.format(detail=_read_error(error))) from None
    return manifest


def _read_error(error: BaseException) -> str:
    if isinstance(error, EOFError):
        return "文件不完整（被截断）"
    return f"无法解压（{error}）"


def _read_manifest(tar: tarfile.TarFile) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST_NAME or not first.isfile():
        raise BackupError(MSG_NOT_OURS.format(detail=f"第一个文件不是 {MANIFEST_NAME}"))
    if first.size > MAX_MANIFEST_BYTES:
        raise BackupError(MSG_NOT_OURS.format(detail="清单过大"))
    reader = tar.extractfile(first)
    assert reader is not None  # a regular file, checked above
    return parse_manifest(reader.read())


def check_compatible(manifest: Manifest, engine: Engine, dialect: str) -> None:
    """Refuse a backup of another dialect, or of a migration this code does not know."""
    if manifest.dialect != dialect:
        raise BackupError(
            f"这是 {DIALECT_LABELS[manifest.dialect]} 数据库的备份，当前配置的是 "
            f"{DIALECT_LABELS[dialect]} 数据库，不能恢复。"
        )
    if not is_known_revision(manifest.alembic_revision):
        raise BackupError(
            f"备份的数据库版本（{manifest.alembic_revision}）比本程序新或不为本程序所知"
            f"（备份程序版本 {manifest.app_version or '未知'}），请先升级程序再恢复。"
        )
    if dialect == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        if schema != manifest.schema:
            raise BackupError(
                f"备份中的数据在模式“{manifest.schema}”中，当前数据库使用模式“{schema}”，不能恢复。"
            )


def _extract_members(
    tar: tarfile.TarFile, manifest: Manifest, workdir: Path, uploads: Path
) -> None:
    seen: set[str] = set()
    while (member := tar.next()) is not None:
        name = member.name
        expected = manifest.members.get(name)
        if expected is None or name in seen or not member.isfile():
            raise BackupError(MSG_CORRUPT.format(detail=f"含有清单以外的文件 {name!r}"))
        if member.size != expected.size:
            raise BackupError(MSG_CORRUPT.format(detail=f"{name} 的大小与清单不符"))
        seen.add(name)
        if name == manifest.database_member:
            target = workdir / Path(name).name
        else:
            target = uploads / name.removeprefix(UPLOADS_PREFIX)
        reader = tar.extractfile(member)
        assert reader is not None  # a regular file, checked above
        digest = hashlib.sha256()
        with target.open("xb") as out:
            while chunk := reader.read(CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected.sha256:
            raise BackupError(MSG_CORRUPT.format(detail=f"{name} 的 SHA-256 校验值与清单不符"))
        # Keep the upload time: the orphan sweep judges files by their age.
        os.utime(target, (member.mtime, member.mtime))
    missing = sorted(set(manifest.members) - seen)
    if missing:
        raise BackupError(
            MSG_CORRUPT.format(detail=f"缺少 {len(missing)} 个文件（如 {missing[0]}）")
        )


def _verify_sqlite_copy(database_file: Path, manifest: Manifest) -> None:
    """The staged copy must be a sound SQLite database holding what the manifest says."""
    try:
        connection = sqlite3.connect(database_file, isolation_level=None)
        try:
            _check_sqlite_integrity(connection, "备份中的数据库")
            counts = _sqlite_counts(connection)
            revision = _sqlite_revision(connection, counts)
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(MSG_CORRUPT.format(detail=f"数据库文件无法打开（{error}）")) from None
    if counts != manifest.tables or revision != manifest.alembic_revision:
        raise BackupError(MSG_CORRUPT.format(detail="数据库内容与清单记录的行数或版本不符"))


def _verify_postgres_dump(staged: StagedBackup, engine: Engine) -> None:
    """pg_restore must be able to read the dump: lists its table of contents."""
    listing = _run(
        [require_tool("pg_restore"), "--list", str(staged.database_file)],
        engine.url, failure="备份中的数据库文件无法读取",
    )  # fmt: skip
    (staged.workdir / "toc.list").write_text(listing, encoding="utf-8")


# -- restoring ---------------------------------------------------------------------------------


def restore_backup(staged: StagedBackup, *, engine: Engine) -> RestoreResult:
    """Replace the database and the attachments with STAGED's; see the module's docstring for
    what happens on failure."""
    manifest = staged.manifest
    head = head_revision()
    upgrade = manifest.alembic_revision != head
    if manifest.dialect == "sqlite" and upgrade:
        # Migrated in staging: a failure here has changed nothing live.
        try:
            _upgrade(f"sqlite:///{staged.database_file}")
        except Exception as error:
            logger.exception("migrating the staged copy of %s failed", staged.source)
            raise BackupError(
                f"无法把备份（数据库版本 {manifest.alembic_revision}）迁移到当前版本：{error}"
            ) from None
    if manifest.dialect == "postgresql":
        # Before anything is swapped: the SQL to replay, and a failure here changes nothing.
        script = _postgres_script(staged, engine)
    live_uploads = staged.live_uploads
    aside = _swap_in(staged.uploads, live_uploads)
    try:
        if manifest.dialect == "sqlite":
            _restore_sqlite(staged.database_file, engine)
        else:
            _restore_postgres(script, engine)
    except BaseException:
        _swap_back(live_uploads, aside, staged.uploads)
        raise
    finally:
        engine.dispose()
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    logger.info("restored %s (%s, %d rows)", staged.source, manifest.dialect, manifest.total_rows)
    if manifest.dialect == "postgresql" and upgrade:
        try:
            _upgrade(engine.url.render_as_string(hide_password=False))
        except Exception as error:
            logger.exception("migration after restoring %s failed", staged.source)
            raise RestoreIncompleteError(
                f"数据已恢复到备份时的状态（数据库版本 {manifest.alembic_revision}），但迁移到当前"
                f"版本失败：{error}。请排除问题后运行 flask db upgrade。"
            ) from None
        finally:
            engine.dispose()
    return RestoreResult(manifest=manifest, upgraded_to=head if upgrade else None)


def _swap_in(staged: Path, live: Path) -> Path | None:
    """Put STAGED in LIVE's place; the old folder's new name (None: there was none)."""
    aside = None
    if live.exists():
        aside = live.parent / f".{live.name}.old-{secrets.token_hex(8)}"
        try:
            os.chmod(staged, stat.S_IMODE(live.stat().st_mode))
            os.rename(live, aside)
        except OSError as error:
            raise BackupError(
                f"无法替换附件目录 {live}：{error.strerror or error}（附件目录不能是挂载点，"
                f"可挂载其上级目录）。"
            ) from None
    else:
        os.chmod(staged, 0o755)
    try:
        os.rename(staged, live)
    except OSError as error:
        if aside is not None:
            os.rename(aside, live)
        raise BackupError(f"无法替换附件目录 {live}：{error.strerror or error}") from None
    return aside


def _swap_back(live: Path, aside: Path | None, staged: Path) -> None:
    try:
        os.rename(live, staged)
        if aside is not None:
            os.rename(aside, live)
    except OSError:
        logger.exception("could not put the attachments folder back: the old one is %s", aside)


def _restore_sqlite(database_file: Path, engine: Engine) -> None:
    live = _sqlite_path(engine)
    live.parent.mkdir(parents=True, exist_ok=True)
    # Connections of this process go back to the pool first: none is mid-transaction.
    engine.dispose()
    source = sqlite3.connect(database_file, isolation_level=None)
    try:
        target = sqlite3.connect(live, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        try:
            _match_page_size(source, target)
            # The backup API writes into the live database in one transaction of its own: all
            # or nothing, through the WAL, visible to every connection when it commits.
            source.backup(target, progress=_give_up_when_busy(MSG_SQLITE_BUSY))
        finally:
            target.close()
    except sqlite3.Error as error:
        logger.exception("restoring into %s failed", live)
        raise BackupError(f"恢复数据库失败：{error}") from None
    finally:
        source.close()


MSG_SQLITE_BUSY = (
    "数据库正被其他程序写入，等待 {seconds} 秒后仍未能恢复。请先停止网站和提醒进程，再运行恢复。"
)


def _give_up_when_busy(message: str) -> Callable[[int, int, int], None]:
    """A progress callback for sqlite3's backup(): Python retries a locked database forever, so
    stop once the busy timeout has passed and say why."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS

    def progress(status: int, _remaining: int, _total: int) -> None:
        if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) and time.monotonic() > deadline:
            raise BackupError(message.format(seconds=SQLITE_BUSY_TIMEOUT_SECONDS))

    return progress


def _match_page_size(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    # A WAL database cannot change its page size, and the backup API refuses to copy over it.
    wanted = target.execute("PRAGMA page_size").fetchone()[0]
    if source.execute("PRAGMA page_size").fetchone()[0] != wanted:
        source.execute("PRAGMA journal_mode=DELETE")
        source.execute(f"PRAGMA page_size={int(wanted)}")
        source.execute("VACUUM")


def _postgres_script(staged: StagedBackup, engine: Engine) -> list[Path]:
    """The SQL files psql runs in one transaction: empty the schema, replay, check."""
    manifest = staged.manifest
    assert manifest.schema is not None  # checked in parse_manifest
    # Everything but the schema itself: it exists already, with its owner and grants.
    listing = (staged.workdir / "toc.list").read_text(encoding="utf-8").splitlines()
    schema_entry = re.compile(rf"^\d+; \d+ \d+ (SCHEMA|COMMENT) - (SCHEMA )?{manifest.schema} ")
    kept = [f";{line}" if schema_entry.match(line) else line for line in listing]
    (staged.workdir / "restore.list").write_text("\n".join(kept) + "\n", encoding="utf-8")
    replay = staged.workdir / "restore.sql"
    _run(
        [require_tool("pg_restore"), "--no-owner", "--no-privileges",
         f"--use-list={staged.workdir / 'restore.list'}", f"--file={replay}",
         str(staged.database_file)],
        engine.url, failure="无法读取备份中的数据库文件",
    )  # fmt: skip
    prelude = staged.workdir / "prelude.sql"
    prelude.write_text(_empty_schema_sql(manifest.schema), encoding="utf-8")
    check = staged.workdir / "check.sql"
    check.write_text(_check_counts_sql(manifest.schema, manifest.tables), encoding="utf-8")
    return [prelude, replay, check]


def _restore_postgres(script: list[Path], engine: Engine) -> None:
    engine.dispose()
    files = [argument for path in script for argument in ("--file", str(path))]
    _run(
        [require_tool("psql"), "--no-psqlrc", "--quiet", "--no-password", "--single-transaction",
         "--set=ON_ERROR_STOP=1", *files],
        engine.url, failure="恢复数据库失败（已全部回滚，数据未改动）",
    )  # fmt: skip


def _empty_schema_sql(schema: str) -> str:
    """Drop every object of SCHEMA that the dump will create again (not extensions' objects)."""
    not_extension = (
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass "
        "AND d.objid = {oid} AND d.deptype = 'e')"
    )
    return f"""SET lock_timeout = '{PG_LOCK_TIMEOUT}';
SET client_min_messages = warning;
DO $luoshi$
DECLARE
  r record;
BEGIN
  -- Tables first (with their indexes, constraints, triggers and sequences), then what is left.
  FOR r IN
    SELECT c.oid, c.relkind, format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')
      AND {not_extension.format(catalog="pg_class", oid="c.oid")}
    ORDER BY c.relkind IN ('r', 'p') DESC
  LOOP
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = r.oid) THEN
      EXECUTE format('DROP %s %s CASCADE', CASE r.relkind WHEN 'v' THEN 'VIEW'
        WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE'
        WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END, r.name);
    END IF;
  END LOOP;
  FOR r IN
    SELECT p.oid, p.prokind, p.oid::regprocedure::text AS name
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = '{schema}' AND {not_extension.format(catalog="pg_proc", oid="p.oid")}
  LOOP
    IF EXISTS (SELECT 1 FROM pg_proc WHERE oid = r.oid) THEN
      EXECUTE format('DROP %s %s CASCADE', CASE r.prokind WHEN 'p' THEN 'PROCEDURE'
        WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.name);
    END IF;
  END LOOP;
  FOR r IN
    SELECT t.oid, t.typtype, format('%I.%I', n.nspname, t.typname) AS name
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = '{schema}' AND t.typtype IN ('e', 'd', 'r')
      AND {not_extension.format(catalog="pg_type", oid="t.oid")}
  LOOP
    IF EXISTS (SELECT 1 FROM pg_type WHERE oid = r.oid) THEN
      EXECUTE format('DROP %s %s CASCADE',
        CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.name);
    END IF;
  END LOOP;
END
$luoshi$;
"""


def _check_counts_sql(schema: str, tables: dict[str, int]) -> str:
    """Raise (and so roll back everything) unless the tables are exactly the manifest's."""
    checks = "\n".join(
        f'  IF (SELECT count(*) FROM "{schema}"."{name}") <> {count} THEN\n'
        f"    RAISE EXCEPTION 'row count of table {name} differs from the manifest';\n"
        f"  END IF;"
        for name, count in sorted(tables.items())
    )
    names = ", ".join(f"'{name}'" for name in sorted(tables))
    return f"""DO $luoshi$
BEGIN
  IF (SELECT array_agg(c.relname::text ORDER BY c.relname::text)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p'))
     IS DISTINCT FROM ARRAY[{names}]::text[] THEN
    RAISE EXCEPTION 'the restored tables differ from the manifest';
  END IF;
{checks}
END
$luoshi$;
"""


# -- migrations --------------------------------------------------------------------------------


def _alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig(str(REPO_ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["database_url"] = url
    # The command prints its own summary; alembic's logging setup would replace the app's.
    config.attributes["configure_logger"] = False
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config("sqlite://"))


def head_revision() -> str:
    """The newest migration this code knows."""
    head = _scripts().get_current_head()
    assert head is not None  # the project has migrations
    return head


def is_known_revision(revision: str) -> bool:
    """Whether REVISION is one of this code's migrations (an unknown one is from newer code)."""
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _upgrade(url: str) -> None:
    alembic_command.upgrade(_alembic_config(url), "head")
