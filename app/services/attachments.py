"""Evidence attachments (佐证材料): files stored under <instance>/uploads, one Attachment row each.

Storage:
- Files live outside static/, under a random name (32 hex digits + the normalised extension);
  the user's file name is kept only in the row (original_name), cleaned for display. Nothing
  the user sends ever becomes part of a path.
- An upload is streamed in chunks to a temporary file in the same folder, never read whole
  into memory, and reading stops one byte past the size limit. The checks (app/core/uploads.py:
  extension, size, magic bytes; for .docx/.xlsx/.ofd the zip listing) run on that temporary
  file, which is then fsynced and renamed with os.replace: a crash leaves at most a
  ".upload-*.part" file, never a half-written file under a final name.
- The row is flushed, not committed. If the caller's transaction later rolls back, the file is
  left without a row: unreachable, and removed by sweep_orphans after a grace period.

download_headers_ok — how a view must serve an attachment:
- Load the row and check the user may see its owner first (answer 404 otherwise, so that ids
  reveal nothing); then path = attachment_path(current_app.instance_path, attachment), and
  404 when not path.is_file().
- flask.send_file(path, as_attachment=True, download_name=attachment.original_name,
  mimetype=attachment.mime_type, max_age=0). as_attachment gives "Content-Disposition:
  attachment", so browsers save rather than render: a hostile PDF or image never runs as a
  page of our origin. Werkzeug writes a non-ASCII name as filename*=UTF-8''… (RFC 6266/5987)
  with an ASCII fallback; original_name holds no CR/LF or quotes (safe_display_name).
- Keep the global headers of app/views/errors.py (X-Content-Type-Options: nosniff stops
  browsers from second-guessing the type; the CSP) and add "Cache-Control: private,
  no-store": evidence can hold personal data, and intranet proxies must not keep copies.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import struct
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session, select

from app.core.errors import DomainError
from app.core.uploads import (
    HEAD_BYTES,
    MAX_ATTACHMENT_BYTES,
    ZIP_BASED,
    ZIP_TAIL_BYTES,
    ZipEntry,
    check_archive,
    check_entry_count,
    check_extension,
    check_upload,
    damaged_message,
    declared_entry_count,
    mime_type_for,
    safe_display_name,
)
from app.models import Attachment, User
from app.services import audit

logger = logging.getLogger(__name__)

UPLOADS_FOLDER = "uploads"
CHUNK_BYTES = 64 * 1024
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"
STORED_NAME = re.compile(r"[0-9a-f]{32}\.(?:pdf|ofd|docx|xlsx|jpg|png)")
# Long enough for any transaction in flight to have committed its rows.
ORPHAN_GRACE = timedelta(hours=1)

MSG_SAVE_FAILED = "附件保存失败，请稍后重试；如仍失败，请联系管理员。"
MSG_MISSING = "附件文件不存在或已损坏，请联系管理员。"

ATTACHMENT_AUDIT_FIELDS = [
    "owner_type", "owner_id", "stored_name", "original_name", "size", "sha256", "mime_type",
]  # fmt: skip

# Errors zipfile raises for a damaged or hostile archive; all mean "not a valid file".
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    struct.error,
    ValueError,
    EOFError,
    NotImplementedError,
    RuntimeError,
)


@dataclass(frozen=True)
class _Received:
    size: int
    sha256: str
    head: bytes


def storage_dir(instance_path: str | os.PathLike[str]) -> Path:
    """<instance>/uploads, created if missing."""
    folder = Path(instance_path) / UPLOADS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_attachment(
    session: Session,
    *,
    instance_path: str,
    owner_type: str,
    owner_id: int,
    filename: str,
    stream: BinaryIO,
    user: User | None,
    now: datetime,
    ip: str | None = None,
) -> Attachment:
    """Store the upload STREAM (named FILENAME by the user) as an attachment of the owner.

    Raises DomainError (Chinese) for anything the user can get wrong, and for storage failures
    (logged); in every such case no file is left and no row is added."""
    _check_owner(owner_type, owner_id)
    # Refuse a wrong type before reading a byte of it.
    check_extension(filename)
    try:
        folder = storage_dir(instance_path)
        temp = _new_temp_file(folder)
    except OSError as error:
        raise _storage_failure(owner_type, owner_id, filename) from error
    try:
        received = _receive(stream, temp)
        ext = check_upload(filename, received.head, received.size)
        if ext in ZIP_BASED:
            _check_zip(temp, ext)
        attachment = Attachment(
            owner_type=owner_type, owner_id=owner_id, stored_name=secrets.token_hex(16) + ext,
            original_name=safe_display_name(filename), size=received.size,
            sha256=received.sha256, mime_type=mime_type_for(ext),
            uploaded_by_id=user.id if user else None, created_at=now,
        )  # fmt: skip
        _publish(session, temp, folder / attachment.stored_name, attachment)
    except OSError as error:
        raise _storage_failure(owner_type, owner_id, filename) from error
    finally:
        temp.unlink(missing_ok=True)
    audit.record(
        session, actor=user, action="attachment.upload", object_type="attachment",
        object_id=attachment.id, after=audit.snapshot(attachment, ATTACHMENT_AUDIT_FIELDS), ip=ip,
    )  # fmt: skip
    return attachment


def _check_owner(owner_type: str, owner_id: int) -> None:
    # Callers pass constants and ids they loaded: a bad value is our bug, not the user's.
    if not owner_type or len(owner_type) > 30:
        raise ValueError(f"invalid attachment owner type {owner_type!r}")
    if not isinstance(owner_id, int) or owner_id <= 0:
        raise ValueError(f"invalid attachment owner id {owner_id!r}")


def _storage_failure(owner_type: str, owner_id: int, filename: str) -> DomainError:
    # Our fault (disk full, permissions) or a dropped connection: log it, tell the user plainly.
    logger.exception("attachment upload failed (%s %s, %r)", owner_type, owner_id, filename)
    return DomainError(MSG_SAVE_FAILED, "file")


def _new_temp_file(folder: Path) -> Path:
    # Same folder as the final file, so os.replace is a rename, never a copy.
    name = f"{TEMP_PREFIX}{secrets.token_hex(16)}{TEMP_SUFFIX}"
    path = folder / name
    # "x": fail rather than write into a file that somebody else created.
    path.open("xb").close()
    return path


def _receive(stream: BinaryIO, temp: Path) -> _Received:
    """Copy at most MAX_ATTACHMENT_BYTES + 1 bytes of STREAM to TEMP, hashing on the way."""
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    limit = MAX_ATTACHMENT_BYTES + 1
    with temp.open("wb") as out:
        while size < limit:
            chunk = stream.read(min(CHUNK_BYTES, limit - size))
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
            out.write(chunk)
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
        if size <= MAX_ATTACHMENT_BYTES:
            out.flush()
            os.fsync(out.fileno())
    return _Received(size=size, sha256=digest.hexdigest(), head=bytes(head))


def _check_zip(path: Path, ext: str) -> None:
    """Judge a .docx/.xlsx/.ofd by its listing alone; no member is ever decompressed."""
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - ZIP_TAIL_BYTES))
        tail = file.read()
    count = declared_entry_count(tail)
    if count is None:
        raise DomainError(damaged_message(ext), "file")
    # Before zipfile reads the central directory, which costs memory per entry.
    check_entry_count(ext, count)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except _ZIP_ERRORS:
        logger.info("damaged %s attachment refused", ext, exc_info=True)
        raise DomainError(damaged_message(ext), "file") from None
    check_archive(
        ext, (ZipEntry(i.filename, i.file_size, i.compress_size, i.flag_bits) for i in infos)
    )


def _publish(session: Session, temp: Path, final: Path, attachment: Attachment) -> None:
    """Move TEMP to its final name, then add the row; undo the move if the row fails."""
    os.replace(temp, final)
    try:
        _fsync_folder(final.parent)
        session.add(attachment)
        session.flush()
    except BaseException:
        final.unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def attachment_path(instance_path: str | os.PathLike[str], attachment: Attachment) -> Path:
    """Where ATTACHMENT's file is. Refuses any stored name that is not exactly one we make, so
    that a tampered row cannot point outside the uploads folder."""
    name = attachment.stored_name
    if not isinstance(name, str) or STORED_NAME.fullmatch(name) is None:
        logger.warning("attachment %s has an invalid stored name %r", attachment.id, name)
        raise DomainError(MSG_MISSING)
    return Path(instance_path) / UPLOADS_FOLDER / name


def list_for(session: Session, owner_type: str, owner_id: int) -> list[Attachment]:
    """The attachments of one owner, oldest first."""
    query = (
        select(Attachment)
        .where(Attachment.owner_type == owner_type, Attachment.owner_id == owner_id)
        .order_by(Attachment.created_at, Attachment.id)
    )
    return list(session.exec(query))


def sweep_orphans(
    session: Session,
    *,
    instance_path: str,
    now: datetime,
    grace: timedelta = ORPHAN_GRACE,
) -> list[str]:
    """Delete files older than GRACE that no row names (rolled-back uploads) and temporary
    files left by a crash; the names removed. Other files in the folder are left alone."""
    folder = storage_dir(instance_path)
    cutoff = (now - grace).timestamp()
    known = set(session.exec(select(Attachment.stored_name)))
    removed: list[str] = []
    for path in sorted(folder.iterdir()):
        name = path.name
        leftover = name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)
        orphan = STORED_NAME.fullmatch(name) is not None and name not in known
        if (leftover or orphan) and path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(name)
    return removed
