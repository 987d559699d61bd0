"""The editable plan of a report import: commitments and the tasks proposed for them.

A plan is built from a parsed report, edited by the coordinator (lead and text, merge, split,
drop, problem links, one task or one per measure, each task's office, deadline and owner), and
finally confirmed. It is plain data (dicts and lists) so it can be stored as JSON between
requests; every function here returns a new plan and leaves its input alone.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import DomainError

Plan = dict[str, Any]
# (time phrase, commitment text) -> (due date as ISO text or None, recurrence or None, explanation)
DeadlineFor = Callable[[str | None, str], tuple[str | None, str | None, str]]

MAX_TITLE = 200
_LEAD_END = re.compile(r"[。，,：:；;.\n]")
_SENTENCE_END = re.compile(r"(?<=[。；;！!？?])")
# Words that open many commitments without telling them apart ("持续加大…" vs "加大…").
_FILLER_PREFIXES = ("持续", "继续", "进一步", "全面", "不断", "切实", "着力", "深入", "扎实")


@dataclass(frozen=True)
class OfficeChoice:
    id: int
    name: str
    short_name: str | None
    head_id: int | None


@dataclass(frozen=True)
class KeywordRule:
    keyword: str
    office_id: int
    position: int = 100


@dataclass(frozen=True)
class PreviousCommitment:
    id: int
    lead: str
    year: int
    outcome: str  # what became of its tasks, e.g. "2项任务：已办结1项，办理中1项"


def lead_of(text: str) -> str:
    """The opening phrase of TEXT, up to the first clause break."""
    stripped = text.strip()
    match = _LEAD_END.search(stripped)
    return (stripped[: match.start()] if match else stripped)[:MAX_TITLE].strip()


def measures_of(text: str) -> list[str]:
    """The sentences of a commitment after its lead sentence."""
    parts = [p.strip(" \n；;") for p in _SENTENCE_END.split(text.strip())]
    parts = [p for p in parts if p]
    return parts[1:] if len(parts) > 1 else []


def propose_office(
    lead: str, text: str, hint: str | None, offices: Sequence[OfficeChoice],
    rules: Sequence[KeywordRule],
) -> int | None:  # fmt: skip
    """The office named in the report (HINT), else the first keyword rule found in the lead,
    then in the text."""
    if hint:
        named = _office_named_in(hint, offices)
        if named is not None:
            return named
    ordered = sorted(rules, key=lambda r: (r.position, -len(r.keyword)))
    for haystack in (lead, text):
        for rule in ordered:
            if rule.keyword and rule.keyword in haystack:
                return rule.office_id
    return None


def _office_named_in(hint: str, offices: Sequence[OfficeChoice]) -> int | None:
    best: tuple[int, int] | None = None  # (position in hint, office id)
    for office in offices:
        for name in filter(None, (office.name, office.short_name)):
            at = hint.find(name)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, office.id)
    return best[1] if best else None


def _normalised_lead(lead: str) -> str:
    lead = re.sub(r"\s+", "", lead)
    for prefix in _FILLER_PREFIXES:
        if lead.startswith(prefix) and len(lead) > len(prefix) + 1:
            lead = lead[len(prefix) :]
    return lead


def find_repeat(
    lead: str, previous: Sequence[PreviousCommitment], threshold: float = 0.75
) -> PreviousCommitment | None:
    """Last year's commitment with the same or a near-same lead, if any."""
    mine = _normalised_lead(lead)
    best, best_ratio = None, threshold
    for candidate in previous:
        ratio = difflib.SequenceMatcher(None, mine, _normalised_lead(candidate.lead)).ratio()
        if ratio >= best_ratio:
            best, best_ratio = candidate, ratio
    return best


@dataclass(frozen=True)
class PlanContext:
    """What proposals are made from: the unit's offices, rules and the deadline rule."""

    offices: Sequence[OfficeChoice]
    rules: Sequence[KeywordRule]
    deadline_for: DeadlineFor
    previous: Sequence[PreviousCommitment] = ()


def build_plan(parsed: dict[str, Any], context: PlanContext) -> Plan:
    """The initial plan of a parsed report (ParsedReport.to_json()): one task per commitment."""
    problems = [
        {"marker": p["marker"], "lead": p["lead"], "text": p["text"]}
        for p in parsed.get("details", {}).get("problems", [])
    ]
    commitments = [
        _commitment(
            {"marker": item["marker"], "lead": item["lead"], "text": item["text"],
             "time_phrase": item.get("time_phrase"), "office_hint": item.get("office"),
             "start": item.get("start", -1), "end": item.get("end", -1),
             "problems": [], "per_measure": False},
            context,
        )
        for item in parsed.get("sections", {}).get("plans", [])
    ]  # fmt: skip
    return {"problems": problems, "commitments": commitments}


def _commitment(fields: dict[str, Any], context: PlanContext) -> dict[str, Any]:
    """A commitment with its repeat flag and freshly proposed tasks."""
    item = dict(fields)
    repeat = find_repeat(item["lead"], context.previous)
    item["repeats"] = (
        {"id": repeat.id, "lead": repeat.lead, "year": repeat.year, "outcome": repeat.outcome}
        if repeat
        else None
    )
    item["tasks"] = _propose_tasks(item, context)
    return item


