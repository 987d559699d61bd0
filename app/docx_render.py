"""A DocumentSpec as .docx bytes in the official layout (GB/T 9704-2012 党政机关公文格式).

The only module of the app that imports python-docx. The core says what each paragraph *is*
(app/core/document.py); this module says how it looks:

- A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm (版心 156 × 225 mm).
- 22 lines of 28 characters: 3号 (16 pt) text on an exact line pitch of 28.95 pt, with the
  character spacing condensed by 0.25 pt (16 pt × 28 = 158 mm would not fit in 156 mm; the
  figures were measured with LibreOffice, docs/architecture.md "Official documents").
- Fonts, set on ``w:eastAsia`` (python-docx's ``font.name`` sets only the Latin slots):
  body 仿宋_GB2312, title 方正小标宋简体 2号, 一、 headings 黑体, （一） headings 楷体_GB2312,
  1. headings 仿宋 bold; Latin letters and digits Times New Roman; page numbers 宋体 4号.
  The font table names a fallback for each (``w:altName``: 仿宋, 宋体, 楷体 …), the way WPS
  writes it. The official fonts are proprietary: a machine without them substitutes
  (tests/fonts.conf maps them to Noto CJK for LibreOffice).
- Paragraph kinds map to Word's built-in styles where Word has one, so the document stays
  editable as a 公文: 标题 (Title), 标题 1–3 (Heading 1–3, outline levels 0–2: the navigation pane
  shows 一、/（一）/1.), 正文文本 (Body Text, first line indented two characters), 称呼
  (Salutation: the addressee), 签名 and 日期 (Signature, Date: right-aligned, 右空四字), 题注
  (Caption), plus 发文机关标志 and 期号 for a 通报's red 版头, and 表格文字 for table cells.
- The renderer adds the blank lines the standard asks for: under the title, before the
  signature (or the date), and under the 版头's red separator line.
- Page numbers "— 1 —" in the footer: odd pages right-aligned and even pages left-aligned, one
  character in from the edge, the number line about 7 mm under the 版心.
- Tables: single borders, 4号 仿宋, a bold header row repeated on every page, numbers centred.
- Figures: PNG and JPEG are embedded at their width (at most the 版心's 156 mm), centred, with
  the caption under them. python-docx cannot embed SVG: an SVG figure (or any other type, or
  bytes that are not a picture, which is logged) is rendered as its caption line only.

The output is deterministic: the same spec gives the same bytes (fixed ZIP timestamps, no
creation time unless one is passed), so tests and caches can compare bytes.
"""

from __future__ import annotations

import io
import logging
import unicodedata
import zipfile
from datetime import datetime
from functools import cache, lru_cache
from os import PathLike

import docx
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.image.exceptions import UnrecognizedImageError
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.oxml import serialize_part_xml
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt
from docx.text.paragraph import Paragraph

from app.core.document import Block, BlockKind, DocumentSpec, Element, Figure, Table

log = logging.getLogger(__name__)

# -- the layout, in one place ----------------------------------------------------------------

PAGE_WIDTH = Mm(210)
PAGE_HEIGHT = Mm(297)
MARGIN_TOP = Mm(37)
MARGIN_BOTTOM = Mm(35)
MARGIN_LEFT = Mm(28)
MARGIN_RIGHT = Mm(26)
TEXT_WIDTH = Mm(156)  # 版心 156 × 225 mm
# Measured with LibreOffice 7.4: the page number's top 6.9 mm under the 版心 (GB/T: 7 mm).
FOOTER_DISTANCE = Mm(22)
HEADER_DISTANCE = Mm(15)

FANGSONG = "仿宋_GB2312"  # body
XIAOBIAOSONG = "方正小标宋简体"  # title, masthead
HEITI = "黑体"  # 一、 headings
KAITI = "楷体_GB2312"  # （一） headings
SONG = "宋体"  # page numbers
LATIN = "Times New Roman"  # Latin letters and Arabic numerals in the text

# A fallback for each official font (w:altName in the font table), with its GB2312 charset and
# the family Word uses to pick a substitute when neither is installed.
FONT_TABLE = {
    FANGSONG: ("仿宋", "modern"),
    XIAOBIAOSONG: ("宋体", "roman"),
    HEITI: ("SimHei", "modern"),
    KAITI: ("楷体", "script"),
    SONG: ("SimSun", "roman"),
    "仿宋": ("FangSong", "modern"),
    "楷体": ("KaiTi", "script"),
}

