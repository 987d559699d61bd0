"""app/docx_render.py: a DocumentSpec as .docx in the official layout (GB/T 9704-2012).

Two kinds of check. First the .docx read back with python-docx (and the raw XML where
python-docx has no API): page, margins, East Asian fonts, sizes, line pitch, character spacing,
language, heading levels, indents, tables, figures, footers, properties, determinism. Then the
same documents through LibreOffice to PDF (need_office: skipped outside CI when LibreOffice or
poppler is absent, required under CI=true), measured on the page: 22 lines of 28 characters, the
page number 7 mm under the 版心, the fonts the aliases of tests/fonts.conf pick, and the title on
page 1 of the draft and the review, whose page 1 is kept as a PNG in tests/artifacts/.
"""

from __future__ import annotations

import ast
import io
import re
import struct
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Emu

from app.core.document import Block, BlockKind, DocumentSpec, Figure, Table
from app.docx_render import PPR_ORDER, RPR_ORDER, render_docx, write_docx
from tests.office_render import (
    ARTIFACTS,
    convert_to_pdf,
    pdf_fonts,
    pdf_page_count,
    pdf_page_lines,
    pdf_page_png,
    pdf_page_text,
    require_office,
)

REPO = Path(__file__).resolve().parents[1]
K = BlockKind
TITLE = "关于2025年度法治政府建设情况的报告"
REVIEW_TITLE = "关于2026年上半年法治政府建设重点任务推进情况的通报"
FACT = ("全年共开展法治宣传活动12次，发放宣传资料3000余份，受教育群众达5000人次，"
        "群众法治意识明显增强，依法办事氛围更加浓厚。")  # fmt: skip
# 28 characters, without punctuation (which has its own line-breaking rules).
LINE_28 = "法治政府建设情况报告工作要点依法行政规范执法监督公开透明"
TWIPS_PER_MM = 1440 / 25.4


# -- inputs ----------------------------------------------------------------------------------