def _propose_tasks(item: dict[str, Any], context: PlanContext) -> list[dict[str, Any]]:
    titles = [item["lead"]]
    if item.get("per_measure"):
        titles = [m[:MAX_TITLE] for m in measures_of(item["text"])] or titles
    office_id = propose_office(
        item["lead"], item["text"], item.get("office_hint"), context.offices, context.rules
    )
    heads = {o.id: o.head_id for o in context.offices}
    due, recurrence, note = context.deadline_for(item.get("time_phrase"), item["text"])
    return [
        {"title": title or item["lead"], "office_id": office_id, "owner_id": heads.get(office_id),
         "deadline": due, "recurrence": recurrence, "note": note}
        for title in titles
    ]  # fmt: skip


def _copy(plan: Plan) -> Plan:
    return copy.deepcopy(plan)


def _check_index(plan: Plan, index: int) -> None:
    if not 0 <= index < len(plan["commitments"]):
        raise DomainError(f"没有第{index + 1}项承诺。")


def update_commitment(
    plan: Plan, index: int, *, lead: str, text: str, problems: Sequence[int],
    context: PlanContext,
) -> Plan:  # fmt: skip
    """Change a commitment's lead, text and problem links; its tasks are proposed afresh when
    the wording changed, and kept otherwise (so edits to tasks survive)."""
    _check_index(plan, index)
    new = _copy(plan)
    item = new["commitments"][index]
    valid = [p for p in problems if 0 <= p < len(new["problems"])]
    changed = (lead.strip(), text.strip()) != (item["lead"], item["text"])
    item.update(lead=lead.strip() or lead_of(text), text=text.strip(), problems=sorted(set(valid)))
    if changed:
        new["commitments"][index] = _commitment(item, context)
    return new


def update_task(plan: Plan, index: int, task_index: int, **fields: Any) -> Plan:
    """Change one proposed task (title, office_id, owner_id, deadline, recurrence)."""
    _check_index(plan, index)
    new = _copy(plan)
    tasks = new["commitments"][index]["tasks"]
    if not 0 <= task_index < len(tasks):
        raise DomainError(f"第{index + 1}项承诺没有第{task_index + 1}项任务。")
    allowed = {"title", "office_id", "owner_id", "deadline", "recurrence"}
    tasks[task_index].update({k: v for k, v in fields.items() if k in allowed})
    return new


def set_per_measure(plan: Plan, index: int, per_measure: bool, context: PlanContext) -> Plan:
    """One task for the commitment, or one per measure (sentence after the lead)."""
    _check_index(plan, index)
    new = _copy(plan)
    item = new["commitments"][index]
    item["per_measure"] = per_measure
    item["tasks"] = _propose_tasks(item, context)
    return new


def merge_with_next(plan: Plan, index: int, context: PlanContext) -> Plan:
    """Join commitment INDEX and the one after it into one."""
    _check_index(plan, index)
    _check_index(plan, index + 1)
    new = _copy(plan)
    first, second = new["commitments"][index], new["commitments"].pop(index + 1)
    first["text"] = f"{first['text']}{_joiner(first['text'])}{second['text']}"
    first["problems"] = sorted(set(first["problems"]) | set(second["problems"]))
    first["time_phrase"] = first.get("time_phrase") or second.get("time_phrase")
    first["office_hint"] = first.get("office_hint") or second.get("office_hint")
    first["end"] = max(first.get("end", -1), second.get("end", -1))
    new["commitments"][index] = _commitment(first, context)
    return new


def _joiner(text: str) -> str:
    return "" if text.endswith(("。", "；", ";", "！", "？")) else "；"


def split_at(plan: Plan, index: int, sentence: int, context: PlanContext) -> Plan:
    """Split commitment INDEX before its sentence number SENTENCE (1 = the first measure)."""
    _check_index(plan, index)
    new = _copy(plan)
    item = new["commitments"][index]
    sentences = [s for s in _SENTENCE_END.split(item["text"]) if s.strip()]
    if not 1 <= sentence < len(sentences):
        raise DomainError(f"第{index + 1}项承诺无法在第{sentence + 1}句处拆分。")
    head, tail = "".join(sentences[:sentence]).strip(), "".join(sentences[sentence:]).strip()
    first = {**item, "text": head}
    second = {**item, "marker": "", "lead": lead_of(tail), "text": tail, "start": -1, "end": -1}
    new["commitments"][index : index + 1] = [
        _commitment(first, context), _commitment(second, context)
    ]  # fmt: skip
    return new


def drop(plan: Plan, index: int) -> Plan:
    """Remove commitment INDEX (and its tasks) from the import."""
    _check_index(plan, index)
    new = _copy(plan)
    del new["commitments"][index]
    return new


def plan_problems(plan: Plan) -> list[str]:
    """What must be fixed before the plan can be confirmed (Chinese messages)."""
    problems: list[str] = []
    if not plan["commitments"]:
        problems.append("没有可导入的承诺事项。")
    for number, item in enumerate(plan["commitments"], start=1):
        if not item["text"].strip():
            problems.append(f"第{number}项承诺内容为空。")
        for task_number, task in enumerate(item["tasks"], start=1):
            where = f"第{number}项承诺的第{task_number}项任务"
            if not task.get("office_id"):
                problems.append(f"{where}尚未指定牵头单位。")
            if not task.get("deadline"):
                problems.append(f"{where}尚未确定时限。")
            if not (task.get("title") or "").strip():
                problems.append(f"{where}缺少名称。")
    return problems
