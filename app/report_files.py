"""Turn an uploaded report file's bytes into text for the report parser.

Three formats are accepted: plain text (.txt), Word (.docx) and PDF with a text layer (.pdf).
Everything a user can get wrong (wrong type, wrong encoding, an image renamed to .txt, a damaged
or hostile archive, a scanned PDF) ends in ParseError with a Chinese message the upload page can
show as is; nothing else escapes read_report_file.

Design choices:
- The extension decides the reader, and the content must agree with it: a renamed file is
  refused with a hint about what it really is, rather than read by guesswork.
- Text files are decoded strictly, UTF-8 first, then GB18030 (a superset of GBK and GB2312).
  GBK text is valid UTF-8 by accident only when it is a few characters long (一 is D2 BB),
  and that case is re-read as GB18030. A decoded result is also checked for plausibility
  (control characters, characters outside GB2312), so binary junk and other legacy encodings
  (Big5, Shift-JIS) are refused instead of garbled.
- .docx is read with zipfile + ElementTree, not python-docx: python-docx does not compute Word's
  automatic numbering, and the numbering labels (一、 （一） 1.) are exactly what the report
  parser needs. The archive is checked for zip-bomb traits before any part is decompressed.
- The returned text has line endings normalised to "\\n"; the parser's offsets index into it.
"""

from __future__ import annotations

import functools
import io
import logging
import posixpath
import re
import unicodedata
import warnings
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pypdf import PasswordType, PdfReader

from app.core.report_types import ParseError

logger = logging.getLogger(__name__)

MAX_REPORT_BYTES = 10 * 1024 * 1024
ALLOWED_EXTENSIONS = frozenset({".txt", ".docx", ".pdf"})

# Zip-bomb limits. A long report's document.xml is a few MB; images are stored compressed, so
# their ratio is near 1. Small parts legitimately compress very well, hence the size floor.
MAX_ZIP_ENTRIES = 1000
MAX_ZIP_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
MAX_ZIP_RATIO = 200
ZIP_RATIO_FLOOR_BYTES = 1024 * 1024
# ElementTree needs about eight times a part's size in memory; 30 MB of XML is over a thousand
# pages, far beyond any report.
MAX_XML_PART_BYTES = 30 * 1024 * 1024

MAX_PDF_PAGES = 500
# Scanning apps (扫描全能王 and the like) stamp a few characters of watermark on every page, so
# "has some text" is not enough: a PDF needs this many visible characters per page on average.
PDF_MIN_CHARS_PER_PAGE = 20

ACCEPTED = "仅支持 .txt、.docx、.pdf 文件"
MSG_TOO_LARGE = "文件超过 10MB 上限。"
MSG_EMPTY = "文件内容为空。"
MSG_ENCODING = "无法识别文件编码，请另存为 UTF-8 或 GBK 编码的文本文件。"
MSG_NOT_TEXT = "文件不是文本格式，请上传 .txt、.docx 或 .pdf 格式的报告。"
MSG_NO_EXTENSION = f"无法识别文件类型（文件名没有扩展名），{ACCEPTED}。"
MSG_ZIP_BOMB = "文件疑似压缩炸弹或已损坏，无法读取，请在 Word 中重新另存为 .docx 后再上传。"
MSG_BAD_DOCX = (
    "不是有效的 Word (.docx) 文件，文件可能已损坏，请在 Word 或 WPS 中另存为 .docx 后再上传。"
)
MSG_OLD_DOC = (
    "不是有效的 Word (.docx) 文件：内容是旧版 .doc 格式或设置了打开密码，"
    "请在 Word 或 WPS 中取消密码并另存为 .docx 后再上传。"
)
MSG_BAD_PDF = "不是有效的 PDF 文件，文件可能已损坏，请重新导出 PDF 或上传 Word、文本文件。"
MSG_PDF_ENCRYPTED = "该 PDF 设置了密码，无法读取，请上传未加密的 PDF 或 Word、文本文件。"
MSG_PDF_TOO_MANY_PAGES = f"PDF 超过 {MAX_PDF_PAGES} 页上限，请只上传报告本身。"
MSG_PDF_NO_TEXT = "该 PDF 没有可提取的文字（可能是扫描件），请上传 Word 或文本文件。"
MSG_UNREADABLE = "无法读取该文件，请确认文件未损坏，或另存为 .docx 或 .txt 后再上传。"

# Extensions of word-processing formats that Word or WPS can save as .docx.
_SAVE_AS_DOCX = {".doc", ".wps", ".rtf", ".odt", ".docm", ".dot", ".dotx", ".wpt", ".xml"}


