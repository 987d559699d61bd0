"""Item markers (一是, （一）, 1., 第一，…) and splitting a region of the report into items.

A list is found by its numbering, not by its layout: the first marker numbered 1 fixes the kind
of marker, then the markers of that kind numbered 2, 3, … (at a paragraph start, or after a
sentence or clause break) open the next items. The same rule therefore covers items that are
paragraphs and items that run inline in one paragraph (一是…；二是…), and sub-points of another
kind stay inside their item.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

from app.core.report_text import Layout, trim, trim_item

_CN = r"[一二三四五六七八九十]{1,3}"
MARKER_RE = re.compile(
    rf"(?P<shi>(?P<shi_n>{_CN})\n?(?P<shi_w>[是要])[：:，,]?)"
    rf"|(?P<di>第(?P<di_n>{_CN})[，,、：:])"
    rf"|(?P<pcn>[（(](?P<pcn_n>{_CN})[）)])"
    r"|(?P<par>[（(](?P<par_n>\d{1,2})[）)])"
    r"|(?P<ar>(?P<ar_n>\d{1,2})(?:[.．](?!\d)|、))"
    r"|(?P<rpar>(?P<rpar_n>\d{1,2})[）)])"
    rf"|(?P<top>(?P<top_n>{_CN})(?:、|[.．](?!\d)))"
    r"|(?P<circ>[①-⑳])"
)
BULLET_RE = re.compile(r"(——|—|－－|--|[●■◆▲•·★☆◇□▪►➢❖]|[-*](?=\s))\s*(?![\d\s—-]*$)")
_ANNOTATION_RE = re.compile(
    r"[（(]?(?:牵头|责任|配合|完成时限|完成时间|时间节点|时限|具体负责|主责|负责单位)"
)
_DANGLING_LABEL_RE = re.compile(r"(?:单位|科室|部门|股室|时限|时间|节点|牵头)\s*[：:]$")
_INTRO_WORDS_RE = re.compile(r"[，,]|以下|如下|下列|主要|重点|着力|将")
_INTRO_RE = re.compile(r"(?:以下|如下|下列)[^。；]{0,16}[：:。]$")
_CLOSING_RE = re.compile(
    r"(?:总之|综上|我们将|我们要|我[镇乡局区县市委办所院厅处]将|今后|在新的一年|新的一年|让我们)"
)
_CLAUSE_BREAKS = frozenset("。；;！？!?：:")
_LEAD_STOP_RE = re.compile(r"[。，,：:；;.．\n]")
_BOLD_LEAD_MAX = 25
_DIGITS_CN = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}


@dataclass(slots=True)
class Marker:
    kind: str
    number: int
    start: int
    end: int
    para_start: bool

    def printed(self, text: str) -> str:
        """The marker as printed; a hard wrap inside it (二\n是) is dropped."""
        return text[self.start : self.end].replace("\n", "")


@dataclass(slots=True)
class Item:
    """One item: its marker as printed and the (start, end) of its text."""

    marker: str
    start: int
    end: int


@functools.lru_cache(maxsize=256)
def cn_number(s: str) -> int:
    """一…九十九 as an int; 0 when S is not a well-formed Chinese numeral."""
    if s.isdigit():
        return int(s)
    if len(s) == 1:
        return 10 if s == "十" else _DIGITS_CN.get(s, 0)
    if "十" not in s:
        return 0
    tens, _, units = s.partition("十")
    if "十" in units:
        return 0
    ten = _DIGITS_CN.get(tens, 0) if tens else 1
    unit = _DIGITS_CN.get(units, 0) if units else 0
    if not ten or (units and not unit):
        return 0
    return ten * 10 + unit


def _classify(match: re.Match[str]) -> tuple[str, int]:
    group = match.lastgroup or ""
    if group == "circ":
        return "circ", ord(match.group("circ")) - ord("①") + 1
    if group == "shi":
        return "shi" + match.group("shi_w"), cn_number(match.group("shi_n"))
    return group, cn_number(match.group(group + "_n"))


def _boundary(text: str, pos: int, floor: int, kind: str) -> tuple[bool, bool]:
    """(marker may open an item here, it is at the start of a line)."""
    i = pos - 1
    while i >= floor and text[i] in " \t\u3000\xa0":
        i -= 1
    if i < floor or text[i] == "\n":
        return True, True
    ch = text[i]
    if ch in _CLAUSE_BREAKS:
        return True, False
    # 一是…，二是… is common; a bare number after a comma (，2、3月) is not a marker.
    return (ch in "，," and kind.startswith(("shi", "di"))), False


def scan_markers(text: str, start: int, end: int) -> list[Marker]:
    markers = []
    for match in MARKER_RE.finditer(text, start, end):
        kind, number = _classify(match)
        ok, para_start = _boundary(text, match.start(), start, kind)
        if ok and number:
            markers.append(Marker(kind, number, match.start(), match.end(), para_start))
    return markers


def starts_with_marker(segment: str) -> bool:
    """Does this stripped line open an item (numbered or bulleted)?"""
    match = MARKER_RE.match(segment)
    if match:
        return _classify(match)[1] > 0
    return BULLET_RE.match(segment) is not None


def _first_marker(markers: list[Marker], exclude: str | None) -> Marker | None:
    ones = [m for m in markers if m.number == 1 and m.kind != exclude]
    at_line_start = [m for m in ones if m.para_start]
    return (at_line_start or ones or [None])[0]


def _sequence(markers: list[Marker], first: Marker) -> list[Marker]:
    chosen = [first]
    for marker in markers:
        if marker.start <= first.start or marker.kind != first.kind:
            continue
        current = chosen[-1].number
        if marker.number == current + 1:
            chosen.append(marker)
        elif marker.para_start and current + 1 < marker.number <= current + 3:
            chosen.append(marker)  # a gap in the numbering, at a paragraph start
        elif marker.para_start and marker.number == 1:
            break  # a second list starts: not ours
    return chosen


def find_marked_items(
    layout: Layout, start: int, end: int, *, exclude: str | None = None, trim_tail: bool = True
) -> tuple[str | None, list[Item]]:
    """The numbered items of [START, END) and their marker kind; (None, []) when unnumbered.

    With TRIM_TAIL the last item ends with its paragraph, plus the paragraphs that plainly
    belong to it (its body under a lead-only line, sub-points, a 责任单位 note); a closing
    paragraph after the list is not part of it.
    """
    text = layout.text
    markers = scan_markers(text, start, end)
    first = _first_marker(markers, exclude)
    if first is None:
        return None, []
    chosen = _sequence(markers, first)
    items = []
    for i, marker in enumerate(chosen):
        stop = chosen[i + 1].start if i + 1 < len(chosen) else end
        if i + 1 == len(chosen) and trim_tail:
            stop = _last_item_end(layout, marker, end)
        a, b = trim_item(text, marker.end, stop)
        if a < b:
            items.append(Item(marker.printed(text), a, b))
    return first.kind, items


def _last_item_end(layout: Layout, marker: Marker, end: int) -> int:
    text = layout.text
    paras = layout.paragraphs(marker.start, end, starts_with_marker)
    if not paras:
        return end
    stop = paras[0][1]
    for a, b in paras[1:]:
        nested = MARKER_RE.match(text, a, b)
        if nested and _classify(nested)[0] == marker.kind:
            break
        lead_only = stop - marker.end <= 40 and _heading_like(text[marker.end : stop].strip())
        # 责任单位：| wrapped before its value, or a full wrapped line that happens to end in 。
        dangling = text[stop - 1] in "：:" or (
            layout.line_at(stop).end in layout.full_closed_lines
            and not _CLOSING_RE.match(text, a, b)
        )
        if lead_only or dangling or nested or _ANNOTATION_RE.match(text, a, b):
            stop = b
        else:
            break
    return stop


def _heading_like(s: str) -> bool:
    """A lead printed alone (its body follows in the next paragraph)."""
    return len(s) <= 30 and not any(c in _CLAUSE_BREAKS or c in "，," for c in s[:-1])


def find_unmarked_items(layout: Layout, start: int, end: int) -> list[Item]:
    """Items of an unnumbered region: bulleted paragraphs; else paragraphs that open with a
    short lead sentence (加强组织领导。…), each with the plain paragraphs after it; else every
    paragraph. An introduction (…以下工作：) and a closing remark (总之…) are left out."""
    text = layout.text
    paras = layout.paragraphs(start, end, starts_with_marker)
    bullets = [(a, b, BULLET_RE.match(text, a, b)) for a, b in paras]
    if any(m for _, _, m in bullets):
        return [
            Item(m.group(1), *trim_item(text, m.end(), b)) for a, b, m in bullets if m is not None
        ]
    body = list(itertools.dropwhile(lambda p: _is_intro(text[p[0] : p[1]]), paras))
    led = [has_bold_lead(layout, a, b) for a, b in body]
    if sum(led) >= 2:
        return _group_under_leads(layout, body, led)
    if len(body) > 1 and _CLOSING_RE.match(text, body[-1][0]):
        body.pop()
    spans = [trim_item(text, a, b) for a, b in body]
    return [Item("", a, b) for a, b in spans if a < b]


def _group_under_leads(layout: Layout, paras: list[tuple[int, int]], led: list[bool]) -> list[Item]:
    """Each lead paragraph with the plain paragraphs up to the next lead; plain paragraphs
    after the last lead join it only when they are notes (责任单位：…)."""
    text = layout.text
    last_lead = max(i for i, flag in enumerate(led) if flag)
    items: list[list[int]] = []
    for i, (a, b) in enumerate(paras):
        dangling = bool(items) and _DANGLING_LABEL_RE.search(text, items[-1][0], items[-1][1])
        if led[i] and not dangling:
            items.append([a, b])
        elif items and (i < last_lead or dangling or _ANNOTATION_RE.match(text, a)):
            items[-1][1] = b
        elif items:
            break
    return [Item("", *trim_item(text, a, b)) for a, b in items]


def has_bold_lead(layout: Layout, a: int, b: int) -> bool:
    """Does [A, B) open with a short lead sentence (加强组织领导。/ lead：/ a lead line)?"""
    if _ANNOTATION_RE.match(layout.text, a, b):
        return False  # 责任单位：… is a note to the item above, not a new item
    x, y = lead_span(layout, a, b)
    stop = layout.text[y : y + 1] if y < b else ""
    return 0 < y - x <= _BOLD_LEAD_MAX and stop in ("。", "：", ":", "\n", ".", "．", "")


def _is_intro(s: str) -> bool:
    """…重点做好以下工作： is an introduction; 责任单位： and a lead line 加强执法： are not."""
    if _INTRO_RE.search(s[-40:]):
        return True
    if not s.endswith(("：", ":")) or _DANGLING_LABEL_RE.search(s):
        return False
    return len(s) > _BOLD_LEAD_MAX or _INTRO_WORDS_RE.search(s) is not None


def split_paragraph(text: str, a: int, b: int, breaks: str) -> list[tuple[int, int]]:
    """[A, B) cut after each character of BREAKS; pieces trimmed, separators ；;，, dropped."""
    pieces = []
    cut = a
    for i in range(a, b):
        if text[i] in breaks and not _between_digits(text, i, a, b):
            pieces.append(trim_item(text, cut, i + 1))
            cut = i + 1
    pieces.append(trim_item(text, cut, b))
    return [(x, y) for x, y in pieces if x < y]


def _between_digits(text: str, i: int, a: int, b: int) -> bool:
    return a < i < b - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()


def lead_span(layout: Layout, a: int, b: int) -> tuple[int, int]:
    """The opening phrase of [A, B): up to the first 。，,：:；;. or hard line break (a soft
    break in hard-wrapped text and a decimal point do not end it)."""
    text = layout.text
    pos = a
    while (stop := _LEAD_STOP_RE.search(text, pos, b)) is not None:
        i = stop.start()
        soft = text[i] == "\n" and i in layout.soft_breaks
        if not soft and not (text[i] in ".．" and _between_digits(text, i, a, b)):
            return trim(text, a, i)
        pos = i + 1
    return trim(text, a, b)


def lead_text(layout: Layout, a: int, b: int) -> str:
    x, y = lead_span(layout, a, b)
    return "".join(layout.text[x:y].split())
