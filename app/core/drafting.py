"""Next year's report, drafted from a tracked year: 关于N年度法治政府建设情况的报告. Pure.

The report imported in year N summarises year N−1 (Report.year = N−1); its 下一步打算 become
the tasks tracked during year N. At the end of N this module turns that report and those tasks
into the draft of the report on year N: a Draft of paragraphs made of sentences, each sentence
carrying the tasks and progress updates it was written from, and from it a DocumentSpec that
app/docx_render.py prints and `to_text` / `to_markdown` write out.

Definitions
- A task is closed (已办结), open (待签收, 办理中, 待审核) or cancelled (已撤销: ignored
  everywhere). An open task is overdue when TODAY is after its deadline; a closed task was late
  when it was closed after its deadline.
- A commitment is fulfilled when at least one of its tasks is closed and none is open; otherwise
  it is unfinished (also when it has no task, or only cancelled ones).
- A problem of the source report (its 存在问题) is answered when a commitment linked to it
  (the commitment_problem links made at import) is fulfilled. A problem no commitment is linked
  to is never answered.

The parts, in order
- The unit's name block (the organisation lines printed just above the source report's title,
  else the unit's name) and the title 关于N年度法治政府建设情况的报告.
- The addressee of the source report (the first line under its title that ends in ：), by
  default 区委、区政府：.
- The opening: "N年，我乡在区委、区政府的坚强领导下，对照N−1年度法治政府建设情况报告提出的C项
  工作打算，细化为T项任务推进落实，截至<date>已办结K项。现将有关情况报告如下：" — 我乡, 我镇,
  我街道, 我局 … from the unit's name, 我单位 when it says nothing.
- 一、工作情况: one （一） per commitment that has a closed task, in the report's order, or one per
  theme when the coordinator maps commitments to themes (commitments with the same theme share a
  paragraph, placed where the first of them was). Heading: the theme, else the commitment's lead
  as written. Body: one clause per closed task, "一是…；二是…；三是…。" (ordinals 一是 … 十是,
  十一是 …; a single clause has none). A clause is the task's most substantial progress update
  (the longest text; on a tie the latest), or its title when it has none, trimmed: whitespace
  and line breaks removed, 。；！？ inside it made ，, a leading 我们(已) dropped.
- Quantified outcomes: within a paragraph the closed tasks' outcomes are summed per metric and
  unit with outcomes.aggregate (开展集中普法宣传 7次 and 5次 → 12次; 次 and 人 stay apart). A total
  that comes from one task is woven into that task's clause; a total from several tasks goes
  into the paragraph's closing sentence 全年累计…。 A comma-part of an update text that already
  states one of the task's figures (its number and unit, e.g. 1200份; for a figure without a
  unit, its metric and number, e.g. 满意度达98) is dropped from the clause,
  so that each figure is stated once: every outcome of every closed task is counted in exactly
  one phrase of the draft (Sentence.outcomes records which).
- 二、存在问题: （一）部分任务推进滞后 from overdue open tasks and tasks closed late; （二）部分工作
  尚未完成 from open tasks not yet overdue (each only when there are such tasks, naming at most
  five, 等N项); then every problem of the source report that is not answered, as written (its
  lead as the heading).
- 三、下一步打算: every unfinished commitment, in the report's order, as written (its lead as the
  heading, the rest as the body), numbered （一）（二）…. Nothing is invented: a section with
  nothing to say stays empty.
- The signature (the name block) and the date (format_date_cn of the chosen date, default today).

The draft reads back through the report parser as the same title, year, sections, problems
and commitments (tests/core/test_drafting.py checks the round trip).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from app.core.document import Block, BlockKind, DocumentSpec
from app.core.lifecycle import OPEN_STATUSES, TaskStatus
from app.core.outcomes import OutcomeItem, OutcomeTotal, aggregate, format_value
from app.core.report_outline import is_org_line
from app.core.timefmt import format_date_cn

DEFAULT_ADDRESSEE = "区委、区政府："
TITLE_TEMPLATE = "关于{year}年度法治政府建设情况的报告"
WORK, PROBLEMS, PLANS = "work", "problems", "plans"
SECTION_KEYS = (WORK, PROBLEMS, PLANS)
SECTION_HEADINGS = {WORK: "工作情况", PROBLEMS: "存在问题", PLANS: "下一步打算"}
LAGGING_HEADING = "部分任务推进滞后"
PENDING_HEADING = "部分工作尚未完成"
TOTAL_PREFIX = "全年累计"
NAMED_TASKS = 5  # tasks named in a 存在问题 paragraph before 等N项
SCHEMA = 1

# Limits of what the coordinator may type (checked by check_draft).
MAX_TITLE = 200
MAX_ADDRESSEE = 100
MAX_HEADING = 200
MAX_BODY = 20_000
MAX_PARAGRAPHS = 1_000
MAX_SIGNATURE_LINES = 5
MAX_SIGNATURE_LINE = 100
MAX_DATE = 30
MAX_THEME = 50


# -- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateInput:
    """A progress update (进展) with its quantified outcomes."""

    id: int
    text: str
    created_at: datetime
    outcomes: tuple[OutcomeItem, ...] = ()


@dataclass(frozen=True)
class TaskInput:
    id: int
    commitment_id: int
    title: str
    office: str
    status: str
    deadline: date
    closed_on: date | None = None
    updates: tuple[UpdateInput, ...] = ()


@dataclass(frozen=True)
class ProblemInput:
    """One 存在问题 of the source report."""

    id: int
    lead: str
    text: str


@dataclass(frozen=True)
class CommitmentInput:
    """One 下一步打算 of the source report, with the problems it answers."""

    id: int
    lead: str
    text: str
    problem_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class DraftInput:
    year: int  # the year reported on (the tracked year), N
    unit_name: str
    problems: tuple[ProblemInput, ...]
    commitments: tuple[CommitmentInput, ...]  # in the report's order
    tasks: tuple[TaskInput, ...]
    today: date  # the day the figures are taken: overdue is judged on it
    name_block: tuple[str, ...] = ()
    addressee: str = DEFAULT_ADDRESSEE
    dated: date | None = None  # the date printed under the signature (default TODAY)
    themes: Mapping[int, str] = field(default_factory=dict)  # commitment id → theme


# -- the draft ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """A piece of generated text and what it was written from. OUTCOMES are the totals this
    sentence states (each outcome of a closed task is counted in exactly one of them)."""

    text: str
    task_ids: tuple[int, ...] = ()
    update_ids: tuple[int, ...] = ()
    outcomes: tuple[OutcomeTotal, ...] = ()


@dataclass(frozen=True)
class Paragraph:
    """（一）HEADING。BODY — or, without a heading, a plain paragraph with no number. BODY is what
    the coordinator edits; SENTENCES are what it was generated from, with their sources."""

    heading: str
    body: str
    sentences: tuple[Sentence, ...] = ()
    commitment_ids: tuple[int, ...] = ()
    problem_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Section:
    key: str
    heading: str
    paragraphs: tuple[Paragraph, ...] = ()


@dataclass(frozen=True)
class Draft:
    year: int
    title: str
    name_block: tuple[str, ...]
    addressee: str
    opening: Paragraph
    sections: tuple[Section, ...]
    signature: tuple[str, ...]
    date_text: str
    themes: Mapping[int, str] = field(default_factory=dict)

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


# -- words ----------------------------------------------------------------------------------

_DIGITS = "零一二三四五六七八九"
_PLACES = ("", "十", "百", "千")


def cn_number(n: int) -> str:
    """1 → 一, 10 → 十, 11 → 十一, 20 → 二十, 101 → 一百零一, 110 → 一百一十 (decimals ≥ 10000)."""
    if not 0 < n < 10_000:
        return str(n)
    digits = str(n)
    out: list[str] = []
    zero = False
    for position, char in enumerate(digits):
        digit = int(char)
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(_DIGITS[digit] + _PLACES[len(digits) - position - 1])
    text = "".join(out)
    return text[1:] if 10 <= n < 20 else text


def ordinal(n: int) -> str:
    """一是, 二是, …, 十是, 十一是 …"""
    return f"{cn_number(n)}是"


_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_INNER_STOPS = str.maketrans({"。": "，", "；": "，", ";": "，", "！": "，", "？": "，",
                              "!": "，", "?": "，"})  # fmt: skip
_EDGE = "。；;，,、!！?？:：… \u3000\t\n"
_SEPARATORS = "；;，,、"
_ENDINGS = "。！？!?"
_FIRST_PERSON_RE = re.compile(r"(^|，)我们(?:已经|已)?")
_LEAD_STOP_RE = re.compile(r"[。，,：:；;.！!？?]")


def squash(text: str) -> str:
    """TEXT on one line: whitespace removed, except one space between two Latin words."""

    def keep(match: re.Match[str]) -> str:
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        latin = before.isascii() and before.isalnum() and after.isascii() and after.isalnum()
        return " " if latin else ""

    return _SPACE_RE.sub(keep, text)


def clean(text: str) -> str:
    """What a user typed, without control characters and with "\\n" line ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROL_RE.sub("", text)