SIZE_TITLE = Pt(22)  # 2号
SIZE_BODY = Pt(16)  # 3号
SIZE_SMALL = Pt(14)  # 4号: tables, page numbers
SIZE_MASTHEAD_MAX = Pt(36)  # 小初, smaller when the masthead is long (one line of 156 mm)
LINE_PITCH = Pt(28.95)  # exact: 22 lines in 225 mm
CHAR_SPACING = -5  # twentieths of a point: −0.25 pt, so 28 characters fit in 156 mm
INDENT_CHARS = 2  # 首行缩进二字
SIGN_RIGHT_CHARS = 4  # 右空四字
RED = "FF0000"
# The language of Latin-script runs (w:lang/@w:val), as Chinese Word writes it; the document's
# own language goes to w:eastAsia. With zh-CN here LibreOffice broke "3000" across two lines.
LATIN_LANGUAGE = "en-US"
TWIPS_PER_POINT = 20

# Style ids (names in parentheses are what Word shows, localised for built-in styles).
STYLE_BODY = "BodyText"  # Body Text (正文文本)
STYLE_TITLE = "Title"
STYLE_HEADING = {
    BlockKind.HEADING1: "Heading1",
    BlockKind.HEADING2: "Heading2",
    BlockKind.HEADING3: "Heading3",
}
STYLE_ADDRESSEE = "Salutation"
STYLE_SIGNATURE = "Signature"
STYLE_DATE = "Date"
STYLE_CAPTION = "Caption"
STYLE_MASTHEAD = "Masthead"
STYLE_ISSUE_LINE = "IssueLine"
STYLE_TABLE_TEXT = "TableText"
STYLE_FOOTER = "Footer"

BLOCK_STYLE = {
    BlockKind.MASTHEAD: STYLE_MASTHEAD,
    BlockKind.ISSUE_LINE: STYLE_ISSUE_LINE,
    BlockKind.TITLE: STYLE_TITLE,
    BlockKind.ADDRESSEE: STYLE_ADDRESSEE,
    BlockKind.BODY: STYLE_BODY,
    BlockKind.SIGNATURE: STYLE_SIGNATURE,
    BlockKind.DATE: STYLE_DATE,
    BlockKind.NOTE: STYLE_BODY,
    **STYLE_HEADING,
}
HEADER_KINDS = (BlockKind.MASTHEAD, BlockKind.ISSUE_LINE)
CLOSING_KINDS = (BlockKind.SIGNATURE, BlockKind.DATE)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/jpg")
DEFAULT_FIGURE_WIDTH_MM = 150.0

COLUMN_WANT_MAX = 16  # characters: a long text column wraps rather than squeezing the others
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a ZIP entry can carry: fixed, so bytes repeat

# The order of children that WordprocessingML's schema requires (Word rejects files that break
# it), for the elements this module writes into.
# fmt: off
PPR_ORDER = (
    "pStyle", "keepNext", "keepLines", "pageBreakBefore", "framePr", "widowControl", "numPr",
    "suppressLineNumbers", "pBdr", "shd", "tabs", "suppressAutoHyphens", "kinsoku", "wordWrap",
    "overflowPunct", "topLinePunct", "autoSpaceDE", "autoSpaceDN", "bidi", "adjustRightInd",
    "snapToGrid", "spacing", "ind", "contextualSpacing", "mirrorIndents", "suppressOverlap", "jc",
    "textDirection", "textAlignment", "textboxTightWrap", "outlineLvl", "divId", "cnfStyle", "rPr",
    "sectPr", "pPrChange",
)
RPR_ORDER = (
    "rStyle", "rFonts", "b", "bCs", "i", "iCs", "caps", "smallCaps", "strike", "dstrike",
    "outline", "shadow", "emboss", "imprint", "noProof", "snapToGrid", "vanish", "webHidden",
    "color", "spacing", "w", "kern", "position", "sz", "szCs", "highlight", "u", "effect", "bdr",
    "shd", "fitText", "vertAlign", "rtl", "cs", "em", "lang", "eastAsianLayout", "specVanish",
    "oMath",
)
STYLE_ORDER = (
    "name", "aliases", "basedOn", "next", "link", "autoRedefine", "hidden", "uiPriority",
    "semiHidden", "unhideWhenUsed", "qFormat", "locked", "personal", "personalCompose",
    "personalReply", "rsid", "pPr", "rPr", "tblPr", "trPr", "tcPr", "tblStylePr",
)
FONT_ORDER = (
    "altName", "panose1", "charset", "family", "notTrueType", "pitch", "sig",
)
TBLPR_ORDER = (
    "tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize", "tblStyleColBandSize",
    "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders", "shd", "tblLayout", "tblCellMar",
    "tblLook",
)
TRPR_ORDER = (
    "cnfStyle", "divId", "gridBefore", "gridAfter", "wBefore", "wAfter", "cantSplit", "trHeight",
    "tblHeader",
)
TCPR_ORDER = (
    "cnfStyle", "tcW", "gridSpan", "hMerge", "vMerge", "tcBorders", "shd", "noWrap", "tcMar",
    "textDirection", "tcFitText", "vAlign", "hideMark",
)
# fmt: on

