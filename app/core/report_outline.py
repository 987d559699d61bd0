"""Line classification and section segmentation of a report.

Each line is classified once: a section heading (一、…, 第一部分…, or a bare keyword line such
as 存在的问题), a nested heading （一）…, or a terminator (web-page furniture, 特此报告, a
signature over a date). Top-level headings cut the body into sections, and each section gets a
category from its heading words: achievements, problems, plans, both (存在问题和下一步打算), or
other (第一责任人职责情况, 其他需要报告的情况). Terminators end the section they fall in.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass

from app.core.report_items import cn_number, starts_with_marker
from app.core.report_text import Layout, Line

_CN = r"[一二三四五六七八九十]{1,3}"
_TOP_RE = re.compile(rf"(?P<n>{_CN})\s*(?:、|[.．](?!\d))|第(?P<p>{_CN})部分[、：:.．]?")
_PHRASE_END_RE = re.compile(r"[。：:]")
_TOP_FIRST = frozenset("一二三四五六七八九十第")
_SUB_RE = re.compile(rf"[（(](?P<n>{_CN})[）)]")
_DECOR = "【】[]〔〕■□●◆◇★☆▲△ \u3000\t"

_FORWARD = r"下一步|下步|下一阶段|下阶段|今后|下一?年度|明年|来年|新的一年|未来"
_PLAN_WORD = r"打算|计划|安排|思路|重点|举措|措施|方向|任务|目标|部署|设想|规划|谋划"
_FORWARD_RE = re.compile(_FORWARD)
_PLAN_WORD_RE = re.compile(_PLAN_WORD)
_PLAN_GENERIC_RE = re.compile(
    r"打算|工作计划|工作安排|工作思路|主要安排|努力方向|整改措施|改进措施|对策措施|改进方向"
)
_LOOKS_BACK_RE = re.compile(r"成效|情况|做法|回顾|完成|成绩|经验")
_YEAR_RE = re.compile(r"(20\d\d)\s*年")
_PROBLEM_RE = re.compile(
    r"存在|不足|困难|薄弱|^(?:主要|突出)?问题|问题[和及与、]|短板[和及与]|^短板|的问题$"
)
_OTHER_RE = re.compile(
    r"第一责任人|主要负责人|负责人履行|负责同志|其他需要|其他事项|其他情况|意见建议|意见和建议|工作建议"
)
_PLAIN_PROBLEM_RE = re.compile(
    r"(?:存在的?|主要|突出)(?:主要)?(?:问题|不足|困难|短板)|(?:问题|不足|困难)(?:和|及|与)|^问题$"
)

_FURNITURE_RE = re.compile(
    r"[【\[]\s*(?:打印|关闭|字号|字体|收藏|返回|索引号|发布机构|成文日期|发布日期|发文字号|主题分类|来源"
    r"|信息来源|分享)"
    r"|(?:打印本页|打印此页|关闭窗口|关闭本页|分享到|返回顶部|扫一扫|网站地图|版权所有|联系我们|上一篇"
    r"|下一篇|附件下载|网站标识码|相关(?:链接|阅读|文章|新闻))"
    r"|(?:主办|承办|协办|来源|信息来源|发布时间|发布日期|发布机构|索引号|成文日期|责任编辑|浏览次数"
    r"|点击数|点击量|字号|日期|当前位置|您(?:现在)?的?位置|今天是)\s*[：:]"
    r"|首页\s*[>＞»]|[^，。]{0,40}ICP备"
)
_DATE_LINE_RE = re.compile(
    r"(?:20\d\d|[二〇○零一三四五六七八九]{4})\s*年\s*[\d一二三四五六七八九十]{1,2}\s*月"
    r"(?:\s*[\d一二三四五六七八九十]{1,3}\s*日)?|20\d\d\s*[-./]\s*\d{1,2}\s*[-./]\s*\d{1,2}"
)
_CLOSING_RE = re.compile(
    r"(?:特此(?:报告|汇报)|专此报告|以上报告|此致|敬礼|附件\s*[：:\d]|附表|抄送|联系人|联系电话"
    r"|[（(]此件[^）)]{0,10}[）)])"
)
_ORG_SUFFIX_RE = re.compile(
    r"(?:人民政府|政府|办事处|委员会|党委|党工委|局|委|办公室|办|厅|署|院|所|中心|街道|镇|乡|县|区|市"
    r"|队|站|部|处|司)$"
)
# Every bare heading worth finding has one of these words (cheap pre-filter for all lines).
_PLAIN_TRIGGER_RE = re.compile(
    rf"{_FORWARD}|打算|20\d\d|存在|问题|不足|困难|短板|其他|责任人|负责人|意见|建议|计划|安排|思路"
)
_SENTENCE_PUNCT_RE = re.compile(r"[，。；：,;:！？!?、]")
_CLAUSE_PUNCT_RE = re.compile(r"[，,；;。]")
_NOT_IN_ORG_RE = re.compile(r"[，。；：,;:！？!?、\d（(【\[“]")


@dataclass(slots=True)
class Heading:
    """A heading line: its marker, its words, and where the section body starts."""

    line: int
    kind: str  # "top", "sub" or "plain"
    number: int
    marker: str
    words: str  # the heading phrase, without marker and trailing body
    printed: str  # the heading as written (marker included), for plan_heading
    body_start: int
    category: str


@dataclass(slots=True)
class Section:
    heading: Heading
    start: int  # body start offset
    end: int


def is_date_line(s: str) -> bool:
    """A line that is only a date (2024年1月26日, 二〇二四年一月, 2024-01-26)."""
    return len(s) <= 30 and _DATE_LINE_RE.fullmatch(s.strip(" \u3000（）()")) is not None


def is_org_line(s: str) -> bool:
    """A short line naming a body (a signature or a title-block line)."""
    return (
        2 <= len(s) <= 30
        and _ORG_SUFFIX_RE.search(s) is not None
        and _NOT_IN_ORG_RE.search(s) is None
        and _TOP_RE.match(s) is None
    )


def is_furniture(s: str) -> bool:
    return len(s) <= 120 and _FURNITURE_RE.match(s) is not None


def is_closing(s: str) -> bool:
    return len(s) <= 40 and _CLOSING_RE.match(s) is not None


def categorise(words: str, report_year: int | None) -> str:
    """achievements | problems | plans | both | other, from a heading's words."""
    if _OTHER_RE.search(words):
        return "other"
    plan = is_plan_words(words, report_year)
    problem = _PROBLEM_RE.search(words) is not None
    if plan and problem:
        return "both"
    if plan:
        return "plans"
    if problem:
        return "problems"
    return "achievements"


