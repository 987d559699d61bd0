"""Reading uploaded report files: real .txt, .docx and .pdf bytes built here, no mocks."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from app import report_files
from app.core.report_types import ParseError
from app.report_files import (
    ALLOWED_EXTENSIONS,
    MAX_REPORT_BYTES,
    MSG_UNREADABLE,
    decode_text,
    format_number,
    normalise_text,
    read_report_file,
)
from tests.report_files_builders import (
    STRICT_W_NS,
    docx_from_parts,
    level,
    para,
    pdf_bytes,
    zip_bomb,
    zip_bytes,
)

REPORT = (
    "关于2021年度法治政府建设情况的报告\n"
    "三、下一步打算\n"
    "一是持续加大宣传力度。通过“法律七进”等形式，全年开展集中普法宣传12次；\n"
    "二是持续深化信访工作，规范信访秩序，将矛盾稳控在基层。\n"
)


def refused(filename: str, data: bytes) -> str:
    """The message of the ParseError that reading must raise (any other exception fails)."""
    with pytest.raises(ParseError) as caught:
        read_report_file(filename, data)
    assert caught.type is ParseError
    return caught.value.message


def python_docx_bytes(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- text files -------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_text_in_every_encoding_and_line_ending_reads_the_same(encoding: str, newline: str) -> None:
    data = REPORT.replace("\n", newline).encode(encoding)
    assert read_report_file("2021年报告.txt", data) == REPORT


def test_big_endian_utf16_and_utf32_with_bom() -> None:
    assert decode_text(b"\xfe\xff" + REPORT.encode("utf-16-be")) == REPORT
    assert decode_text(REPORT.encode("utf-32")) == REPORT


def test_unicode_line_separators_and_a_dos_end_of_file_mark_are_normalised() -> None:
    data = "一、工作情况\u2028二、存在问题\u2029三、下一步打算\f四\v五\x1a".encode()
    assert decode_text(data) == "一、工作情况\n二、存在问题\n三、下一步打算\n四\n五"


def test_pasted_text_is_normalised_like_a_file() -> None:
    pasted = REPORT.replace("\n", "\r\n")
    assert normalise_text(pasted) == REPORT == read_report_file("a.txt", pasted.encode())


def test_kangxi_radicals_from_pdf_copies_become_ideographs() -> None:
    # "⼀是" with U+2F00 KANGXI RADICAL ONE, as text copied out of some PDFs reads.
    assert read_report_file("a.txt", "\u2f00是加强学习。".encode()) == "一是加强学习。"


def _gb2312_characters() -> list[str]:
    """The 6763 ideographs of GB2312: what Simplified Chinese reports are written in."""
    characters = []
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                characters.append(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return characters


PUNCTUATION_AND_ASCII = st.sampled_from(list("，。、；：（）“”《》 \nabc123%"))


@settings(max_examples=150, deadline=None, database=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(_gb2312_characters()) | PUNCTUATION_AND_ASCII, min_size=1
    ).filter(str.strip),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"]),
)
def test_chinese_text_round_trips_through_every_supported_encoding(
    text: str, encoding: str
) -> None:
    assert decode_text(text.encode(encoding)) == text


@settings(max_examples=100, deadline=None, database=None)
@given(
    text=st.text(
        alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF) | PUNCTUATION_AND_ASCII,
        min_size=1,
    ),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]),
)
def test_any_ideographs_round_trip_through_unicode_encodings(text: str, encoding: str) -> None:
    assert decode_text(text.encode(encoding)) == text


@pytest.mark.parametrize("text", ["一", "一路", "陆路", "No.1 路"])
def test_a_short_gbk_text_that_is_also_valid_utf8_is_read_as_gbk(text: str) -> None:
    # 一 in GBK is D2 BB, which UTF-8 reads as the Cyrillic letter һ; 930 GB2312 characters
    # are valid UTF-8 in this way.
    assert text.encode("gbk").decode("utf-8") != text
    assert decode_text(text.encode("gbk")) == text


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"report\x00\x00\x00body", "文件不是文本格式"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "图片"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(100), "可执行程序"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "图片"),
        (b"{\\rtf1\\ansi report}", "RTF"),
        ("正文\x01\x02\x03\x04\x05内容".encode(), "文件不是文本格式"),
    ],
)
def test_binary_content_in_a_txt_is_refused(data: bytes, phrase: str) -> None:
    message = refused("报告.txt", data)
    assert "文件不是文本格式" in message
    assert phrase in message


def test_a_txt_that_is_really_a_zip_or_a_pdf_is_refused() -> None:
    document = docx.Document()
    document.add_paragraph("一是持续加大宣传力度。")
    assert "Word (.docx)" in refused("报告.txt", python_docx_bytes(document))
    assert "PDF" in refused("报告.txt", pdf_bytes(["Report 2021 plans"]))


@pytest.mark.parametrize(
    "data",
    [
        b"caf\xe9 r\xe9sum\xe9 na\xefve",  # Latin-1
        b"\x80\x80 broken",
        "關於2021年度法治政府建設情況的報告，持續加大宣傳力度".encode("big5"),
        "日本語のテキストです。報告書を提出します。".encode("shift_jis"),
        b"\xff\xfe\x00\xd8",  # UTF-16 BOM, then a lone surrogate
    ],
)
def test_undecodable_text_asks_for_utf8_or_gbk(data: bytes) -> None:
    assert refused("报告.txt", data) == "无法识别文件编码，请另存为 UTF-8 或 GBK 编码的文本文件。"


def test_a_few_stray_control_characters_in_a_long_text_are_dropped() -> None:
    # Word's cell marks (\x07) survive some copy-and-paste routes into Notepad.
    body = ("一是持续加大宣传力度。" * 200) + "\x07" + REPORT
    assert read_report_file("a.txt", body.encode()) == ("一是持续加大宣传力度。" * 200) + REPORT


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("报告.txt", b""),
        ("报告.txt", b"  \r\n\t\n"),
        ("报告.txt", b"\xef\xbb\xbf"),
        ("报告.txt", "\u3000\u3000\n".encode()),
        ("报告.txt", "\r\n\u3000\r\n".encode("utf-16")),
        ("报告.docx", b""),
        ("报告.pdf", b""),
    ],
)
def test_empty_files_are_refused(filename: str, data: bytes) -> None:
    assert refused(filename, data) == "文件内容为空。"


def test_a_docx_without_text_is_empty() -> None:
    document = docx.Document()
    document.add_paragraph("")
    assert refused("报告.docx", python_docx_bytes(document)) == "文件内容为空。"


# --- size and extension ------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["报告.txt", "报告.docx", "报告.pdf"])
def test_files_over_10mb_are_refused_before_parsing(
    filename: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_read(data: bytes) -> str:
        raise AssertionError("an oversized file reached a reader")

    for reader in ("decode_text", "_read_docx", "_read_pdf", "_normalise"):
        monkeypatch.setattr(report_files, reader, must_not_read)
    message = refused(filename, b"\x00" * (MAX_REPORT_BYTES + 1))
    assert "文件超过 10MB 上限" in message


def test_a_file_of_exactly_10mb_is_read() -> None:
    line = "一是持续加大宣传力度。\n".encode()
    data = line * (MAX_REPORT_BYTES // len(line))
    data += b"a" * (MAX_REPORT_BYTES - len(data))
    assert len(read_report_file("报告.txt", data)) > 0


@pytest.mark.parametrize(
    ("filename", "phrase"),
    [
        ("2021年报告.doc", "另存为 .docx"),
        ("2021年报告.wps", "另存为 .docx"),
        ("台账.xls", ".xls"),
        ("扫描件.png", ".png"),
        ("setup.exe", ".exe"),
        ("报告", "没有扩展名"),
        ("报告.", "没有扩展名"),
        ("", "没有扩展名"),
    ],
)
def test_unsupported_extensions_name_the_accepted_types(filename: str, phrase: str) -> None:
    message = refused(filename, REPORT.encode())
    assert "仅支持 .txt、.docx、.pdf 文件" in message
    assert phrase in message


@pytest.mark.parametrize(
    "filename",
    ["REPORT.TXT", "报告.Txt", "C:\\Users\\张三\\桌面\\报告.txt", "/tmp/报告.txt", "报告．ｔｘｔ"],
)
def test_extensions_are_case_insensitive_and_paths_ignored(filename: str) -> None:
    assert read_report_file(filename, REPORT.encode()) == REPORT


def test_a_missing_filename_or_non_bytes_data() -> None:
    assert "没有扩展名" in refused(None, REPORT.encode())  # type: ignore[arg-type]
    assert read_report_file("报告.txt", bytearray(REPORT.encode())) == REPORT  # type: ignore[arg-type]


def test_text_that_merely_starts_like_a_program_is_text() -> None:
    assert read_report_file("报告.txt", "MZ公司2021年度报告".encode()) == "MZ公司2021年度报告"


def test_allowed_extensions() -> None:
    assert {".txt", ".docx", ".pdf"} == ALLOWED_EXTENSIONS


# --- .docx: text, tables, breaks ---------------------------------------------------------------


def test_docx_paragraphs_tables_and_breaks_in_document_order() -> None:
    document = docx.Document()
    document.add_paragraph("关于2021年度法治政府建设情况的报告")
    paragraph = document.add_paragraph("一是持续加大宣传力度。")
    paragraph.add_run().add_break()
    paragraph.add_run("二是持续深化信访工作。")
    document.add_paragraph("序号\t任务")
    table = document.add_table(rows=2, cols=3)
    for row, values in zip(
        table.rows, [("1", "普法宣传", "司法所"), ("2", "信访", "信访办")], strict=True
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    table.rows[1].cells[1].add_paragraph("（含矛盾纠纷调处）")
    table.rows[1].cells[2].paragraphs[0].add_run().add_break()
    table.rows[1].cells[2].paragraphs[0].add_run("综治中心")
    document.add_paragraph("三、下一步打算")

    assert read_report_file("报告.DOCX", python_docx_bytes(document)) == (
        "关于2021年度法治政府建设情况的报告\n"
        "一是持续加大宣传力度。\n二是持续深化信访工作。\n"
        "序号\t任务\n"
        "1\t普法宣传\t司法所\n"
        "2\t信访 （含矛盾纠纷调处）\t信访办 综治中心\n"
        "三、下一步打算"
    )


def test_a_one_cell_layout_table_keeps_its_lines() -> None:
    document = docx.Document()
    cell = document.add_table(rows=1, cols=1).cell(0, 0)
    cell.text = "一、工作情况"
    cell.add_paragraph("二、存在问题")
    assert read_report_file("a.docx", python_docx_bytes(document)) == "一、工作情况\n二、存在问题"


def test_python_docx_list_number_style_is_numbered() -> None:
    document = docx.Document()
    document.add_paragraph("加强学习", style="List Number")
    document.add_paragraph("强化培训", style="List Number")
    assert read_report_file("a.docx", python_docx_bytes(document)) == "1. 加强学习\n2. 强化培训"


def test_tracked_changes_fields_hidden_text_and_text_boxes() -> None:
    body = (
        "<w:p>"
        "<w:r><w:t>一是</w:t></w:r>"
        "<w:del><w:r><w:delText>删除的</w:delText></w:r></w:del>"
        "<w:ins><w:r><w:t>持续</w:t></w:r></w:ins>"
        "<w:r><w:rPr><w:vanish/></w:rPr><w:t>隐藏</w:t></w:r>"
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        "<w:r><w:t>加大</w:t></w:r>"
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        "<w:r><w:tab/><w:t>宣传</w:t><w:cr/><w:t>力度</w:t><w:noBreakHyphen/></w:r>"
        "<w:r><mc:AlternateContent>"
        '<mc:Choice Requires="wps"><w:drawing><w:txbxContent>'
        "<w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>"
        "<mc:Fallback><w:pict><w:txbxContent>"
        "<w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r>"
        "</w:p>"
        '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>'
        "<w:r><w:t>末段</w:t></w:r></w:p>"
        "<w:sdt><w:sdtPr/><w:sdtContent>"
        "<w:p><w:r><w:t>内容控件</w:t></w:r></w:p></w:sdtContent></w:sdt>"
    )
    assert read_report_file("a.docx", docx_from_parts(body)) == (
        "一是持续加大\t宣传\n力度-\n文本框\n末段\n内容控件"
    )


def test_strict_ooxml_namespace_is_read() -> None:
    data = docx_from_parts(para("三、下一步打算"), namespace=STRICT_W_NS)
    assert read_report_file("a.docx", data) == "三、下一步打算"


# --- .docx: automatic numbering ----------------------------------------------------------------

NUMBERING = (
    '<w:abstractNum w:abstractNumId="10">'
    + level(0, "chineseCounting", "%1、")
    + level(1, "chineseCounting", "（%2）")
    + level(2, "decimal", "%3.")
    + level(3, "decimal", "%3.%4", extra='<w:isLgl/><w:suff w:val="space"/>')
    + "</w:abstractNum>"
    '<w:abstractNum w:abstractNumId="20">'
    + level(0, "chineseCounting", "第%1条", extra='<w:pStyle w:val="Article"/>')
    + "</w:abstractNum>"
    '<w:abstractNum w:abstractNumId="30">'
    + level(0, "decimalEnclosedCircle", "%1", extra='<w:suff w:val="nothing"/>')
    + level(1, "lowerLetter", "%2)", extra='<w:lvlRestart w:val="0"/>')
    + "</w:abstractNum>"
    '<w:abstractNum w:abstractNumId="40">' + level(0, "bullet", "\uf0b7") + "</w:abstractNum>"
    '<w:abstractNum w:abstractNumId="50"><w:styleLink w:val="ReportList"/>'
    + level(0, "chineseCounting", "（%1）")
    + "</w:abstractNum>"
    '<w:abstractNum w:abstractNumId="60"><w:numStyleLink w:val="ReportList"/></w:abstractNum>'
    '<w:num w:numId="1"><w:abstractNumId w:val="10"/></w:num>'
    '<w:num w:numId="2"><w:abstractNumId w:val="10"/>'
    '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="5"/></w:lvlOverride></w:num>'
    '<w:num w:numId="3"><w:abstractNumId w:val="10"/></w:num>'
    '<w:num w:numId="4"><w:abstractNumId w:val="20"/></w:num>'
    '<w:num w:numId="5"><w:abstractNumId w:val="30"/></w:num>'
    '<w:num w:numId="6"><w:abstractNumId w:val="40"/></w:num>'
    '<w:num w:numId="7"><w:abstractNumId w:val="50"/></w:num>'
    '<w:num w:numId="8"><w:abstractNumId w:val="60"/></w:num>'
    '<w:num w:numId="9"><w:abstractNumId w:val="10"/><w:lvlOverride w:ilvl="0">'
    + level(0, "upperRoman", "%1.")
    + "</w:lvlOverride></w:num>"
)
STYLES = (
    '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/>'
    "</w:style>"
    '<w:style w:type="paragraph" w:styleId="Article"><w:name w:val="Article"/>'
    '<w:basedOn w:val="Normal"/><w:pPr><w:numPr><w:numId w:val="4"/></w:numPr></w:pPr>'
    "</w:style>"
    '<w:style w:type="paragraph" w:styleId="ArticleChild"><w:name w:val="Article Child"/>'
    '<w:basedOn w:val="Article"/></w:style>'
    '<w:style w:type="numbering" w:styleId="ReportList"><w:name w:val="Report List"/>'
    '<w:pPr><w:numPr><w:numId w:val="7"/></w:numPr></w:pPr></w:style>'
    '<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/>'
    '<w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr></w:style>'
)


def numbered_text(*paragraphs: str) -> list[str]:
    data = docx_from_parts("".join(paragraphs), numbering=NUMBERING, styles=STYLES)
    return read_report_file("编号.docx", data).split("\n")


def test_multilevel_chinese_numbering_with_restarts() -> None:
    assert numbered_text(
        para("工作情况", 1, 0),
        para("强化政治站位", 1, 1),
        para("深学笃用", 1, 2),
        para("落实责任", 1, 2),
        para("聚焦工作重点", 1, 1),
        para("加强合法性审查", 1, 2),
        para("没有编号的正文。"),
        para("存在问题", 1, 0),
        para("依法行政意识不强", 1, 1),
    ) == [
        "一、工作情况",
        "（一）强化政治站位",
        "1. 深学笃用",
        "2. 落实责任",
        "（二）聚焦工作重点",
        "1. 加强合法性审查",
        "没有编号的正文。",
        "二、存在问题",
        "（一）依法行政意识不强",
    ]


def test_instances_of_one_list_continue_and_start_override_restarts() -> None:
    assert numbered_text(
        para("工作情况", 1, 0),
        para("存在问题", 1, 0),
        para("下一步打算", 3, 0),  # another w:num of the same list: Word continues it
        para("附则", 2, 0),  # startOverride 5: a list of its own
        para("其他", 2, 0),
        para("细则", 2, 1),
    ) == ["一、工作情况", "二、存在问题", "三、下一步打算", "五、附则", "六、其他", "（一）细则"]


def test_numbering_through_paragraph_styles() -> None:
    assert numbered_text(
        para("总则", style="Heading1"),
        para("为推进法治政府建设，制定本办法。", style="Article"),
        para("本办法适用于全乡各单位。", style="ArticleChild"),  # inherited through basedOn
        para("不编号的条文。", num_id=0, style="Article"),  # numId 0 switches it off
        para("本办法自印发之日起施行。", style="Article"),
        para("分则", ilvl=1, style="Heading1"),  # direct ilvl, numId from the style
    ) == [
        "一、总则",
        "第一条\u3000为推进法治政府建设，制定本办法。",
        "第二条\u3000本办法适用于全乡各单位。",
        "不编号的条文。",
        "第三条\u3000本办法自印发之日起施行。",
        "（一）分则",
    ]


def test_legal_numbering_circled_numbers_letters_and_bullets() -> None:
    assert numbered_text(
        para("工作情况", 1, 0),
        para("机构", 1, 1),
        para("队伍", 1, 2),
        para("人员", 1, 3),
        para("甲", 5, 0),
        para("子项", 5, 1),
        para("乙", 5, 0),
        para("子项", 5, 1),  # lvlRestart 0: never restarts
        para("要点", 6, 0),
        para("未定义的编号", 99, 0),
    ) == [
        "一、工作情况",
        "（一）机构",
        "1. 队伍",
        "1.1 人员",
        "①甲",
        "a) 子项",
        "②乙",
        "b) 子项",
        "要点",
        "未定义的编号",
    ]


def test_list_styles_and_replaced_level_definitions() -> None:
    assert numbered_text(
        para("强化学习", 7, 0),
        para("健全机制", 8, 0),  # numStyleLink: the list style's numbering, continued
        para("总则", 9, 0),  # a w:lvlOverride carrying a whole new level definition
        para("分则", 9, 0),
    ) == ["（一）强化学习", "（二）健全机制", "I. 总则", "II. 分则"]


def test_numbering_in_table_cells_counts_in_document_order() -> None:
    body = (
        para("工作情况", 1, 0)
        + "<w:tbl><w:tr><w:tc>"
        + para("存在问题", 1, 0)
        + "</w:tc><w:tc>"
        + para("说明")
        + "</w:tc></w:tr></w:tbl>"
        + para("下一步打算", 1, 0)
    )
    data = docx_from_parts(body, numbering=NUMBERING, styles=STYLES)
    assert read_report_file("a.docx", data) == "一、工作情况\n二、存在问题\t说明\n三、下一步打算"


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (1, "chineseCounting", "一"),
        (10, "chineseCounting", "十"),
        (11, "chineseCounting", "十一"),
        (20, "chineseCountingThousand", "二十"),
        (21, "chineseCounting", "二十一"),
        (99, "chineseCounting", "九十九"),
        (101, "chineseCounting", "一百零一"),
        (110, "chineseCounting", "一百一十"),
        (1005, "chineseCounting", "一千零五"),
        (12, "japaneseCounting", "十二"),
        (11, "chineseLegalSimplified", "壹拾壹"),
        (3, "ideographTraditional", "丙"),
        (12, "ideographDigital", "一二"),
        (4, "upperRoman", "IV"),
        (14, "lowerRoman", "xiv"),
        (28, "upperLetter", "BB"),
        (3, "decimalEnclosedCircleChinese", "③"),
        (3, "decimalEnclosedParen", "⑶"),
        (5, "decimalZero", "05"),
        (12, "decimalFullWidth", "１２"),
        (3, "none", ""),
        (7, "someFutureFormat", "7"),
        (10**9, "upperLetter", "1000000000"),
        (10**9, "upperRoman", "1000000000"),
    ],
)
def test_number_formats(value: int, fmt: str, expected: str) -> None:
    assert format_number(value, fmt) == expected


# --- .docx: damaged, disguised and hostile files -------------------------------------------------


def test_a_docx_that_is_really_text_or_pdf() -> None:
    assert "纯文本" in refused("报告.docx", REPORT.encode())
    assert "PDF" in refused("报告.docx", pdf_bytes(["Report 2021 plans"]))
    assert "不是有效的 Word (.docx) 文件" in refused("报告.docx", REPORT.encode())


def test_an_old_doc_renamed_to_docx_suggests_saving_as_docx() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    message = refused("报告.docx", ole)
    assert ".doc" in message
    assert "另存为 .docx" in message


@pytest.mark.parametrize(
    "data",
    [
        zip_bytes({"word/other.xml": b"<x/>"}),  # a zip, but no document.xml
        zip_bytes({"xl/workbook.xml": b"<workbook/>"}),
        zip_bytes({"word/document.xml": b"<w:document"}),  # malformed XML
        zip_bytes({"word/document.xml": b"<document/>"}),  # not WordprocessingML
        b"PK\x03\x04" + bytes(100),
    ],
)
def test_damaged_docx_files_are_refused(data: bytes) -> None:
    assert "不是有效的 Word (.docx) 文件" in refused("报告.docx", data)


def test_a_truncated_docx_is_refused() -> None:
    document = docx.Document()
    document.add_paragraph("一是持续加大宣传力度。" * 50)
    data = python_docx_bytes(document)
    assert "不是有效的 Word (.docx) 文件" in refused("报告.docx", data[: len(data) // 2])


def test_absurdly_deep_nesting_is_refused() -> None:
    body = "<w:sdt><w:sdtContent>" * 5000 + para("正文") + "</w:sdtContent></w:sdt>" * 5000
    assert "不是有效的 Word (.docx) 文件" in refused("报告.docx", docx_from_parts(body))


def test_entity_expansion_is_refused() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        f'<w:document xmlns:w="{STRICT_W_NS}"><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    data = zip_bytes({"word/document.xml": laughs.encode()})
    assert "不是有效的 Word (.docx) 文件" in refused("报告.docx", data)


def test_a_200mb_zip_bomb_is_refused_before_extraction() -> None:
    bomb = zip_bomb(200)
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    try:
        assert "疑似压缩炸弹" in refused("报告.docx", bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024  # nothing was inflated


def test_a_highly_compressed_part_under_the_total_limit_is_refused() -> None:
    assert "疑似压缩炸弹" in refused("报告.docx", zip_bomb(5))


def test_a_zip_with_5000_entries_is_refused() -> None:
    entries = {f"word/media/{index}.xml": b"" for index in range(5000)}
    entries["word/document.xml"] = docx_from_parts(para("正文"))  # any bytes will do
    assert "疑似压缩炸弹" in refused("报告.docx", zip_bytes(entries, zipfile.ZIP_STORED))


def test_a_zip_with_encrypted_entries_is_refused() -> None:
    data = bytearray(docx_from_parts(para("正文")))
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 0x1)  # general purpose flag: encrypted
    assert "设置了打开密码" in refused("报告.docx", bytes(data))


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "word/../../x.xml", "C:/x"])
def test_entries_escaping_the_archive_are_refused(name: str) -> None:
    data = zip_bytes({"word/document.xml": b"<x/>", name: b"x"})
    assert "疑似压缩炸弹" in refused("报告.docx", data)


def test_an_entry_that_inflates_past_its_declared_size_is_refused() -> None:
    document = f'<w:document xmlns:w="{STRICT_W_NS}"><w:body>'.encode()
    document += b"<w:p><w:r><w:t>x</w:t></w:r></w:p>" * 30000 + b"</w:body></w:document>"
    data = bytearray(zip_bytes({"word/document.xml": document}))
    # Understate the uncompressed size in the central directory entry.
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1000)
    message = refused("报告.docx", bytes(data))
    assert "疑似压缩炸弹" in message or "不是有效的 Word (.docx) 文件" in message


# --- .pdf ---------------------------------------------------------------------------------------

PDF_LINE = "Report 2021 plans: strengthen legal publicity and training"


def test_pdf_text_is_extracted() -> None:
    text = read_report_file("报告.PDF", pdf_bytes([PDF_LINE, "Next year: 12 sessions"]))
    assert text.split("\n") == [PDF_LINE, "Next year: 12 sessions"]


def test_a_pdf_with_only_blank_pages_is_a_scan() -> None:
    expected = "该 PDF 没有可提取的文字（可能是扫描件），请上传 Word 或文本文件。"
    assert refused("扫描件.pdf", pdf_bytes([None])) == expected
    # A scanning app's watermark on every page does not make it a text PDF.
    assert refused("扫描件.pdf", pdf_bytes(["CamScanner"] * 3)) == expected


def test_a_pdf_that_is_really_text_or_docx() -> None:
    assert "不是有效的 PDF 文件" in refused("报告.pdf", REPORT.encode())
    document = docx.Document()
    document.add_paragraph("正文")
    assert "Word (.docx)" in refused("报告.pdf", python_docx_bytes(document))


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n" + bytes(range(256)) * 4,
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n%%EOF",
        b"%PDF-",
    ],
)
def test_damaged_pdfs_are_refused(data: bytes) -> None:
    message = refused("报告.pdf", data)
    assert "不是有效的 PDF 文件" in message or "没有可提取的文字" in message


def test_a_truncated_pdf_is_refused_or_repaired() -> None:
    data = pdf_bytes([PDF_LINE] * 3)
    try:
        text = read_report_file("报告.pdf", data[: len(data) * 2 // 3])
    except ParseError:
        return
    assert PDF_LINE in text


def _encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([PDF_LINE]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_a_password_protected_pdf_is_refused() -> None:
    assert "设置了密码" in refused("报告.pdf", _encrypted("secret"))


def test_a_pdf_with_only_an_owner_password_is_read() -> None:
    assert read_report_file("报告.pdf", _encrypted("")) == PDF_LINE


def test_a_pdf_over_the_page_limit_is_refused() -> None:
    writer = PdfWriter()
    for _ in range(501):
        writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "页上限" in refused("报告.pdf", buffer.getvalue())


# --- whatever the bytes, only ParseError --------------------------------------------------------

PREFIXES = [
    b"",
    b"PK\x03\x04",
    b"%PDF-1.4\n",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
]


def _read_or_refuse(filename: str, data: bytes) -> None:
    try:
        text = read_report_file(filename, data)
    except ParseError as error:
        # MSG_UNREADABLE is the last-resort message: seeing it means an unanticipated failure.
        assert error.message and error.message != MSG_UNREADABLE
    else:
        assert isinstance(text, str) and text.strip()
        assert "\r" not in text


@settings(max_examples=300, deadline=None, database=None)
@given(
    extension=st.sampled_from(sorted(ALLOWED_EXTENSIONS)),
    prefix=st.sampled_from(PREFIXES),
    data=st.binary(max_size=2048),
)
def test_arbitrary_bytes_raise_only_parse_error(extension: str, prefix: bytes, data: bytes) -> None:
    _read_or_refuse(f"报告{extension}", prefix + data)


VALID_DOCX = docx_from_parts(
    para("工作情况", 1, 0) + para("强化", 1, 1) + para("条文", style="Article"),
    numbering=NUMBERING,
    styles=STYLES,
)
VALID_PDF = pdf_bytes([PDF_LINE, None])


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    original=st.sampled_from([("报告.docx", VALID_DOCX), ("报告.pdf", VALID_PDF)]),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    cut=st.integers(min_value=0, max_value=4096),
)
def test_damaged_real_files_raise_only_parse_error(
    original: tuple[str, bytes], edits: list[tuple[int, int]], cut: int
) -> None:
    filename, data = original
    damaged = bytearray(data[: len(data) - cut] if cut < len(data) else data)
    for position, value in edits:
        damaged[position % len(damaged)] = value
    _read_or_refuse(filename, bytes(damaged))
