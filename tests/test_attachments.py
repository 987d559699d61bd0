"""Evidence attachments: real files through save_attachment into <instance>/uploads, on every
database backend; refusals leave neither a file nor a row."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docx
import pytest
from flask import Flask
from pypdf import PdfWriter
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.clock import utcnow
from app.core.errors import DomainError
from app.core.roles import Role
from app.core.uploads import MAX_ATTACHMENT_BYTES
from app.models import Attachment, AuditEvent, Task, User
from app.services import attachments
from tests import factories

NOW = datetime(2026, 6, 30, 2, 30, tzinfo=UTC)
STORED = re.compile(r"[0-9a-f]{32}\.(pdf|ofd|docx|xlsx|jpg|png)")

# --- real sample files ------------------------------------------------------------------------


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def png_bytes() -> bytes:
    """A 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    """An 8x8 mid-grey baseline JFIF: one block with only a DC term, one-code Huffman tables
    (browsers decode it to grey 128)."""

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    one_code = bytes([1] + [0] * 15)
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1) + b"\x00\x00")
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
        + segment(0xC4, b"\x00" + one_code + b"\x00")  # DC: category 0 is code "0"
        + segment(0xC4, b"\x10" + one_code + b"\x00")  # AC: end-of-block is code "0"
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"  # "0" (DC diff 0), "0" (EOB), padded with ones
        + b"\xff\xd9"
    )


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_paragraph("2022年开展普法宣传12次。")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_of(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"


def xlsx_bytes() -> bytes:
    """The smallest workbook Excel opens: one sheet, one inline string."""
    office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    return zip_of(
        {
            "[Content_Types].xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{CT_NS}">'
                '<Default Extension="rels" '
                'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/xl/workbook.xml" ContentType="{office}.sheet.main+xml"/>'
                '<Override PartName="/xl/worksheets/sheet1.xml" '
                f'ContentType="{office}.worksheet+xml"/></Types>'
            ).encode(),
            "_rels/.rels": (
                f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL_NS}">'
                f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" '
                'Target="xl/workbook.xml"/></Relationships>'
            ).encode(),
            "xl/workbook.xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{SHEET_NS}" '
                f'xmlns:r="{REL_NS}"><sheets><sheet name="台账" sheetId="1" r:id="rId1"/>'
                "</sheets></workbook>"
            ).encode(),
            "xl/_rels/workbook.xml.rels": (
                f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL_NS}">'
                f'<Relationship Id="rId1" Type="{REL_NS}/worksheet" '
                'Target="worksheets/sheet1.xml"/></Relationships>'
            ).encode(),
            "xl/worksheets/sheet1.xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{SHEET_NS}">'
                '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>普法宣传</t></is></c>'
                "</row></sheetData></worksheet>"
            ).encode(),
        }
    )


def ofd_bytes() -> bytes:
    """An OFD package (GB/T 33190): a zip with OFD.xml at its root."""
    ofd = "http://www.ofdspec.org/2016"
    return zip_of(
        {
            "OFD.xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{ofd}" '
                'Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocInfo><ofd:DocID>1</ofd:DocID>'
                "</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody>"
                "</ofd:OFD>"
            ).encode(),
            "Doc_0/Document.xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{ofd}">'
                "<ofd:CommonData><ofd:MaxUnitID>1</ofd:MaxUnitID></ofd:CommonData>"
                "</ofd:Document>"
            ).encode(),
        }
    )