def tiny_png(width: int = 40, height: int = 20) -> bytes:
    """A valid RGB PNG, made with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes((40, 90, 160)) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


def tiny_jpeg(width: int = 32, height: int = 16) -> bytes:
    """The markers of a JPEG (JFIF, a frame header with the size): what python-docx reads."""
    jfif = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = (
        b"\x08" + struct.pack(">HH", height, width) + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    sof0 = b"\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame
    return b"\xff\xd8" + jfif + sof0 + b"\xff\xd9"


def report_spec() -> DocumentSpec:
    """A 法治政府建设情况报告 (the draft's shape): title, addressee, 一、 and （一） headings with
    run-in text, long paragraphs, a table, figures, signature and date."""
    return DocumentSpec(
        (
            Block(K.TITLE, TITLE),
            Block(K.ADDRESSEE, "区委、区政府："),
            Block(
                K.BODY,
                "2025年，我镇在区委、区政府的坚强领导下，深入学习贯彻习近平法治思想，" + FACT,
            ),  # fmt: skip
            Block(K.HEADING1, "一、2025年法治政府建设工作情况"),
            Block(
                K.HEADING2,
                "（一）强化组织领导。",
                "镇党委坚持把法治政府建设摆在全局工作的重要位置，" + FACT,
            ),  # fmt: skip
            Block(K.HEADING3, "1.健全工作机制。", "成立以镇长为组长的法治政府建设领导小组。"),
            Block(K.BODY, FACT * 3),
            Block(K.HEADING2, "（二）推进严格规范公正文明执法。", FACT * 2),
            Table(
                ("指标", "数值", "单位"),
                (
                    ("开展普法宣传", "12", "次"),
                    ("发放宣传资料", "3000", "份"),
                    ("办理行政复议案件", "4", "件"),
                ),
                caption="表1 主要工作指标",
            ),  # fmt: skip
            Figure(tiny_png(), "image/png", "图1 任务完成情况", width_mm=120),
            Figure(
                b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "图2 各科室完成率"
            ),
            Block(K.HEADING1, "二、存在的问题"),
            Block(K.BODY, "一是法治宣传形式较为单一。" + FACT * 2),
            Block(K.HEADING1, "三、2026年工作打算"),
            Block(K.BODY, "一是持续加大宣传力度。" + FACT * 2),
            Block(K.SIGNATURE, "××镇人民政府"),
            Block(K.DATE, "2026年1月5日"),
            Block(K.NOTE, "（此件公开发布）"),
        ),
        title=TITLE,
        author="××镇人民政府",
        keywords=("法治政府", "年度报告"),
    )


def review_spec() -> DocumentSpec:
    """A 督查通报 (the review's shape): the red 版头, a two-line title, figures in a table."""
    return DocumentSpec(
        (
            Block(K.MASTHEAD, "××镇法治政府建设工作督查通报"),
            Block(K.ISSUE_LINE, "第3期"),
            Block(K.ISSUE_LINE, "××镇全面依法治镇委员会办公室　　　　　2026年7月5日"),
            Block(K.TITLE, "关于2026年上半年法治政府建设\n重点任务推进情况的通报"),
            Block(K.ADDRESSEE, "各科室、站所，各村（社区）："),
            Block(K.BODY, "截至6月30日，全镇共有法治政府建设任务45项，已办结28项，办结率62.2%。"),
            Block(K.HEADING1, "一、总体进展"),
            Table(
                ("科室", "任务数", "已办结", "办结率"),
                (
                    ("司法所", "12", "9", "75.0%"),
                    ("综合执法队", "8", "3", "37.5%"),
                    ("党政办公室（法治办）", "5", "5", "100.0%"),
                ),
                caption="表1 各科室任务进展",
            ),  # fmt: skip
            Block(K.HEADING1, "二、存在问题"),
            Block(K.BODY, FACT * 2),
            Block(K.DATE, "2026年7月5日"),
        ),
        title=REVIEW_TITLE,
        author="××镇全面依法治镇委员会办公室",
    )


def lines_spec(count: int, text: str = LINE_28) -> DocumentSpec:
    """COUNT flush-left paragraphs of TEXT (the addressee's style has no indent)."""
    return DocumentSpec(tuple(Block(K.ADDRESSEE, text) for _ in range(count)))


# -- reading the .docx back -------------------------------------------------------------------


def open_docx(data: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(data))


@pytest.fixture(scope="module")
def report() -> docx.document.Document:
    return open_docx(render_docx(report_spec()))


def paragraph_with(document, text: str):
    matches = [p for p in document.paragraphs if p.text.startswith(text)]
    assert len(matches) == 1, f"{len(matches)} paragraphs start with {text!r}"
    return matches[0]


def style_chain(document, style_id: str | None) -> list:
    """The style's element, then the styles it is based on, up to the root."""
    styles = {s.get(qn("w:styleId")): s for s in document.styles.element.findall(qn("w:style"))}
    chain = []
    while style_id:
        style = styles[style_id]
        chain.append(style)
        based_on = style.find(qn("w:basedOn"))
        style_id = based_on.get(qn("w:val")) if based_on is not None else None
    return chain


def doc_defaults(document, kind: str):
    """docDefaults' w:rPr (kind "r") or w:pPr (kind "p")."""
    defaults = document.styles.element.find(qn("w:docDefaults"))
    return defaults.find(qn(f"w:{kind}PrDefault")).find(qn(f"w:{kind}Pr"))


def paragraph_style_id(paragraph) -> str:
    p_style = paragraph._p.pPr.find(qn("w:pStyle")) if paragraph._p.pPr is not None else None
    return p_style.get(qn("w:val")) if p_style is not None else "Normal"


def effective(document, paragraph, tag: str, attribute: str = "val", run=None) -> str | None:
    """The value Word uses for TAG/@ATTRIBUTE: a run property when RUN is given (the run's own,
    then the paragraph style's and the styles it is based on, then the document defaults), else
    a paragraph property (the paragraph's own, then its styles, then the defaults)."""
    kind = "r" if run is not None else "p"
    sources = []
    if run is not None and run._r.rPr is not None:
        sources.append(run._r.rPr)
    if kind == "p" and paragraph._p.pPr is not None:
        sources.append(paragraph._p.pPr)
    for style in style_chain(document, paragraph_style_id(paragraph)):
        properties = style.find(qn(f"w:{kind}Pr"))
        if properties is not None:
            sources.append(properties)
    sources.append(doc_defaults(document, kind))
    for properties in sources:
        element = properties.find(qn(f"w:{tag}"))
        if element is not None and element.get(qn(f"w:{attribute}")) is not None:
            return element.get(qn(f"w:{attribute}"))
        if element is not None and attribute == "val" and tag in ("b", "keepNext"):
            return "1"  # an on/off element without a value is on
    return None


def font(document, paragraph, run=None) -> str | None:
    return effective(document, paragraph, "rFonts", "eastAsia", run=run)


def size_pt(document, paragraph, run=None) -> float:
    return int(effective(document, paragraph, "sz", run=run)) / 2


def bold(document, paragraph, run=None) -> bool:
    return effective(document, paragraph, "b", run=run) in ("1", "true", "on")


# -- the page --------------------------------------------------------------------------------


def test_the_page_is_a4_with_the_official_margins(report) -> None:
    section = report.sections[0]
    for measured, expected in (
        (section.page_width, 210), (section.page_height, 297), (section.top_margin, 37),
        (section.bottom_margin, 35), (section.left_margin, 28), (section.right_margin, 26),
        (section.footer_distance, 22),
    ):  # fmt: skip
        assert measured.mm == pytest.approx(expected, abs=0.1)
    text_width = Emu(section.page_width - section.left_margin - section.right_margin)
    text_height = Emu(section.page_height - section.top_margin - section.bottom_margin)
    assert (text_width.mm, text_height.mm) == (pytest.approx(156, abs=0.1),
                                               pytest.approx(225, abs=0.1))  # fmt: skip


def test_python_docx_template_defaults_are_replaced(report) -> None:
    """No 10 pt after paragraphs, no 1.15 lines, no en-US East Asian text, no theme fonts."""
    for properties in (doc_defaults(report, "p"), report.styles["Normal"].element.pPr):
        spacing = properties.find(qn("w:spacing"))
        assert spacing.get(qn("w:before")) == "0" and spacing.get(qn("w:after")) == "0"
        assert (spacing.get(qn("w:line")), spacing.get(qn("w:lineRule"))) == ("579", "exact")
        assert properties.find(qn("w:widowControl")).get(qn("w:val")) == "0"
    for properties in (doc_defaults(report, "r"), report.styles["Normal"].element.rPr):
        fonts = properties.find(qn("w:rFonts"))
        assert fonts.get(qn("w:eastAsia")) == "仿宋_GB2312"
        assert fonts.get(qn("w:ascii")) == fonts.get(qn("w:hAnsi")) == "Times New Roman"
        assert not [name for name in fonts.attrib if name.endswith("Theme")]
        assert properties.find(qn("w:sz")).get(qn("w:val")) == "32"  # 3号, 16 pt
        assert properties.find(qn("w:spacing")).get(qn("w:val")) == "-5"  # −0.25 pt
        lang = properties.find(qn("w:lang"))
        assert lang.get(qn("w:eastAsia")) == "zh-CN"
        # Latin runs keep a Latin language (as Chinese Word writes it): with zh-CN there,
        # LibreOffice broke numbers such as 3000 across lines.
        assert lang.get(qn("w:val")) == "en-US"
    styles_xml = report.styles.element.xml
    assert 'w:eastAsia="en-US"' not in styles_xml and "Calibri" not in styles_xml
    theme_lang = report.settings.element.find(qn("w:themeFontLang"))
    assert theme_lang.get(qn("w:eastAsia")) == "zh-CN"
    assert report.core_properties.language == "zh-CN"


# kind's first text → (style name, East Asian font, size in pt, bold, alignment,
# first-line indent in characters, right indent in characters, outline level)
EXPECTED_BLOCKS = {
    TITLE: ("Title", "方正小标宋简体", 22, False, "center", None, None, None),
    "区委、区政府：": ("Salutation", "仿宋_GB2312", 16, False, "both", None, None, None),
    "2025年，我镇": ("Body Text", "仿宋_GB2312", 16, False, "both", 2, None, None),
    "一、2025年": ("Heading 1", "黑体", 16, False, "both", 2, None, 0),
    "（一）强化组织领导": ("Heading 2", "楷体_GB2312", 16, False, "both", 2, None, 1),
    "1.健全工作机制": ("Heading 3", "仿宋_GB2312", 16, True, "both", 2, None, 2),
    "××镇人民政府": ("Signature", "仿宋_GB2312", 16, False, "right", None, 4, None),
    "2026年1月5日": ("Date", "仿宋_GB2312", 16, False, "right", None, 4, None),
    "（此件公开发布）": ("Body Text", "仿宋_GB2312", 16, False, "both", 2, None, None),
}


@pytest.mark.parametrize("text", EXPECTED_BLOCKS, ids=["title", "addressee", "body", "heading1",
                         "heading2", "heading3", "signature", "date", "note"])  # fmt: skip
def test_each_kind_of_block_has_its_font_size_alignment_and_indent(report, text: str) -> None:
    name, east_asia, size, is_bold, alignment, first_chars, right_chars, level = (
        EXPECTED_BLOCKS[text])  # fmt: skip
    paragraph = paragraph_with(report, text)
    run = paragraph.runs[0]
    assert paragraph.style.name == name
    assert font(report, paragraph, run) == east_asia
    assert size_pt(report, paragraph, run) == size
    assert bold(report, paragraph, run) is is_bold
    assert effective(report, paragraph, "jc") == alignment
    # Every kind keeps the 22-line grid: exact 28.95 pt, no space before or after.
    assert effective(report, paragraph, "spacing", "line") == "579"
    assert effective(report, paragraph, "spacing", "lineRule") == "exact"
    assert effective(report, paragraph, "spacing", "after") == "0"
    assert effective(report, paragraph, "spacing", "before") == "0"
    assert effective(report, paragraph, "spacing", run=run) == "-5"
    if first_chars is None:
        assert effective(report, paragraph, "ind", "firstLine") is None
    else:
        assert effective(report, paragraph, "ind", "firstLineChars") == str(first_chars * 100)
        assert effective(report, paragraph, "ind", "firstLine") == str(first_chars * 16 * 20)
    if right_chars is None:
        assert effective(report, paragraph, "ind", "right") is None
    else:
        assert effective(report, paragraph, "ind", "rightChars") == str(right_chars * 100)
        assert effective(report, paragraph, "ind", "right") == str(right_chars * 16 * 20)
    assert effective(report, paragraph, "outlineLvl") == (None if level is None else str(level))


def test_headings_are_word_headings_and_their_run_in_text_is_body_text(report) -> None:
    headings = [(p.style.name, p.text[:4]) for p in report.paragraphs
                if p.style.name.startswith("Heading")]  # fmt: skip
    assert headings == [("Heading 1", "一、20"), ("Heading 2", "（一）强"), ("Heading 3", "1.健全"),
                        ("Heading 2", "（二）推"), ("Heading 1", "二、存在"),
                        ("Heading 1", "三、20")]  # fmt: skip
    for text in ("（一）强化组织领导", "1.健全工作机制"):
        paragraph = paragraph_with(report, text)
        heading, tail = paragraph.runs
        assert tail.text.startswith(("镇党委", "成立"))
        assert font(report, paragraph, tail) == "仿宋_GB2312"
        assert not bold(report, paragraph, tail)
        assert effective(report, paragraph, "keepNext") == "0"  # a heading with its paragraph
    alone = paragraph_with(report, "二、存在的问题")
    assert effective(report, alone, "keepNext") == "1"  # kept with the paragraph under it


def test_the_standard_blank_lines_are_added(report) -> None:
    texts = [p.text for p in report.paragraphs]
    title = texts.index(TITLE)
    assert texts[title + 1] == "" and texts[title + 2] == "区委、区政府："  # 标题下空一行
    signature = texts.index("××镇人民政府")
    assert texts[signature - 1] == "" and texts[signature - 2].startswith("一是持续")
    assert texts[signature + 1] == "2026年1月5日"  # the date right under the signature
    blank = [p for p in report.paragraphs if not p.text and not p._p.xpath(".//w:drawing")]
    assert len(blank) == 2


def test_the_masthead_is_red_centred_and_fits_one_line() -> None:
    document = open_docx(render_docx(review_spec()))
    masthead = paragraph_with(document, "××镇法治政府建设工作督查通报")
    run = masthead.runs[0]
    assert masthead.style.name == "发文机关标志"
    assert effective(document, masthead, "color", run=run) == "FF0000"
    assert font(document, masthead, run) == "方正小标宋简体"
    assert effective(document, masthead, "jc") == "center"
    # 15 characters at most 156 mm: smaller than 小初 (36 pt).
    assert 15 * size_pt(document, masthead, run) <= 156 / 25.4 * 72
    assert size_pt(document, masthead, run) >= 28
    short = open_docx(render_docx(DocumentSpec((Block(K.MASTHEAD, "××镇人民政府文件"),))))
    assert size_pt(short, short.paragraphs[0], short.paragraphs[0].runs[0]) == 36
    # The red separator under the last line of the 版头, then a blank line, then the title.
    texts = [p.text for p in document.paragraphs]
    issue = paragraph_with(document, "××镇全面依法治镇委员会办公室")
    border = issue._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom"))
    assert (border.get(qn("w:val")), border.get(qn("w:color"))) == ("single", "FF0000")
    assert paragraph_with(document, "第3期")._p.pPr.find(qn("w:pBdr")) is None
    assert texts[texts.index(issue.text) + 1] == ""
    # A title on two lines: a line break inside one Title paragraph.
    title = paragraph_with(document, "关于2026年上半年")
    assert title.style.name == "Title" and len(title._p.xpath(".//w:br")) == 1


def test_tables_have_borders_a_repeated_bold_header_and_smaller_text(report) -> None:
    (table,) = report.tables
    caption = paragraph_with(report, "表1 主要工作指标")
    assert caption.style.name == "Caption" and effective(report, caption, "keepNext") == "1"
    borders = table._tbl.tblPr.find(qn("w:tblBorders"))
    assert {b.get(qn("w:val")) for b in borders} == {"single"} and len(borders) == 6
    header = table.rows[0]
    assert header._tr.trPr.find(qn("w:tblHeader")) is not None  # repeated on each page
    assert [c.text for c in header.cells] == ["指标", "数值", "单位"]
    for row_index, row in enumerate(table.rows):
        for cell in row.cells:
            paragraph = cell.paragraphs[0]
            run = paragraph.runs[0]
            assert font(report, paragraph, run) == "仿宋_GB2312"
            assert size_pt(report, paragraph, run) == 14  # 4号
            assert bold(report, paragraph, run) is (row_index == 0)
            assert effective(report, paragraph, "ind", "firstLine") is None
            assert effective(report, paragraph, "spacing", "lineRule") == "auto"
    assert table.rows[1].cells[1].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.CENTER  # "12"
    widths = [int(c.get(qn("w:w"))) for c in table._tbl.tblGrid.findall(qn("w:gridCol"))]
    assert sum(widths) <= 156 * TWIPS_PER_MM and widths[0] > widths[1]


def test_png_and_jpeg_figures_are_embedded_and_svg_is_its_caption_only() -> None:
    spec = DocumentSpec((
        Figure(tiny_png(), "image/png", "图1 柱状图", width_mm=120),
        Figure(tiny_jpeg(), "image/jpeg", "图2 照片", width_mm=300),
        Figure(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "图3 矢量图"),
    ))  # fmt: skip
    document = open_docx(render_docx(spec))
    shapes = document.inline_shapes
    assert [round(s.width.mm, 1) for s in shapes] == [120.0, 156.0]  # at most the 版心's width
    assert shapes[0].height.mm == pytest.approx(60, abs=0.1)  # the PNG's 2:1 kept
    texts = [p.text for p in document.paragraphs]
    assert texts == ["", "图1 柱状图", "", "图2 照片", "图3 矢量图"]
    for picture in (document.paragraphs[0], document.paragraphs[2]):
        # Single spacing: an exact 28.95 pt line would crop the picture to one line.
        assert effective(document, picture, "spacing", "lineRule") == "auto"
        assert effective(document, picture, "jc") == "center"
    descriptions = [e.get("descr") for e in document.element.body.xpath(".//wp:docPr")]
    assert descriptions == ["图1 柱状图", "图2 照片"]
    for caption in document.paragraphs[1::2]:
        assert caption.style.name == "Caption"
    media = [n for n in zipfile.ZipFile(io.BytesIO(render_docx(spec))).namelist()
             if n.startswith("word/media/")]  # fmt: skip
    assert sorted(Path(n).suffix for n in media) == [".jpg", ".png"]


def test_bytes_that_are_no_picture_leave_the_caption_and_a_log_line(caplog) -> None:
    spec = DocumentSpec((Figure(b"not a png", "image/png", "图1 完成率"),))
    with caplog.at_level("WARNING", logger="app.docx_render"):
        document = open_docx(render_docx(spec))
    assert [p.text for p in document.paragraphs] == ["图1 完成率"]
    assert not document.inline_shapes
    assert "图1 完成率" in caplog.text and "caption only" in caplog.text


def test_a_date_alone_gets_no_blank_line_above_it_at_the_top() -> None:
    spec = DocumentSpec((Block(K.DATE, "2026年1月5日"), Block(K.NOTE, "（此件公开发布）")))
    assert [p.text for p in open_docx(render_docx(spec)).paragraphs] == [
        "2026年1月5日",
        "（此件公开发布）",
    ]


def test_footers_carry_the_page_number_odd_right_and_even_left(report) -> None:
    assert report.settings.odd_and_even_pages_header_footer is True
    section = report.sections[0]
    for footer, alignment, side in ((section.footer, "right", "right"),
                                    (section.even_page_footer, "left", "left")):  # fmt: skip
        (paragraph,) = footer.paragraphs
        assert paragraph.text == "— 1 —"  # the page number's last value, "— PAGE —"
        p = paragraph._p
        kinds = [e.get(qn("w:fldCharType")) for e in p.xpath(".//w:fldChar")]
        assert kinds == ["begin", "separate", "end"]
        assert [t.text.strip() for t in p.xpath(".//w:instrText")] == ["PAGE"]
        assert effective(report, paragraph, "jc") == alignment
        assert effective(report, paragraph, "ind", side) == "280"  # one 4号 character: 空一字
        for run in paragraph.runs:
            assert font(report, paragraph, run) == "宋体"
            assert effective(report, paragraph, "rFonts", "ascii", run=run) == "宋体"  # 半角宋体
            assert size_pt(report, paragraph, run) == 14  # 4号
    assert section.different_first_page_header_footer is False


def test_core_properties_and_no_creation_time_unless_given() -> None:
    spec = report_spec()
    properties = open_docx(render_docx(spec)).core_properties
    assert properties.title == TITLE
    assert properties.author == "××镇人民政府"
    assert properties.keywords == "法治政府; 年度报告"
    assert properties.language == "zh-CN"
    assert properties.comments == "" and properties.last_modified_by == ""
    assert properties.created is None and properties.modified is None
    moment = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)
    stamped = open_docx(render_docx(spec, created=moment)).core_properties
    assert stamped.created == stamped.modified == moment
    untitled = DocumentSpec((Block(K.TITLE, "关于某事的报告"),))
    assert open_docx(render_docx(untitled)).core_properties.title == "关于某事的报告"


def test_the_same_spec_gives_the_same_bytes(tmp_path: Path) -> None:
    first = render_docx(report_spec())
    assert render_docx(report_spec()) == first
    entries = zipfile.ZipFile(io.BytesIO(first)).infolist()
    assert {e.date_time for e in entries} == {(1980, 1, 1, 0, 0, 0)}  # not the clock
    path = tmp_path / "report.docx"
    write_docx(report_spec(), path)
    assert path.read_bytes() == first


def test_the_package_carries_no_template_leftovers() -> None:
    names = zipfile.ZipFile(io.BytesIO(render_docx(report_spec()))).namelist()
    assert "docProps/thumbnail.jpeg" not in names  # a picture of a blank US Letter page
    assert "docProps/app.xml" not in names  # "Microsoft Macintosh Word", 1 page
    assert "word/stylesWithEffects.xml" not in names  # Word 2010's copy of the old styles
    assert "word/numbering.xml" not in names  # unused lists, naming removed list styles
    package = zipfile.ZipFile(io.BytesIO(render_docx(review_spec())))
    defined = set(re.findall(r'w:styleId="([^"]+)"', package.read("word/styles.xml").decode()))
    for name in (n for n in package.namelist() if n.endswith(".xml")):
        used = re.findall(r'<w:(?:[pr]Style|tblStyle|basedOn|next|link) w:val="([^"]+)"',
                          package.read(name).decode())  # fmt: skip
        assert set(used) <= defined, name
    document = open_docx(render_docx(report_spec()))
    font_table = document.part.part_related_by(
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/fontTable"
    ).blob
    for name, fallback in (
        ("方正小标宋简体", "宋体"),
        ("仿宋_GB2312", "仿宋"),
        ("楷体_GB2312", "楷体"),
    ):
        pattern = f'<w:font w:name="{name}"><w:altName w:val="{fallback}"/>'
        assert pattern in font_table.decode()


def test_properties_are_written_in_schema_order() -> None:
    """WordprocessingML fixes the order of w:pPr's and w:rPr's children; Word may refuse a file
    that breaks it (python-docx does not check what is added as raw XML)."""
    data = render_docx(review_spec())
    package = zipfile.ZipFile(io.BytesIO(data))
    parts = [
        n for n in package.namelist() if re.fullmatch(r"word/(document|styles|footer\d+)\.xml", n)
    ]
    assert len(parts) == 4
    for name in parts:
        root = docx.oxml.parse_xml(package.read(name))
        for tag, order in (("w:pPr", PPR_ORDER), ("w:rPr", RPR_ORDER)):
            for properties in root.iter(qn(tag)):
                positions = [order.index(child.tag.split("}")[1]) for child in properties]
                assert positions == sorted(positions), f"{name}: {properties.xml}"


def test_an_empty_spec_is_an_empty_official_page() -> None:
    document = open_docx(render_docx(DocumentSpec(())))
    assert document.paragraphs == [] or [p.text for p in document.paragraphs] == [""]
    assert document.sections[0].page_width.mm == pytest.approx(210, abs=0.1)


def test_docx_render_is_the_only_app_module_that_imports_python_docx() -> None:
    importers = []
    for path in sorted((REPO / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(name == "docx" or name.startswith("docx.") for name in names):
                importers.append(path.relative_to(REPO).as_posix())
    assert sorted(set(importers)) == ["app/docx_render.py"]


# -- LibreOffice: the page as printed -----------------------------------------------------------


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The documents of these tests as PDFs, converted at the same time, each by its own
    soffice with its own profile (a shared profile silently loses outputs)."""
    require_office()
    folder = tmp_path_factory.mktemp("pdf")
    specs = {
        "draft": report_spec(),
        "review": review_spec(),
        # 23 lines of 28 characters, then 12 paragraphs of 29 (28 + 1 each), then body text.
        "grid": DocumentSpec(lines_spec(23).elements + lines_spec(12, LINE_28 + "好").elements
                             + (Block(K.BODY, LINE_28[:26]), Block(K.BODY, LINE_28[:27]))),
        "lines22": lines_spec(22),
        "lines23": lines_spec(23),
    }  # fmt: skip
    for name, spec in specs.items():
        write_docx(spec, folder / f"{name}.docx")
    with ThreadPoolExecutor(max_workers=3) as pool:
        converted = pool.map(lambda name: convert_to_pdf(folder / f"{name}.docx", folder), specs)
        return dict(zip(specs, converted, strict=True))


def line_text(line) -> str:
    return "".join(word.text for word in line)


VERSION_BOTTOM_MM = 297 - 35  # the 版心's bottom edge


def test_pdf_draft_and_review_show_their_title_on_page_1(pdfs: dict[str, Path]) -> None:
    for name, title, pages, png_name in (
        ("draft", TITLE, (2, 3), "docx_render_page1.png"),
        ("review", REVIEW_TITLE, (1, 2), "docx_render_review_page1.png"),
    ):
        pdf = pdfs[name]
        assert pdf_page_count(pdf) in pages, name
        page_1 = re.sub(r"\s+", "", pdf_page_text(pdf, 1))
        assert title in page_1, page_1
        assert "—1—" in page_1
        png = pdf_page_png(pdf, 1, ARTIFACTS / png_name)  # kept for a look (git-ignored)
        assert png.stat().st_size > 10_000
        assert png.read_bytes().startswith(b"\x89PNG")


def test_pdf_22_lines_of_28_characters(pdfs: dict[str, Path]) -> None:
    pdf = pdfs["grid"]
    page_1 = [line for line in pdf_page_lines(pdf, 1) if line[0].bottom < VERSION_BOTTOM_MM]
    assert [line_text(line) for line in page_1] == [LINE_28] * 22  # 22 lines, 28 characters
    for line in page_1:  # inside the 版心
        assert line[0].left >= 28 - 0.5 and line[-1].right <= 210 - 26 + 0.5
    pitches = {round(b[0].top - a[0].top, 1) for a, b in zip(page_1, page_1[1:], strict=False)}
    assert pitches <= {10.2, 10.3}  # 28.95 pt = 10.21 mm
    page_2 = [line_text(line) for line in pdf_page_lines(pdf, 2)
              if line[0].bottom < VERSION_BOTTOM_MM]  # fmt: skip
    assert page_2[0] == LINE_28  # the 23rd line starts page 2
    assert page_2[1:5] == [LINE_28, "好", LINE_28, "好"]  # 29 characters take two lines
    page_3 = [line for line in pdf_page_lines(pdf, 3) if line[0].bottom < VERSION_BOTTOM_MM]
    body = page_3[-3:]  # 2 characters' indent + 26 fit on one line; 27 take two
    assert [line_text(line) for line in body] == [LINE_28[:26], LINE_28[:26], LINE_28[26]]
    assert body[0][0].left - 28 == pytest.approx(2 * 16 * 25.4 / 72, abs=0.5)  # 首行缩进二字


def test_pdf_page_count_22_lines_fill_one_page_23_spill(pdfs: dict[str, Path]) -> None:
    assert pdf_page_count(pdfs["lines22"]) == 1
    assert pdf_page_count(pdfs["lines23"]) == 2


def test_pdf_page_numbers_sit_7_mm_under_the_text_odd_right_even_left(pdfs) -> None:
    pdf = pdfs["grid"]
    one_character = 14 * 25.4 / 72  # 4号
    for page, expected in ((1, "—1—"), (2, "—2—")):
        (number,) = [line for line in pdf_page_lines(pdf, page)
                     if line[0].top > VERSION_BOTTOM_MM]  # fmt: skip
        assert line_text(number) == expected
        assert number[0].top - VERSION_BOTTOM_MM == pytest.approx(7, abs=1)
        if page % 2:  # odd: right-aligned, one character in
            assert 210 - 26 - number[-1].right == pytest.approx(one_character, abs=1)
        else:  # even: left-aligned, one character in
            assert number[0].left - 28 == pytest.approx(one_character, abs=1)


def test_pdf_uses_the_font_aliases(pdfs: dict[str, Path]) -> None:
    """tests/fonts.conf maps 仿宋/宋体/小标宋 to Noto Serif CJK, 黑体 to Noto Sans CJK and 楷体 to
    AR PL KaitiM GB; without it every face would be a sans."""
    fonts = " ".join(pdf_fonts(pdfs["draft"]))
    assert "NotoSerifCJK" in fonts and "NotoSerifCJKjp-Bold" in fonts  # body; 1. headings bold
    assert "NotoSansCJK" in fonts  # 一、 headings, 黑体
    assert "GBZenKai" in fonts  # （一） headings, AR PL KaitiM GB
    assert "DejaVu" not in fonts
