"""Official-document (.docx) rendering: app/docx_render.py beside writing an empty .docx.

The baseline is python-docx's own cost: ``docx.Document()`` (open the default template) and
``save`` to memory, with nothing in the document. Against it, in the same process and the same
rounds:

1. empty: ``render_docx(DocumentSpec(()))``: the official page, styles, fonts and footers on no
   content (the fixed cost of the layout: open the prepared template, save, fix the ZIP
   timestamps);
2. 30 pages: ``render_docx`` of a 法治政府建设情况报告-shaped spec of about 30 pages (title,
   addressee, 一、/（一）/1. headings with run-in text, long paragraphs, five tables, a PNG
   figure, signature and date; LibreOffice 7.4 lays it out on 30 pages).

Each round times every case once per repetition, in turn (baseline, empty, 30 pages, baseline,
…), so drift on the machine hits all three alike; the figures are the medians of the per-round
medians, and the ratios are medians of the per-round ratios. Nothing passes or fails.

Usage: ``run(quick)`` returns the rows (and prints them); ``python bench/docx_bench.py
[--quick]`` runs it alone.
"""

from __future__ import annotations

import gc
import io
import statistics
import struct
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

PARAGRAPH = (
    "全年共开展法治宣传活动12次，发放宣传资料3000余份，受教育群众达5000人次，群众法治意识明显"
    "增强，依法办事氛围更加浓厚。深入推进严格规范公正文明执法，全面落实行政执法公示、执法全过程"
    "记录和重大执法决定法制审核制度，行政执法行为进一步规范。"
)


def _tiny_png(width: int = 300, height: int = 150) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes((40, 90, 160)) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


def thirty_page_spec() -> Any:
    """A report of 30 pages (as LibreOffice 7.4 lays it out at 22 lines of 28 characters): 5
    parts of 4 subsections, each with a run-in heading, a 1. item and two long paragraphs, and a
    table of 8 rows with a paragraph under it per part."""
    from app.core.document import Block, BlockKind, DocumentSpec, Figure, Table

    k = BlockKind
    elements: list[Any] = [
        Block(k.TITLE, "关于2025年度法治政府建设情况的报告"),
        Block(k.ADDRESSEE, "区委、区政府："),
        Block(k.BODY, "2025年，我镇在区委、区政府的坚强领导下，" + PARAGRAPH),
    ]
    numerals = "一二三四五"
    for part, numeral in enumerate(numerals):
        elements.append(Block(k.HEADING1, f"{numeral}、第{part + 1}部分工作情况"))
        for sub, sub_numeral in enumerate("一二三四"):
            elements.append(
                Block(k.HEADING2, f"（{sub_numeral}）强化第{sub + 1}项工作。", PARAGRAPH)
            )
            elements.append(Block(k.HEADING3, "1.健全工作机制。", PARAGRAPH))
            elements.append(Block(k.BODY, PARAGRAPH * 2))
            elements.append(Block(k.BODY, PARAGRAPH * 2))
        rows = tuple((f"第{i + 1}项指标", str(10 * i + part), "次") for i in range(8))
        elements.append(Table(("指标", "数值", "单位"), rows, caption=f"表{part + 1} 主要指标"))
        elements.append(Block(k.BODY, PARAGRAPH))
    elements.append(Figure(_tiny_png(), "image/png", "图1 任务完成情况", width_mm=140))
    elements += [Block(k.SIGNATURE, "××镇人民政府"), Block(k.DATE, "2026年1月5日")]
    return DocumentSpec(tuple(elements), title="关于2025年度法治政府建设情况的报告")


def _empty_python_docx() -> bytes:
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    return buffer.getvalue()


def _time_once(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def run(quick: bool) -> list[dict[str, Any]]:
    """Median render times and their ratios to writing an empty .docx; printed, and returned as
    rows: {"case", "median_ms", "ratio", "ratio_min", "ratio_max", "bytes", "rounds",
    "repetitions"}."""
    from app.core.document import DocumentSpec
    from app.docx_render import render_docx

    rounds, repetitions = (3, 5) if quick else (7, 15)
    big = thirty_page_spec()
    cases: dict[str, Callable[[], bytes]] = {
        "python-docx empty .docx (baseline)": _empty_python_docx,
        "render_docx: empty spec": lambda: render_docx(DocumentSpec(())),
        "render_docx: 30 pages": lambda: render_docx(big),
    }
    print(f"measuring .docx rendering ({rounds} rounds of {repetitions}) ...", flush=True)
    sizes = {name: len(case()) for name, case in cases.items()}  # warm-up (caches, imports)
    per_round: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        samples: dict[str, list[float]] = {name: [] for name in cases}
        gc.collect()
        for _ in range(repetitions):
            for name, case in cases.items():
                samples[name].append(_time_once(case))
        for name, values in samples.items():
            per_round[name].append(statistics.median(values))
    baseline = next(iter(cases))
    rows = []
    for name in cases:
        ratios = [t / b for t, b in zip(per_round[name], per_round[baseline], strict=True)]
        rows.append({
            "case": name,
            "median_ms": round(statistics.median(per_round[name]) * 1000, 2),
            "ratio": round(statistics.median(ratios), 2),
            "ratio_min": round(min(ratios), 2),
            "ratio_max": round(max(ratios), 2),
            "bytes": sizes[name],
            "rounds": rounds,
            "repetitions": repetitions,
        })  # fmt: skip
    print_table(rows)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print(".docx rendering (median time; ratio to writing an empty .docx with python-docx)")
    print(f"  {'case':<36} {'median':>10} {'ratio':>7} {'range':>13} {'size':>10}")
    for row in rows:
        spread = f"{row['ratio_min']:.2f}–{row['ratio_max']:.2f}"
        print(f"  {row['case']:<36} {row['median_ms']:>7.2f} ms {row['ratio']:>6.2f}× "
              f"{spread:>13} {row['bytes']:>8,} B")  # fmt: skip


if __name__ == "__main__":
    run(quick="--quick" in sys.argv[1:])