def read_report_file(filename: str, data: bytes) -> str:
    """The text of an uploaded report, or ParseError with a message for the user."""
    try:
        return _read(filename, data)
    except ParseError:
        raise
    except Exception:
        # Last line of defence: the user still gets a message, and we get the traceback.
        logger.exception("unexpected error reading report file %r", filename)
        raise ParseError(MSG_UNREADABLE) from None


def decode_text(data: bytes) -> str:
    """Decode a text file (UTF-8/16/32 with BOM, UTF-8, GB18030/GBK), newlines as "\\n".

    An empty result is returned as is; read_report_file is where emptiness is refused.
    """
    bom_text = _decode_bom(data)
    if bom_text is not None:
        _check_plausible(bom_text)
        return _normalise(bom_text)
    kind = _sniff_binary(data)
    if kind is not None or b"\x00" in data:
        raise ParseError(_not_text_message(kind))
    try:
        text = _prefer_gb18030_lookalike(data, data.decode("utf-8"))
    except UnicodeDecodeError:
        text = _decode_gb18030(data)
    _check_plausible(text)
    return _normalise(text)


def normalise_text(text: str) -> str:
    """Text from elsewhere (a pasted textarea arrives with "\r\n") made like a file's text."""
    return _normalise(text)


# --- dispatch -------------------------------------------------------------------------------


def _read(filename: str, data: bytes) -> str:
    extension = _extension(filename)
    _check_extension(extension)
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > MAX_REPORT_BYTES:
        raise ParseError(f"文件大小为 {len(data) / 1024 / 1024:.1f}MB，{MSG_TOO_LARGE}")
    if not data.strip():
        raise ParseError(MSG_EMPTY)
    readers: dict[str, Callable[[bytes], str]] = {
        ".txt": decode_text,
        ".docx": _read_docx,
        ".pdf": _read_pdf,
    }
    text = _normalise(readers[extension](data))
    if not text.strip():
        raise ParseError(MSG_EMPTY)
    return text


def _extension(filename: str) -> str:
    """The lower-case extension of the last path component ("" when there is none)."""
    if not isinstance(filename, str):
        return ""
    # NFKC folds a full-width "．ＤＯＣＸ" typed by an IME into ".docx".
    name = unicodedata.normalize("NFKC", filename).strip()
    name = name.replace("\\", "/").rsplit("/", 1)[-1].rstrip(". ")
    _, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and ext else ""


def _check_extension(extension: str) -> None:
    if extension in ALLOWED_EXTENSIONS:
        return
    if not extension:
        raise ParseError(MSG_NO_EXTENSION)
    shown = extension[:12]
    if extension == ".doc":
        raise ParseError(
            f"{ACCEPTED}。.doc 是旧版 Word 格式，请在 Word 或 WPS 中另存为 .docx 后再上传。"
        )
    if extension in _SAVE_AS_DOCX:
        raise ParseError(
            f"{ACCEPTED}（当前为 {shown}），请在 Word 或 WPS 中另存为 .docx 后再上传。"
        )
    raise ParseError(f"{ACCEPTED}（当前为 {shown}），请上传报告的 Word、PDF 或文本文件。")


# --- what a file really is ------------------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "Word (.docx) 文件或压缩包"),
    (b"PK\x05\x06", "压缩包"),
    (b"%PDF-", "PDF 文件"),
    (_OLE2, "旧版 Office 文件（.doc、.xls、.wps 等）"),
    (b"{\\rtf", "RTF 文件"),
    (b"\x89PNG\r\n\x1a\n", "图片"),
    (b"\xff\xd8\xff", "图片"),
    (b"GIF87a", "图片"),
    (b"GIF89a", "图片"),
    (b"Rar!\x1a\x07", "压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "压缩包"),
    (b"\x1f\x8b", "压缩包"),
    (b"MZ", "可执行程序"),
)


