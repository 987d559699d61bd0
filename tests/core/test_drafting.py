"""Next year's report draft (app/core/drafting.py): every rule of its docstring, and the round
trip through the report parser."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import drafting as d
from app.core.document import BlockKind, to_text
from app.core.outcomes import OutcomeItem
from app.core.report_parser import parse_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
TODAY = date(2022, 12, 20)
NOW = datetime(2022, 12, 1, tzinfo=UTC)
CLOSED, OPEN, CANCELLED = "closed", "in_progress", "cancelled"


def update(uid: int, text: str, *outcomes: tuple[str, float, str], days: int = 0) -> d.UpdateInput:
    items = tuple(OutcomeItem(m, v, u) for m, v, u in outcomes)
    return d.UpdateInput(uid, text, NOW + timedelta(days=days), items)


def task(tid: int, cid: int, status: str = CLOSED, *updates: d.UpdateInput,
         title: str = "", deadline: date = date(2022, 11, 30),
         closed_on: date | None = date(2022, 11, 1)) -> d.TaskInput:  # fmt: skip
    return d.TaskInput(tid, cid, title or f"任务{tid}", "司法所", status, deadline,
                       closed_on if status == CLOSED else None, updates)  # fmt: skip


COMMITMENTS = (
    d.CommitmentInput(1, "持续加大宣传力度", "持续加大宣传力度。开展普法宣传进村入户。", (1,)),
    d.CommitmentInput(2, "持续深化信访工作", "持续深化信访工作。规范信访秩序。", (2,)),
    d.CommitmentInput(3, "持续推行科学决策", "持续推行科学决策。推行重大行政决策制度。", ()),
)
PROBLEMS = (
    d.ProblemInput(1, "普法宣传覆盖不够", "普法宣传覆盖不够，群众知晓率不高"),
    d.ProblemInput(2, "信访积案化解较慢", "信访积案化解较慢"),
    d.ProblemInput(3, "执法队伍素质有待提高", "执法队伍素质有待提高；"),
)


def data(*tasks: d.TaskInput, themes: dict[int, str] | None = None, **kwargs) -> d.DraftInput:
    values = {"year": 2022, "unit_name": "黔江区蓬东乡人民政府", "problems": PROBLEMS,
              "commitments": COMMITMENTS, "tasks": tasks, "today": TODAY,
              "themes": themes or {}} | kwargs  # fmt: skip
    return d.DraftInput(**values)


def text_of(draft: d.Draft) -> str:
    return to_text(d.draft_to_document(draft))


def headings(draft: d.Draft, key: str) -> list[str]:
    return [p.heading for p in draft.section(key).paragraphs]


# -- words ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "words"),
    [(1, "一"), (9, "九"), (10, "十"), (11, "十一"), (19, "十九"), (20, "二十"), (21, "二十一"),
     (99, "九十九"), (100, "一百"), (101, "一百零一"), (110, "一百一十"), (1010, "一千零一十")],
)  # fmt: skip
def test_chinese_numbers(n: int, words: str) -> None:
    assert d.cn_number(n) == words


def test_ordinals_run_past_ten() -> None:
    assert [d.ordinal(n) for n in (1, 2, 10, 11, 12, 20)] == [
        "一是", "二是", "十是", "十一是", "十二是", "二十是"]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "words"),
    [("黔江区蓬东乡人民政府", "我乡"), ("某某县青禾镇人民政府", "我镇"),
     ("枫林街道办事处", "我街道"), ("某某区市场监督管理局", "我局"),
     ("某某区卫生健康委员会", "我委"), ("某某县人民政府", "我县"), ("某某市人民政府", "我市"),
     ("示例中心", "我单位")],
)  # fmt: skip
def test_the_unit_names_itself(name: str, words: str) -> None:
    assert d.self_reference(name) == words


def test_clause_text_is_one_line_without_full_stops_or_we() -> None:
    assert d.clause_text(" 我们已在蓬东社区\n开展宣传。发放资料；效果良好。\n") == (
        "在蓬东社区开展宣传，发放资料，效果良好"
    )
    assert d.clause_text("升级 Office 2016 版") == "升级Office 2016版"  # a space only between Latin


def test_addressee_and_name_block_come_from_the_source_report() -> None:
    seed = (FIXTURES / "seed-2021.txt").read_text(encoding="utf-8")
    title = parse_report(seed).title
    assert d.find_addressee(seed, title) == "区委、区政府："
    assert d.find_name_block(seed, title) == ("中共黔江区蓬东乡委员会", "黔江区蓬东乡人民政府")
    s01 = (FIXTURES / "s01.txt").read_text(encoding="utf-8")
    assert d.find_addressee(s01, parse_report(s01).title) == "县委、县政府："
    assert d.find_name_block(s01, parse_report(s01).title) == ()
    assert d.find_addressee("无标题", None) is None


# -- the parts ------------------------------------------------------------------------------


def test_title_addressee_opening_signature_and_date() -> None:
    draft = d.build_draft(data(task(1, 1), task(2, 2, OPEN), dated=date(2023, 1, 5),
                               name_block=("中共某乡委员会", "某乡人民政府")))  # fmt: skip
    assert draft.title == "关于2022年度法治政府建设情况的报告"
    assert draft.addressee == "区委、区政府："
    assert draft.opening.body == (
        "2022年，我乡在区委、区政府的坚强领导下，对照2021年度法治政府建设情况报告提出的3项"
        "工作打算，细化为2项任务推进落实，截至2022年12月20日已办结1项。现将有关情况报告如下："
    )
    assert draft.signature == ("中共某乡委员会", "某乡人民政府")
    assert draft.date_text == "2023年1月5日"
    plain = d.build_draft(data(addressee="县委、县政府："))
    assert plain.name_block == ("黔江区蓬东乡人民政府",) and plain.date_text == "2022年12月20日"
    assert "在县委、县政府的坚强领导下" in plain.opening.body


def test_one_paragraph_per_commitment_with_closed_tasks_in_report_order() -> None:
    draft = d.build_draft(data(
        task(5, 3, CLOSED, update(50, "制定重大行政决策程序规定")),
        task(1, 1, CLOSED, update(10, "开展宣传活动")),
        task(2, 2, OPEN, update(20, "化解积案")),
    ))  # fmt: skip
    assert headings(draft, d.WORK) == ["持续加大宣传力度", "持续推行科学决策"]
    assert [p.commitment_ids for p in draft.section(d.WORK).paragraphs] == [(1,), (3,)]
    assert draft.section(d.WORK).paragraphs[0].body == "开展宣传活动。"  # one clause: no 一是


def test_clauses_are_numbered_yi_shi_er_shi_past_ten() -> None:
    tasks = [task(i, 1, CLOSED, update(100 + i, f"完成第{i}项工作")) for i in range(1, 13)]
    body = d.build_draft(data(*tasks)).section(d.WORK).paragraphs[0].body
    assert body.startswith("一是完成第1项工作；二是完成第2项工作；")
    assert "十是完成第10项工作；十一是完成第11项工作；十二是完成第12项工作。" in body
    assert body.count("；") == 11 and body.endswith("。")


def test_a_clause_is_the_most_substantial_update_else_the_title() -> None:
    draft = d.build_draft(data(
        task(1, 1, CLOSED, update(10, "开展宣传", days=1),
             update(11, "在三个村开展宣传活动", days=0), update(12, "宣传活动已完成", days=2)),
        task(2, 1, CLOSED, title="编印普法手册"),
    ))  # fmt: skip
    paragraph = draft.section(d.WORK).paragraphs[0]
    assert paragraph.body == "一是在三个村开展宣传活动；二是编印普法手册。"
    assert paragraph.sentences[0].task_ids == (1,)
    assert paragraph.sentences[0].update_ids == (10, 11, 12)


def test_a_task_total_is_woven_into_its_clause_and_a_shared_total_closes_the_paragraph() -> None:
    draft = d.build_draft(data(
        task(1, 1, CLOSED, update(10, "在蓬东社区、石桥村开展集中普法宣传，发放资料1200份。",
                                  ("开展集中普法宣传", 5, "次"), ("发放宣传资料", 1200, "份"))),
        task(2, 1, CLOSED, update(20, "在官渡中学开展法治讲座。开展集中普法宣传7次",
                                  ("开展集中普法宣传", 7, "次"), ("受教育学生", 300, "人"))),
    ))  # fmt: skip
    body = draft.section(d.WORK).paragraphs[0].body
    assert body == (
        "一是在蓬东社区、石桥村开展集中普法宣传，发放宣传资料1200份；"
        "二是在官渡中学开展法治讲座，受教育学生300人。全年累计开展集中普法宣传12次。"
    )
    assert "7次" not in body and "5次" not in body and body.count("1200份") == 1


def test_a_woven_figure_joins_a_clause_that_ends_with_its_metric() -> None:
    draft = d.build_draft(data(task(1, 1, CLOSED, update(
        10, "在蓬东社区开展集中普法宣传", ("开展集中普法宣传", 5, "次")))))  # fmt: skip
    assert draft.section(d.WORK).paragraphs[0].body == "在蓬东社区开展集中普法宣传5次。"


def test_units_stay_apart_and_typing_differences_are_the_same_metric() -> None:
    draft = d.build_draft(data(
        task(1, 1, CLOSED, update(10, "甲", ("开展普法宣传", 2, "次"), ("开展普法宣传", 40, "人"))),
        task(2, 1, CLOSED, update(20, "乙", ("开展 普法宣传", 3, "次"))),
    ))  # fmt: skip
    paragraph = draft.section(d.WORK).paragraphs[0]
    assert paragraph.body == "一是甲，开展普法宣传40人；二是乙。全年累计开展普法宣传5次。"


# -- every closed task's outcome exactly once ---------------------------------------------------

METRICS = [("开展集中普法宣传", "次"), ("开展普法宣传", "人"), ("发放宣传资料", "份"),
           ("调解矛盾纠纷", "件"), ("培训执法人员", "人次"), ("满意度", "")]  # fmt: skip


def random_tasks(rng: random.Random, count: int) -> list[d.TaskInput]:
    tasks, next_update = [], 1
    for tid in range(1, count + 1):
        updates = []
        for _ in range(rng.randint(0, 4)):
            outcomes = [(*rng.choice(METRICS), rng.choice([1, 2, 3.5, 7, 12, 1200]))
                        for _ in range(rng.randint(0, 3))]  # fmt: skip
            stated = "，".join(f"{m}{v:g}{u}" for m, u, v in outcomes[:1])
            text = rng.choice(["开展工作", "我们已完成任务。", f"在村里开展活动，{stated}", ""])
            updates.append(update(next_update, text, *((m, v, u) for m, u, v in outcomes),
                                  days=rng.randint(0, 30)))  # fmt: skip
            next_update += 1
        status = rng.choice([CLOSED, CLOSED, OPEN, CANCELLED, "assigned", "submitted"])
        tasks.append(task(tid, rng.randint(1, 3), status, *updates,
                          deadline=TODAY + timedelta(days=rng.randint(-40, 40)),
                          closed_on=TODAY - timedelta(days=rng.randint(-5, 60))))  # fmt: skip
    return tasks


def assert_outcomes_once(tasks: list[d.TaskInput], draft: d.Draft) -> None:
    expected: dict[tuple[str, str], float] = defaultdict(float)
    rows = 0
    for t in tasks:
        if t.status == CLOSED:
            for u in t.updates:
                for o in u.outcomes:
                    expected[d._key(o.metric, o.unit)] += o.value
                    rows += 1
    stated: dict[tuple[str, str], float] = defaultdict(float)
    counted = 0
    document = text_of(draft)
    for section in draft.sections:
        for paragraph in section.paragraphs:
            for sentence in paragraph.sentences:
                for total in sentence.outcomes:
                    stated[d._key(total.metric, total.unit)] += total.value
                    counted += total.count
                    assert total.phrase in sentence.text
                    assert sentence.text in paragraph.body
    assert counted == rows  # every outcome row is counted once: none lost, none twice
    assert stated.keys() == expected.keys()
    for key, value in expected.items():
        assert stated[key] == pytest.approx(value)
    for paragraph in draft.section(d.WORK).paragraphs:
        phrases = [t.phrase for s in paragraph.sentences for t in s.outcomes]
        assert len(phrases) == len(set(phrases))
        for phrase in phrases:  # the text states each total once, and no part of it again
            assert paragraph.body.count(phrase) == 1, (phrase, paragraph.body)
            assert phrase in document


@pytest.mark.parametrize("seed", range(25))
def test_every_closed_outcome_appears_exactly_once(seed: int) -> None:
    tasks = random_tasks(random.Random(seed), 30)
    assert_outcomes_once(tasks, d.build_draft(data(*tasks)))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10**6),
    st.integers(1, 40),
    st.dictionaries(st.sampled_from([1, 2, 3]), st.sampled_from(["普法", "信访与决策", " "])),
)
def test_every_closed_outcome_appears_exactly_once_with_themes(seed, count, themes) -> None:
    tasks = random_tasks(random.Random(seed), count)
    assert_outcomes_once(tasks, d.build_draft(data(*tasks, themes=themes)))


def test_outcomes_of_open_and_cancelled_tasks_are_not_reported() -> None:
    draft = d.build_draft(data(
        task(1, 1, OPEN, update(10, "进行中", ("开展宣传", 9, "次"))),
        task(2, 1, CANCELLED, update(20, "撤销", ("开展宣传", 8, "次"))),
        task(3, 1, CLOSED, update(30, "完成", ("开展宣传", 1, "次"))),
    ))  # fmt: skip
    assert draft.section(d.WORK).paragraphs[0].body == "完成，开展宣传1次。"
    assert "9次" not in text_of(draft) and "8次" not in text_of(draft)


def test_closed_task_outcomes_in_an_unfinished_commitment_are_still_reported() -> None:
    closed = task(1, 2, CLOSED, update(10, "终结积案", ("终结信访事项", 2, "件")))
    draft = d.build_draft(data(closed, task(2, 2, OPEN)))
    assert headings(draft, d.WORK) == ["持续深化信访工作"]
    assert "持续深化信访工作" in headings(draft, d.PLANS)


# -- 存在问题 ---------------------------------------------------------------------------------


def test_a_problem_answered_by_closed_tasks_does_not_reappear() -> None:
    draft = d.build_draft(data(
        task(1, 1, CLOSED, update(10, "宣传")), task(2, 1, CANCELLED),  # answers problem 1
        task(3, 2, CLOSED), task(4, 2, OPEN, deadline=date(2023, 3, 1)),  # problem 2 stays
    ))  # fmt: skip
    problems = headings(draft, d.PROBLEMS)
    assert "普法宣传覆盖不够" not in problems
    assert problems == ["部分工作尚未完成", "信访积案化解较慢", "执法队伍素质有待提高"]
    assert [p.problem_ids for p in draft.section(d.PROBLEMS).paragraphs][1:] == [(2,), (3,)]
    assert "普法宣传覆盖不够" not in text_of(draft)


def test_a_problem_whose_commitment_was_only_cancelled_is_not_answered() -> None:
    draft = d.build_draft(data(task(1, 1, CANCELLED)))
    assert "普法宣传覆盖不够" in headings(draft, d.PROBLEMS)


def test_lagging_and_pending_tasks_are_grouped() -> None:
    overdue = [task(10 + i, 2, OPEN, title=f"化解积案{i}，逐件销号", deadline=date(2022, 12, 1))
               for i in range(6)]  # fmt: skip
    draft = d.build_draft(data(
        *overdue,
        task(2, 1, CLOSED, closed_on=date(2022, 12, 10), deadline=date(2022, 12, 1), title="宣传"),
        task(3, 3, "submitted", deadline=date(2022, 12, 31), title="决策制度"),
    ))  # fmt: skip
    lagging, pending = draft.section(d.PROBLEMS).paragraphs[:2]
    assert lagging.heading == "部分任务推进滞后" and pending.heading == "部分工作尚未完成"
    assert lagging.body == (
        "截至2022年12月20日，有6项任务超过时限仍未办结，主要是化解积案0（司法所）、化解积案1（司法所）、"
        "化解积案2（司法所）、化解积案3（司法所）、化解积案4（司法所）等6项。"
        "另有1项任务逾期后才办结，主要是宣传（司法所）。"
    )
    assert lagging.sentences[0].task_ids == tuple(range(10, 16))
    assert lagging.sentences[1].task_ids == (2,)
    assert (
        pending.body
        == "截至2022年12月20日，尚有1项任务正在办理、尚未办结，主要是决策制度（司法所）。"
    )


def test_last_years_problems_are_written_as_they_were() -> None:
    paragraph = d.build_draft(data()).section(d.PROBLEMS).paragraphs[0]
    assert (paragraph.heading, paragraph.body) == ("普法宣传覆盖不够", "群众知晓率不高。")


# -- 下一步打算 -------------------------------------------------------------------------------


def test_the_plans_are_the_unfinished_commitments_and_nothing_else() -> None:
    draft = d.build_draft(data(task(1, 1, CLOSED), task(2, 2, CLOSED), task(3, 2, OPEN)))
    plans = draft.section(d.PLANS).paragraphs
    assert [p.commitment_ids for p in plans] == [(2,), (3,)]  # 3 has no task: unfinished
    assert [(p.heading, p.body) for p in plans] == [
        ("持续深化信访工作", "规范信访秩序。"),
        ("持续推行科学决策", "推行重大行政决策制度。"),
    ]
    assert plans[0].sentences[0].task_ids == (3,)
    done = d.build_draft(data(task(1, 1), task(2, 2), task(3, 3)))
    assert done.section(d.PLANS).paragraphs == ()
    assert "三、下一步打算" in text_of(done)


def test_a_commitment_whose_lead_runs_into_its_text() -> None:
    commitment = d.CommitmentInput(
        1, "加强执法队伍建设", "加强执法队伍建设\n开展执法人员培训，\n年底前完成；"
    )
    draft = d.build_draft(data(commitments=(commitment,)))
    plan = draft.section(d.PLANS).paragraphs[0]
    assert (plan.heading, plan.body) == ("加强执法队伍建设", "开展执法人员培训，年底前完成。")


# -- themes ---------------------------------------------------------------------------------


def test_commitments_with_one_theme_share_a_paragraph() -> None:
    draft = d.build_draft(data(
        task(1, 1, CLOSED, update(10, "开展宣传", ("开展宣传", 2, "次"))),
        task(2, 2, CLOSED, update(20, "化解积案")),
        task(3, 3, CLOSED, update(30, "制定规则", ("开展宣传", 3, "次"))),
    themes={1: " 强化法治宣传 ", 3: "强化法治宣传", 2: ""}))  # fmt: skip
    work = draft.section(d.WORK).paragraphs
    assert [(p.heading, p.commitment_ids) for p in work] == [
        ("强化法治宣传", (1, 3)),
        ("持续深化信访工作", (2,)),
    ]
    assert work[0].body == "一是开展宣传；二是制定规则。全年累计开展宣传5次。"
    assert draft.themes == {1: "强化法治宣传", 3: "强化法治宣传"}


def test_commitments_with_the_same_lead_but_no_theme_stay_apart() -> None:
    same = (
        d.CommitmentInput(1, "加强宣传", "加强宣传。"),
        d.CommitmentInput(2, "加强宣传", "加强宣传。"),
    )
    draft = d.build_draft(data(task(1, 1), task(2, 2), commitments=same))
    assert headings(draft, d.WORK) == ["加强宣传", "加强宣传"]


def test_theme_checks() -> None:
    assert d.check_themes({1: "强化法治宣传"}) == []
    assert d.check_themes({1: "长" * 51}) == ["主题“长长长长长长长长长长长长…”过长（不超过50字）。"]
    assert d.normalise_themes({1: " 甲 \n", 2: "  "}) == {1: "甲"}


# -- the document ---------------------------------------------------------------------------


def test_the_document_in_the_official_layouts_terms() -> None:
    draft = d.build_draft(data(task(1, 1, CLOSED, update(10, "开展宣传")),
                               name_block=("中共某乡委员会", "某乡人民政府")))  # fmt: skip
    spec = d.draft_to_document(draft)
    kinds = [b.kind for b in spec.blocks()]
    assert kinds[:5] == [BlockKind.TITLE, BlockKind.TITLE, BlockKind.TITLE, BlockKind.ADDRESSEE,
                         BlockKind.BODY]  # fmt: skip
    assert kinds[-3:] == [BlockKind.SIGNATURE, BlockKind.SIGNATURE, BlockKind.DATE]
    assert [b.text for b in spec.blocks() if b.kind == BlockKind.HEADING1] == [
        "一、工作情况", "二、存在问题", "三、下一步打算"]  # fmt: skip
    first = next(b for b in spec.blocks() if b.kind == BlockKind.HEADING2)
    assert (first.text, first.tail) == ("（一）持续加大宣传力度。", "开展宣传。")
    assert spec.title == "关于2022年度法治政府建设情况的报告" and spec.author == "某乡人民政府"


def test_paragraphs_without_heading_are_not_numbered_and_lines_become_paragraphs() -> None:
    section = d.Section(d.PLANS, "下一步打算", (
        d.Paragraph("", "总体上，我们将："), d.Paragraph("加强宣传", "第一行\n第二行"),
        d.Paragraph("加强执法？", ""),
    ))  # fmt: skip
    blocks = d._section_blocks(section)
    assert [(b.kind, b.text, b.tail) for b in blocks] == [
        (BlockKind.BODY, "总体上，我们将：", ""),
        (BlockKind.HEADING2, "（一）加强宣传。", "第一行"),
        (BlockKind.BODY, "第二行", ""),
        (BlockKind.HEADING2, "（二）加强执法？", ""),
    ]


# -- JSON and edits -------------------------------------------------------------------------


def test_json_round_trip() -> None:
    tasks = random_tasks(random.Random(7), 20)
    draft = d.build_draft(data(*tasks, themes={1: "甲"}))
    assert d.draft_from_json(d.draft_to_json(draft)) == draft
    with pytest.raises(ValueError):
        d.draft_from_json({"year": "x"})


def edits(draft: d.Draft, **sections) -> d.DraftEdits:
    return d.DraftEdits(
        title=draft.title, name_block="\n".join(draft.name_block), addressee=draft.addressee,
        opening=draft.opening.body, signature="\n".join(draft.signature),
        date_text=draft.date_text, sections=sections,
    )  # fmt: skip


def test_edits_keep_sources_by_position_drop_empty_paragraphs_and_add_new_ones() -> None:
    draft = d.build_draft(data(task(1, 1, CLOSED, update(10, "开展宣传")), task(2, 2, OPEN)))
    work = draft.section(d.WORK).paragraphs[0]
    new = d.edit_draft(
        draft,
        edits(
            draft,
            work=[
                d.ParagraphEdit(" 强化宣传。", "全年开展宣传。\r\n\r\n  第二段  "),
                d.ParagraphEdit("新的一节", "新增内容"),
            ],
            problems=[d.ParagraphEdit("", ""), d.ParagraphEdit("信访积案化解较慢", "仍需努力。")],
        ),
    )
    paragraphs = new.section(d.WORK).paragraphs
    assert (paragraphs[0].heading, paragraphs[0].body) == ("强化宣传", "全年开展宣传。\n第二段")
    assert paragraphs[0].sentences == work.sentences and paragraphs[0].commitment_ids == (1,)
    assert paragraphs[1] == d.Paragraph("新的一节", "新增内容")
    problems = new.section(d.PROBLEMS).paragraphs
    assert [p.heading for p in problems] == ["信访积案化解较慢"]
    assert problems[0].problem_ids == draft.section(d.PROBLEMS).paragraphs[1].problem_ids
    assert new.section(d.PLANS) == draft.section(d.PLANS)  # not in the form: unchanged
    assert d.check_draft(new) == []


def test_edit_checks_speak_chinese() -> None:
    draft = d.build_draft(data(task(1, 1, CLOSED)))
    bad = d.edit_draft(draft, d.DraftEdits(
        title=" ", name_block="\n".join("甲" * 6), addressee="区" * 101, opening="开" * 20_001,
        signature="乙" * 101, date_text="2" * 31,
        sections={d.WORK: [d.ParagraphEdit("题" * 201, "文" * 20_001)]},
    ))  # fmt: skip
    assert d.check_draft(bad) == [
        "请填写报告标题。", "主送机关不超过100字。", "单位名称不超过5行。",
        "落款单位每行不超过100字。", "成文日期不超过30字。", "开头段落不超过20000字。",
        "“一、工作情况”第1段的标题过长（不超过200字）。",
        "“一、工作情况”第1段的正文过长（不超过20000字）。",
    ]  # fmt: skip
    assert d.edit_draft(draft, edits(draft)).addressee == "区委、区政府："
    fixed = d.edit_draft(draft, d.DraftEdits("标题", "", "县委、县政府:", "", "", "", {}))
    assert fixed.addressee == "县委、县政府：" and fixed.signature == ()


def test_control_characters_are_removed_from_edits() -> None:
    draft = d.build_draft(data())
    new = d.edit_draft(draft, edits(draft, work=[d.ParagraphEdit("标\x00题", "正\x07文\t内容")]))
    assert (new.section(d.WORK).paragraphs[0].heading, new.section(d.WORK).paragraphs[0].body) == (
        "标题", "正文 内容")  # fmt: skip


# -- the round trip through the report parser ---------------------------------------------------


def source_of(path: Path) -> tuple[d.DraftInput, list[d.TaskInput]]:
    """A report fixture as the source report, its commitments tracked with seeded tasks."""
    parsed = parse_report(path.read_text(encoding="utf-8"))
    rng = random.Random(path.name)
    problems = tuple(d.ProblemInput(i + 1, p.lead, p.text) for i, p in enumerate(parsed.problems))
    commitments = tuple(
        d.CommitmentInput(i + 1, p.lead, p.text,
                          tuple(rng.sample(range(1, len(problems) + 1), k=min(1, len(problems)))))
        for i, p in enumerate(parsed.plans)
    )  # fmt: skip
    tasks = [t for t in random_tasks(rng, 3 * len(commitments))
             if t.commitment_id <= len(commitments)]  # fmt: skip
    year = (parsed.year or 2021) + 1
    source = d.DraftInput(
        year=year, unit_name=parsed.unit or "某单位", problems=problems, commitments=commitments,
        tasks=tuple(tasks), today=date(year, 12, 20),
        name_block=d.find_name_block(parsed.text, parsed.title),
        addressee=d.find_addressee(parsed.text, parsed.title) or d.DEFAULT_ADDRESSEE,
    )  # fmt: skip
    return source, tasks


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.txt")), ids=lambda p: p.stem)
def test_the_draft_reads_back_as_the_same_sections_and_commitments(path: Path) -> None:
    source, _ = source_of(path)
    draft = d.build_draft(source)
    parsed = parse_report(text_of(draft))
    assert parsed.title == draft.title and parsed.year == source.year
    assert parsed.unit == source.unit_name or parsed.unit in draft.name_block
    plans = draft.section(d.PLANS).paragraphs
    if plans:
        assert parsed.plan_heading == "三、下一步打算"
        assert [p.lead for p in parsed.plans] == [p.heading for p in plans]
        assert [compact(p.text) for p in parsed.plans] == [
            compact(d.heading_text(1, p.heading)[3:] + p.body) for p in plans
        ]
        unfinished = d.fulfilled_commitments(source.tasks)
        assert [p.commitment_ids[0] for p in plans] == [
            c.id for c in source.commitments if c.id not in unfinished
        ]
    assert [p.lead for p in parsed.problems] == headings(draft, d.PROBLEMS)
    # The parser counts a 工作情况 with fewer than two （一） paragraphs as one section.
    assert len(parsed.achievements) == max(1, len(draft.section(d.WORK).paragraphs))
    assert not [w for w in parsed.warnings if "标题" in w or "年度" in w]


def test_a_stated_figure_is_its_number_and_unit_or_its_metric_and_number() -> None:
    items = [
        ("办理", 5, "件"),
        ("满意度", 98, ""),
        ("发放宣传资料", 1200, "份"),
        ("覆盖率", 2.5, "%"),
    ]
    figures = d._figures([OutcomeItem(*item) for item in items])
    clause = "全年办理15件，满意度达98，发放资料1200 份，覆盖率提高2.5%，5.5件，满意度98.5"
    assert d._drop_stated(clause, figures) == "全年办理15件，5.5件，满意度98.5"
    assert d._drop_stated(clause, {}) == clause