def clause_text(text: str) -> str:
    """An update's text as a clause of 一是…；二是…: one line, no inner full stops, no 我们."""
    s = squash(clean(text)).strip(_EDGE).translate(_INNER_STOPS)
    s = re.sub(r"，{2,}", "，", s)
    return _FIRST_PERSON_RE.sub(r"\1", s).strip(_EDGE)


def sentence_text(text: str) -> str:
    """A report item (a problem, a commitment) on one line, ending in a full stop."""
    s = squash(clean(text)).strip().rstrip(_SEPARATORS)
    return s + "。" if s and s[-1] not in _ENDINGS else s


def split_lead(lead: str, text: str) -> tuple[str, str]:
    """(heading, body) of an item: the lead, and the text after it and its punctuation."""
    text = sentence_text(text)
    lead = squash(clean(lead)).strip(_EDGE)
    if not lead:
        stop = _LEAD_STOP_RE.search(text)
        lead = text[: stop.start()] if stop else text.rstrip(_ENDINGS)
    if text.startswith(lead):
        return lead, text[len(lead) :].lstrip(_EDGE).strip()
    return lead, text


_SELF_REFERENCES = (
    (re.compile(r"局$"), "我局"),
    (re.compile(r"委员会$|委$"), "我委"),
    (re.compile(r"办公室$"), "我办"),
    (re.compile(r"街道(?:办事处)?$"), "我街道"),
    (re.compile(r"乡(?:人民政府)?$"), "我乡"),
    (re.compile(r"镇(?:人民政府)?$"), "我镇"),
    (re.compile(r"县(?:人民政府)?$"), "我县"),
    (re.compile(r"区(?:人民政府)?$"), "我区"),
    (re.compile(r"市(?:人民政府)?$"), "我市"),
)