# The template's styles this module uses; the others (Word 2010's quick styles, about 150 table
# styles) are removed so that the document offers only the 公文 styles.
KEPT_STYLES = {
    "Normal",
    "DefaultParagraphFont",
    "TableNormal",
    "NoList",
    "TableGrid",
    "Header",
    STYLE_FOOTER,
    STYLE_TITLE,
    STYLE_BODY,
    STYLE_CAPTION,
    *STYLE_HEADING.values(),
}


# -- public API ------------------------------------------------------------------------------


def render_docx(spec: DocumentSpec, *, created: datetime | None = None) -> bytes:
    """SPEC as the bytes of a .docx file in the official layout.

    CREATED, when given, becomes the document's creation and modification time (core
    properties); without it the document has none, and the same spec always gives the same
    bytes.
    """
    document = docx.Document(io.BytesIO(_base_template()))
    _set_properties(document, spec, created)
    for element, previous, following in _with_neighbours(spec.elements):
        if isinstance(element, Block):
            if element.kind in CLOSING_KINDS and (
                previous is not None and not _is_block(previous, *CLOSING_KINDS)
            ):
                _blank_line(document)  # 正文下空一行 before the signature (or the date)
            paragraph = _add_block(document, element)
            if element.kind == BlockKind.TITLE and not _is_block(following, BlockKind.TITLE):
                _blank_line(document)  # 标题下空一行
            if element.kind in HEADER_KINDS and not _is_block(following, *HEADER_KINDS):
                _red_separator(paragraph)
                _blank_line(document)  # 红色分隔线下空二行 (the border's own space is one)
        elif isinstance(element, Table):
            _add_table(document, element)
        else:
            _add_figure(document, element)
    buffer = io.BytesIO()
    document.save(buffer)
    return _deterministic_zip(buffer.getvalue())


def write_docx(
    spec: DocumentSpec, path: str | PathLike[str], *, created: datetime | None = None
) -> None:
    """Write SPEC to PATH as a .docx file (render_docx)."""
    data = render_docx(spec, created=created)
    with open(path, "wb") as file:
        file.write(data)


# -- the template: python-docx's default, set up for 公文 once per process --------------------