def _sniff_binary(data: bytes) -> str | None:
    """What a non-text file looks like, from its leading bytes (None: no known signature)."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            # "MZ" also starts ordinary words; only a program has NUL bytes after it.
            if signature == b"MZ" and b"\x00" not in data[:512]:
                continue
            return kind
    return None


def _describe(data: bytes) -> str | None:
    """A short description of the content, for messages about a mismatched extension."""
    kind = _sniff_binary(data)
    if kind is not None:
        return kind
    head = data[:4096]
    try:
        # Cut at a line break so that a multi-byte character is not split.
        decode_text(head.rpartition(b"\n")[0] or head)
    except ParseError:
        return None
    return "纯文本文件"


def _not_text_message(kind: str | None) -> str:
    if kind is None:
        return MSG_NOT_TEXT
    return f"文件不是文本格式（内容似乎是{_spaced(kind)}），请上传 .txt、.docx 或 .pdf 格式的报告。"


def _spaced(kind: str) -> str:
    # Chinese typesetting puts a space between a Chinese character and a Latin word.
    return f" {kind}" if kind[0].isascii() else kind


# --- text files -----------------------------------------------------------------------------

# UTF-32 first: its little-endian BOM starts with UTF-16's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# C0 and C1 controls other than tab and the line/page breaks that _normalise turns into "\n".
_STRAY_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
# Ideographs and private-use characters: what GB18030-decoded text is judged on.
_GB18030_SUSPECT = re.compile("[\u4e00-\u9fff\ue000-\uf8ff]")
_GB18030_SAMPLE = 2000
_TWO_BYTE_UTF8 = re.compile("[\u0080-\u07ff]")
_BEYOND_TWO_BYTE_UTF8 = re.compile("[^\u0000-\u07ff]")


def _decode_bom(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                raise ParseError(MSG_ENCODING) from None
    return None


def _decode_gb18030(data: bytes) -> str:
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise ParseError(MSG_ENCODING) from None
    # Big5, Shift-JIS and the like often decode as GB18030 too, but into rare ideographs and
    # private-use characters; a Simplified Chinese report is almost all GB2312 characters.
    sample = _GB18030_SUSPECT.findall(text, 0, _GB18030_SAMPLE * 4)[:_GB18030_SAMPLE]
    rare = sum(1 for ch in sample if not _in_gb2312(ch))
    if len(sample) >= 4 and rare * 2 > len(sample):
        raise ParseError(MSG_ENCODING)
    return text


def _prefer_gb18030_lookalike(data: bytes, text: str) -> str:
    """Re-read as GB18030 a short GBK text that happens to be valid UTF-8.

    一 in GBK (D2 BB) is the Cyrillic letter һ in UTF-8. Chinese in UTF-8 always has three-byte
    sequences, so a UTF-8 reading made only of ASCII and two-byte letters (accents, Greek,
    Cyrillic), when GB18030 reads it as common Chinese, was GBK all along.
    """
    if not _TWO_BYTE_UTF8.search(text) or _BEYOND_TWO_BYTE_UTF8.search(text):
        return text
    try:
        chinese = _decode_gb18030(data)
    except ParseError:
        return text
    return chinese if _GB18030_SUSPECT.search(chinese) else text


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _check_plausible(text: str) -> None:
    """Refuse decoded binary: text has no control characters beyond tab and line breaks.

    A DOS end-of-file mark is allowed at the end, and a long file may carry a few strays
    (copied from Word cell marks), which _normalise drops.
    """
    strays = len(_STRAY_CONTROL.findall(text.rstrip("\x1a")))
    if strays > len(text) // 1000:
        raise ParseError(MSG_NOT_TEXT)


def _build_normalise_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(ch): "\n" for ch in "\r\v\f\x85\u2028\u2029"}
    table.update({cp: None for cp in (*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F)})
    table.update({cp: None for cp in range(0x80, 0xA0) if cp != 0x85})
    table[0xFEFF] = None
    # PDF text layers often carry Kangxi radicals (⼀ U+2F00) in place of the ideographs (一).
    for cp in (*range(0x2E80, 0x2EFF), *range(0x2F00, 0x2FE0)):
        folded = unicodedata.normalize("NFKC", chr(cp))
        if folded != chr(cp):
            table[cp] = folded
    return table


_NORMALISE = _build_normalise_table()


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").translate(_NORMALISE)


# --- .docx: the archive ---------------------------------------------------------------------

_DOCTYPE_MARKERS = (
    b"<!DOCTYPE",
    "<!DOCTYPE".encode("utf-16-le"),
    "<!DOCTYPE".encode("utf-16-be"),
)
# Library errors that mean "this archive or its XML is damaged".
_DOCX_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ET.ParseError,
    OSError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    LookupError,
    zlib.error,
)


def _read_docx(data: bytes) -> str:
    parts = _open_docx(data)
    try:
        return _DocxText(parts).text()
    except RecursionError:
        # Elements nested thousands deep: no real document is built like that.
        raise ParseError(MSG_BAD_DOCX) from None


def _open_docx(data: bytes) -> _DocxParts:
    """The parsed XML parts, after the archive has passed the zip-bomb checks."""
    if data.startswith(_OLE2):
        raise ParseError(MSG_OLD_DOC)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _DOCX_ERRORS:
        raise ParseError(_mismatch_message(MSG_BAD_DOCX, data)) from None
    try:
        with archive:
            _check_zip_safety(archive)
            return _load_docx_parts(archive)
    except _DOCX_ERRORS:
        logger.info("damaged .docx refused", exc_info=True)
        raise ParseError(MSG_BAD_DOCX) from None


def _mismatch_message(base: str, data: bytes) -> str:
    """BASE, or a message naming what the content really is when that can be told."""
    kind = _describe(data)
    if kind is None:
        return base
    head = base.partition("，")[0]
    return f"{head}：内容似乎是{_spaced(kind)}，请确认文件类型后重新上传。"


def _check_zip_safety(archive: zipfile.ZipFile) -> None:
    """Refuse archives that would expand out of proportion, before decompressing anything."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ParseError(MSG_ZIP_BOMB)
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"[A-Za-z]:", name) or ".." in name.split("/"):
            raise ParseError(MSG_ZIP_BOMB)
        total += info.file_size
        ratio_limit = MAX_ZIP_RATIO * max(info.compress_size, 1)
        if total > MAX_ZIP_UNCOMPRESSED_BYTES or (
            info.file_size > ZIP_RATIO_FLOOR_BYTES and info.file_size > ratio_limit
        ):
            raise ParseError(MSG_ZIP_BOMB)
        if info.flag_bits & 0x1:
            raise ParseError(MSG_OLD_DOC)