def self_reference(unit_name: str) -> str:
    """How the unit names itself in its report: 我乡, 我镇, 我街道, 我局 …, else 我单位."""
    name = squash(unit_name)
    for pattern, words in _SELF_REFERENCES:
        if pattern.search(name):
            return words
    return "我单位"


# -- what the source report looked like -----------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip(" \u3000\t") for line in clean(text).split("\n")]


def _title_index(lines: list[str], title: str | None) -> int | None:
    wanted = squash(title or "")
    if not wanted:
        return None
    return next((i for i, line in enumerate(lines) if squash(line) == wanted), None)


def find_addressee(source_text: str, title: str | None) -> str | None:
    """The 主送机关 line of a report: the first line under its title that ends in ：."""
    lines = _lines(source_text)
    at = _title_index(lines, title)
    if at is None:
        return None
    following = [line for line in lines[at + 1 :] if line][:2]
    for line in following:
        if line.endswith(("：", ":")) and len(line) <= 40 and not re.search(r"[，,。；;]", line):
            return line[:-1] + "："
    return None


def find_name_block(source_text: str, title: str | None) -> tuple[str, ...]:
    """The organisation lines printed just above a report's title (中共…委员会 / …人民政府)."""
    lines = _lines(source_text)
    at = _title_index(lines, title)
    if at is None:
        return ()
    block: list[str] = []
    for line in reversed(lines[max(0, at - 6) : at]):
        if line and not is_org_line(line):
            break
        if line:
            block.insert(0, line)
    return tuple(block[-3:])


# -- building -------------------------------------------------------------------------------


def _key(metric: str, unit: str) -> tuple[str, str]:
    """The comparison outcomes.aggregate makes: spaces and width differences ignored."""

    def norm(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).split()).lower()

    return norm(metric), norm(unit)


def _is_open(task: TaskInput) -> bool:
    return task.status in {s.value for s in OPEN_STATUSES}


def _is_closed(task: TaskInput) -> bool:
    return task.status == TaskStatus.CLOSED.value