def is_plan_words(words: str, report_year: int | None) -> bool:
    if "打算" in words or _FORWARD_RE.search(words):
        return True
    looks_back = _LOOKS_BACK_RE.search(words) is not None
    year = _YEAR_RE.search(words)
    if year and _PLAN_WORD_RE.search(words) and not looks_back:
        return report_year is None or int(year.group(1)) > report_year
    return _PLAN_GENERIC_RE.search(words) is not None and not looks_back


def _heading_phrase(line: Line, marker_end: int) -> tuple[str, int, int]:
    """(words, end of the heading phrase, body start) of a heading line whose marker ends at
    MARKER_END: a heading may carry its body on the same line after 。 or ：."""
    rest = line.raw[marker_end - line.start :]
    stop = _PHRASE_END_RE.search(rest)
    if stop and rest[stop.end() :].strip():
        i = stop.start()
        return rest[:i].strip(), marker_end + i, marker_end + i + 1
    words = rest.strip()
    if len(words) > 60:
        # A long unbroken first line: name it by its first clause, and keep it all as body.
        cut = min((i for i in (words.find("，"), words.find(",")) if i > 0), default=60)
        return words[: min(cut, 60)], line.content_end, marker_end
    return words, line.content_end, line.end


def top_heading(line: Line, report_year: int | None) -> Heading | None:
    s = line.text
    if not s or s[0] not in _TOP_FIRST:
        return None
    match = _TOP_RE.match(s)
    if match is None or len(s) - match.end() < 2:
        return None
    number = cn_number(match.group("n") or match.group("p"))
    marker_end = line.content_start + match.end()
    words, phrase_end, body = _heading_phrase(line, marker_end)
    if not number or not words:
        return None
    printed = line.raw[line.content_start - line.start : phrase_end - line.start].strip()
    category = categorise(words, report_year)
    return Heading(line.index, "top", number, match.group(0), words, printed, body, category)


def sub_heading(line: Line, report_year: int | None) -> Heading | None:
    s = line.text
    if not s or s[0] not in "（(":
        return None
    match = _SUB_RE.match(s)
    if match is None:
        return None
    number = cn_number(match.group("n"))
    marker_end = line.content_start + match.end()
    words, phrase_end, body = _heading_phrase(line, marker_end)
    # A heading is a phrase; （一）部分干部…不强，… is an item, not a heading.
    if not number or not 2 <= len(words) <= 25 or _CLAUSE_PUNCT_RE.search(words):
        return None
    printed = line.raw[line.content_start - line.start : phrase_end - line.start].strip()
    category = categorise(words, report_year)
    return Heading(line.index, "sub", number, match.group(0), words, printed, body, category)