@lru_cache(maxsize=1)
def _base_template() -> bytes:
    """python-docx's default template with the 公文 page, styles, fonts and settings, as bytes.

    The default template carries US Letter, 1-inch margins, Calibri 11 pt with 10 pt after each
    paragraph and 1.15 line spacing, and en-US as the East Asian language: every one of those is
    replaced here. Built once; each render opens a copy.
    """
    document = docx.Document()
    _drop_template_parts(document)
    _set_up_page(document)
    _set_up_styles(document)
    _set_up_font_table(document)
    _set_up_settings(document)
    _set_up_footers(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _drop_template_parts(document: DocxDocument) -> None:
    """Remove what describes the template, not our document: the thumbnail of a blank US Letter
    page, app.xml ("Microsoft Macintosh Word", 1 page), Word 2010's stylesWithEffects copy of
    the styles (which would still carry the old ones), and the list numbering (unused; it names
    list styles that _set_up_styles removes)."""
    package_rels = document.part.package.rels
    for r_id, rel in list(package_rels.items()):
        if rel.reltype in (RT.THUMBNAIL, RT.EXTENDED_PROPERTIES):
            del package_rels[r_id]
    document_rels = document.part.rels
    for r_id, rel in list(document_rels.items()):
        if rel.reltype == RT.NUMBERING or rel.reltype.endswith("/stylesWithEffects"):
            del document_rels[r_id]


def _set_up_page(document: DocxDocument) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width = PAGE_WIDTH
    section.page_height = PAGE_HEIGHT
    section.top_margin = MARGIN_TOP
    section.bottom_margin = MARGIN_BOTTOM
    section.left_margin = MARGIN_LEFT
    section.right_margin = MARGIN_RIGHT
    section.gutter = Emu(0)
    section.header_distance = HEADER_DISTANCE
    section.footer_distance = FOOTER_DISTANCE
    sect_pr = section._sectPr
    for name in ("w:rsidR", "w:rsidRPr", "w:rsidSect"):
        sect_pr.attrib.pop(qn(name), None)
    # Word's document grid stays off (no w:type): LibreOffice does not follow it predictably, and
    # the exact line pitch and character spacing already give 22 × 28. The pitch is recorded.
    grid = sect_pr.find(qn("w:docGrid"))
    if grid is not None:
        grid.set(qn("w:linePitch"), str(_twips(LINE_PITCH)))


def _set_up_styles(document: DocxDocument) -> None:
    styles_element = document.styles.element
    for style in list(styles_element.findall(qn("w:style"))):
        if style.get(qn("w:styleId")) not in KEPT_STYLES:
            styles_element.remove(style)

    # docDefaults: what every paragraph and run starts from (tables and footers included).
    defaults = styles_element.find(qn("w:docDefaults"))
    run_defaults = defaults.find(qn("w:rPrDefault"))
    run_defaults.remove(run_defaults.find(qn("w:rPr")))
    run_defaults.append(_run_properties(FANGSONG, SIZE_BODY, spacing=CHAR_SPACING))
    paragraph_defaults = defaults.find(qn("w:pPrDefault"))
    paragraph_defaults.remove(paragraph_defaults.find(qn("w:pPr")))
    paragraph_defaults.append(_paragraph_properties(line=LINE_PITCH))

    def paragraph_style(style_id: str, name: str, *, builtin: bool = True):
        style = _style_element(document, style_id, name, builtin)
        _reset_style(style)
        return style

    normal = paragraph_style("Normal", "Normal")
    _set_child(normal, "w:qFormat", STYLE_ORDER)
    normal.append(_paragraph_properties(line=LINE_PITCH, jc="both"))
    normal.append(_run_properties(FANGSONG, SIZE_BODY, spacing=CHAR_SPACING))

    def based_on_normal(style, ppr, rpr=None, next_style=None) -> None:
        _set_child(style, "w:basedOn", STYLE_ORDER, val="Normal")
        if next_style:
            _set_child(style, "w:next", STYLE_ORDER, val=next_style)
        _set_child(style, "w:qFormat", STYLE_ORDER)
        style.append(ppr)
        if rpr is not None:
            style.append(rpr)

    body_indent = {"first_chars": INDENT_CHARS, "first": INDENT_CHARS * SIZE_BODY}
    based_on_normal(paragraph_style(STYLE_BODY, "Body Text"), _paragraph_properties(**body_indent))
    based_on_normal(
        paragraph_style(STYLE_TITLE, "Title"),
        _paragraph_properties(jc="center"),
        _run_properties(XIAOBIAOSONG, SIZE_TITLE),
        next_style=STYLE_BODY,
    )
    heading_fonts = {
        BlockKind.HEADING1: (HEITI, False),
        BlockKind.HEADING2: (KAITI, False),
        BlockKind.HEADING3: (FANGSONG, True),
    }
    for level, (kind, style_id) in enumerate(STYLE_HEADING.items()):
        font, bold = heading_fonts[kind]
        based_on_normal(
            paragraph_style(style_id, f"heading {level + 1}"),
            _paragraph_properties(keep_next=True, outline_level=level, **body_indent),
            _run_properties(font, SIZE_BODY, bold=bold),
            next_style=STYLE_BODY,
        )
    based_on_normal(
        paragraph_style(STYLE_ADDRESSEE, "Salutation"),
        _paragraph_properties(),
        next_style=STYLE_BODY,
    )
    closing = {
        "jc": "right",
        "right_chars": SIGN_RIGHT_CHARS,
        "right": SIGN_RIGHT_CHARS * SIZE_BODY,
    }
    based_on_normal(
        paragraph_style(STYLE_SIGNATURE, "Signature"),
        _paragraph_properties(**closing),
        next_style=STYLE_DATE,
    )
    based_on_normal(paragraph_style(STYLE_DATE, "Date"), _paragraph_properties(**closing))
    based_on_normal(paragraph_style(STYLE_CAPTION, "caption"), _paragraph_properties(jc="center"))
    based_on_normal(
        paragraph_style(STYLE_MASTHEAD, "发文机关标志", builtin=False),
        _paragraph_properties(jc="center", line=None),
        _run_properties(XIAOBIAOSONG, SIZE_MASTHEAD_MAX, color=RED),
    )
    based_on_normal(
        paragraph_style(STYLE_ISSUE_LINE, "期号", builtin=False), _paragraph_properties(jc="center")
    )
    based_on_normal(
        paragraph_style(STYLE_TABLE_TEXT, "表格文字", builtin=False),
        _paragraph_properties(line=None, jc="left"),
        _run_properties(FANGSONG, SIZE_SMALL),
    )
    for style_id, name in ((STYLE_FOOTER, "footer"), ("Header", "header")):
        based_on_normal(
            paragraph_style(style_id, name),
            _paragraph_properties(line=None, jc="center"),
            _run_properties(SONG, SIZE_SMALL, latin=SONG, spacing=0),
        )


def _style_element(document, style_id: str, name: str, builtin: bool):
    styles = document.styles
    for style in styles.element.findall(qn("w:style")):
        if style.get(qn("w:styleId")) == style_id:
            return style
    style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH, builtin=builtin).element
    style.set(qn("w:styleId"), style_id)
    return style