def fulfilled_commitments(tasks: Iterable[TaskInput]) -> set[int]:
    """Commitments with a closed task and no open one."""
    closed: set[int] = set()
    unfinished: set[int] = set()
    for task in tasks:
        if _is_closed(task):
            closed.add(task.commitment_id)
        elif _is_open(task):
            unfinished.add(task.commitment_id)
    return closed - unfinished


def answered_problems(commitments: Iterable[CommitmentInput], fulfilled: set[int]) -> set[int]:
    """Problems linked to a fulfilled commitment."""
    return {p for c in commitments if c.id in fulfilled for p in c.problem_ids}


def build_draft(data: DraftInput) -> Draft:
    """The draft of the report on DATA.year, from the source report and its tasks."""
    tasks = [t for t in data.tasks if t.status != TaskStatus.CANCELLED.value]
    fulfilled = fulfilled_commitments(tasks)
    answered = answered_problems(data.commitments, fulfilled)
    today = data.today
    name_block = tuple(line for line in data.name_block if line.strip()) or (data.unit_name,)
    sections = (
        Section(WORK, SECTION_HEADINGS[WORK], tuple(_work(data, tasks))),
        Section(PROBLEMS, SECTION_HEADINGS[PROBLEMS],
                tuple(_progress_problems(tasks, today))
                + tuple(_problem(p) for p in data.problems if p.id not in answered)),
        Section(PLANS, SECTION_HEADINGS[PLANS],
                tuple(_plan(c, tasks) for c in data.commitments if c.id not in fulfilled)),
    )  # fmt: skip
    themes = normalise_themes(data.themes)
    return Draft(
        year=data.year,
        title=TITLE_TEMPLATE.format(year=data.year),
        name_block=name_block,
        addressee=(data.addressee or DEFAULT_ADDRESSEE).strip(),
        opening=_opening(data, tasks),
        sections=sections,
        signature=name_block,
        date_text=format_date_cn(data.dated or today),
        themes=themes,
    )


def _opening(data: DraftInput, tasks: list[TaskInput]) -> Paragraph:
    superiors = (data.addressee or DEFAULT_ADDRESSEE).strip().rstrip("：:") or "上级"
    closed = sum(1 for t in tasks if _is_closed(t))
    work = (
        f"细化为{len(tasks)}项任务推进落实，截至{format_date_cn(data.today)}已办结{closed}项"
        if tasks
        else "推进落实"
    )
    text = (
        f"{data.year}年，{self_reference(data.unit_name)}在{superiors}的坚强领导下，对照"
        f"{data.year - 1}年度法治政府建设情况报告提出的{len(data.commitments)}项工作打算，"
        f"{work}。现将有关情况报告如下："
    )
    return Paragraph("", text, (Sentence(text),))


def _work(data: DraftInput, tasks: list[TaskInput]) -> list[Paragraph]:
    """One paragraph per commitment (or theme) with closed tasks, in the report's order."""
    order = {c.id: i for i, c in enumerate(data.commitments)}
    closed: dict[int, list[TaskInput]] = {}
    for task in sorted(
        (t for t in tasks if _is_closed(t) and t.commitment_id in order),
        key=lambda t: (order[t.commitment_id], t.id),
    ):
        closed.setdefault(task.commitment_id, []).append(task)
    groups: dict[str, tuple[str, list[int], list[TaskInput]]] = {}
    for commitment in data.commitments:
        if commitment.id not in closed:
            continue
        theme = _one_line(data.themes.get(commitment.id) or "")
        # Commitments share a paragraph only through a theme, never because their leads match.
        key = f"theme:{theme}" if theme else f"commitment:{commitment.id}"
        if key not in groups:
            groups[key] = (theme or split_lead(commitment.lead, commitment.text)[0], [], [])
        groups[key][1].append(commitment.id)
        groups[key][2].extend(closed[commitment.id])
    return [_work_paragraph(heading, ids, group) for heading, ids, group in groups.values()]