def plain_heading(line: Line, report_year: int | None) -> Heading | None:
    """A keyword heading without a number (存在的问题, 下一步工作打算, 【下一步打算】)."""
    s = line.text
    if not 2 <= len(s) <= 40 or not _PLAIN_TRIGGER_RE.search(s):
        return None
    words = s.strip(_DECOR).rstrip("：:")
    if not 2 <= len(words) <= 25 or _SENTENCE_PUNCT_RE.search(words):
        return None
    if starts_with_marker(words):
        return None
    category = categorise(words, report_year)
    strict_plan = "打算" in words or _FORWARD_RE.search(words) or _YEAR_RE.search(words)
    if category in ("plans", "both") and not strict_plan:
        return None
    if category == "problems" and not (len(words) <= 16 and _PLAIN_PROBLEM_RE.search(words)):
        return None
    if category == "achievements":
        return None
    return Heading(line.index, "plain", 0, "", words, s, line.end, category)


class Outline:
    """The sections of the report body (from BODY_START), and where the body stops."""

    def __init__(self, layout: Layout, body_start: int, report_year: int | None) -> None:
        self.layout = layout
        self.report_year = report_year
        self._subs: dict[int, Heading | None] = {}
        lines = [line for line in layout.lines if line.end >= body_start]
        self.terminators = _terminators(lines)
        self.sections = self._sections(lines)

    def sub_heading(self, line: Line) -> Heading | None:
        """sub_heading(LINE), classified once per line."""
        if line.index not in self._subs:
            self._subs[line.index] = sub_heading(line, self.report_year)
        return self._subs[line.index]

    def _sections(self, lines: list[Line]) -> list[Section]:
        heads = _top_headings(lines, self.report_year)
        if not any(h.kind == "top" for h in heads):
            # No 一、 headings at all: the （一） headings are the top level.
            subs = [h for line in lines if (h := self.sub_heading(line))]
            heads = sorted(heads + subs, key=lambda h: h.line)
        layout = self.layout
        terminators = sorted(self.terminators)
        sections = []
        for i, head in enumerate(heads):
            limit = heads[i + 1].line if i + 1 < len(heads) else len(layout.lines)
            k = bisect.bisect_right(terminators, head.line)
            stop = terminators[k] if k < len(terminators) and terminators[k] < limit else limit
            end = layout.lines[stop].start if stop < len(layout.lines) else len(layout.text)
            sections.append(Section(head, head.body_start, max(head.body_start, end)))
        return sections

    def subsections(self, section: Section) -> list[Section]:
        """The （一）-headed subsections of SECTION whose heading names a part of the report
        (存在问题, 下步工作安排…), each running to the next （N+1） heading or keyword heading."""
        heads = [
            head
            for line in self.layout.lines_in(section.start, section.end)
            if line.start >= section.start and (head := self.sub_heading(line))
        ]
        subs = []
        for k, head in enumerate(heads):
            if head.category == "achievements":
                continue
            # When its first subheading is （一）, the section's own items are （一）（二）….
            inner = k + 1 < len(heads) and heads[k + 1].number == 1
            stop = next(
                (
                    h
                    for h in itertools.islice(heads, k + 1, None)
                    if h.category != "achievements" or (not inner and h.number > head.number)
                ),
                None,
            )
            end = self.layout.lines[stop.line].start if stop else section.end
            subs.append(Section(head, head.body_start, max(head.body_start, end)))
        return subs


def _terminators(lines: list[Line]) -> set[int]:
    """Indices of lines after which no section text follows: furniture, 特此报告, signatures,
    dates."""
    found: set[int] = set()
    date_seen = False  # a date line follows, at most two lines below
    since_date = 0
    tail_only = True  # every non-blank line below is a terminator
    for line in reversed(lines):
        s = line.text
        if not s:
            continue
        since_date += 1
        if is_date_line(s):
            found.add(line.index)
            date_seen, since_date = True, 0
        elif is_furniture(s) or is_closing(s):
            found.add(line.index)
        elif is_org_line(s) and ((date_seen and since_date <= 2) or tail_only):
            found.add(line.index)  # a signature: the body named above its date, or at the end
        else:
            tail_only = False
    return found


def _top_headings(lines: list[Line], report_year: int | None) -> list[Heading]:
    """Top-level headings in order. A 一、 that restarts the numbering inside a section is an
    item of that section (三、下一步打算 / 一、…二、…), unless its words name a section."""
    heads: list[Heading] = []
    inner = 0  # last number of a restarted inner list, 0 when none
    for line in lines:
        if not line.text:
            continue
        head = top_heading(line, report_year) or plain_heading(line, report_year)
        if head is None:
            continue
        named = head.kind == "plain" or head.category != "achievements"
        if head.kind == "top" and heads and not named:
            current = next((h.number for h in reversed(heads) if h.kind == "top"), 0)
            if head.number <= current or (inner and head.number == inner + 1):
                inner = head.number
                continue
        inner = 0
        heads.append(head)
    return heads