@dataclass(frozen=True)
class _DocxParts:
    document: ET.Element
    styles: ET.Element | None
    numbering: ET.Element | None


def _load_docx_parts(archive: zipfile.ZipFile) -> _DocxParts:
    names = {info.filename.lower(): info for info in archive.infolist()}
    main = _relationship_target(archive, names, "", "officeDocument") or "word/document.xml"
    document = _read_xml(archive, names, main)
    if document is None:
        raise ParseError(MSG_BAD_DOCX)
    styles = _relationship_target(archive, names, main, "styles") or "word/styles.xml"
    numbering = _relationship_target(archive, names, main, "numbering") or "word/numbering.xml"
    return _DocxParts(
        document=document,
        styles=_read_xml(archive, names, styles),
        numbering=_read_xml(archive, names, numbering),
    )


def _relationship_target(
    archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo], source: str, rel_type: str
) -> str | None:
    """The part a relationship of SOURCE ("" for the package) points to, by type's last word."""
    folder, _, base = source.rpartition("/")
    rels = _read_xml(archive, names, posixpath.join(folder, "_rels", f"{base}.rels"))
    if rels is None:
        return None
    for rel in rels:
        if rel.get("Type", "").rsplit("/", 1)[-1] != rel_type or rel.get("TargetMode"):
            continue
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
        return posixpath.normpath(path)
    return None


def _read_xml(
    archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo], name: str
) -> ET.Element | None:
    info = names.get(name.lower())
    if info is None:
        return None
    if info.file_size > MAX_XML_PART_BYTES:
        raise ParseError(MSG_ZIP_BOMB)
    # zipfile stops at the declared size and then checks the CRC, so a header that understates
    # the size cannot make this read more than the limit checked above.
    with archive.open(info) as stream:
        raw = stream.read()
    # OOXML parts never declare a DTD; refusing one rules out entity-expansion tricks.
    if any(marker in raw for marker in _DOCTYPE_MARKERS):
        raise ParseError(MSG_BAD_DOCX)
    return ET.fromstring(raw)


# --- .docx: WordprocessingML ----------------------------------------------------------------

_W_NAMESPACES = (
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",  # ISO "Strict" documents
)
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Inline elements whose subtree is never document text: properties, deleted or moved-away
# runs, field instructions, ruby annotations.
_SKIPPED_INLINE = {"pPr", "rPr", "del", "moveFrom", "instrText", "delInstrText", "rt", "fldData"}
# Block-level wrappers whose children are again blocks.
_BLOCK_WRAPPERS = {"sdt", "sdtContent", "customXml", "ins", "moveTo", "smartTag"}


def _w(element: ET.Element) -> str | None:
    """The local name of a WordprocessingML element (None for other namespaces)."""
    tag = element.tag
    return _w_local_name(tag) if isinstance(tag, str) else None