def _work_paragraph(heading: str, commitment_ids: list[int], tasks: list[TaskInput]) -> Paragraph:
    # Each outcome with its (metric, unit) key and update, computed once.
    keyed = {
        t.id: [(_key(o.metric, o.unit), u.id, o) for u in t.updates for o in u.outcomes
               if o.metric.strip()]
        for t in tasks
    }  # fmt: skip
    totals = aggregate(o for t in tasks for _, _, o in keyed[t.id])
    contributors: dict[tuple[str, str], list[int]] = {}
    for task in tasks:
        for key, _, _ in keyed[task.id]:
            owners = contributors.setdefault(key, [])
            if task.id not in owners:
                owners.append(task.id)
    single: dict[int, list[OutcomeTotal]] = {t.id: [] for t in tasks}
    shared: list[OutcomeTotal] = []
    for total in totals:
        owners = contributors[_key(total.metric, total.unit)]
        if len(owners) == 1:
            single[owners[0]].append(total)
        else:
            shared.append(total)
    sentences: list[Sentence] = []
    for number, task in enumerate(tasks, start=1):
        clause = _clause(task, [o for _, _, o in keyed[task.id]], single[task.id])
        if len(tasks) == 1:
            text = f"{clause}。"
        else:
            text = f"{ordinal(number)}{clause}{'。' if number == len(tasks) else '；'}"
        sentences.append(
            Sentence(text, (task.id,), tuple(u.id for u in task.updates), tuple(single[task.id]))
        )
    if shared:
        keys = {_key(t.metric, t.unit) for t in shared}
        owners = [t.id for t in tasks if any(key in keys for key, _, _ in keyed[t.id])]
        updates = list(
            dict.fromkeys(
                update_id for t in tasks for key, update_id, _ in keyed[t.id] if key in keys
            )
        )
        text = TOTAL_PREFIX + "，".join(t.phrase for t in shared) + "。"
        sentences.append(Sentence(text, tuple(owners), tuple(updates), tuple(shared)))
    body = "".join(s.text for s in sentences)
    return Paragraph(heading, body, tuple(sentences), commitment_ids=tuple(commitment_ids))


def _main_update(task: TaskInput) -> str:
    """The most substantial update's text as a clause: the longest, on a tie the latest."""
    best: tuple[int, datetime, int] | None = None
    text = ""
    for update in task.updates:
        clause = clause_text(update.text)
        rank = (len(clause), update.created_at, update.id)
        if clause and (best is None or rank > best):
            best, text = rank, clause
    return text


_NUMBER_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d.])\s*")
_CONNECTOR_RE = re.compile(r"\s*(?:达到|达|为)?\s*$")
Figures = dict[str, list[tuple[str, str]]]  # a number as written → (unit, metric) pairs


def _figures(items: Iterable[OutcomeItem | OutcomeTotal]) -> Figures:
    """The figures a text may state, by their number: 1200 → [(份, 发放宣传资料)]."""
    figures: Figures = {}
    for item in items:
        figures.setdefault(format_value(item.value), []).append(
            (item.unit.strip(), item.metric.strip())
        )
    return figures


def _states(part: str, figures: Figures) -> bool:
    """Whether PART states one of FIGURES: 1200份 (number and unit), or, for a figure without a
    unit, its metric before the number (满意度达98)."""
    for match in _NUMBER_RE.finditer(part):
        for unit, metric in figures.get(match.group(1), ()):
            if unit and part.startswith(unit, match.end()):
                return True
            before = _CONNECTOR_RE.sub("", part[: match.start()])
            if not unit and metric and before.endswith(metric):
                return True
    return False


def _drop_stated(clause: str, figures: Figures) -> str:
    """CLAUSE without the comma-parts that state one of the figures."""
    if not figures:
        return clause
    parts = [p for p in clause.split("，") if p and not _states(p, figures)]
    return "，".join(parts)


def _clause(task: TaskInput, items: list[OutcomeItem], woven: list[OutcomeTotal]) -> str:
    """The task's clause: its main update (else its title), figures stated once, the task's own
    totals woven in (…开展集中普法宣传5次，发放宣传资料1200份)."""
    title, text = clause_text(task.title), _main_update(task)
    stated = any(c.isdigit() for c in text + title)  # no digit: nothing to drop
    figures = _figures([*items, *aggregate(items)]) if stated and items else {}
    base = _drop_stated(text, figures) or _drop_stated(title, figures) or title
    if not woven:
        return base
    first, rest = woven[0], [t.phrase for t in woven[1:]]
    if base.endswith(first.metric):
        head = base + format_value(first.value) + first.unit
    else:
        head = f"{base}，{first.phrase}" if base else first.phrase
    return "，".join([head, *rest])


def _short_title(title: str) -> str:
    """A task's title as named in a list: its first clause."""
    text = clause_text(title)
    return text.split("，", 1)[0] or text


