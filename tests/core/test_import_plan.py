import pytest

from app.core.errors import DomainError
from app.core.import_plan import (
    KeywordRule,
    OfficeChoice,
    PlanContext,
    PreviousCommitment,
    build_plan,
    drop,
    find_repeat,
    lead_of,
    measures_of,
    merge_with_next,
    plan_problems,
    propose_office,
    set_per_measure,
    split_at,
    update_commitment,
    update_task,
)
from app.core.office_rules import default_rules_for

OFFICES = [
    OfficeChoice(1, "司法所", "司法所", 11),
    OfficeChoice(2, "信访办公室", "信访办", 12),
    OfficeChoice(3, "党政办公室", "党政办", None),
]
RULES = [KeywordRule("信访", 2, 10), KeywordRule("宣传", 1, 20), KeywordRule("决策", 3, 30)]


def deadline_for(phrase, text):
    if "每季度" in text:
        return "2022-12-30", "quarterly", "每季度报送进展"
    return ("2022-06-30" if phrase == "6月底前" else "2022-12-30"), None, "说明"


CONTEXT = PlanContext(OFFICES, RULES, deadline_for)


def parsed(*plans, problems=()):
    return {
        "sections": {"plans": [
            {"marker": f"{i + 1}.", "lead": lead_of(text), "text": text, "time_phrase": phrase,
             "office": office, "start": 0, "end": len(text)}
            for i, (text, phrase, office) in enumerate(plans)
        ]},
        "details": {"problems": [{"marker": "一是", "lead": p, "text": p} for p in problems]},
    }  # fmt: skip


def test_lead_and_measures() -> None:
    text = "持续深化信访工作。规范信访秩序；完善信访化解工作。"
    assert lead_of(text) == "持续深化信访工作"
    assert measures_of(text) == ["规范信访秩序", "完善信访化解工作。"]
    assert measures_of("只有一句") == []


def test_named_office_beats_keywords() -> None:
    assert propose_office("加大宣传", "加大宣传。", "党政办牵头", OFFICES, RULES) == 3


def test_keywords_in_the_lead_beat_keywords_in_the_text() -> None:
    assert propose_office("深化信访工作", "深化信访工作。加强宣传。", None, OFFICES, RULES) == 2
    assert propose_office("科学决策", "科学决策。加强宣传。", None, OFFICES, RULES) == 3
    assert propose_office("其他工作", "其他工作。", None, OFFICES, RULES) is None


def test_build_plan_proposes_office_owner_and_deadline() -> None:
    plan = build_plan(
        parsed(("持续加大宣传力度。提高认识。", "6月底前", None), ("深化信访工作。", None, None)),
        CONTEXT,
    )
    first, second = plan["commitments"]
    expected = {"title": "持续加大宣传力度", "office_id": 1, "owner_id": 11,
                "deadline": "2022-06-30", "recurrence": None, "note": "说明"}  # fmt: skip
    assert first["tasks"] == [expected]
    assert second["tasks"][0]["office_id"] == 2 and second["tasks"][0]["owner_id"] == 12


def test_recurring_duty_is_carried() -> None:
    plan = build_plan(parsed(("每季度报告进展。", None, None)), CONTEXT)
    assert plan["commitments"][0]["tasks"][0]["recurrence"] == "quarterly"


def test_one_task_per_measure_and_back() -> None:
    plan = build_plan(
        parsed(("加大宣传力度。开展普法讲座；推进法治示范创建。", None, None)), CONTEXT
    )
    per = set_per_measure(plan, 0, True, CONTEXT)
    assert [t["title"] for t in per["commitments"][0]["tasks"]] == [
        "开展普法讲座", "推进法治示范创建。"
    ]  # fmt: skip
    back = set_per_measure(per, 0, False, CONTEXT)
    assert len(back["commitments"][0]["tasks"]) == 1
    assert len(plan["commitments"][0]["tasks"]) == 1  # the input plan is untouched


def test_merge_split_drop() -> None:
    plan = build_plan(
        parsed(("加大宣传。", "6月底前", None), ("深化信访工作。", None, "信访办")), CONTEXT
    )
    merged = merge_with_next(plan, 0, CONTEXT)
    assert len(merged["commitments"]) == 1
    assert merged["commitments"][0]["text"] == "加大宣传。深化信访工作。"
    assert merged["commitments"][0]["office_hint"] == "信访办"
    split = split_at(merged, 0, 1, CONTEXT)
    assert [c["text"] for c in split["commitments"]] == ["加大宣传。", "深化信访工作。"]
    assert split["commitments"][1]["lead"] == "深化信访工作"
    assert [c["lead"] for c in drop(split, 0)["commitments"]] == ["深化信访工作"]
    with pytest.raises(DomainError):
        split_at(plan, 0, 1, CONTEXT)  # a one-sentence commitment cannot be split
    with pytest.raises(DomainError):
        merge_with_next(plan, 1, CONTEXT)  # nothing after the last one
    with pytest.raises(DomainError):
        drop(plan, 5)


def test_edit_keeps_task_edits_unless_the_wording_changes() -> None:
    plan = build_plan(parsed(("加大宣传。", None, None), problems=["宣传不够"]), CONTEXT)
    edited = update_task(plan, 0, 0, office_id=3, title="新名称", bogus="x")
    assert edited["commitments"][0]["tasks"][0]["office_id"] == 3
    assert "bogus" not in edited["commitments"][0]["tasks"][0]
    linked = update_commitment(edited, 0, lead="加大宣传", text="加大宣传。", problems=[0, 7],
                               context=CONTEXT)  # fmt: skip
    assert linked["commitments"][0]["problems"] == [0]
    assert linked["commitments"][0]["tasks"][0]["title"] == "新名称"
    reworded = update_commitment(linked, 0, lead="深化信访", text="深化信访。", problems=[],
                                 context=CONTEXT)  # fmt: skip
    assert reworded["commitments"][0]["tasks"][0]["office_id"] == 2


def test_repeat_detection() -> None:
    previous = [PreviousCommitment(7, "持续加大宣传力度", 2020, "已办结1项"),
                PreviousCommitment(8, "强化执法监督", 2020, "办理中1项")]  # fmt: skip
    assert find_repeat("加大宣传力度", previous).id == 7
    assert find_repeat("进一步加大宣传力度", previous).id == 7
    assert find_repeat("深化信访工作", previous) is None
    context = PlanContext(OFFICES, RULES, deadline_for, previous)
    plan = build_plan(parsed(("持续加大宣传力度。…", None, None)), context)
    assert plan["commitments"][0]["repeats"]["id"] == 7


def test_plan_problems_name_what_is_missing() -> None:
    plan = build_plan(parsed(("其他工作。", None, None)), CONTEXT)
    assert plan_problems(plan) == ["第1项承诺的第1项任务尚未指定牵头单位。"]
    assert plan_problems({"problems": [], "commitments": []}) == ["没有可导入的承诺事项。"]


def test_default_rules_follow_the_offices_present() -> None:
    rules = default_rules_for({"信访办": 2, "司法所": 1})
    keywords = {k for k, _, _ in rules}
    assert "信访" in keywords and "宣传" in keywords and "决策" not in keywords
    assert dict((k, o) for k, o, _ in rules)["信访"] == 2
