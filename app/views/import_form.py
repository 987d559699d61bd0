"""Reading the import preview form: field names -> calls on the plan core.

Field names: c-<i>-lead, c-<i>-text, c-<i>-problems (repeated), c-<i>-split (sentence number),
t-<i>-<j>-title, t-<i>-<j>-office, t-<i>-<j>-owner, t-<i>-<j>-deadline (YYYY-MM-DD).
"""

from __future__ import annotations

from datetime import date

from werkzeug.datastructures import MultiDict

from app.core import import_plan as plans
from app.core.errors import DomainError


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "", "None") else None
    except ValueError:
        return None


def _deadline(value: str, where: str) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError as exc:
        raise DomainError(f"{where}的时限“{value}”不是有效日期（格式：2022-06-30）。") from exc


def apply_edits(plan: plans.Plan, form: MultiDict, context: plans.PlanContext) -> plans.Plan:
    """The plan with every field of the submitted form applied; DomainError on a bad value."""
    for i, item in enumerate(plan["commitments"]):
        for j, _task in enumerate(item["tasks"]):
            prefix = f"t-{i}-{j}-"
            if prefix + "title" not in form:
                continue
            where = f"第{i + 1}项承诺的第{j + 1}项任务"
            plan = plans.update_task(
                plan, i, j, title=form.get(prefix + "title", "").strip()[:200],
                office_id=_int_or_none(form.get(prefix + "office")),
                owner_id=_int_or_none(form.get(prefix + "owner")),
                deadline=_deadline(form.get(prefix + "deadline", ""), where),
            )  # fmt: skip
    for i in range(len(plan["commitments"])):
        if f"c-{i}-text" not in form:
            continue
        problems = [p for p in map(_int_or_none, form.getlist(f"c-{i}-problems")) if p is not None]
        plan = plans.update_commitment(
            plan, i, lead=form.get(f"c-{i}-lead", "")[:200], text=form.get(f"c-{i}-text", ""),
            problems=problems, context=context,
        )  # fmt: skip
    return plan


def apply_action(
    plan: plans.Plan, action: str, form: MultiDict, context: plans.PlanContext
) -> plans.Plan:
    """A structural edit named by the button pressed: merge-<i>, split-<i>, drop-<i>,
    measures-<i>, single-<i>; "save" and "confirm" change nothing more."""
    name, _, raw_index = action.partition("-")
    index = _int_or_none(raw_index)
    if name in {"save", "confirm"}:
        return plan
    if index is None:
        raise DomainError("无法识别的操作。")
    if name == "merge":
        return plans.merge_with_next(plan, index, context)
    if name == "split":
        sentence = _int_or_none(form.get(f"c-{index}-split")) or 1
        return plans.split_at(plan, index, sentence, context)
    if name == "drop":
        return plans.drop(plan, index)
    if name in {"measures", "single"}:
        return plans.set_per_measure(plan, index, name == "measures", context)
    raise DomainError("无法识别的操作。")


def highlighted_segments(text: str, commitments: list[dict]) -> list[tuple[str, int | None]]:
    """TEXT cut into (piece, commitment index or None), for marking each item in the source."""
    spans = sorted(
        (c["start"], c["end"], i)
        for i, c in enumerate(commitments)
        if isinstance(c.get("start"), int) and 0 <= c["start"] < c.get("end", -1) <= len(text)
    )
    segments: list[tuple[str, int | None]] = []
    cursor = 0
    for start, end, index in spans:
        if start < cursor:  # overlapping spans after a merge: show the first only
            continue
        if start > cursor:
            segments.append((text[cursor:start], None))
        segments.append((text[start:end], index))
        cursor = end
    if cursor < len(text):
        segments.append((text[cursor:], None))
    return segments
