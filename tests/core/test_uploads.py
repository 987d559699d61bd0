"""The attachment rules: accepted types, magic bytes, sizes, display names, zip listings."""

from __future__ import annotations

import io
import zipfile

import pytest

from app.core.errors import DomainError
from app.core.uploads import (
    ALLOWED,
    HEAD_BYTES,
    MAX_ATTACHMENT_BYTES,
    MAX_NAME_LENGTH,
    MAX_ZIP_ENTRIES,
    MAX_ZIP_UNCOMPRESSED_BYTES,
    ZIP_TAIL_BYTES,
    ZipEntry,
    check_archive,
    check_upload,
    declared_entry_count,
    mime_type_for,
    safe_display_name,
)

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8)
EXE = b"MZ\x90\x00\x03\x00\x00\x00"
HTML = b"<!DOCTYPE html><html><script>alert(1)</script>"
ALLOWED_LIST = ".pdf、.ofd、.docx、.xlsx、.jpg、.png"


def refusal(filename: str, head: bytes, size: int | None = None) -> str:
    with pytest.raises(DomainError) as caught:
        check_upload(filename, head, len(head) if size is None else size)
    assert caught.value.field == "file"
    return caught.value.message


# --- check_upload: accepted -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "head", "expected"),
    [
        ("整改报告.pdf", PDF, ".pdf"),
        ("电子公文.ofd", ZIP, ".ofd"),
        ("会议纪要.docx", ZIP, ".docx"),
        ("台账.xlsx", ZIP, ".xlsx"),
        ("现场照片.jpg", JPEG, ".jpg"),
        ("现场照片.jpeg", JPEG, ".jpg"),
        ("截图.png", PNG, ".png"),
        ("SCAN.PDF", PDF, ".pdf"),
        ("照片.JPEG ", JPEG, ".jpg"),
        ("报告.pdf.", PDF, ".pdf"),
        ("报告．ｐｄｆ", PDF, ".pdf"),  # full-width dot and letters from a Chinese IME
        (r"C:\Users\张三\Desktop\报告.docx", ZIP, ".docx"),
    ],
)
def test_each_allowed_type_with_its_magic_bytes_is_accepted(
    filename: str, head: bytes, expected: str
) -> None:
    assert check_upload(filename, head, 1000) == expected


def test_every_allowed_extension_is_covered() -> None:
    assert {".pdf", ".ofd", ".docx", ".xlsx", ".jpg", ".jpeg", ".png"} == ALLOWED


def test_a_pdf_header_after_some_junk_is_accepted_as_readers_do() -> None:
    assert check_upload("a.pdf", b"\r\n" * 100 + PDF, 5000) == ".pdf"


def test_a_pdf_header_past_the_first_kilobyte_is_not() -> None:
    assert "不符" in refusal("a.pdf", b" " * HEAD_BYTES + PDF, 5000)


def test_exactly_the_limit_is_accepted() -> None:
    assert check_upload("a.png", PNG, MAX_ATTACHMENT_BYTES) == ".png"


# --- check_upload: refused --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "head", "kind"),
    [
        ("a.pdf", PNG, "PNG 图片"),
        ("a.pdf", HTML, "网页"),
        ("a.png", JPEG, "JPG 图片"),
        ("a.jpg", PNG, "PNG 图片"),
        ("a.jpg", PDF, "PDF 文档"),
        ("a.docx", PDF, "PDF 文档"),
        ("a.xlsx", EXE, "可执行程序"),
        ("a.ofd", PDF, "PDF 文档"),
        ("a.png", b"GIF89a", "GIF 图片"),
        ("a.pdf", ZIP, "ZIP 压缩包"),
    ],
)
def test_content_that_does_not_match_the_extension_is_refused(
    filename: str, head: bytes, kind: str
) -> None:
    message = refusal(filename, head)
    assert f"文件内容与扩展名 {filename[1:]} 不符" in message
    assert kind in message


def test_unknown_content_is_refused_without_guessing() -> None:
    message = refusal("a.jpg", b"hello world")
    assert message == "文件内容与扩展名 .jpg 不符，请确认文件类型后重新上传。"


@pytest.mark.parametrize(("ext", "old"), [(".docx", ".doc"), (".xlsx", ".xls")])
def test_an_old_office_file_renamed_to_ooxml_gets_a_hint(ext: str, old: str) -> None:
    message = refusal(f"材料{ext}", OLE2)
    assert f"旧版 {old} 格式或设置了打开密码" in message
    assert f"另存为 {ext}" in message


def test_an_empty_file_is_refused() -> None:
    assert refusal("a.pdf", b"", 0) == "文件内容为空。"


def test_a_file_over_the_limit_is_refused() -> None:
    assert "文件超过 20MB 上限" in refusal("a.pdf", PDF, MAX_ATTACHMENT_BYTES + 1)