def _names(tasks: Sequence[TaskInput]) -> str:
    shown = "、".join(f"{_short_title(t.title)}（{t.office}）" for t in tasks[:NAMED_TASKS])
    return shown + (f"等{len(tasks)}项" if len(tasks) > NAMED_TASKS else "")


def _progress_problems(tasks: list[TaskInput], today: date) -> list[Paragraph]:
    """（一）部分任务推进滞后 and （二）部分工作尚未完成, from the tasks themselves."""
    overdue = [t for t in tasks if _is_open(t) and today > t.deadline]
    late = [t for t in tasks if _is_closed(t) and t.closed_on and t.closed_on > t.deadline]
    pending = [t for t in tasks if _is_open(t) and today <= t.deadline]
    when = f"截至{format_date_cn(today)}"
    paragraphs = []
    sentences = []
    if overdue:
        sentences.append(Sentence(
            f"{when}，有{len(overdue)}项任务超过时限仍未办结，主要是{_names(overdue)}。",
            tuple(t.id for t in overdue),
        ))  # fmt: skip
    if late:
        lead = "另有" if overdue else f"{when}，有"
        sentences.append(Sentence(
            f"{lead}{len(late)}项任务逾期后才办结，主要是{_names(late)}。",
            tuple(t.id for t in late),
        ))  # fmt: skip
    if sentences:
        body = "".join(s.text for s in sentences)
        paragraphs.append(Paragraph(LAGGING_HEADING, body, tuple(sentences)))
    if pending:
        sentence = Sentence(
            f"{when}，尚有{len(pending)}项任务正在办理、尚未办结，主要是{_names(pending)}。",
            tuple(t.id for t in pending),
        )
        paragraphs.append(Paragraph(PENDING_HEADING, sentence.text, (sentence,)))
    return paragraphs


def _problem(problem: ProblemInput) -> Paragraph:
    heading, body = split_lead(problem.lead, problem.text)
    return Paragraph(heading, body, (Sentence(sentence_text(problem.text)),),
                     problem_ids=(problem.id,))  # fmt: skip


def _plan(commitment: CommitmentInput, tasks: list[TaskInput]) -> Paragraph:
    heading, body = split_lead(commitment.lead, commitment.text)
    mine = tuple(t.id for t in tasks if t.commitment_id == commitment.id and not _is_closed(t))
    return Paragraph(heading, body, (Sentence(sentence_text(commitment.text), mine),),
                     commitment_ids=(commitment.id,))  # fmt: skip


# -- the document -----------------------------------------------------------------------------


def body_lines(body: str) -> list[str]:
    """A paragraph's body as printed: its first line runs in after the heading, every further
    line is a paragraph of its own."""
    return [line.strip() for line in clean(body).split("\n") if line.strip()]


def heading_text(number: int, heading: str) -> str:
    """（三）强化法治宣传。 — the numbered heading as printed."""
    heading = heading.strip()
    return f"（{cn_number(number)}）{heading}" + ("" if heading.endswith(tuple(_ENDINGS)) else "。")


def _section_blocks(section: Section) -> list[Block]:
    blocks: list[Block] = []
    number = 0
    for paragraph in section.paragraphs:
        lines = body_lines(paragraph.body)
        if paragraph.heading:
            number += 1
            tail = lines.pop(0) if lines else ""
            blocks.append(Block(BlockKind.HEADING2, heading_text(number, paragraph.heading), tail))
        blocks.extend(Block(BlockKind.BODY, line) for line in lines)
    return blocks


def draft_to_document(draft: Draft) -> DocumentSpec:
    """The draft in the official layout's terms: name block and title, addressee, opening,
    一、二、三、 with their （一） paragraphs, signature and date."""
    elements: list[Block] = [Block(BlockKind.TITLE, line) for line in draft.name_block]
    elements.append(Block(BlockKind.TITLE, draft.title))
    if draft.addressee:
        elements.append(Block(BlockKind.ADDRESSEE, draft.addressee))
    elements.extend(Block(BlockKind.BODY, line) for line in body_lines(draft.opening.body))
    for number, section in enumerate(draft.sections, start=1):
        elements.append(Block(BlockKind.HEADING1, f"{cn_number(number)}、{section.heading}"))
        elements.extend(_section_blocks(section))
    elements.extend(Block(BlockKind.SIGNATURE, line) for line in draft.signature if line)
    if draft.date_text:
        elements.append(Block(BlockKind.DATE, draft.date_text))
    author = (draft.signature or draft.name_block or ("",))[-1]
    return DocumentSpec(
        tuple(elements), title=draft.title, author=author,
        keywords=("法治政府建设", "年度报告", f"{draft.year}年度"),
    )  # fmt: skip