@functools.lru_cache(maxsize=1024)
def _w_local_name(tag: str) -> str | None:
    # A document repeats a few dozen tags hundreds of thousands of times.
    if not tag.startswith("{"):
        return None
    namespace, _, name = tag[1:].partition("}")
    return name if namespace in _W_NAMESPACES else None


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (child for child in element if _w(child) == name)


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next(_children(element, name), None)


def _attr(element: ET.Element | None, name: str = "val") -> str | None:
    if element is None:
        return None
    for namespace in _W_NAMESPACES:
        value = element.get(f"{{{namespace}}}{name}")
        if value is not None:
            return value
    return element.get(name)


def _int(value: str | None) -> int | None:
    """A non-negative attribute number; None when absent or not a number."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return min(max(number, 0), 2**31)


def _child_val(element: ET.Element | None, name: str) -> str | None:
    return _attr(_child(element, name))


def _is_on(element: ET.Element | None) -> bool:
    """A WordprocessingML toggle: present and not switched off."""
    return element is not None and _attr(element) not in ("0", "false", "off")


class _DocxText:
    """Walks document.xml in order: paragraphs with their numbering labels, then tables."""

    def __init__(self, parts: _DocxParts) -> None:
        self._body = _child(parts.document, "body")
        self._styles = _Styles(parts.styles)
        self._numbering = _Numbering(parts.numbering, self._styles)

    def text(self) -> str:
        if self._body is None:
            raise ParseError(MSG_BAD_DOCX)
        lines: list[str] = []
        self._blocks(self._body, lines)
        return "\n".join(lines)

    def _blocks(self, container: ET.Element, out: list[str]) -> None:
        for child in container:
            name = _w(child)
            if name == "p":
                self._paragraph(child, out)
            elif name == "tbl":
                self._table(child, out)
            elif name in _BLOCK_WRAPPERS or (name is None and child.tag != _MC_FALLBACK):
                self._blocks(child, out)

    def _paragraph(self, paragraph: ET.Element, out: list[str]) -> None:
        parts: list[str] = []
        text_boxes: list[ET.Element] = []
        self._inline(paragraph, parts, text_boxes)
        text = "".join(parts)
        label = self._label(paragraph)
        out.append(label + text if label else text)
        for box in text_boxes:
            self._blocks(box, out)

    def _inline(self, element: ET.Element, parts: list[str], text_boxes: list[ET.Element]) -> None:
        for child in element:
            name = _w(child)
            if name == "t":
                parts.append(child.text or "")
            elif name in ("tab", "ptab"):
                parts.append("\t")
            elif name in ("br", "cr"):
                parts.append("\n")
            elif name == "noBreakHyphen":
                parts.append("-")
            elif name == "txbxContent":
                text_boxes.append(child)
            elif name == "r" and _is_on(_child(_child(child, "rPr"), "vanish")):
                continue
            elif name not in _SKIPPED_INLINE and child.tag != _MC_FALLBACK:
                self._inline(child, parts, text_boxes)

    def _table(self, table: ET.Element, out: list[str]) -> None:
        for row in _descendants_named(table, "tr", stop="tbl"):
            cells = [self._cell_lines(cell) for cell in _descendants_named(row, "tc", stop="tbl")]
            filled = [lines for lines in cells if any(line.strip() for line in lines)]
            if len(filled) == 1:
                # A one-cell layout table (some templates frame the whole body) keeps its lines.
                out.extend(filled[0])
            elif filled:
                out.append("\t".join(_cell_as_one_line(lines) for lines in cells))

    def _cell_lines(self, cell: ET.Element) -> list[str]:
        lines: list[str] = []
        self._blocks(cell, lines)
        return lines

    def _label(self, paragraph: ET.Element) -> str | None:
        properties = _child(paragraph, "pPr")
        num_pr = _child(properties, "numPr")
        num_id = _child_val(num_pr, "numId")
        level = _int(_child_val(num_pr, "ilvl"))
        style_id = _child_val(properties, "pStyle") or self._styles.default_paragraph
        if num_id is None or level is None:
            style_num_id, style_level = self._styles.numbering(style_id)
            num_id = num_id if num_id is not None else style_num_id
            level = level if level is not None else style_level
        if num_id is None or num_id == "0":
            return None
        if level is None:
            level = self._numbering.level_for_style(num_id, style_id)
        return self._numbering.next_label(num_id, min(level, 8))


def _descendants_named(element: ET.Element, name: str, stop: str) -> Iterator[ET.Element]:
    """Elements NAME under ELEMENT, looking through wrappers (sdt, customXml) but not into STOP."""
    for child in element:
        child_name = _w(child)
        if child_name == name:
            yield child
        elif child_name != stop and child_name not in _SKIPPED_INLINE:
            yield from _descendants_named(child, name, stop)


def _cell_as_one_line(lines: list[str]) -> str:
    """A cell's paragraphs on one line, so that a table row stays one line of text."""
    pieces = (piece.strip() for line in lines for piece in re.split(r"[\t\n]", line))
    return " ".join(piece for piece in pieces if piece)


