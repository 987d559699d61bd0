"""Text plumbing for the report parser: normalised text, lines with offsets, paragraphs.

Everything here works on character offsets into one normalised string, so that every span the
parser reports can be sliced back out of ParsedReport.text exactly.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

# A line ending in one of these closes its paragraph; anything else (a hard wrap, a lead phrase
# on its own line, a bare marker) runs on into the next line.
TERMINAL = frozenset("。！？!?；;：:")
CLOSING_BRACKETS = frozenset("）)】」』”’")
_PAGE_NUMBER_RE = re.compile(
    r"[-—–－\s]*\d{1,4}[-—–－\s]*|第\s*\d{1,4}\s*页(?:[，,/ ]*共\s*\d+\s*页)?"
)


def normalise(text: str) -> str:
    """Strip a BOM and turn every line ending into "\\n"."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(slots=True)
class Line:
    index: int
    start: int
    end: int  # offset of the line's "\n" (or of the end of the text)
    raw: str
    text: str  # stripped
    content_start: int
    content_end: int


def split_lines(text: str) -> list[Line]:
    lines: list[Line] = []
    pos = 0
    for index, raw in enumerate(text.split("\n")):
        end = pos + len(raw)
        stripped = raw.strip()
        lead = len(raw) - len(raw.lstrip()) if stripped else 0
        lines.append(Line(index, pos, end, raw, stripped, pos + lead, pos + lead + len(stripped)))
        pos = end + 1
    return lines


def display_width(s: str) -> int:
    """Columns a line takes in a CJK font: ASCII counts 1, everything else 2 (near enough for
    telling full-width wrapped lines, and cheap on long lines)."""
    return 2 * len(s) - len(s.encode("ascii", "ignore"))


def ends_sentence(s: str) -> bool:
    """True when the stripped line S closes its paragraph."""
    if not s:
        return True
    last = s[-1]
    if last in TERMINAL:
        return True
    if last == "." and not (len(s) > 1 and s[-2].isdigit()):
        return True
    if last in CLOSING_BRACKETS:
        # "。”" and "。（牵头科室：法规科）" end a sentence; "县（市、区）" in mid-sentence
        # does not.
        opener = max(s.rfind("（"), s.rfind("("), s.rfind("“"), s.rfind("【"))
        before = s[opener - 1] if opener > 0 else ""
        return s[-2:-1] in TERMINAL or before in TERMINAL or opener == 0
    return False


class Layout:
    """The lines of a text, and which line breaks are soft (a hard-wrapped line running on)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = split_lines(text)
        self._starts = [line.start for line in self.lines]
        # Line breaks that only wrap a line in mid-sentence; and full lines ending a sentence,
        # after which the paragraph may or may not go on.
        self.soft_breaks, self.full_closed_lines = _wrapped_lines(self.lines)

    def line_at(self, offset: int) -> Line:
        return self.lines[max(0, bisect.bisect_right(self._starts, offset) - 1)]

    def lines_in(self, start: int, end: int) -> list[Line]:
        """Lines overlapping [START, END)."""
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        last = bisect.bisect_left(self._starts, end)
        return self.lines[first:last]

    def paragraphs(
        self, start: int, end: int, starts_item: Callable[[str], bool]
    ) -> list[tuple[int, int]]:
        """Trimmed (start, end) spans of the paragraphs of [START, END).

        A paragraph ends at a blank line, after a line that closes a sentence (unless that line
        is a full hard-wrapped line), and before a line that STARTS_ITEM says opens an item.
        """
        paras: list[tuple[int, int]] = []
        cur: list[int] | None = None
        runs_on = False
        for line in self.lines_in(start, end):
            a, b = trim(self.text, max(line.start, start), min(line.end, end))
            if a >= b:
                cur, runs_on = _close(paras, cur), False
                continue
            segment = self.text[a:b]
            if _PAGE_NUMBER_RE.fullmatch(segment):
                continue  # a PDF page number inside a paragraph neither ends nor starts one
            if cur is None or not runs_on or starts_item(segment):
                _close(paras, cur)
                cur = [a, b]
            else:
                cur[1] = b
            runs_on = not ends_sentence(segment) or line.end in self.soft_breaks
        _close(paras, cur)
        return paras


def _close(paras: list[tuple[int, int]], cur: list[int] | None) -> None:
    if cur is not None:
        paras.append((cur[0], cur[1]))


def trim(text: str, a: int, b: int) -> tuple[int, int]:
    """[A, B) without surrounding whitespace."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def trim_item(text: str, a: int, b: int) -> tuple[int, int]:
    """[A, B) without surrounding whitespace and without a trailing item separator (；; ，,)."""
    a, b = trim(text, a, b)
    while b > a and text[b - 1] in "；;，,":
        a, b = trim(text, a, b - 1)
    return a, b


def _wrapped_lines(lines: list[Line]) -> tuple[frozenset[int], frozenset[int]]:
    """Line-end offsets of the full-width lines of a hard-wrapped text: (those that stop in
    mid-sentence, those that end a sentence). Empty when the text is not hard-wrapped.

    Lines that stop in mid-sentence and go on in the next line are "broken". In a hard-wrapped
    text they are the longest lines, all about the same width; a lead phrase printed on its own
    line is broken too, but far shorter than the paragraphs around it. A full line that ends a
    sentence is ambiguous (the paragraph may end there), so it is kept apart.
    """
    nonblank = [line for line in lines if line.text]
    width = {line.index: display_width(line.text) for line in nonblank}
    long_widths = sorted(w for w in width.values() if w > 30)
    if len(long_widths) < 3:
        return frozenset(), frozenset()
    wrap = long_widths[max(0, (len(long_widths) * 9) // 10 - 1)]
    followed = [line for line, nxt in itertools.pairwise(nonblank) if nxt.index == line.index + 1]
    # Short lines (headings, a lead on its own line) say nothing about wrapping.
    broken = [line for line in followed if width[line.index] > 30 and not ends_sentence(line.text)]
    full = [line for line in broken if width[line.index] >= wrap - 6]
    if len(full) < 2 or len(full) * 2 < len(broken):
        return frozenset(), frozenset()
    closed = [
        line for line in followed if width[line.index] >= wrap - 2 and ends_sentence(line.text)
    ]
    return frozenset(line.end for line in full), frozenset(line.end for line in closed)