# -- JSON (a saved version's content) ---------------------------------------------------------


def _total_json(total: OutcomeTotal) -> dict[str, Any]:
    return {"metric": total.metric, "unit": total.unit, "value": total.value,
            "count": total.count}  # fmt: skip


def _paragraph_json(paragraph: Paragraph) -> dict[str, Any]:
    return {
        "heading": paragraph.heading,
        "body": paragraph.body,
        "sentences": [
            {"text": s.text, "task_ids": list(s.task_ids), "update_ids": list(s.update_ids),
             "outcomes": [_total_json(t) for t in s.outcomes]}
            for s in paragraph.sentences
        ],
        "commitment_ids": list(paragraph.commitment_ids),
        "problem_ids": list(paragraph.problem_ids),
    }  # fmt: skip


def draft_to_json(draft: Draft) -> dict[str, Any]:
    """The draft as JSON-ready data (what a ReportDraftVersion stores)."""
    return {
        "schema": SCHEMA,
        "year": draft.year,
        "title": draft.title,
        "name_block": list(draft.name_block),
        "addressee": draft.addressee,
        "opening": _paragraph_json(draft.opening),
        "sections": [
            {"key": s.key, "heading": s.heading,
             "paragraphs": [_paragraph_json(p) for p in s.paragraphs]}
            for s in draft.sections
        ],
        "signature": list(draft.signature),
        "date": draft.date_text,
        "themes": {str(k): v for k, v in sorted(draft.themes.items())},
    }  # fmt: skip


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values or ())