def _reset_style(style) -> None:
    """Keep a style's identity (type, id, name); drop what the template said about its looks."""
    for child in list(style):
        if child.tag not in (
            qn("w:name"),
            qn("w:uiPriority"),
            qn("w:unhideWhenUsed"),
            qn("w:semiHidden"),
        ):
            style.remove(child)


def _set_up_font_table(document: DocxDocument) -> None:
    part = document.part.part_related_by(RT.FONT_TABLE)
    fonts = parse_xml(part.blob)
    for name, (alternative, family) in FONT_TABLE.items():
        font = OxmlElement("w:font")
        font.set(qn("w:name"), name)
        _set_child(font, "w:altName", FONT_ORDER, val=alternative)
        _set_child(font, "w:charset", FONT_ORDER, val="86")  # GB2312
        _set_child(font, "w:family", FONT_ORDER, val=family)
        _set_child(font, "w:pitch", FONT_ORDER, val="variable")
        fonts.append(font)
    part._blob = serialize_part_xml(fonts)


def _set_up_settings(document: DocxDocument) -> None:
    document.settings.odd_and_even_pages_header_footer = True
    settings = document.settings.element
    rsids = settings.find(qn("w:rsids"))
    if rsids is not None:
        settings.remove(rsids)
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:val"), "en-US")
        theme_lang.set(qn("w:eastAsia"), "zh-CN")


def _set_up_footers(document: DocxDocument) -> None:
    """Page numbers "— 1 —", 4号 宋体: odd pages right-aligned, even pages left-aligned, each
    one character (14 pt) in from the edge of the 版心."""
    section = document.sections[0]
    one_char = _twips(SIZE_SMALL)
    for footer, jc, side in (
        (section.footer, "right", "right"),
        (section.even_page_footer, "left", "left"),
    ):
        footer.is_linked_to_previous = False
        paragraph = footer.paragraphs[0]
        p = paragraph._p
        for child in list(p):
            p.remove(child)
        p_pr = p.get_or_add_pPr()
        _set_child(p_pr, "w:pStyle", PPR_ORDER, val=STYLE_FOOTER)
        _set_child(p_pr, "w:ind", PPR_ORDER, **{side: str(one_char), f"{side}Chars": "100"})
        _set_child(p_pr, "w:jc", PPR_ORDER, val=jc)
        _add_page_field(paragraph)


def _add_page_field(paragraph: Paragraph) -> None:
    """ "— PAGE —": a PAGE field between two dashes (一字线). The field's stored result is 1, what
    a reader that does not update fields shows; Word and LibreOffice number each page."""

    def field_char(kind: str) -> None:
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        paragraph.add_run()._r.append(element)

    paragraph.add_run("— ")
    field_char("begin")
    instruction = OxmlElement("w:instrText")
    instruction.set(qn("xml:space"), "preserve")
    instruction.text = " PAGE "
    paragraph.add_run()._r.append(instruction)
    field_char("separate")
    paragraph.add_run("1")
    field_char("end")
    paragraph.add_run(" —")


# -- the spec's elements -----------------------------------------------------------------------


def _set_properties(document, spec: DocumentSpec, created: datetime | None) -> None:
    properties = document.core_properties
    titles = [b.text for b in spec.blocks() if b.kind == BlockKind.TITLE]
    properties.title = spec.title or "".join(titles).replace("\n", "")
    properties.author = spec.author
    properties.keywords = "; ".join(spec.keywords)
    properties.language = spec.language
    properties.comments = ""
    properties.subject = ""
    properties.category = ""
    properties.last_modified_by = ""
    properties.revision = 1
    if created is None:
        properties._element._remove_created()
        properties._element._remove_modified()
    else:
        properties.created = created
        properties.modified = created
    styles = document.styles.element
    run_defaults = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    normal = document.styles["Normal"].element.find(qn("w:rPr"))
    for r_pr in (run_defaults, normal):
        _set_child(
            r_pr, "w:lang", RPR_ORDER, val=LATIN_LANGUAGE, eastAsia=spec.language, bidi="ar-SA"
        )