@pytest.mark.parametrize(
    ("filename", "head", "phrase"),
    [
        ("setup.exe", EXE, "不支持 .exe 文件"),
        ("报告.pdf.exe", EXE, "不支持 .exe 文件"),
        ("通知.html", HTML, "不支持 .html 文件"),
        ("material.svg", b"<svg", "不支持 .svg 文件"),
        ("旧报告.doc", OLE2, "另存为 Word (.docx)"),
        ("旧台账.xls", OLE2, "另存为 Excel (.xlsx)"),
        ("照片.heic", b"\x00\x00\x00\x18ftypheic", "另存为 JPG"),
        ("没有扩展名", PDF, "文件名没有扩展名"),
        ("结尾是点.", PDF, "文件名没有扩展名"),
        ("", PDF, "文件名没有扩展名"),
    ],
)
def test_types_outside_the_list_are_refused_naming_the_allowed_ones(
    filename: str, head: bytes, phrase: str
) -> None:
    message = refusal(filename, head)
    assert phrase in message
    assert ALLOWED_LIST in message


def test_the_type_is_refused_before_the_size_is_judged() -> None:
    assert "不支持 .exe" in refusal("a.exe", b"", 0)


def test_a_very_long_extension_is_shown_shortened() -> None:
    message = refusal("a." + "x" * 200, b"x")
    assert "不支持 ." + "x" * 11 + " 文件" in message


# --- safe_display_name ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("整改报告（终稿）.pdf", "整改报告（终稿）.pdf"),
        ("2022年 法治 宣传.docx", "2022年 法治 宣传.docx"),
        (r"C:\Users\张三\Desktop\整改报告.pdf", "整改报告.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/var/www/static/x.png", "x.png"),
        ("a\\..\\..\\b.jpg", "b.jpg"),
        ("报告\x00\r\n\t.pdf", "报告.pdf"),
        ("照片\u202egpj.exe", "照片gpj.exe"),  # right-to-left override, a spoofing classic
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ('a<b>:"c"|?*.pdf', "a_b___c____.pdf"),
        ("  报告.pdf  ", "报告.pdf"),
        ("报告.pdf...", "报告.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        (".pdf", "附件.pdf"),
        ("..pdf", "附件.pdf"),
        ("", "附件"),
        ("   ", "附件"),
        ("/", "附件"),
        ("C:\\dir\\", "附件"),
        ("\x00\x01.png", "附件.png"),
        ("无扩展名", "无扩展名"),
        ("报告.PDF", "报告.PDF"),
    ],
)
def test_display_names_keep_what_the_user_typed_and_lose_what_misleads(
    filename: str, expected: str
) -> None:
    assert safe_display_name(filename) == expected


def test_decomposed_characters_are_composed() -> None:
    assert safe_display_name("cafe\u0301.pdf") == "caf\u00e9.pdf"


def test_a_very_long_name_is_cut_keeping_its_extension() -> None:
    name = safe_display_name("很长的文件名" * 100 + ".docx")
    assert len(name) == MAX_NAME_LENGTH
    assert name.endswith(".docx")
    assert name.startswith("很长的文件名")


def test_a_name_of_exactly_the_limit_is_kept() -> None:
    name = "字" * (MAX_NAME_LENGTH - 4) + ".pdf"
    assert safe_display_name(name) == name


def test_a_very_long_tail_is_not_taken_for_an_extension() -> None:
    name = safe_display_name("a." + "b" * 400)
    assert len(name) == MAX_NAME_LENGTH
    assert name.startswith("a.bbb")


# --- mime_type_for ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "mime"),
    [
        (".pdf", "application/pdf"),
        (".ofd", "application/ofd"),
        (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".PNG", "image/png"),
        (".exe", "application/octet-stream"),
        ("", "application/octet-stream"),
    ],
)
def test_mime_types(ext: str, mime: str) -> None:
    assert mime_type_for(ext) == mime


# --- zip listings -----------------------------------------------------------------------------

DOCX_PARTS = [
    ZipEntry("[Content_Types].xml", 1200, 400),
    ZipEntry("_rels/.rels", 600, 250),
    ZipEntry("word/document.xml", 40_000, 8_000),
    ZipEntry("word/media/image1.png", 3_000_000, 2_990_000),
]
XLSX_PARTS = [
    ZipEntry("[Content_Types].xml", 1200, 400),
    ZipEntry("xl/workbook.xml", 900, 400),
    ZipEntry("xl/worksheets/sheet1.xml", 500_000, 40_000),
]
OFD_PARTS = [
    ZipEntry("OFD.xml", 700, 300),
    ZipEntry("Doc_0/Document.xml", 900, 400),
    ZipEntry("Doc_0/Pages/Page_0/Content.xml", 20_000, 4_000),
]