SAMPLES: dict[str, tuple[Callable[[], bytes], str]] = {
    "整改报告.pdf": (pdf_bytes, "application/pdf"),
    "宣传现场.png": (png_bytes, "image/png"),
    "宣传现场.jpg": (jpeg_bytes, "image/jpeg"),
    "会议纪要.docx": (
        docx_bytes, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    "普法台账.xlsx": (
        xlsx_bytes, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ),
    "红头文件.ofd": (ofd_bytes, "application/ofd"),
}  # fmt: skip

# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def owner(db: Session) -> tuple[Task, User]:
    unit = factories.make_unit(db)
    office = factories.make_office(db, unit, "司法所")
    task = factories.make_task(db, office, "开展普法宣传")
    user = factories.make_user(db, "staff_a", Role.OFFICE, office=office)
    db.commit()
    return task, user


def uploads(app: Flask) -> Path:
    return Path(app.instance_path) / "uploads"


def save(
    db: Session, app: Flask, owner: tuple[Task, User], filename: str, stream: io.IOBase | bytes
) -> Attachment:
    task, user = owner
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    return attachments.save_attachment(
        db, instance_path=app.instance_path, owner_type="task", owner_id=task.id,
        filename=filename, stream=stream, user=user, now=NOW, ip="10.0.0.8",
    )  # fmt: skip


def folder_listing(app: Flask) -> list[str]:
    folder = uploads(app)
    return sorted(os.listdir(folder)) if folder.exists() else []


def assert_nothing_stored(db: Session, app: Flask) -> None:
    assert folder_listing(app) == []
    db.rollback()
    assert db.exec(select(Attachment)).all() == []
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "attachment.upload")).all() == []


def write_zip(path: Path, fill: Callable[[zipfile.ZipFile], None], level: int = 6) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        fill(archive)
    return path


def write_zeros(archive: zipfile.ZipFile, name: str, megabytes: int) -> None:
    # Streamed: the 300 MB never exist in memory, only 1 MB at a time.
    block = bytes(1024 * 1024)
    with archive.open(name, "w") as member:
        for _ in range(megabytes):
            member.write(block)


def docx_skeleton(archive: zipfile.ZipFile) -> None:
    archive.writestr("[Content_Types].xml", b"<Types/>")
    archive.writestr("_rels/.rels", b"<Relationships/>")


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", list(SAMPLES))
def test_each_type_is_stored_under_a_random_name_with_its_row(
    db: Session, app: Flask, owner: tuple[Task, User], filename: str
) -> None:
    build, mime = SAMPLES[filename]
    data = build()
    saved = save(db, app, owner, filename, data)
    db.commit()

    row = db.get(Attachment, saved.id)
    assert row is not None
    task, user = owner
    assert (row.owner_type, row.owner_id, row.uploaded_by_id) == ("task", task.id, user.id)
    assert row.original_name == filename
    assert row.size == len(data)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    assert row.mime_type == mime
    assert row.created_at == NOW
    assert STORED.fullmatch(row.stored_name)
    assert row.stored_name.endswith(Path(filename).suffix)
    # The only file in the folder: no temporary file left behind.
    assert folder_listing(app) == [row.stored_name]
    path = attachments.attachment_path(app.instance_path, row)
    assert path.parent == uploads(app)
    assert path.read_bytes() == data


def test_the_upload_is_audited(db: Session, app: Flask, owner: tuple[Task, User]) -> None:
    saved = save(db, app, owner, "整改报告.pdf", pdf_bytes())
    db.commit()
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "attachment.upload")).one()
    assert (event.object_type, event.object_id) == ("attachment", saved.id)
    assert event.actor_login == "staff_a"
    assert event.ip == "10.0.0.8"
    assert event.after is not None
    assert event.after["sha256"] == saved.sha256
    assert event.after["original_name"] == "整改报告.pdf"


