"""A document as the official format (GB/T 9704-2012) sees it: a DocumentSpec. Pure.

The review (进度通报) and next year's report draft are built as DocumentSpecs by the core;
app/docx_render.py turns one into .docx (the only module that imports python-docx), and
`to_text` / `to_markdown` give the plain forms (exports, and the round trip through the report
parser). A spec says what each paragraph *is* (title, 一、 heading, body, signature …), never how
it looks: fonts, sizes and spacing belong to the renderer, which applies the standard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BlockKind(StrEnum):
    MASTHEAD = "masthead"  # 发文机关标志 / 通报名称, red, centred (a 督查通报's 版头)
    ISSUE_LINE = "issue_line"  # 第3期 / 期号 and issuer line under the masthead, centred
    TITLE = "title"  # 标题: 2号小标宋, centred
    ADDRESSEE = "addressee"  # 主送机关: flush left, e.g. 区委、区政府：
    HEADING1 = "heading1"  # 一、…  黑体
    HEADING2 = "heading2"  # （一）… 楷体
    HEADING3 = "heading3"  # 1.…   仿宋 (bold in practice)
    BODY = "body"  # 正文: first line indented two characters
    SIGNATURE = "signature"  # 发文机关署名: right, 空四字
    DATE = "date"  # 成文日期: right, 空四字, 2026年1月5日
    NOTE = "note"  # 附注 / a line like （此件公开发布）


HEADING_KINDS = (BlockKind.HEADING1, BlockKind.HEADING2, BlockKind.HEADING3)


@dataclass(frozen=True)
class Block:
    """One paragraph. TAIL is body text run in after a heading in the same paragraph
    (（一）强化法治保障。全年开展…), drawn in the body font."""

    kind: BlockKind
    text: str
    tail: str = ""


@dataclass(frozen=True)
class Table:
    """A simple table (the review's figures): a header row and text cells."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""  # a body-font line above the table


@dataclass(frozen=True)
class Figure:
    """A picture (a chart) as PNG or SVG bytes, with a caption under it."""

    data: bytes
    content_type: str  # image/png or image/svg+xml
    caption: str = ""
    width_mm: float = 150.0


Element = Block | Table | Figure


@dataclass(frozen=True)
class DocumentSpec:
    elements: tuple[Element, ...]
    language: str = "zh-CN"
    # Document properties (core.xml): the title and the author's unit.
    title: str = ""
    author: str = ""
    keywords: tuple[str, ...] = field(default_factory=tuple)

    def blocks(self) -> list[Block]:
        return [e for e in self.elements if isinstance(e, Block)]


def block_text(block: Block) -> str:
    return block.text + block.tail


def to_text(spec: DocumentSpec) -> str:
    """The document as plain text, one paragraph a line, the way a report is pasted into the
    importer: tables as tab-separated lines, figures by their caption."""
    lines: list[str] = []
    for element in spec.elements:
        if isinstance(element, Block):
            lines.append(block_text(element))
        elif isinstance(element, Table):
            if element.caption:
                lines.append(element.caption)
            lines.append("\t".join(element.headers))
            lines.extend("\t".join(row) for row in element.rows)
        elif element.caption:
            lines.append(element.caption)
    return "\n".join(lines) + "\n"


_MARKDOWN_PREFIX = {BlockKind.TITLE: "# ", BlockKind.HEADING1: "## ", BlockKind.HEADING2: "### ",
                    BlockKind.HEADING3: "#### "}  # fmt: skip


def to_markdown(spec: DocumentSpec) -> str:
    """The document as Markdown: headings as #, tables as pipe tables, paragraphs apart."""
    parts: list[str] = []
    for element in spec.elements:
        if isinstance(element, Block):
            prefix = _MARKDOWN_PREFIX.get(element.kind, "")
            text = element.text
            if prefix and element.tail:
                parts.append(prefix + text)
                parts.append(element.tail)
            else:
                parts.append(prefix + block_text(element))
        elif isinstance(element, Table):
            rows = [element.headers, tuple("---" for _ in element.headers), *element.rows]
            table = "\n".join("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
            parts.append((element.caption + "\n\n" if element.caption else "") + table)
        elif element.caption:
            parts.append(f"*{element.caption}*")
    return "\n\n".join(parts) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "｜").replace("\n", " ")