def archive_refusal(ext: str, entries: list[ZipEntry]) -> str:
    with pytest.raises(DomainError) as caught:
        check_archive(ext, entries)
    return caught.value.message


@pytest.mark.parametrize(
    ("ext", "entries"), [(".docx", DOCX_PARTS), (".xlsx", XLSX_PARTS), (".ofd", OFD_PARTS)]
)
def test_ordinary_listings_pass(ext: str, entries: list[ZipEntry]) -> None:
    check_archive(ext, entries)


def test_part_names_are_compared_without_case() -> None:
    check_archive(".ofd", [ZipEntry("ofd.xml", 10, 10)])
    check_archive(
        ".docx", [ZipEntry("[content_types].xml", 10, 10), ZipEntry("Word/Document.xml", 10, 10)]
    )


@pytest.mark.parametrize(
    ("ext", "entries"),
    [
        (".docx", [e for e in DOCX_PARTS if e.name != "word/document.xml"]),
        (".docx", [e for e in DOCX_PARTS if e.name != "[Content_Types].xml"]),
        (".docx", XLSX_PARTS),
        (".xlsx", DOCX_PARTS),
        (".xlsx", [e for e in XLSX_PARTS if e.name != "xl/workbook.xml"]),
        (".ofd", DOCX_PARTS),
        (".ofd", []),
    ],
)
def test_a_listing_without_the_parts_of_its_type_is_refused(
    ext: str, entries: list[ZipEntry]
) -> None:
    assert "不是有效的" in archive_refusal(ext, entries)


def test_too_many_entries_are_refused() -> None:
    entries = DOCX_PARTS + [ZipEntry(f"f{i}.xml", 10, 10) for i in range(MAX_ZIP_ENTRIES)]
    assert "包含超过 2000 个文件" in archive_refusal(".docx", entries)


def test_the_entry_limit_itself_is_allowed() -> None:
    extra = MAX_ZIP_ENTRIES - len(DOCX_PARTS)
    check_archive(".docx", DOCX_PARTS + [ZipEntry(f"f{i}.xml", 10, 10) for i in range(extra)])


def test_too_much_uncompressed_data_is_refused() -> None:
    # Each entry alone is fine (ratio 2); together they expand past the limit.
    chunk = MAX_ZIP_UNCOMPRESSED_BYTES // 4
    entries = DOCX_PARTS + [ZipEntry(f"word/media/big{i}.bin", chunk, chunk // 2) for i in range(5)]
    assert "解压后超过 200MB" in archive_refusal(".docx", entries)


def test_an_entry_compressed_out_of_proportion_is_refused() -> None:
    entries = [*XLSX_PARTS, ZipEntry("xl/worksheets/sheet2.xml", 50_000_000, 50_000)]
    assert "压缩比异常" in archive_refusal(".xlsx", entries)


def test_small_entries_may_compress_very_well() -> None:
    check_archive(".xlsx", [*XLSX_PARTS, ZipEntry("xl/styles.xml", 900_000, 100)])


@pytest.mark.parametrize(
    "name",
    [
        "../evil.xml",
        "word/../../evil.xml",
        "/etc/passwd",
        "\\windows\\system32\\x.dll",
        "C:/evil.xml",
        "word\\..\\..\\evil.xml",
        "word/a\x00b.xml",
        "",
    ],
)
def test_entry_names_that_escape_their_folder_are_refused(name: str) -> None:
    assert "不是有效的" in archive_refusal(".docx", [*DOCX_PARTS, ZipEntry(name, 10, 10)])


def test_duplicate_entry_names_are_refused() -> None:
    entries = [*DOCX_PARTS, ZipEntry("WORD/document.xml", 10, 10)]
    assert "不是有效的 Word (.docx) 文件" in archive_refusal(".docx", entries)


def test_encrypted_entries_are_refused() -> None:
    entries = [*XLSX_PARTS, ZipEntry("xl/secret.xml", 10, 10, flag_bits=0x1)]
    assert "不是有效的 Excel (.xlsx) 文件" in archive_refusal(".xlsx", entries)


def zip_bytes(count: int, comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"part{index}.xml", b"<x/>")
        archive.comment = comment
    return buffer.getvalue()


@pytest.mark.parametrize("count", [0, 1, 7, 2500])
def test_the_declared_entry_count_is_read_from_the_end_record(count: int) -> None:
    data = zip_bytes(count)
    assert declared_entry_count(data[-ZIP_TAIL_BYTES:]) == count


def test_the_end_record_is_found_behind_a_long_comment() -> None:
    data = zip_bytes(3, comment=b"c" * 60_000)
    assert declared_entry_count(data[-ZIP_TAIL_BYTES:]) == 3


@pytest.mark.parametrize("data", [b"", PDF, zip_bytes(3)[:-5], b"PK\x05\x06\x00"])
def test_no_end_record_gives_none(data: bytes) -> None:
    assert declared_entry_count(data) is None