def test_jpeg_is_stored_as_jpg_and_keeps_its_name(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    saved = save(db, app, owner, "现场.JPEG", jpeg_bytes())
    assert saved.stored_name.endswith(".jpg")
    assert saved.original_name == "现场.JPEG"
    assert saved.mime_type == "image/jpeg"


def test_the_original_name_is_cleaned_for_display(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    saved = save(db, app, owner, "C:\\fakepath\\整改\u202e报告\r\n.pdf", pdf_bytes())
    assert saved.original_name == "整改报告.pdf"


def test_the_same_file_twice_gets_two_names(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    first = save(db, app, owner, "a.png", png_bytes())
    second = save(db, app, owner, "a.png", png_bytes())
    assert first.stored_name != second.stored_name
    assert first.sha256 == second.sha256
    assert len(folder_listing(app)) == 2


def test_a_file_of_exactly_the_limit_is_accepted(
    db: Session, app: Flask, owner: tuple[Task, User], tmp_path: Path
) -> None:
    path = tmp_path / "big.pdf"
    with path.open("wb") as file:
        file.write(b"%PDF-1.4\n")
        file.truncate(MAX_ATTACHMENT_BYTES)
    with path.open("rb") as stream:
        saved = save(db, app, owner, "big.pdf", stream)
    assert saved.size == MAX_ATTACHMENT_BYTES
    assert attachments.attachment_path(app.instance_path, saved).stat().st_size == saved.size


def test_list_for_gives_one_owners_attachments_oldest_first(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    task, user = owner
    first = save(db, app, owner, "1.png", png_bytes())
    second = save(db, app, owner, "2.pdf", pdf_bytes())
    attachments.save_attachment(
        db, instance_path=app.instance_path, owner_type="progress_update", owner_id=task.id,
        filename="3.png", stream=io.BytesIO(png_bytes()), user=user, now=NOW - timedelta(days=1),
    )  # fmt: skip
    db.commit()
    listed = attachments.list_for(db, "task", task.id)
    assert [a.id for a in listed] == [first.id, second.id]
    assert attachments.list_for(db, "task", task.id + 1000) == []


def test_an_anonymous_upload_has_no_uploader(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    task, _ = owner
    saved = attachments.save_attachment(
        db, instance_path=app.instance_path, owner_type="task", owner_id=task.id,
        filename="a.png", stream=io.BytesIO(png_bytes()), user=None, now=NOW,
    )  # fmt: skip
    assert saved.uploaded_by_id is None


# --- refused ----------------------------------------------------------------------------------


def zip_bomb(tmp_path: Path) -> Path:
    """A .docx whose document.xml is 300 MB of zeros (about 1.3 MB on disk)."""

    def fill(archive: zipfile.ZipFile) -> None:
        docx_skeleton(archive)
        write_zeros(archive, "word/document.xml", 300)

    return write_zip(tmp_path / "bomb.docx", fill, level=1)


def ratio_bomb(tmp_path: Path) -> Path:
    """An .xlsx under the total limit with one sheet compressed a thousand to one."""

    def fill(archive: zipfile.ZipFile) -> None:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        write_zeros(archive, "xl/worksheets/sheet1.xml", 50)

    return write_zip(tmp_path / "ratio.xlsx", fill, level=9)


def many_entries(tmp_path: Path) -> Path:
    def fill(archive: zipfile.ZipFile) -> None:
        docx_skeleton(archive)
        archive.writestr("word/document.xml", b"<w:document/>")
        for index in range(5000):
            archive.writestr(f"word/media/p{index}.xml", b"")

    return write_zip(tmp_path / "many.docx", fill)


def escaping_entry(tmp_path: Path) -> Path:
    def fill(archive: zipfile.ZipFile) -> None:
        docx_skeleton(archive)
        archive.writestr("word/document.xml", b"<w:document/>")
        archive.writestr(zipfile.ZipInfo("../../static/evil.html"), b"<script></script>")

    return write_zip(tmp_path / "escape.docx", fill)


def write_bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return build


REFUSALS: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "zip bomb": ("整改.docx", zip_bomb, "解压后超过 200MB"),
    "ratio bomb": ("台账.xlsx", ratio_bomb, "压缩比异常"),
    "5000 entries": ("纪要.docx", many_entries, "包含超过 2000 个文件"),
    "escaping entry": ("纪要.docx", escaping_entry, "不是有效的 Word (.docx) 文件"),
    "docx that is a pdf": ("纪要.docx", write_bytes("x", pdf_bytes()), "内容似乎是PDF 文档"),
    "docx that is plain text": ("纪要.docx", write_bytes("x", "纪要".encode()), "不符"),
    "truncated docx": (
        "纪要.docx", write_bytes("x", docx_bytes()[:5000]), "不是有效的 Word (.docx) 文件"
    ),
    "xlsx renamed docx": ("纪要.docx", write_bytes("x", xlsx_bytes()), "不是有效的 Word"),
    "docx renamed xlsx": ("台账.xlsx", write_bytes("x", docx_bytes()), "不是有效的 Excel"),
    "zip without OFD.xml": (
        "公文.ofd", write_bytes("x", zip_of({"Doc_0/Document.xml": b"<x/>"})), "不是有效的 OFD"
    ),
    "png named jpg": ("照片.jpg", write_bytes("x", png_bytes()), "内容似乎是PNG 图片"),
    "program": ("setup.exe", write_bytes("x", b"MZ" + bytes(100)), "不支持 .exe 文件"),
    "old word": ("旧稿.doc", write_bytes("x", b"\xd0\xcf\x11\xe0" + bytes(100)), "另存为"),
    "web page": ("a.html", write_bytes("x", b"<html></html>"), "不支持 .html 文件"),
    "no extension": ("说明", write_bytes("x", pdf_bytes()), "没有扩展名"),
    "empty": ("空白.pdf", write_bytes("x", b""), "文件内容为空"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_leave_no_file_and_no_row(
    db: Session, app: Flask, owner: tuple[Task, User], tmp_path: Path, case: str
) -> None:
    filename, build, phrase = REFUSALS[case]
    path = build(tmp_path)
    with path.open("rb") as stream, pytest.raises(DomainError) as caught:
        save(db, app, owner, filename, stream)
    assert phrase in caught.value.message
    assert caught.value.field == "file"
    assert_nothing_stored(db, app)


def test_an_oversize_stream_is_refused_without_reading_it_all(
    db: Session, app: Flask, owner: tuple[Task, User], tmp_path: Path
) -> None:
    path = tmp_path / "huge.pdf"
    with path.open("wb") as file:
        file.write(b"%PDF-1.4\n")
        file.truncate(3 * MAX_ATTACHMENT_BYTES)  # sparse: costs no disk
    with path.open("rb") as stream:
        with pytest.raises(DomainError, match="文件超过 20MB 上限"):
            save(db, app, owner, "huge.pdf", stream)
        assert stream.tell() == MAX_ATTACHMENT_BYTES + 1
    assert_nothing_stored(db, app)


def test_one_byte_over_the_limit_is_refused(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    data = b"%PDF-1.4\n".ljust(MAX_ATTACHMENT_BYTES + 1, b"\0")
    with pytest.raises(DomainError, match="文件超过 20MB 上限"):
        save(db, app, owner, "big.pdf", data)
    assert_nothing_stored(db, app)


def test_a_refused_type_is_not_read_at_all(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    stream = io.BytesIO(b"MZ" + bytes(1000))
    with pytest.raises(DomainError):
        save(db, app, owner, "tool.exe", stream)
    assert stream.tell() == 0


class BrokenStream(io.RawIOBase):
    """A real stream whose peer goes away after some bytes, like a dropped connection."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._data:
            raise ConnectionResetError("peer went away")
        count = min(len(buffer), len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


def test_a_read_failure_leaves_nothing_and_is_logged(
    db: Session, app: Flask, owner: tuple[Task, User], caplog: pytest.LogCaptureFixture
) -> None:
    stream = BrokenStream(pdf_bytes())
    with caplog.at_level(logging.ERROR), pytest.raises(DomainError, match="附件保存失败"):
        save(db, app, owner, "a.pdf", stream)  # type: ignore[arg-type]
    assert "attachment upload failed" in caplog.text
    assert_nothing_stored(db, app)


def test_a_failing_row_takes_its_file_back(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    task, _ = owner
    ghost = User(id=987654, login="ghost", name="ghost", password_hash="x")
    with pytest.raises(IntegrityError):
        attachments.save_attachment(
            db, instance_path=app.instance_path, owner_type="task", owner_id=task.id,
            filename="a.png", stream=io.BytesIO(png_bytes()), user=ghost, now=NOW,
        )  # fmt: skip
    assert_nothing_stored(db, app)


def test_an_unusable_uploads_folder_is_reported_plainly(
    db: Session, owner: tuple[Task, User], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    task, user = owner
    not_a_folder = tmp_path / "instance-file"
    not_a_folder.write_bytes(b"")
    with caplog.at_level(logging.ERROR), pytest.raises(DomainError, match="附件保存失败"):
        attachments.save_attachment(
            db, instance_path=str(not_a_folder), owner_type="task", owner_id=task.id,
            filename="a.png", stream=io.BytesIO(png_bytes()), user=user, now=NOW,
        )  # fmt: skip
    assert "attachment upload failed" in caplog.text


@pytest.mark.parametrize(("owner_type", "owner_id"), [("", 1), ("x" * 31, 1), ("task", 0)])
def test_a_bad_owner_is_a_programming_error(
    db: Session, app: Flask, owner_type: str, owner_id: int
) -> None:
    with pytest.raises(ValueError, match="invalid attachment owner"):
        attachments.save_attachment(
            db, instance_path=app.instance_path, owner_type=owner_type, owner_id=owner_id,
            filename="a.png", stream=io.BytesIO(png_bytes()), user=None, now=NOW,
        )  # fmt: skip


# --- paths and housekeeping -------------------------------------------------------------------


def test_storage_dir_is_made_inside_the_instance(tmp_path: Path) -> None:
    folder = attachments.storage_dir(tmp_path / "instance")
    assert folder == tmp_path / "instance" / "uploads"
    assert folder.is_dir()
    assert attachments.storage_dir(tmp_path / "instance") == folder


@pytest.mark.parametrize(
    "stored_name",
    [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "x.pdf",
        "",
        "0" * 32 + ".exe",
        "0" * 32 + ".jpeg",
        "A" * 32 + ".pdf",
        "0" * 31 + ".pdf",
        "0" * 32 + ".pdf\n",
        "../" + "0" * 32 + ".pdf",
        "0" * 32 + ".pdf/../../x",
    ],
)
def test_attachment_path_refuses_names_we_never_make(tmp_path: Path, stored_name: str) -> None:
    row = Attachment(
        owner_type="task", owner_id=1, stored_name=stored_name, original_name="a.pdf", size=1,
        sha256="0" * 64, mime_type="application/pdf",
    )  # fmt: skip
    with pytest.raises(DomainError, match="附件文件不存在或已损坏"):
        attachments.attachment_path(str(tmp_path), row)


def test_attachment_path_accepts_our_names(tmp_path: Path) -> None:
    name = "0123456789abcdef" * 2 + ".docx"
    row = Attachment(
        owner_type="task", owner_id=1, stored_name=name, original_name="a.docx", size=1,
        sha256="0" * 64, mime_type="application/octet-stream",
    )  # fmt: skip
    assert attachments.attachment_path(str(tmp_path), row) == tmp_path / "uploads" / name


def test_sweep_removes_old_orphans_and_crash_leftovers_only(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    kept = save(db, app, owner, "kept.png", png_bytes())
    db.commit()
    folder = uploads(app)
    old_orphan = folder / ("a" * 32 + ".pdf")
    young_orphan = folder / ("b" * 32 + ".pdf")
    leftover = folder / ".upload-0123.part"
    stranger = folder / "README.txt"
    for path in (old_orphan, young_orphan, leftover, stranger):
        path.write_bytes(b"x")
    now = utcnow()
    old = (now - timedelta(days=2)).timestamp()
    for path in (old_orphan, leftover, stranger, folder / kept.stored_name):
        os.utime(path, (old, old))

    removed = attachments.sweep_orphans(db, instance_path=app.instance_path, now=now)

    assert sorted(removed) == sorted([old_orphan.name, leftover.name])
    assert folder_listing(app) == sorted([kept.stored_name, young_orphan.name, stranger.name])


def test_a_rolled_back_upload_leaves_an_orphan_the_sweep_removes(
    db: Session, app: Flask, owner: tuple[Task, User]
) -> None:
    saved = save(db, app, owner, "a.png", png_bytes())
    name = saved.stored_name
    db.rollback()
    assert folder_listing(app) == [name]
    later = utcnow() + attachments.ORPHAN_GRACE + timedelta(minutes=1)
    assert attachments.sweep_orphans(db, instance_path=app.instance_path, now=later) == [name]
    assert folder_listing(app) == []
