"""Properties of the report parser on random and mutated input.

Whatever the text, parse_report either returns a ParsedReport whose items slice back out of its
text, or raises ParseError; it is deterministic, and parsing its own normalised text again gives
the same result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.report_parser import parse_report
from app.core.report_types import ParsedReport, ParseError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
REPORTS = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*.txt"))]

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that drive the parser: markers, numerals, report words, punctuation, line breaks.
STRUCTURE = list(
    "一二三四五六七八九十是要第、，。；：（）()12345.;:,\n\r \u3000—"
    "报告年下步打算问题存在牵头由底前月季度"
)
report_chars = st.one_of(
    st.sampled_from(STRUCTURE),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF),
    st.characters(codec="utf-8"),
)
PUNCTUATION_TO_HALF = str.maketrans("，。；：（）！？", ",.;:()!?")


def parse_or_none(text: str) -> ParsedReport | None:
    """The parse, or None for a ParseError; any other exception fails the test."""
    try:
        return parse_report(text)
    except ParseError as error:
        assert error.message
        return None


def assert_consistent(parsed: ParsedReport | None) -> None:
    if parsed is None:
        return
    for item in (*parsed.plans, *parsed.problems):
        assert 0 <= item.start <= item.end <= len(parsed.text)
        assert parsed.text[item.start : item.end] == item.text
        assert item.text == item.text.strip()
    assert (parsed.plan_heading is None) <= (parsed.plans == ())
    if parsed.year is not None:
        assert 1900 <= parsed.year <= 2100


@SETTINGS
@given(st.text(alphabet=report_chars, max_size=400))
def test_random_text_only_ever_raises_parse_error(text: str) -> None:
    assert_consistent(parse_or_none(text))


@SETTINGS
@given(st.lists(st.sampled_from(STRUCTURE + ["加强", "工作", "20", "年度"]), max_size=200))
def test_random_structure_words_only_ever_raise_parse_error(tokens: list[str]) -> None:
    assert_consistent(parse_or_none("".join(tokens)))


@st.composite
def mutated_report(draw: st.DrawFn) -> str:
    """A fixture report with lines deleted, duplicated or shuffled, characters inserted,
    punctuation made half-width, or line endings made \\r\\n."""
    lines = draw(st.sampled_from(REPORTS)).split("\n")
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "half", "crlf"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "insert":
            at = draw(st.integers(0, len(lines[i])))
            noise = draw(st.text(alphabet=report_chars, min_size=1, max_size=6))
            lines[i] = lines[i][:at] + noise + lines[i][at:]
        elif kind == "half":
            lines[i] = lines[i].translate(PUNCTUATION_TO_HALF)
        elif kind == "crlf":
            lines[i] += "\r"
    return "\n".join(lines)


@SETTINGS
@given(mutated_report())
def test_mutated_reports_stay_consistent(text: str) -> None:
    assert_consistent(parse_or_none(text))


@SETTINGS
@given(mutated_report())
def test_parsing_is_deterministic_and_idempotent(text: str) -> None:
    first = parse_or_none(text)
    assert parse_or_none(text) == first
    if first is not None:
        assert parse_report(first.text) == first


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(REPORTS), st.sampled_from(["\r\n", "\r"]), st.booleans())
def test_line_endings_and_bom_do_not_change_the_result(text: str, eol: str, bom: bool) -> None:
    other = ("\ufeff" if bom else "") + text.replace("\n", eol)
    assert parse_report(other) == parse_report(text)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(REPORTS), st.sampled_from(["　", "  ", "\t"]))
def test_indentation_does_not_change_the_commitments(text: str, indent: str) -> None:
    plain = parse_report(text)
    indented = parse_report("\n".join(indent + line for line in text.split("\n")))
    assert [(p.marker, p.lead, p.time_phrase, p.office) for p in indented.plans] == [
        (p.marker, p.lead, p.time_phrase, p.office) for p in plain.plans
    ]
    assert ["".join(p.text.split()) for p in indented.plans] == [
        "".join(p.text.split()) for p in plain.plans
    ]


# --- generated reports: the parser recovers what the generator wrote ----------------------

LEADS = [
    "健全依法决策机制", "深化执法体制改革", "加强普法宣传教育", "提升执法队伍素质",
    "推进政务公开标准化", "完善矛盾纠纷化解机制", "强化行政权力监督", "抓好法律顾问工作",
]  # fmt: skip
BODIES = [
    "修订重大行政决策程序规定，推行决策事项目录管理",
    "整合执法力量，推动执法重心下移",
    "组织开展送法下乡和以案释法活动",
    "分批组织执法人员参加业务培训",
]
DEADLINES = ["年底前", "6月底前", "第三季度", "上半年", "2025年内"]
OFFICES = ["司法所", "综合执法办", "党政办、司法所"]
PLAN_HEADINGS = [
    "三、下一步打算", "三、下一步工作计划", "三、下步工作安排", "三、2025年工作打算",
    "三、今后工作打算", "三、下一阶段工作重点", "三、下一年度推进法治政府建设的主要安排",
    "三、2025年推进法治政府建设的主要安排", "三、2025年工作思路", "下一步工作打算",
]  # fmt: skip
CN = "一二三四五六七八九"


MARKER_STYLES = {
    "shi-inline": lambda i: f"{CN[i]}是",
    "shi-paragraphs": lambda i: f"{CN[i]}是",
    "yao-inline": lambda i: f"{CN[i]}要",
    "cn-paren": lambda i: f"（{CN[i]}）",
    "cn-paren-lead-line": lambda i: f"（{CN[i]}）",
    "cn-half-paren": lambda i: f"({CN[i]})",
    "arabic-dot": lambda i: f"{i + 1}.",
    "arabic-dun": lambda i: f"{i + 1}、",
    "arabic-paren": lambda i: f"（{i + 1}）",
    "di": lambda i: f"第{CN[i]}，",
    "unnumbered": lambda i: "",
}


def plan_lines(style: str, items: list[str]) -> tuple[list[str], list[str]]:
    """The plan section's lines in STYLE, and the markers the parser should report."""
    markers = [MARKER_STYLES[style](i) for i in range(len(items))]
    pairs = list(zip(markers, items, strict=True))
    if style == "shi-inline":
        return ["；".join(m + t.rstrip("。") for m, t in pairs) + "。"], markers
    if style == "yao-inline":
        return ["".join(m + t for m, t in pairs)], markers
    if style == "cn-paren-lead-line":
        return [m + t.replace("。", "\n", 1) for m, t in pairs], markers
    return [m + t for m, t in pairs], markers


