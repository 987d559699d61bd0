"""Rules for evidence attachments: which files are accepted, and how their names are shown.

Pure: the service (app/services/attachments.py) reads the upload, then asks these functions
whether the name, size, first bytes and (for zip-based formats) archive listing are acceptable.
Every refusal is a DomainError with a Chinese message the upload form can show as is.

Design choices:
- The extension decides the type and the content must agree with it (magic bytes), so a
  renamed program or web page is never stored under a harmless-looking name. .jpeg is
  normalised to .jpg, so stored names have exactly one spelling per type.
- .docx, .xlsx and .ofd are zip archives. Their listing is judged from the declared sizes
  before anything is decompressed: nothing here (or in the service) ever extracts a part, so
  a header that lies about sizes cannot make us expand it.
- Display names keep what the user typed (Chinese, spaces, full-width punctuation) and lose
  only what could mislead or break something: folders, control and bidi-override characters,
  characters Windows forbids in file names.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.errors import DomainError

ALLOWED = frozenset({".pdf", ".ofd", ".docx", ".xlsx", ".jpg", ".jpeg", ".png"})
ZIP_BASED = frozenset({".docx", ".xlsx", ".ofd"})
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
# How many leading bytes check_upload looks at: the PDF standard lets a header follow up to
# 1 KB of junk, and readers accept that, so we do too.
HEAD_BYTES = 1024
MAX_NAME_LENGTH = 255
FALLBACK_STEM = "附件"

# Zip-bomb limits. Office parts and OFD pages are XML that compresses well, but a genuine
# 20 MB upload never expands past a few hundred MB; images inside are stored compressed (ratio
# near 1). Small parts legitimately compress very well, hence the size floor for the ratio.
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 200
ZIP_RATIO_FLOOR_BYTES = 1024 * 1024
# The end-of-central-directory record (22 bytes) ends the file, after a comment of < 64 KB.
ZIP_TAIL_BYTES = 22 + 0xFFFF

ACCEPTED = "仅支持 .pdf、.ofd、.docx、.xlsx、.jpg、.png 文件"
MSG_EMPTY = "文件内容为空。"
MSG_TOO_LARGE = f"文件超过 {MAX_ATTACHMENT_BYTES // 1024 // 1024}MB 上限，请压缩或拆分后再上传。"
MSG_NO_EXTENSION = f"无法识别文件类型（文件名没有扩展名），{ACCEPTED}。"

_MIME_TYPES = {
    ".pdf": "application/pdf",
    ".ofd": "application/ofd",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
_LABELS = {".docx": "Word (.docx)", ".xlsx": "Excel (.xlsx)", ".ofd": "OFD (.ofd)"}
# Parts without which the archive is not a document of its type (compared case-insensitively:
# OOXML part names are case-insensitive, and OFD writers differ in case).
_REQUIRED_PARTS = {
    ".docx": ("[content_types].xml", "word/document.xml"),
    ".xlsx": ("[content_types].xml", "xl/workbook.xml"),
    ".ofd": ("ofd.xml",),
}
# Formats users have that the right program can save as an accepted one.
_SAVE_AS = {
    ".doc": "Word (.docx)", ".wps": "Word (.docx)", ".rtf": "Word (.docx)",
    ".odt": "Word (.docx)", ".docm": "Word (.docx)", ".xls": "Excel (.xlsx)",
    ".et": "Excel (.xlsx)", ".xlsm": "Excel (.xlsx)", ".ods": "Excel (.xlsx)",
    ".csv": "Excel (.xlsx)", ".jfif": "JPG", ".bmp": "JPG 或 PNG", ".gif": "PNG",
    ".heic": "JPG", ".tif": "JPG 或 PNG", ".tiff": "JPG 或 PNG", ".webp": "JPG 或 PNG",
}  # fmt: skip

_PDF = b"%PDF-"
_ZIP = b"PK\x03\x04"
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What a mismatching file most likely is, for a message that helps the user fix it.
_KINDS = (
    (_PNG, "PNG 图片"),
    (_JPEG, "JPG 图片"),
    (_ZIP, "ZIP 压缩包或 Office 文档"),
    (_OLE2, "旧版 Office 文档（.doc/.xls）或加密文档"),
    (b"GIF8", "GIF 图片"),
    (b"BM", "BMP 图片"),
    (b"Rar!", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (b"MZ", "可执行程序"),
    (b"\x7fELF", "可执行程序"),
)
_HTML = re.compile(rb"^\s*<(!doctype|html|head|body|script|\?xml)", re.IGNORECASE)

# Windows forbids these in file names; a browser would mangle them on download anyway.
_FORBIDDEN_CHARS = dict.fromkeys(map(ord, '<>:"|?*'), "_")
# Control, format (bidi overrides such as U+202E), separator, surrogate, private, unassigned.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_MAX_EXTENSION_LENGTH = 16


def extension_of(filename: str) -> str:
    """The lower-case extension of FILENAME's last path segment (".pdf"), or ""."""
    name = unicodedata.normalize("NFKC", filename).strip()
    name = name.replace("\\", "/").rsplit("/", 1)[-1].rstrip(". ")
    _, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and ext else ""


