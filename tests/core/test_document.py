"""DocumentSpec's plain forms."""

from __future__ import annotations

from app.core.document import Block, BlockKind, DocumentSpec, Figure, Table, to_markdown, to_text

SPEC = DocumentSpec(
    (
        Block(BlockKind.TITLE, "关于2026年度法治政府建设情况的报告"),
        Block(BlockKind.ADDRESSEE, "区委、区政府："),
        Block(BlockKind.HEADING1, "一、工作情况"),
        Block(BlockKind.HEADING2, "（一）强化法治保障。", "一是开展普法宣传12次；二是…。"),
        Table(("单位", "任务"), (("司法所", "3"), ("A|B", "1")), caption="表1"),
        Figure(b"<svg/>", "image/svg+xml", caption="图1 各单位完成情况"),
        Block(BlockKind.SIGNATURE, "某某镇人民政府"),
        Block(BlockKind.DATE, "2027年1月5日"),
    ),
    title="关于2026年度法治政府建设情况的报告",
)


def test_text_has_one_paragraph_a_line_with_run_in_headings() -> None:
    lines = to_text(SPEC).splitlines()
    assert lines[0] == "关于2026年度法治政府建设情况的报告"
    assert "（一）强化法治保障。一是开展普法宣传12次；二是…。" in lines
    assert "司法所\t3" in lines and "图1 各单位完成情况" in lines
    assert lines[-1] == "2027年1月5日"


def test_markdown_headings_tables_and_escaped_cells() -> None:
    text = to_markdown(SPEC)
    assert text.startswith("# 关于2026年度法治政府建设情况的报告\n\n")
    assert "## 一、工作情况" in text and "### （一）强化法治保障。\n\n一是" in text
    assert "| A｜B | 1 |" in text and "| --- | --- |" in text
    assert SPEC.blocks()[-1].text == "2027年1月5日"