@st.composite
def generated_report(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    year = draw(st.integers(2018, 2024))
    unit = draw(st.sampled_from(["某某县司法局", "某某镇人民政府", "某某区某某街道办事处"]))
    title = draw(
        st.sampled_from(
            [f"{unit}关于{year}年度法治政府建设情况的报告", f"{unit}{year}年法治政府建设工作报告"]
        )
    )
    heading = draw(st.sampled_from(PLAN_HEADINGS)).replace("2025", str(year + 1))
    style = draw(st.sampled_from(sorted(MARKER_STYLES)))
    n = draw(st.integers(2, 6))
    leads = draw(st.lists(st.sampled_from(LEADS), min_size=n, max_size=n, unique=True))
    items, deadlines, offices = [], [], []
    for lead in leads:
        body = draw(st.sampled_from(BODIES))
        deadline = draw(st.one_of(st.none(), st.sampled_from(DEADLINES)))
        office = draw(st.one_of(st.none(), st.sampled_from(OFFICES)))
        text = f"{lead}。{deadline or ''}{body}。"
        if office:
            text += f"责任单位：{office}。"
        items.append(text)
        deadlines.append(deadline)
        offices.append(office)
    lines, markers = plan_lines(style, items)
    before = draw(st.sampled_from([[], ["首页 > 政务公开 > 法治政府", "发布时间：2025-01-20"]]))
    intro = draw(st.sampled_from([[], ["下一步，我们将重点抓好以下工作："]]))
    after = draw(
        st.sampled_from(
            [[], ["四、其他需要报告的情况", "无。"], ["特此报告。", unit, f"{year + 1}年1月20日"],
             [unit, f"{year + 1}年1月20日", "【打印本页】【关闭窗口】"]]
        )
    )  # fmt: skip
    intro_text = (
        f"{year}年，我单位在上级党委政府的坚强领导下，坚持以习近平法治思想为指导，"
        "全面落实法治政府建设实施纲要，依法行政水平不断提升。现将有关情况报告如下："
    )
    width = draw(st.one_of(st.none(), st.integers(18, 36)))
    if width:  # hard-wrap the prose at a fixed width, as PDF and e-mail copies do
        intro = [wrap(line, width) for line in intro]
        lines = [wrap(line, width) for line in lines]
        intro_text = wrap(intro_text, width)
    problems = ["二、存在的问题", "一是执法力量不足；二是宣传不够深入。"]
    if draw(st.booleans()):  # problems and plans in one section, each under its own heading
        heading = draw(st.sampled_from(["（二）下一步打算", "（二）下步工作安排"]))
        problems = [
            "二、存在问题和下一步打算", "（一）存在问题", "1.执法力量不足。", "2.宣传不够深入。"
        ]  # fmt: skip
    cover = draw(
        st.sampled_from(
            [[], [f"{unit}关于报送{year}年度法治政府建设情况报告的函", "县委依法治县办：",
                  "现将我单位报告随文报送。", unit, f"{year + 1}年1月3日"]]
        )
    )  # fmt: skip
    report = [
        *before, *cover, title, "", intro_text,
        "一、主要工作和成效", "（一）加强组织领导。召开专题会议3次。",
        "（二）规范行政执法。办理案件12件。", *problems, heading, *intro, *lines, *after,
    ]  # fmt: skip
    if draw(st.booleans()):  # docx-style first-line indentation
        report = ["\u3000\u3000" + line for line in report]
    text = "\n".join(report)
    if draw(st.booleans()):
        text = text.replace("，", ",").replace("；", ";").replace("：", ":")
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    expected = {
        "year": year, "heading": heading, "leads": leads, "markers": markers,
        "deadlines": deadlines, "offices": offices, "unit": unit,
    }  # fmt: skip
    return text, expected


def wrap(line: str, width: int) -> str:
    return "\n".join(line[i : i + width] for i in range(0, len(line), width))


def half_width(s: str | None) -> str | None:
    return None if s is None else s.replace("，", ",").replace("；", ";").replace("：", ":")


@settings(max_examples=300, deadline=None)
@given(generated_report())
def test_generated_reports_are_recovered(case: tuple[str, dict[str, Any]]) -> None:
    text, want = case
    parsed = parse_report(text)
    assert parsed.year == want["year"]
    assert parsed.unit == want["unit"]
    assert half_width(parsed.plan_heading) == half_width(str(want["heading"]))
    assert [p.lead for p in parsed.plans] == want["leads"]
    assert [half_width(p.marker) for p in parsed.plans] == [
        half_width(m)
        for m in want["markers"]  # type: ignore[attr-defined]
    ]
    assert [p.time_phrase for p in parsed.plans] == want["deadlines"]
    assert [half_width(p.office) for p in parsed.plans] == [
        half_width(o)
        for o in want["offices"]  # type: ignore[attr-defined]
    ]
    assert [p.lead for p in parsed.problems] == ["执法力量不足", "宣传不够深入"]
    assert len(parsed.achievements) == 2
    assert_consistent(parsed)