def check_extension(filename: str) -> str:
    """FILENAME's normalised extension if it is an accepted type; DomainError otherwise.

    Cheap enough to call before reading the upload at all."""
    ext = extension_of(filename)
    if ext in ALLOWED:
        return ".jpg" if ext == ".jpeg" else ext
    if not ext:
        raise DomainError(MSG_NO_EXTENSION, "file")
    shown = ext[:12]
    if ext in _SAVE_AS:
        raise DomainError(
            f"不支持 {shown} 文件，{ACCEPTED}，请另存为 {_SAVE_AS[ext]} 后再上传。", "file"
        )
    raise DomainError(f"不支持 {shown} 文件，{ACCEPTED}。", "file")


def check_upload(filename: str, head: bytes, size: int) -> str:
    """The normalised extension of an acceptable upload; DomainError otherwise.

    HEAD is the first HEAD_BYTES bytes (or the whole file if shorter); SIZE is the byte count,
    which may be any value above MAX_ATTACHMENT_BYTES when the reader stopped early."""
    ext = check_extension(filename)
    if size <= 0:
        raise DomainError(MSG_EMPTY, "file")
    if size > MAX_ATTACHMENT_BYTES:
        raise DomainError(MSG_TOO_LARGE, "file")
    if not _content_matches(ext, head):
        raise DomainError(_mismatch_message(ext, head), "file")
    return ext


def _content_matches(ext: str, head: bytes) -> bool:
    if ext == ".pdf":
        return _PDF in head[:HEAD_BYTES]
    if ext in ZIP_BASED:
        return head.startswith(_ZIP)
    if ext == ".jpg":
        return head.startswith(_JPEG)
    return head.startswith(_PNG)


def _mismatch_message(ext: str, head: bytes) -> str:
    if ext in (".docx", ".xlsx") and head.startswith(_OLE2):
        old = ".doc" if ext == ".docx" else ".xls"
        return (
            f"文件内容与扩展名 {ext} 不符：内容是旧版 {old} 格式或设置了打开密码，"
            f"请取消密码并另存为 {ext} 后再上传。"
        )
    kind = _describe(head)
    seems = f"（内容似乎是{kind}）" if kind else ""
    return f"文件内容与扩展名 {ext} 不符{seems}，请确认文件类型后重新上传。"


def _describe(head: bytes) -> str | None:
    if _PDF in head[:HEAD_BYTES]:
        return "PDF 文档"
    for magic, kind in _KINDS:
        if head.startswith(magic):
            return kind
    if _HTML.match(head):
        return "网页或 XML 文件"
    return None


def mime_type_for(ext: str) -> str:
    """The Content-Type to serve a file of extension EXT with (octet-stream when unknown)."""
    return _MIME_TYPES.get(ext.lower(), "application/octet-stream")