def _strs(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _paragraph_from(data: Mapping[str, Any]) -> Paragraph:
    return Paragraph(
        heading=str(data.get("heading") or ""),
        body=str(data.get("body") or ""),
        sentences=tuple(
            Sentence(
                str(s["text"]), _ints(s.get("task_ids")), _ints(s.get("update_ids")),
                tuple(OutcomeTotal(str(t["metric"]), str(t["unit"]), float(t["value"]),
                                   int(t["count"])) for t in s.get("outcomes") or ()),
            )
            for s in data.get("sentences") or ()
        ),
        commitment_ids=_ints(data.get("commitment_ids")),
        problem_ids=_ints(data.get("problem_ids")),
    )  # fmt: skip


def draft_from_json(data: Mapping[str, Any]) -> Draft:
    """A Draft from draft_to_json's data; ValueError when it is not such data."""
    try:
        sections = {
            str(s["key"]): Section(
                str(s["key"]), str(s.get("heading") or SECTION_HEADINGS.get(s["key"], "")),
                tuple(_paragraph_from(p) for p in s.get("paragraphs") or ()),
            )
            for s in data["sections"]
        }  # fmt: skip
        return Draft(
            year=int(data["year"]),
            title=str(data["title"]),
            name_block=_strs(data.get("name_block")),
            addressee=str(data.get("addressee") or ""),
            opening=_paragraph_from(data.get("opening") or {}),
            sections=tuple(sections.get(k, Section(k, SECTION_HEADINGS[k])) for k in SECTION_KEYS),
            signature=_strs(data.get("signature")),
            date_text=str(data.get("date") or ""),
            themes={int(k): str(v) for k, v in (data.get("themes") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a draft: {error}") from error


# -- the coordinator's edits ------------------------------------------------------------------


@dataclass(frozen=True)
class ParagraphEdit:
    heading: str
    body: str


@dataclass(frozen=True)
class DraftEdits:
    """The text of the edit form. A section missing from SECTIONS is left as it was."""

    title: str
    name_block: str
    addressee: str
    opening: str
    signature: str
    date_text: str
    sections: Mapping[str, Sequence[ParagraphEdit]]


def _one_line(text: str) -> str:
    return squash(clean(text)).strip()


def _text_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in clean(text).split("\n") if line.strip())


def _addressee(text: str) -> str:
    text = _one_line(text).rstrip("：:")
    return f"{text}：" if text else ""


def edit_draft(draft: Draft, edits: DraftEdits) -> Draft:
    """DRAFT with the coordinator's text. The Nth paragraph of a section keeps the sources of the
    Nth paragraph it replaces; a paragraph left without heading and body is dropped. Nothing is
    checked here (check_draft does), so a refused edit can still be shown back as typed."""
    sections = []
    for section in draft.sections:
        if section.key not in edits.sections:
            sections.append(section)
            continue
        kept = []
        for index, edit in enumerate(edits.sections[section.key]):
            heading = _one_line(edit.heading).rstrip("。")
            body = "\n".join(_text_lines(edit.body))
            if not heading and not body:
                continue
            base = section.paragraphs[index] if index < len(section.paragraphs) else None
            if base is None:
                kept.append(Paragraph(heading, body))
            else:
                kept.append(Paragraph(heading, body, base.sentences, base.commitment_ids,
                                      base.problem_ids))  # fmt: skip
        sections.append(Section(section.key, section.heading, tuple(kept)))
    opening = Paragraph("", "\n".join(_text_lines(edits.opening)), draft.opening.sentences)
    return Draft(
        year=draft.year,
        title=_one_line(edits.title),
        name_block=_text_lines(edits.name_block),
        addressee=_addressee(edits.addressee),
        opening=opening,
        sections=tuple(sections),
        signature=_text_lines(edits.signature),
        date_text=_one_line(edits.date_text),
        themes=draft.themes,
    )


def check_draft(draft: Draft) -> list[str]:
    """What is wrong with a draft the coordinator wants to save, in Chinese (empty when fine)."""
    problems: list[str] = []
    if not draft.title:
        problems.append("请填写报告标题。")
    elif len(draft.title) > MAX_TITLE:
        problems.append(f"报告标题不超过{MAX_TITLE}字。")
    if len(draft.addressee) > MAX_ADDRESSEE:
        problems.append(f"主送机关不超过{MAX_ADDRESSEE}字。")
    for label, lines in (("单位名称", draft.name_block), ("落款单位", draft.signature)):
        if len(lines) > MAX_SIGNATURE_LINES:
            problems.append(f"{label}不超过{MAX_SIGNATURE_LINES}行。")
        if any(len(line) > MAX_SIGNATURE_LINE for line in lines):
            problems.append(f"{label}每行不超过{MAX_SIGNATURE_LINE}字。")
    if len(draft.date_text) > MAX_DATE:
        problems.append(f"成文日期不超过{MAX_DATE}字。")
    if len(draft.opening.body) > MAX_BODY:
        problems.append(f"开头段落不超过{MAX_BODY}字。")
    for number, section in enumerate(draft.sections, start=1):
        name = f"“{cn_number(number)}、{section.heading}”"
        if len(section.paragraphs) > MAX_PARAGRAPHS:
            problems.append(f"{name}的段落过多（不超过{MAX_PARAGRAPHS}段）。")
            continue
        for index, paragraph in enumerate(section.paragraphs, start=1):
            if len(paragraph.heading) > MAX_HEADING:
                problems.append(f"{name}第{index}段的标题过长（不超过{MAX_HEADING}字）。")
            if len(paragraph.body) > MAX_BODY:
                problems.append(f"{name}第{index}段的正文过长（不超过{MAX_BODY}字）。")
    return problems


def check_themes(themes: Mapping[int, str]) -> list[str]:
    """What is wrong with a commitment → theme mapping (empty when fine)."""
    problems = []
    for name in themes.values():
        text = _one_line(name)
        if len(text) > MAX_THEME:
            problems.append(f"主题“{text[:12]}…”过长（不超过{MAX_THEME}字）。")
    return problems


def normalise_themes(themes: Mapping[int, str]) -> dict[int, str]:
    """Themes on one line, the blank ones left out (a commitment without a theme is its own)."""
    return {cid: _one_line(name) for cid, name in themes.items() if _one_line(name)}


_PUNCTUATION_RE = re.compile(r"[\s。，,；;：:、！？!?]")


def is_kept(paragraph: Paragraph, sentence: Sentence) -> bool:
    """Whether a generated sentence still stands in the paragraph as edited (punctuation and
    spacing aside): the page marks the others as rewritten."""
    text = _PUNCTUATION_RE.sub("", sentence.text)
    return text in _PUNCTUATION_RE.sub("", paragraph.heading + paragraph.body)