def _add_block(document: DocxDocument, block: Block) -> Paragraph:
    paragraph = document.add_paragraph(style=None)
    p_pr = paragraph._p.get_or_add_pPr()
    _set_child(p_pr, "w:pStyle", PPR_ORDER, val=BLOCK_STYLE[block.kind])
    if block.kind in STYLE_HEADING and block.tail:
        _set_child(p_pr, "w:keepNext", PPR_ORDER, val="0")  # a run-in heading is a paragraph
    run = _add_text(paragraph, block.text)
    if block.kind == BlockKind.MASTHEAD:
        size = _masthead_size(block.text)
        if size != SIZE_MASTHEAD_MAX:
            _set_child(run._r.get_or_add_rPr(), "w:sz", RPR_ORDER, val=str(round(size.pt * 2)))
            _set_child(run._r.get_or_add_rPr(), "w:szCs", RPR_ORDER, val=str(round(size.pt * 2)))
    if block.tail:
        tail = _add_text(paragraph, block.tail)
        r_pr = tail._r.get_or_add_rPr()
        _set_fonts(r_pr, FANGSONG)
        _set_child(r_pr, "w:b", RPR_ORDER, val="0")
        _set_child(r_pr, "w:bCs", RPR_ORDER, val="0")
    return paragraph


def _add_text(paragraph, text: str):
    """One run with TEXT; a newline in the text is a line break (a title on two lines)."""
    run = paragraph.add_run()
    for index, line in enumerate(text.split("\n")):
        if index:
            run.add_break()
        if line:
            run._r.add_t(line)
    return run


def _blank_line(document) -> None:
    document.add_paragraph()


def _red_separator(paragraph) -> None:
    """The 版头's red line, as wide as the 版心, under the masthead (or the issue line)."""
    p_pr = paragraph._p.get_or_add_pPr()
    borders = _set_child(p_pr, "w:pBdr", PPR_ORDER)
    bottom = OxmlElement("w:bottom")
    for name, value in (("val", "single"), ("sz", "12"), ("space", "8"), ("color", RED)):
        bottom.set(qn(f"w:{name}"), value)
    borders.append(bottom)


def _masthead_size(text: str) -> Pt:
    """小初 (36 pt), or smaller so that the masthead stays on one line of the 版心."""
    widest = max((_text_width(line) for line in text.split("\n")), default=0)
    if widest == 0:
        return SIZE_MASTHEAD_MAX
    fitting = int(Emu(TEXT_WIDTH).pt / widest * 2) / 2  # whole half-points
    return Pt(min(SIZE_MASTHEAD_MAX.pt, fitting))