def safe_display_name(filename: str) -> str:
    """FILENAME as it may be shown and offered for download: the last path segment, without
    control or bidi characters, at most MAX_NAME_LENGTH characters, never empty."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = name.translate(_FORBIDDEN_CHARS).strip().rstrip(". ")
    stem, dot, ext = name.rpartition(".")
    if not dot or not ext or len(ext) >= _MAX_EXTENSION_LENGTH or ext != ext.strip():
        stem, ext = name, ""
    # A leading dot would make a hidden file on the user's disk.
    stem = stem.strip().lstrip(".").strip() or FALLBACK_STEM
    suffix = f".{ext}" if ext else ""
    return stem[: MAX_NAME_LENGTH - len(suffix)] + suffix


# --- zip-based formats ------------------------------------------------------------------------


@dataclass(frozen=True)
class ZipEntry:
    """What a zip archive's central directory declares about one member."""

    name: str
    file_size: int
    compress_size: int
    flag_bits: int = 0


def declared_entry_count(tail: bytes) -> int | None:
    """The entry count in the end-of-central-directory record found in TAIL (the file's last
    64 KB + 22 bytes), or None when there is none (not a zip, or truncated).

    Read by hand so that a listing of a million entries is refused before zipfile builds an
    object for each of them. A ZIP64 archive says 0xFFFF here, which is over any limit."""
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    _, _, _, _, total, _, _, _ = struct.unpack("<4s4H2LH", tail[at : at + 22])
    return total


def check_entry_count(ext: str, count: int) -> None:
    """Refuse an archive of type EXT that declares more than MAX_ZIP_ENTRIES members."""
    if count > MAX_ZIP_ENTRIES:
        raise DomainError(_bomb_message(ext, f"包含超过 {MAX_ZIP_ENTRIES} 个文件"), "file")


def check_archive(ext: str, entries: Iterable[ZipEntry]) -> None:
    """Refuse a .docx/.xlsx/.ofd whose listing looks like a zip bomb, holds a path that
    escapes its folder, is encrypted, or lacks the parts its type needs."""
    entries = list(entries)
    check_entry_count(ext, len(entries))
    total = 0
    names: set[str] = set()
    for entry in entries:
        total += entry.file_size
        if total > MAX_ZIP_UNCOMPRESSED_BYTES:
            limit = MAX_ZIP_UNCOMPRESSED_BYTES // 1024 // 1024
            raise DomainError(_bomb_message(ext, f"解压后超过 {limit}MB"), "file")
        if _too_compressed(entry):
            raise DomainError(_bomb_message(ext, "压缩比异常"), "file")
        name = entry.name.replace("\\", "/").lower()
        if _unsafe_name(name) or name in names or entry.flag_bits & 0x1:
            raise DomainError(damaged_message(ext), "file")
        names.add(name)
    if not all(part in names for part in _REQUIRED_PARTS[ext]):
        raise DomainError(damaged_message(ext), "file")


def _too_compressed(entry: ZipEntry) -> bool:
    return entry.file_size > ZIP_RATIO_FLOOR_BYTES and entry.file_size > MAX_ZIP_RATIO * max(
        entry.compress_size, 1
    )


def _unsafe_name(name: str) -> bool:
    return (
        not name
        or name.startswith("/")
        or re.match(r"[a-z]:", name) is not None
        or ".." in name.split("/")
        or any(unicodedata.category(ch) == "Cc" for ch in name)
    )


def _bomb_message(ext: str, why: str) -> str:
    return f"文件疑似压缩炸弹（{why}），无法保存，请确认文件来源后重新另存为 {ext} 再上传。"


def damaged_message(ext: str) -> str:
    """The message for a zip-based file that cannot be read as its type."""
    label = _LABELS.get(ext, ext)
    return f"不是有效的 {label} 文件，文件可能已损坏，请重新另存为 {ext} 后再上传。"