def _separator(label: str, suffix: str) -> str:
    """What Word's tab or space after a label becomes in plain text.

    "一、" and "（一）" end in full-width punctuation and need nothing; "1." gets a space; a label
    ending in a character, like "第一条", gets the ideographic space official documents use.
    """
    last = label[-1]
    if suffix == "nothing" or last.isspace():
        return ""
    if last.isascii():
        return " "
    return "" if unicodedata.category(last).startswith("P") else "\u3000"


# --- .docx: styles and numbering -------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    based_on: str | None
    num_id: str | None
    level: int | None


class _Styles:
    """Paragraph styles, for the numbering a style carries (directly or through basedOn)."""

    def __init__(self, root: ET.Element | None) -> None:
        self.default_paragraph: str | None = None
        self._styles: dict[str, _Style] = {}
        for style in _children(root, "style") if root is not None else ():
            style_id = _attr(style, "styleId")
            if style_id is None:
                continue
            num_pr = _child(_child(style, "pPr"), "numPr")
            self._styles[style_id] = _Style(
                based_on=_child_val(style, "basedOn"),
                num_id=_child_val(num_pr, "numId"),
                level=_int(_child_val(num_pr, "ilvl")),
            )
            if _attr(style, "type") == "paragraph" and _is_on_flag(_attr(style, "default")):
                self.default_paragraph = style_id

    def numbering(self, style_id: str | None) -> tuple[str | None, int | None]:
        num_id: str | None = None
        level: int | None = None
        seen: set[str] = set()
        while style_id is not None and style_id not in seen and style_id in self._styles:
            seen.add(style_id)
            style = self._styles[style_id]
            num_id = num_id if num_id is not None else style.num_id
            level = level if level is not None else style.level
            style_id = style.based_on
        return num_id, level


def _is_on_flag(value: str | None) -> bool:
    return value in ("1", "true", "on")


@dataclass(frozen=True)
class _Level:
    fmt: str = "decimal"
    text: str | None = None
    start: int = 1
    restart: int | None = None
    legal: bool = False
    suffix: str = "tab"
    style: str | None = None


def _parse_level(element: ET.Element) -> _Level:
    start = _int(_child_val(element, "start"))
    return _Level(
        fmt=_child_val(element, "numFmt") or "decimal",
        text=_child_val(element, "lvlText"),
        start=1 if start is None else start,
        restart=_int(_child_val(element, "lvlRestart")),
        legal=_is_on(_child(element, "isLgl")),
        suffix=_child_val(element, "suff") or "tab",
        style=_child_val(element, "pStyle"),
    )


def _parse_levels(element: ET.Element) -> dict[int, _Level]:
    levels: dict[int, _Level] = {}
    for lvl in _children(element, "lvl"):
        index = _int(_attr(lvl, "ilvl"))
        if index is not None and index <= 8:
            levels[index] = _parse_level(lvl)
    return levels


@dataclass
class _List:
    """One sequence of counters, shared by every paragraph that continues the same list."""

    levels: dict[int, _Level]
    starts: dict[int, int] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)