def _text_width(text: str) -> float:
    """Width in full-width characters: a Chinese character 1, a Latin letter or digit ½ (the
    characters both scripts share, such as × and “”, are drawn full-width in Chinese text)."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "FWA" else 0.5 for c in text)


def _add_table(document, table_spec: Table) -> None:
    if table_spec.caption:
        caption = document.add_paragraph()
        p_pr = caption._p.get_or_add_pPr()
        _set_child(p_pr, "w:pStyle", PPR_ORDER, val=STYLE_CAPTION)
        _set_child(p_pr, "w:keepNext", PPR_ORDER)  # the caption stays with its table
        _add_text(caption, table_spec.caption)
    columns = max([len(table_spec.headers), *(len(row) for row in table_spec.rows)], default=0)
    if columns == 0:
        return
    rows = [tuple(table_spec.headers), *table_spec.rows]
    rows = [tuple(row) + ("",) * (columns - len(row)) for row in rows]
    table = document.add_table(rows=len(rows), cols=columns)
    widths = _column_widths(rows, columns)
    _set_table_properties(table, widths)
    for index, (row, values) in enumerate(zip(table.rows, rows, strict=True)):
        if index == 0:
            tr_pr = row._tr.get_or_add_trPr()
            _set_child(tr_pr, "w:cantSplit", TRPR_ORDER)
            _set_child(tr_pr, "w:tblHeader", TRPR_ORDER)  # repeated on every page
        for cell, value, width in zip(row.cells, values, widths, strict=True):
            tc_pr = cell._tc.get_or_add_tcPr()
            _set_child(tc_pr, "w:tcW", TCPR_ORDER, w=str(width), type="dxa")
            _set_child(tc_pr, "w:vAlign", TCPR_ORDER, val="center")
            paragraph = cell.paragraphs[0]
            p_pr = paragraph._p.get_or_add_pPr()
            _set_child(p_pr, "w:pStyle", PPR_ORDER, val=STYLE_TABLE_TEXT)
            if index == 0 or _is_number(value):
                _set_child(p_pr, "w:jc", PPR_ORDER, val="center")
            run = _add_text(paragraph, value)
            if index == 0:
                _set_child(run._r.get_or_add_rPr(), "w:b", RPR_ORDER)


def _set_table_properties(table, widths: list[int]) -> None:
    tbl = table._tbl
    tbl_pr = tbl.tblPr
    for child in list(tbl_pr):
        tbl_pr.remove(child)
    _set_child(tbl_pr, "w:tblStyle", TBLPR_ORDER, val="TableGrid")
    _set_child(tbl_pr, "w:tblW", TBLPR_ORDER, w=str(sum(widths)), type="dxa")
    _set_child(tbl_pr, "w:jc", TBLPR_ORDER, val="center")
    borders = _set_child(tbl_pr, "w:tblBorders", TBLPR_ORDER)
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        border = OxmlElement(f"w:{side}")
        for name, value in (("val", "single"), ("sz", "4"), ("space", "0"), ("color", "000000")):
            border.set(qn(f"w:{name}"), value)
        borders.append(border)
    _set_child(tbl_pr, "w:tblLayout", TBLPR_ORDER, type="fixed")
    _set_child(
        tbl_pr,
        "w:tblLook",
        TBLPR_ORDER,
        val="04A0",
        firstRow="1",
        lastRow="0",
        firstColumn="0",
        lastColumn="0",
        noHBand="0",
        noVBand="1",
    )
    for grid_col, width in zip(tbl.tblGrid.findall(qn("w:gridCol")), widths, strict=True):
        grid_col.set(qn("w:w"), str(width))


def _column_widths(rows: list[tuple[str, ...]], columns: int) -> list[int]:
    """Column widths in twips, summing to the 版心's width, in proportion to the widest text of
    each column (at least two characters' worth, so short columns stay readable)."""
    total = _twips(TEXT_WIDTH) - 2  # a hair under the 版心, so rounding never overflows
    widest = [
        max(_text_width(line) for row in rows for line in row[c].split("\n"))
        for c in range(columns)
    ]
    wants = [min(max(width, 2.0), COLUMN_WANT_MAX) + 1 for width in widest]
    scale = total / sum(wants)
    widths = [int(want * scale) for want in wants]
    widths[-1] += total - sum(widths)
    return widths


def _is_number(text: str) -> bool:
    stripped = text.strip().replace(",", "").replace("%", "").replace(".", "", 1).lstrip("+-")
    return bool(stripped) and stripped.isdigit()


def _add_figure(document: DocxDocument, figure: Figure) -> None:
    """A PNG or JPEG picture, centred, then its caption. Anything else (SVG, which python-docx
    cannot embed) or bytes that are not a picture: the caption alone."""
    if figure.content_type.lower() in IMAGE_TYPES and figure.data:
        paragraph = document.add_paragraph()
        p_pr = paragraph._p.get_or_add_pPr()
        _set_child(p_pr, "w:keepNext", PPR_ORDER)  # the picture stays with its caption
        # Single line spacing: an exact pitch would crop the picture to one line.
        _set_child(p_pr, "w:spacing", PPR_ORDER, line="240", lineRule="auto")
        _set_child(p_pr, "w:jc", PPR_ORDER, val="center")
        width_mm = figure.width_mm if figure.width_mm > 0 else DEFAULT_FIGURE_WIDTH_MM
        width = min(Mm(width_mm), TEXT_WIDTH)
        try:
            run = paragraph.add_run()
            inline = run.add_picture(io.BytesIO(figure.data), width=width)
        except UnrecognizedImageError:
            log.warning("figure %r: its %d bytes are not a %s picture; caption only",
                        figure.caption, len(figure.data), figure.content_type)  # fmt: skip
            paragraph._p.getparent().remove(paragraph._p)
        else:
            inline._inline.docPr.set("descr", figure.caption)  # alternative text
    if figure.caption:
        caption = document.add_paragraph()
        _set_child(caption._p.get_or_add_pPr(), "w:pStyle", PPR_ORDER, val=STYLE_CAPTION)
        _add_text(caption, figure.caption)


# -- XML helpers -----------------------------------------------------------------------------


def _set_child(parent, tag: str, order: tuple[str, ...], **attributes: str):
    """PARENT's child TAG (created in schema order if missing), with ATTRIBUTES set (w: names)."""
    child = parent.find(qn(tag))
    if child is None:
        child = OxmlElement(tag)
        successors = _successors(order, tag)
        following = next((c for c in parent if c.tag in successors), None)
        if following is None:
            parent.append(child)
        else:
            following.addprevious(child)
    for name, value in attributes.items():
        child.set(qn(f"w:{name}"), str(value))
    return child


@cache
def _successors(order: tuple[str, ...], tag: str) -> frozenset[str]:
    """The qualified names that come after TAG in ORDER."""
    return frozenset(qn(f"w:{name}") for name in order[order.index(tag[2:]) + 1 :])


def _set_fonts(r_pr, east_asia: str, latin: str = LATIN) -> None:
    """rFonts with every slot named (no theme fonts, which would override them): the East Asian
    font for Chinese and for the characters both scripts share (quotes, dashes)."""
    fonts = _set_child(r_pr, "w:rFonts", RPR_ORDER)
    for name in list(fonts.attrib):
        del fonts.attrib[name]
    for slot, value in (
        ("ascii", latin),
        ("hAnsi", latin),
        ("eastAsia", east_asia),
        ("cs", latin),
        ("hint", "eastAsia"),
    ):
        fonts.set(qn(f"w:{slot}"), value)


def _run_properties(
    east_asia: str,
    size: Pt,
    *,
    latin: str = LATIN,
    bold: bool | None = None,
    spacing: int | None = None,
    color: str | None = None,
):
    r_pr = OxmlElement("w:rPr")
    _set_fonts(r_pr, east_asia, latin)
    if bold is not None:
        _set_child(r_pr, "w:b", RPR_ORDER, val="1" if bold else "0")
        _set_child(r_pr, "w:bCs", RPR_ORDER, val="1" if bold else "0")
    _set_child(r_pr, "w:color", RPR_ORDER, val=color or "000000")
    if spacing is not None:
        _set_child(r_pr, "w:spacing", RPR_ORDER, val=str(spacing))
    half_points = str(round(size.pt * 2))
    _set_child(r_pr, "w:sz", RPR_ORDER, val=half_points)
    _set_child(r_pr, "w:szCs", RPR_ORDER, val=half_points)
    return r_pr


def _paragraph_properties(
    *,
    line: Pt | None | bool = False,
    jc: str | None = None,
    keep_next: bool = False,
    outline_level: int | None = None,
    first_chars: int = 0,
    first: Pt | None = None,
    right_chars: int = 0,
    right: Pt | None = None,
):
    """A w:pPr. LINE: an exact line pitch; None for single spacing; False to inherit it."""
    p_pr = OxmlElement("w:pPr")
    if keep_next:
        _set_child(p_pr, "w:keepNext", PPR_ORDER)
    if line is not False:
        # Widow and orphan control off: it would move lines and break the 22-line page.
        _set_child(p_pr, "w:widowControl", PPR_ORDER, val="0")
        # No extra space between Chinese and Latin text or digits: the 28-character line.
        _set_child(p_pr, "w:autoSpaceDE", PPR_ORDER, val="0")
        _set_child(p_pr, "w:autoSpaceDN", PPR_ORDER, val="0")
        if line is None:
            _set_child(
                p_pr, "w:spacing", PPR_ORDER, before="0", after="0", line="240", lineRule="auto"
            )
        else:
            _set_child(
                p_pr,
                "w:spacing",
                PPR_ORDER,
                before="0",
                after="0",
                line=str(_twips(line)),
                lineRule="exact",
            )
    indent: dict[str, str] = {}
    if first_chars and first is not None:
        indent.update(firstLineChars=str(first_chars * 100), firstLine=str(_twips(first)))
    if right_chars and right is not None:
        indent.update(rightChars=str(right_chars * 100), right=str(_twips(right)))
    if indent:
        _set_child(p_pr, "w:ind", PPR_ORDER, **indent)
    if jc:
        _set_child(p_pr, "w:jc", PPR_ORDER, val=jc)
    if outline_level is not None:
        _set_child(p_pr, "w:outlineLvl", PPR_ORDER, val=str(outline_level))
    return p_pr


def _twips(length) -> int:
    return round(Emu(length).pt * TWIPS_PER_POINT)


def _with_neighbours(elements: tuple[Element, ...]):
    for index, element in enumerate(elements):
        previous = elements[index - 1] if index else None
        following = elements[index + 1] if index + 1 < len(elements) else None
        yield element, previous, following


def _is_block(element: Element | None, *kinds: BlockKind) -> bool:
    return isinstance(element, Block) and element.kind in kinds


def _deterministic_zip(data: bytes) -> bytes:
    """The same package with fixed entry timestamps: python-docx stamps each entry with the
    current time, so two renders of one spec would differ."""
    source = zipfile.ZipFile(io.BytesIO(data))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, source.read(info.filename))
    return output.getvalue()
