"""The report parser against the gold fixtures, and one test per general rule.

The rule tests use small reports written here, worded unlike the fixtures, so that they check
the rule and not a fixture's sentences.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from app.core.report_parser import NO_PLAN_WARNING, parse_report
from app.core.report_types import ParsedReport, ParseError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
GOLD_FILES = sorted(FIXTURES.glob("*.json"))


def squash(value: str | None) -> str | None:
    return None if value is None else re.sub(r"\s+", "", value)


def report(*lines: str) -> ParsedReport:
    return parse_report("\n".join(lines))


def plans_of(parsed: ParsedReport) -> list[tuple[str, str]]:
    return [(p.marker, p.lead) for p in parsed.plans]


# --- gold fixtures ------------------------------------------------------------------------


def test_there_are_fixtures() -> None:
    assert len(GOLD_FILES) >= 13


@pytest.fixture(params=GOLD_FILES, ids=lambda p: p.stem)
def gold_case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], ParsedReport]:
    path: Path = request.param
    gold = json.loads(path.read_text(encoding="utf-8"))
    parsed = parse_report(path.with_suffix(".txt").read_text(encoding="utf-8"))
    return gold, parsed


def test_report_fields_match_gold(gold_case: tuple[dict[str, Any], ParsedReport]) -> None:
    gold, parsed = gold_case
    assert parsed.title == gold["title"], "title"
    assert parsed.unit == gold["unit"], "unit"
    assert parsed.year == gold["year"], "year"
    assert parsed.plan_heading == gold["plan_heading"], "plan_heading"


def test_sections_match_gold(gold_case: tuple[dict[str, Any], ParsedReport]) -> None:
    gold, parsed = gold_case
    sections = parsed.to_json()["sections"]
    assert sections["achievements"] == gold["sections"]["achievements"], "achievements count"
    assert sections["problems"] == gold["sections"]["problems"], "problem leads"


def test_plans_match_gold(gold_case: tuple[dict[str, Any], ParsedReport]) -> None:
    gold, parsed = gold_case
    expected = gold["sections"]["plans"]
    assert len(parsed.plans) == len(expected), [p.lead for p in parsed.plans]
    for n, (want, got) in enumerate(zip(expected, parsed.plans, strict=True), start=1):
        where = f"plan {n} ({want['lead']})"
        assert got.marker == want["marker"], f"{where}: marker"
        assert got.text == want["text"], f"{where}: text"
        assert squash(got.lead) == squash(want["lead"]), f"{where}: lead"
        assert squash(got.time_phrase) == squash(want["time_phrase"]), f"{where}: time_phrase"
        assert squash(got.office) == squash(want["office"]), f"{where}: office"


def test_offsets_slice_the_items(gold_case: tuple[dict[str, Any], ParsedReport]) -> None:
    _, parsed = gold_case
    for item in (*parsed.plans, *parsed.problems):
        assert parsed.text[item.start : item.end] == item.text


def test_no_plan_section_gives_a_warning_not_an_error() -> None:
    parsed = parse_report((FIXTURES / "s06.txt").read_text(encoding="utf-8"))
    assert parsed.plans == ()
    assert parsed.plan_heading is None
    assert parsed.warnings[0] == NO_PLAN_WARNING


def test_to_json_is_json_serialisable() -> None:
    parsed = parse_report((FIXTURES / "seed-2021.txt").read_text(encoding="utf-8"))
    json.dumps(parsed.to_json(), ensure_ascii=False)


# --- input handling -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\r\n\t　\n"])
def test_empty_input_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_report(text)
    assert caught.value.message == "文件内容为空。"


@pytest.mark.parametrize("text", ["hello world", "1. 2. 3.\n(1) (2)", "%PDF-1.4 \x00\x01"])
def test_text_without_chinese_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_report(text)
    assert re.search(r"[\u4e00-\u9fff]", caught.value.message)


def test_line_endings_and_bom_are_normalised_and_offsets_follow() -> None:
    text = (
        "\ufeff某区2022年法治报告\r\n一、工作\r\n开展培训。\r\n"
        "二、下一步打算\r\n一是加强学习；\r二是严格执法。\r\n"
    )
    parsed = parse_report(text)
    assert "\r" not in parsed.text and not parsed.text.startswith("\ufeff")
    assert [p.text for p in parsed.plans] == ["加强学习", "严格执法。"]
    for p in parsed.plans:
        assert parsed.text[p.start : p.end] == p.text


def test_chinese_text_without_structure_parses_with_warnings() -> None:
    parsed = parse_report("今天天气很好。")
    assert parsed.plans == () and NO_PLAN_WARNING in parsed.warnings


# --- plan section headings ----------------------------------------------------------------


@pytest.mark.parametrize(
    "heading",
    [
        "三、下一步打算",
        "三、下一步工作计划",
        "三、下步工作安排",
        "三、2024年工作思路",
        "三、2024年工作打算",
        "三、下一步工作思路",
        "三、今后工作打算",
        "三、下一阶段工作重点",
        "三、下一年度推进法治政府建设的主要安排",
        "三、2024年推进法治政府建设的主要安排",
        "三.下一步打算",
        "第三部分 下一步工作打算",
        "下一步工作打算",
        "【下一步打算】",
    ],
)
def test_plan_heading_variants(heading: str) -> None:
    parsed = report(
        "某某镇2023年度法治政府建设情况报告",
        "一、主要工作",
        "（一）加强学习。组织学法6次。",
        "二、存在问题",
        "一是宣传不够；二是队伍偏弱。",
        heading,
        "一是深化普法宣传，年底前建成法治广场；二是加强队伍建设。",
    )
    assert parsed.plan_heading == heading
    assert plans_of(parsed) == [("一是", "深化普法宣传"), ("二是", "加强队伍建设")]


def test_a_heading_naming_the_reported_year_is_not_the_plan_section() -> None:
    parsed = report(
        "某某局2023年法治政府建设情况报告",
        "一、2023年推进法治政府建设的主要举措和成效",
        "（一）健全制度。出台制度3项。",
        "二、2024年推进法治政府建设的主要安排",
        "（一）完善制度体系。年底前完成制度清理。",
    )
    assert parsed.plan_heading == "二、2024年推进法治政府建设的主要安排"
    assert len(parsed.achievements) == 1
    assert parsed.year == 2023


def test_plan_heading_carrying_its_items_on_the_same_line() -> None:
    parsed = report(
        "某某县2022年度法治政府建设报告",
        "一、工作情况",
        "全年办理案件30件。",
        "二、存在问题：一是经费紧张；二是人手不足。",
        "三、下一步打算：一是争取经费，年内落实专项经费；二是充实人员。",
    )
    assert parsed.plan_heading == "三、下一步打算"
    assert plans_of(parsed) == [("一是", "争取经费"), ("二是", "充实人员")]
    assert [p.lead for p in parsed.problems] == ["经费紧张", "人手不足"]


def test_nested_plan_heading_in_a_combined_section() -> None:
    parsed = report(
        "某某乡2021年法治政府建设工作报告",
        "一、工作情况",
        "（一）依法决策。审查合同8份。",
        "（二）依法行政。办理许可30件。",
        "二、存在的问题和下一步工作打算",
        "（一）存在的问题",
        "1．村干部法律素养偏低。",
        "2．执法文书不规范。",
        "（二）下一步工作打算",
        "1．开展村干部轮训，第二季度完成。",
        "2．规范执法文书，由乡综合执法队负责。",
        "（三）其他",
        "无。",
    )
    assert parsed.plan_heading == "（二）下一步工作打算"
    assert plans_of(parsed) == [("1．", "开展村干部轮训"), ("2．", "规范执法文书")]
    assert [p.lead for p in parsed.problems] == ["村干部法律素养偏低", "执法文书不规范"]
    assert parsed.plans[0].time_phrase == "第二季度"
    assert parsed.plans[1].office == "乡综合执法队"
    assert parsed.plans[1].text == "规范执法文书，由乡综合执法队负责。"


def test_combined_section_without_subheadings_splits_at_the_turn_to_the_future() -> None:
    parsed = report(
        "某某街道2020年法治政府建设情况报告",
        "一、工作开展情况",
        "（一）学法。集中学法4次。",
        "二、存在问题及下一步打算",
        "目前仍存在以下问题：一是居民法治意识不强；二是调解力量薄弱。",
        "下一步，我街道将：一是开展普法进社区活动；二是壮大调解员队伍，年底前新增调解员10名。",
    )
    assert parsed.plan_heading == "二、存在问题及下一步打算"
    assert [p.lead for p in parsed.problems] == ["居民法治意识不强", "调解力量薄弱"]
    assert plans_of(parsed) == [("一是", "开展普法进社区活动"), ("二是", "壮大调解员队伍")]


# --- item formats -------------------------------------------------------------------------

HEAD = ("某某县水利局2022年度法治政府建设情况报告", "一、主要工作", "全年开展执法检查40次。")


def test_items_numbered_1_dun() -> None:
    parsed = report(
        *HEAD,
        "二、下一步工作计划",
        "1、完善河湖执法机制，年底前出台联合执法办法。",
        "2、加强水法宣传，牵头股室：政策法规股。",
    )
    assert plans_of(parsed) == [("1、", "完善河湖执法机制"), ("2、", "加强水法宣传")]
    assert parsed.plans[1].office == "政策法规股"


def test_items_numbered_in_parentheses_with_half_width_separators() -> None:
    parsed = report(
        *HEAD,
        "二、下一步打算",
        "(1)推进取水许可规范化.9月底前完成存量许可复核;",
        "(2)强化河道采砂监管.责任单位:水政监察大队;",
        "（3）提升普法实效。",
    )
    assert plans_of(parsed) == [
        ("(1)", "推进取水许可规范化"),
        ("(2)", "强化河道采砂监管"),
        ("（3）", "提升普法实效"),
    ]
    assert parsed.plans[0].text == "推进取水许可规范化.9月底前完成存量许可复核"
    assert parsed.plans[0].time_phrase == "9月底前"
    assert parsed.plans[1].office == "水政监察大队"


def test_items_numbered_di_yi_keep_the_comma_in_the_marker() -> None:
    parsed = report(
        *HEAD,
        "二、2023年工作思路",
        "2023年，我局将着力抓好以下工作：",
        "第一，健全依法决策机制，推行重大事项合法性审查全覆盖。",
        "第二，深化执法规范化建设，上半年完成执法案卷评查。",
    )
    assert plans_of(parsed) == [("第一，", "健全依法决策机制"), ("第二，", "深化执法规范化建设")]
    assert parsed.plans[1].time_phrase == "上半年"


def test_inline_items_separated_by_semicolons_and_full_stops() -> None:
    parsed = report(
        *HEAD,
        "二、下一步打算",
        "一是推进水行政执法改革；二是抓好普法。三是：健全监督机制，由局法规股具体负责。",
    )
    assert [p.marker for p in parsed.plans] == ["一是", "二是", "三是："]
    assert [p.text for p in parsed.plans] == [
        "推进水行政执法改革",
        "抓好普法。",
        "健全监督机制，由局法规股具体负责。",
    ]
    assert parsed.plans[2].office == "局法规股"


def test_yi_yao_markers() -> None:
    parsed = report(*HEAD, "二、下一步打算", "一要强化学习，二要严格执法。")
    assert plans_of(parsed) == [("一要", "强化学习"), ("二要", "严格执法")]
    assert parsed.plans[0].text == "强化学习"


def test_lead_on_its_own_line_keeps_the_line_break_in_text() -> None:
    parsed = report(
        *HEAD,
        "二、下一步打算",
        "（一）推进执法数字化",
        "上线移动执法终端，10月底前实现执法全过程记录。",
        "（二）健全普法机制",
        "落实普法责任清单。",
    )
    assert plans_of(parsed) == [("（一）", "推进执法数字化"), ("（二）", "健全普法机制")]
    assert parsed.plans[0].text == "推进执法数字化\n上线移动执法终端，10月底前实现执法全过程记录。"
    assert parsed.plans[0].time_phrase == "10月底前"


def test_marker_alone_at_the_end_of_a_line_is_not_in_text() -> None:
    parsed = report(*HEAD, "二、下一步打算", "一是", "加强队伍建设。", "二是", "完善制度。")
    assert [p.text for p in parsed.plans] == ["加强队伍建设。", "完善制度。"]


def test_unnumbered_paragraphs_with_a_lead_phrase() -> None:
    parsed = report(
        *HEAD,
        "二、下一步工作思路",
        "下一步，我局将重点做好以下工作。",
        "夯实执法基础：配齐执法装备，上半年完成执法车辆更新。",
        "创新普法载体。制作水法微视频，在汛期前集中投放。",
        "总之，我局将持续推进法治政府建设。",
    )
    assert plans_of(parsed) == [("", "夯实执法基础"), ("", "创新普法载体")]
    assert parsed.plans[1].time_phrase == "汛期前"


def test_lead_paragraphs_keep_their_plain_continuation_paragraphs() -> None:
    parsed = report(
        *HEAD,
        "二、下一步打算",
        "健全监管机制。完善智能监控规则。",
        "同时，上半年开展一次专项检查。",
        "深化普法宣传。开展政策进社区活动。",
    )
    assert plans_of(parsed) == [("", "健全监管机制"), ("", "深化普法宣传")]
    assert parsed.plans[0].text.endswith("同时，上半年开展一次专项检查。")
    assert parsed.plans[0].time_phrase == "上半年"


def test_dash_bullets() -> None:
    parsed = report(*HEAD, "二、下一步打算", "——加强执法培训；", "——完善制度。")
    assert plans_of(parsed) == [("——", "加强执法培训"), ("——", "完善制度")]


def test_sub_points_stay_inside_their_commitment() -> None:
    parsed = report(
        *HEAD,
        "二、下一步打算",
        "（一）加强队伍建设。一是开展轮训；二是充实人员。",
        "（二）完善制度。",
    )
    assert [p.marker for p in parsed.plans] == ["（一）", "（二）"]
    assert parsed.plans[0].text == "加强队伍建设。一是开展轮训；二是充实人员。"


def test_hard_wrapped_text_keeps_line_breaks_and_joins_phrases() -> None:
    parsed = report(
        "某某镇2022年法治政府建设工作报告",
        "一、工作成效",
        "（一）普法宣传深入开展。全年开展普法活动二十余次，覆盖",
        "全镇各村，群众法治意识明显增强，社会治理水平持续提升。",
        "二、下一步工作打算",
        "一是健全矛盾纠纷多元化解机制。推进镇村两级调解组织建设，9月",
        "底前完成村级调解室规范化改造，推动矛盾纠纷就地化解落实。",
        "二是加强法治宣传教育工作力度。结合农村实际开展送法下乡，",
        "由镇司法所牵头负责组织实施，每月至少开展一次法治宣传。",
        "某某镇人民政府",
        "2023年1月6日",
    )
    assert plans_of(parsed) == [
        ("一是", "健全矛盾纠纷多元化解机制"),
        ("二是", "加强法治宣传教育工作力度"),
    ]
    assert "\n" in parsed.plans[0].text and parsed.plans[0].text.endswith("落实。")
    assert parsed.plans[0].time_phrase == "9月底前"
    assert parsed.plans[1].office == "镇司法所"
    assert parsed.plans[1].text.endswith("宣传。"), "the signature is not part of the item"


# --- what follows the plan section --------------------------------------------------------


def test_following_section_signature_and_furniture_are_not_swallowed() -> None:
    parsed = report(
        *HEAD,
        "二、下一步打算",
        "1.完善执法制度。",
        "2.加强普法宣传。",
        "三、其他需要报告的情况",
        "本年度无其他事项。",
        "特此报告。",
        "某某县水利局",
        "2023年2月1日",
        "【打印本页】【关闭窗口】",
        "分享到：微信",
    )
    assert [p.text for p in parsed.plans] == ["完善执法制度。", "加强普法宣传。"]


def test_closing_remark_after_the_list_is_not_part_of_the_last_commitment() -> None:
    parsed = report(
        *HEAD,
        "二、下一步打算",
        "1.完善执法制度，年底前修订完成。",
        "2.加强普法宣传，丰富宣传形式。",
        "我们将以更加务实的作风，推动法治政府建设再上新台阶。",
    )
    assert parsed.plans[-1].text == "加强普法宣传，丰富宣传形式。"


def test_a_note_line_after_the_last_commitment_belongs_to_it() -> None:
    parsed = report(
        *HEAD, "二、下一步打算", "1.完善执法制度。", "2.加强普法宣传。", "（牵头科室：办公室）"
    )
    assert parsed.plans[-1].text == "加强普法宣传。\n（牵头科室：办公室）"
    assert parsed.plans[-1].office == "办公室"


# --- title, unit, year --------------------------------------------------------------------


def test_title_unit_year_after_web_furniture_and_a_cover_letter() -> None:
    parsed = report(
        "您现在的位置：首页 > 政务公开 > 法治政府建设",
        "发布时间：2024-02-20　来源：某某县人民政府",
        "某某县林业局关于报送2023年度法治政府建设情况报告的函",
        "县委依法治县办：",
        "现将我局报告随文报送。",
        "某某县林业局",
        "2024年2月18日",
        "某某县林业局2023年度法治政府建设情况报告",
        "一、主要工作",
        "（一）林业执法。查处案件12起。",
        "二、下一步打算",
        "一是加强执法。",
    )
    assert parsed.title == "某某县林业局2023年度法治政府建设情况报告"
    assert parsed.unit == "某某县林业局"
    assert parsed.year == 2023


def test_title_on_several_lines_and_joint_party_government_unit() -> None:
    parsed = report(
        "中共某某镇委员会",
        "某某镇人民政府",
        "关于2020年度法治政府建设情况的报告",
        "一、工作情况",
        "（一）学法。学法5次。",
    )
    assert parsed.title == "关于2020年度法治政府建设情况的报告"
    assert parsed.unit == "某某镇人民政府"
    assert parsed.year == 2020


def test_title_split_mid_phrase_is_joined() -> None:
    parsed = report(
        "某某县人民政府关于2019年度法治政府", "建设情况的报告", "一、工作情况", "学法。"
    )
    assert parsed.title == "某某县人民政府关于2019年度法治政府建设情况的报告"
    assert parsed.unit == "某某县人民政府"


def test_a_forwarding_title_gives_way_to_the_report_title() -> None:
    parsed = report(
        "某某县统计局关于报送2021年度法治政府建设情况的报告",
        "县依法治县办：",
        "现将我局报告报送如下。",
        "某某县统计局2021年度法治政府建设情况报告",
        "一、主要工作",
        "统计执法。",
    )
    assert parsed.title == "某某县统计局2021年度法治政府建设情况报告"


def test_joint_signature_gives_the_government_as_unit() -> None:
    parsed = report(
        "某某镇2022年法治政府建设工作情况报告",
        "一、工作情况",
        "普法。",
        "中共某某镇委员会",
        "某某镇人民政府",
        "2023年1月9日",
    )
    assert parsed.unit == "某某镇人民政府"


def test_file_name_line_counts_without_extension() -> None:
    parsed = report("某某乡2021年法治政府建设情况报告.docx", "一、工作情况", "学法。")
    assert parsed.title == "某某乡2021年法治政府建设情况报告"


def test_unit_is_widened_to_the_fullest_printed_form() -> None:
    parsed = report(
        "[ 发布机构 ] 某某市某某县花溪镇人民政府",
        "花溪镇2022年法治政府建设情况报告",
        "一、工作情况",
        "学法。",
        "花溪镇人民政府",
        "2023年1月5日",
    )
    assert parsed.unit == "某某市某某县花溪镇人民政府"


def test_unit_is_widened_from_the_title_block_and_a_closing_signature() -> None:
    above = report(
        "某某市某某县石渠镇人民政府", "石渠镇2024年法治政府建设情况报告", "一、工作", "学法。"
    )
    assert above.unit == "某某市某某县石渠镇人民政府"
    below = report("云岭乡2020年法治政府建设情况报告", "一、工作", "学法。", "云岭乡人民政府")
    assert below.unit == "云岭乡人民政府"


def test_year_is_the_year_reported_on_not_the_plan_year() -> None:
    parsed = report(
        "法治政府建设年度报告",
        "2021年，我局认真贯彻落实法治政府建设部署。",
        "一、工作情况",
        "学法。",
        "二、2022年工作打算",
        "一是加强学习。",
    )
    assert parsed.year == 2021


def test_chinese_numeral_year_in_title() -> None:
    parsed = report("二〇二二年度某某街道法治政府建设情况报告", "一、工作情况", "学法。")
    assert parsed.year == 2022
    assert parsed.unit == "某某街道"


# --- problems -----------------------------------------------------------------------------


def test_problems_as_one_paragraph_split_at_semicolons_after_a_lead_in() -> None:
    parsed = report(
        *HEAD,
        "二、存在的不足",
        "对照要求，仍存在以下不足：执法人员偏少，年龄偏大；信息化水平不高。",
    )
    assert [p.lead for p in parsed.problems] == ["执法人员偏少", "信息化水平不高"]


def test_problems_as_one_sentence_split_at_commas() -> None:
    parsed = report(*HEAD, "二、存在问题", "执法力量不足，宣传覆盖不广，制度执行不严。")
    assert [p.lead for p in parsed.problems] == ["执法力量不足", "宣传覆盖不广", "制度执行不严"]


def test_problems_numbered_with_bodies() -> None:
    parsed = report(
        *HEAD,
        "二、困难和问题",
        "（一）基层力量薄弱",
        "乡镇执法人员少。",
        "（二）经费保障不足。部分项目无法推进。",
        "三、下一步打算",
        "一是充实力量。",
    )
    assert [p.lead for p in parsed.problems] == ["基层力量薄弱", "经费保障不足"]
    assert [p.marker for p in parsed.problems] == ["（一）", "（二）"]
    for p in parsed.problems:
        assert parsed.text[p.start : p.end] == p.text


# --- achievements -------------------------------------------------------------------------


def test_achievement_subsections_are_counted_with_their_items_and_facts() -> None:
    parsed = report(
        "某某镇2022年法治政府建设情况报告",
        "一、主要做法和成效",
        "（一）抓实普法。一是开展送法下乡12场次；二是发放资料3000余份。",
        "（二）化解纠纷。全年受理纠纷58件，调解成功率达97.5%。",
        "二、存在问题",
        "宣传不够。",
    )
    assert len(parsed.achievements) == 2
    first, second = parsed.achievements
    assert first.marker == "（一）" and first.heading == "抓实普法"
    assert [i.marker for i in first.items] == ["一是", "二是"]
    assert [(f.metric, f.value, f.unit) for f in first.items[1].facts] == [("发放资料", 3000, "份")]
    assert [(f.metric, f.value, f.unit) for f in second.facts] == [
        ("受理纠纷", 58, "件"),
        ("调解成功率", 97.5, "%"),
    ]


def test_thematic_top_level_sections_are_the_achievement_units() -> None:
    parsed = report(
        "某某市人民政府关于2016年法治政府建设情况的报告",
        "一、依法全面履行政府职能",
        "取消行政审批事项20项。",
        "二、加强制度建设",
        "制定规章2件。",
        "三、党政主要负责人履行推进法治建设第一责任人职责情况",
        "带头学法。",
        "四、存在的问题",
        "执法不规范。",
        "五、2017年工作安排",
        "（一）深化改革。",
    )
    assert [s.heading for s in parsed.achievements] == ["依法全面履行政府职能", "加强制度建设"]
    assert parsed.plan_heading == "五、2017年工作安排"


def test_an_overview_section_is_not_an_achievement_unit() -> None:
    parsed = report(
        "某某区2021年法治政府建设情况报告",
        "一、基本情况",
        "我区共有执法部门20个。",
        "二、主要做法和成效",
        "（一）健全制度。出台制度3项。",
        "（二）严格执法。查处案件40件。",
        "（三）深化普法。开展活动30场。",
        "三、下一步打算",
        "一是完善制度。",
    )
    assert len(parsed.achievements) == 3


# --- fields -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("年底前完成清理", "年底前"),
        ("2024年6月底前完成", "2024年6月底前"),
        ("力争2023年内建成", "2023年内"),
        ("下半年组织一次考试", "下半年"),
        ("第四季度开展评查", "第四季度"),
        ("11月30日前报送", "11月30日前"),
        ("利用暑期开展活动", "暑期"),
        ("完成时限：全年", "全年"),
        ("每季度开展一次，年底前总结", "年底前"),
        ("每月检查一次", None),
        ("每半年通报一次", None),
        ("完成时限：长期", None),
        ("持续推进", None),
        ("3月底前起草，6月底前印发", "3月底前"),
    ],
)
def test_time_phrase(sentence: str, expected: str | None) -> None:
    parsed = report(*HEAD, "二、下一步打算", f"一是推进工作，{sentence}。")
    assert parsed.plans[0].time_phrase == expected


def test_time_phrase_broken_by_a_line_break_is_joined() -> None:
    parsed = report(*HEAD, "二、下一步打算", "一是完善制度，力争6", "月底前印发。")
    assert parsed.plans[0].time_phrase == "6月底前"


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("牵头单位：县司法局；配合单位：各乡镇", "县司法局"),
        ("（责任科室：法制科、执法大队）", "法制科、执法大队"),
        ("由县市场监管局牵头", "县市场监管局"),
        ("由综合执法办具体负责", "综合执法办"),
        ("由办公室组织实施", "办公室"),
        ("（司法所牵头，各村配合）", "司法所"),
        ("配合单位：各村", None),
        ("由各站所负责人组成专班", None),
        ("县司法局牵头，各乡镇配合", "县司法局"),
        ("责任部门:党政办", "党政办"),
    ],
)
def test_office(sentence: str, expected: str | None) -> None:
    parsed = report(*HEAD, "二、下一步打算", f"一是推进工作，完善机制。{sentence}")
    assert parsed.plans[0].office == expected


def test_measures_are_the_sentences_after_the_lead() -> None:
    parsed = report(
        *HEAD,
        "二、下一步打算",
        "一是强化执法监督。建立执法案卷评查制度；年底前完成\n全部案卷评查。（牵头科室：法规科）",
    )
    assert parsed.plans[0].measures == ("建立执法案卷评查制度", "年底前完成全部案卷评查")


def test_measures_leave_out_office_notes() -> None:
    parsed = report(*HEAD, "二、下一步打算", "(1)盘活宣传阵地.开展常态化普法,责任单位:镇司法所;")
    assert parsed.plans[0].measures == ("开展常态化普法",)
    assert parsed.plans[0].office == "镇司法所"


def test_measures_after_a_comma_lead() -> None:
    parsed = report(*HEAD, "二、下一步打算", "1、加强培训，每半年组织一次专题培训。")
    assert parsed.plans[0].measures == ("每半年组织一次专题培训",)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("今年以来有效调处化解矛盾纠纷209件", ("调处化解矛盾纠纷", 209, "件")),
        ("矛盾纠纷调解成功率达99%", ("矛盾纠纷调解成功率", 99, "%")),
        ("聘请法律顾问1名", ("聘请法律顾问", 1, "名")),
        ("召开恳谈会60余场次", ("召开恳谈会", 60, "场次")),
        ("规范执法247件（家）次", ("规范执法", 247, "件（家）次")),
        ("全年组织培训4次", ("组织培训", 4, "次")),
        ("罚没款412.6万元", ("罚没款", 412.6, "万元")),
    ],
)
def test_facts(sentence: str, expected: tuple[str, float, str]) -> None:
    parsed = report("某镇2022年法治报告", "一、工作情况", "（一）工作。" + sentence + "。")
    facts = parsed.achievements[0].facts
    assert [(f.metric, f.value, f.unit) for f in facts] == [expected]
    assert sentence.endswith(facts[0].text)


def test_years_and_dates_are_not_facts() -> None:
    parsed = report("某镇2022年法治报告", "一、工作情况", "（一）工作。2022年3月起开展第2轮评查。")
    assert parsed.achievements[0].facts == ()


# --- robustness ---------------------------------------------------------------------------


def test_parsing_is_deterministic_and_stable_on_its_own_text() -> None:
    text = (FIXTURES / "s10.txt").read_text(encoding="utf-8")
    first = parse_report(text)
    assert parse_report(text) == first
    assert parse_report(first.text) == first


MEGABYTE = 1_000_000


def to_a_megabyte(unit: str) -> str:
    """UNIT repeated to 1 MB of UTF-8 (the size of the file a user would upload)."""
    return unit * (MEGABYTE // len(unit.encode("utf-8")) + 1)


def _megabyte_inputs() -> dict[str, str]:
    seed = (FIXTURES / "seed-2021.txt").read_text(encoding="utf-8")
    wrapped = (FIXTURES / "s07.txt").read_text(encoding="utf-8")
    plan_at = seed.index("三、下一步打算")
    return {
        "report repeated": to_a_megabyte(seed),
        "report padded": seed[:plan_at] + to_a_megabyte("一是加强。") + seed[plan_at:],
        "plan padded": seed + to_a_megabyte("一是加强学习，年底前完成；"),
        "hard-wrapped repeated": to_a_megabyte(wrapped),
        "yi shi": "一是" * 100_000,
        "yi shi in a plan": "三、下一步打算\n" + to_a_megabyte("一是"),
        "parentheses": to_a_megabyte("（一）"),
        "paragraph markers": to_a_megabyte("（一）加强\n（二）推进\n"),
        "full stops": "。" * 500_000,
        "full stops in a plan": "三、下一步打算\n一是" + "。" * 500_000,
        "one long line": "下一步打算" + to_a_megabyte("加强法治建设，"),
        "numbers": to_a_megabyte("开展培训1次"),
        "headings": to_a_megabyte("一、下一步打算\n二、存在问题\n"),
        "offices": to_a_megabyte("由司法所") + "牵头",
        "deadlines": to_a_megabyte("每年6月"),
    }


@pytest.mark.parametrize("name", sorted(_megabyte_inputs()))
def test_a_megabyte_worst_case_parses_without_blowing_up(name: str) -> None:
    """Only ParseError may come out of a megabyte of adversarial text. The speed itself is
    measured in bench/ (parser_bench: 1 MB worst cases); the alarm only stops a catastrophic
    (exponential) case from hanging the suite, with a margin no loaded machine reaches."""
    text = _megabyte_inputs()[name]
    assert len(text.encode("utf-8")) >= MEGABYTE / 2
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(60)
    try:
        with contextlib.suppress(ParseError):  # bare punctuation is not a report
            parse_report(text)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _hung(signum, frame) -> None:
    raise AssertionError("parsing a megabyte took over a minute: catastrophic backtracking?")