class _Numbering:
    """Word's automatic numbering (numbering.xml), computed paragraph by paragraph.

    As in Word, w:num instances of one abstractNum continue one another's counters, except an
    instance with a w:lvlOverride, which is a list of its own (that is how Word writes
    "restart numbering").
    """

    def __init__(self, root: ET.Element | None, styles: _Styles) -> None:
        self._styles = styles
        self._abstract: dict[str, dict[int, _Level]] = {}
        self._style_links: dict[str, str] = {}
        self._nums: dict[str, ET.Element] = {}
        self._lists: dict[str, _List] = {}
        if root is None:
            return
        for abstract in _children(root, "abstractNum"):
            abstract_id = _attr(abstract, "abstractNumId")
            if abstract_id is not None:
                self._abstract[abstract_id] = _parse_levels(abstract)
                link = _child_val(abstract, "numStyleLink")
                if link:
                    self._style_links[abstract_id] = link
        for num in _children(root, "num"):
            num_id = _attr(num, "numId")
            if num_id is not None:
                self._nums[num_id] = num

    def level_for_style(self, num_id: str, style_id: str | None) -> int:
        """The level whose w:pStyle names the paragraph's style (a style without w:ilvl)."""
        abstract_id = self._abstract_id(num_id)
        for index, level in sorted(self._abstract.get(abstract_id or "", {}).items()):
            if style_id is not None and level.style == style_id:
                return index
        return 0

    def next_label(self, num_id: str, level: int) -> str | None:
        """Advance the paragraph's list and return its label with the separator after it."""
        counted = self._list(num_id)
        if counted is None or level not in counted.levels:
            return None
        counters = counted.counters
        counters[level] = counters[level] + 1 if level in counters else self._start(counted, level)
        for deeper in [index for index in counters if index > level]:
            restart = counted.levels[deeper].restart if deeper in counted.levels else None
            threshold = deeper if restart is None or restart > deeper else restart
            if level < threshold:
                del counters[deeper]
        definition = counted.levels[level]
        if definition.fmt == "bullet" or not definition.text:
            return None
        return self._render(counted, level, definition) or None

    def _render(self, counted: _List, level: int, definition: _Level) -> str:
        def placeholder(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            shown = counted.levels.get(index, _Level())
            value = counted.counters.get(index, self._start(counted, index))
            fmt = "decimal" if definition.legal and index < level else shown.fmt
            return format_number(value, fmt)

        label = re.sub(r"%([1-9])", placeholder, definition.text or "")
        return label + _separator(label, definition.suffix) if label else ""

    def _start(self, counted: _List, level: int) -> int:
        if level in counted.starts:
            return counted.starts[level]
        return counted.levels[level].start if level in counted.levels else 1

    def _abstract_id(self, num_id: str, depth: int = 0) -> str | None:
        num = self._nums.get(num_id)
        if num is None:
            return None
        abstract_id = _child_val(num, "abstractNumId")
        link = self._style_links.get(abstract_id or "")
        if link is not None and depth < 5:
            # The abstractNum defers to a numbering style, which names another w:num.
            linked_num, _ = self._styles.numbering(link)
            if linked_num is not None and linked_num != num_id:
                return self._abstract_id(linked_num, depth + 1) or abstract_id
        return abstract_id

    def _list(self, num_id: str) -> _List | None:
        abstract_id = self._abstract_id(num_id)
        if abstract_id is None or abstract_id not in self._abstract:
            return None
        num = self._nums[num_id]  # _abstract_id found it
        overrides = list(_children(num, "lvlOverride"))
        key = f"num:{num_id}" if overrides else f"abstract:{abstract_id}"
        if key not in self._lists:
            levels = dict(self._abstract[abstract_id])
            starts: dict[int, int] = {}
            for override in overrides:
                index = _int(_attr(override, "ilvl"))
                if index is None or index > 8:
                    continue
                replacement = _child(override, "lvl")
                if replacement is not None:
                    levels[index] = _parse_level(replacement)
                start = _int(_child_val(override, "startOverride"))
                if start is not None:
                    starts[index] = start
            self._lists[key] = _List(levels=levels, starts=starts)
        return self._lists[key]


# --- number formats --------------------------------------------------------------------------

_CN_LOWER = ("零一二三四五六七八九", ("", "十", "百", "千"))
_CN_LEGAL_SIMPLIFIED = ("零壹贰叁肆伍陆柒捌玖", ("", "拾", "佰", "仟"))
_CN_LEGAL_TRADITIONAL = ("零壹貳參肆伍陸柒捌玖", ("", "拾", "佰", "仟"))
_ROMAN = (
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
    (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
)  # fmt: skip
_COUNTING_FORMATS = {
    "chineseCounting",
    "chineseCountingThousand",
    "taiwaneseCounting",
    "taiwaneseCountingThousand",
    "japaneseCounting",
}
_DIGIT_FORMATS = {"ideographDigital", "taiwaneseDigital", "japaneseDigitalTenThousand"}
_ENCLOSED = {
    "decimalEnclosedCircle": 0x2460,
    "decimalEnclosedCircleChinese": 0x2460,
    "decimalEnclosedParen": 0x2474,
    "decimalEnclosedFullstop": 0x2488,
}
_CYCLES = {
    "ideographTraditional": "甲乙丙丁戊己庚辛壬癸",
    "ideographZodiac": "子丑寅卯辰巳午未申酉戌亥",
}


def format_number(value: int, fmt: str) -> str:
    """VALUE in the Word number format FMT (ST_NumberFormat); unknown formats give decimals."""
    if fmt == "none":
        return ""
    if fmt in _COUNTING_FORMATS:
        return _chinese(value, *_CN_LOWER, informal=True)
    if fmt == "chineseLegalSimplified":
        return _chinese(value, *_CN_LEGAL_SIMPLIFIED, informal=False)
    if fmt == "ideographLegalTraditional":
        return _chinese(value, *_CN_LEGAL_TRADITIONAL, informal=False)
    if fmt in _DIGIT_FORMATS:
        return "".join("〇一二三四五六七八九"[int(digit)] for digit in str(value))
    if fmt in _ENCLOSED and 1 <= value <= 20:
        return chr(_ENCLOSED[fmt] + value - 1)
    if fmt in _CYCLES and 1 <= value <= len(_CYCLES[fmt]):
        return _CYCLES[fmt][value - 1]
    if fmt in ("upperLetter", "lowerLetter") and 1 <= value <= 26 * 10:
        letter = chr(ord("A") + (value - 1) % 26) * ((value - 1) // 26 + 1)
        return letter if fmt == "upperLetter" else letter.lower()
    if fmt in ("upperRoman", "lowerRoman") and 1 <= value < 4000:
        roman = _roman(value)
        return roman if fmt == "upperRoman" else roman.lower()
    if fmt == "decimalZero":
        return f"{value:02d}"
    if fmt in ("decimalFullWidth", "decimalFullWidth2"):
        return "".join(chr(ord(digit) + 0xFEE0) for digit in str(value))
    return str(value)


def _chinese(value: int, digits: str, units: tuple[str, ...], *, informal: bool) -> str:
    """1 → 一, 10 → 十, 11 → 十一, 21 → 二十一, 101 → 一百零一 (decimals from 10000 on)."""
    if not 0 < value < 10000:
        return str(value) if value else digits[0]
    out: list[str] = []
    zero_pending = False
    text = str(value)
    for position, digit in enumerate(map(int, text)):
        if digit == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append(digits[0])
            zero_pending = False
        out.append(digits[digit] + units[len(text) - position - 1])
    result = "".join(out)
    # Informal counting says 十一, not 一十一.
    return result[1:] if informal and 10 <= value < 20 else result


def _roman(value: int) -> str:
    out: list[str] = []
    for number, numeral in _ROMAN:
        count, value = divmod(value, number)
        out.append(numeral * count)
    return "".join(out)


# --- .pdf -----------------------------------------------------------------------------------


def _read_pdf(data: bytes) -> str:
    # The PDF standard lets a header follow up to 1 KB of junk; readers accept it, so do we.
    if b"%PDF-" not in data[:1024]:
        raise ParseError(_mismatch_message(MSG_BAD_PDF, data))
    try:
        with warnings.catch_warnings():
            # pypdf warns about every repair it makes; a damaged file is judged by the outcome.
            # (catch_warnings swaps process-wide state: harmless here, as we only silence.)
            warnings.simplefilter("ignore")
            pages = _pdf_page_texts(data)
    except ParseError:
        raise
    except Exception:
        # pypdf signals damage with a wide range of exception types; all mean the same here.
        logger.info("unreadable PDF refused", exc_info=True)
        raise ParseError(MSG_BAD_PDF) from None
    text = "\n".join(pages)
    visible = sum(1 for ch in text if not ch.isspace() and ch.isprintable())
    if visible < PDF_MIN_CHARS_PER_PAGE * max(len(pages), 1):
        raise ParseError(MSG_PDF_NO_TEXT)
    return text


def _pdf_page_texts(data: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        _decrypt_pdf(reader)
    count = len(reader.pages)
    if count > MAX_PDF_PAGES:
        raise ParseError(MSG_PDF_TOO_MANY_PAGES)
    return [page.extract_text() or "" for page in reader.pages]


def _decrypt_pdf(reader: PdfReader) -> None:
    """Open a PDF that has only an owner password (an empty user password), as viewers do."""
    try:
        result = reader.decrypt("")
    except Exception:
        # Unsupported ciphers (AES without the cryptography package) end up here too.
        raise ParseError(MSG_PDF_ENCRYPTED) from None
    if result == PasswordType.NOT_DECRYPTED:
        raise ParseError(MSG_PDF_ENCRYPTED)
