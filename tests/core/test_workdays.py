"""Working days on China's calendar, time phrases, deadlines and the holiday import format.

The core may not import chinese_calendar; this test may, to check the core against it.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest

from app.core.errors import DomainError
from app.core.workdays import (
    MAX_SPAN_DAYS,
    HolidayEntry,
    WorkCalendar,
    next_recurring_due,
    normalise_phrase,
    parse_holiday_lines,
    propose_deadline,
    recurrence_in,
    resolve_time_phrase,
)

YEARS = range(2022, 2027)


def days_of(years: range) -> list[date]:
    start, end = date(years[0], 1, 1), date(years[-1], 12, 31)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def library_calendar(years: range = YEARS) -> WorkCalendar:
    """The exceptions chinese_calendar knows for YEARS, as the admin table would hold them."""
    exceptions = {
        d: chinese_calendar.is_workday(d)
        for d in days_of(years)
        if chinese_calendar.is_workday(d) != (d.weekday() < 5)
    }
    return WorkCalendar(exceptions, years)


CAL = library_calendar()


# -- the calendar ---------------------------------------------------------------------------


def test_every_day_of_2022_to_2026_agrees_with_chinese_calendar() -> None:
    days = days_of(YEARS)
    assert len(days) == 1826
    assert [d for d in days if CAL.is_workday(d) != chinese_calendar.is_workday(d)] == []


def test_known_make_up_days_and_holidays_of_2026() -> None:
    assert date(2026, 10, 10).weekday() == 5 and CAL.is_workday(date(2026, 10, 10))
    assert not any(CAL.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert CAL.is_workday(date(2026, 10, 9)) and CAL.is_workday(date(2026, 9, 30))


def test_previous_and_next_working_day_around_national_day_2026() -> None:
    assert CAL.previous_or_same_workday(date(2026, 10, 5)) == date(2026, 9, 30)
    assert CAL.next_or_same_workday(date(2026, 10, 5)) == date(2026, 10, 8)
    assert CAL.previous_or_same_workday(date(2026, 9, 30)) == date(2026, 9, 30)
    assert CAL.next_or_same_workday(date(2026, 10, 10)) == date(2026, 10, 10)


def test_neighbours_agree_with_chinese_calendar_find_workday() -> None:
    # find_workday(n, d) first moves a day off forward to a working day, then counts n.
    for day in days_of(range(2022, 2026)):
        assert CAL.next_or_same_workday(day) == chinese_calendar.find_workday(0, day)
        start = CAL.next_or_same_workday(day)
        assert CAL.add_workdays(start, 3) == chinese_calendar.find_workday(3, day)
        assert CAL.add_workdays(day, -1) == chinese_calendar.find_workday(-1, day)
        assert CAL.add_workdays(day, -2) == chinese_calendar.find_workday(-2, day)


def test_add_workdays_across_the_holiday() -> None:
    assert CAL.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert CAL.add_workdays(date(2026, 9, 30), 4) == date(2026, 10, 12)
    assert CAL.add_workdays(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert CAL.add_workdays(date(2026, 10, 3), 0) == date(2026, 10, 3)


def test_workdays_between_matches_chinese_calendar_counts() -> None:
    start, end = date(2026, 9, 28), date(2026, 10, 12)
    expected = len(chinese_calendar.get_workdays(start + timedelta(days=1), end))
    assert CAL.workdays_between(start, end) == expected == 6
    assert CAL.workdays_between(end, start) == -6
    assert CAL.workdays_between(start, start) == 0


def test_workdays_between_counts_whole_years_like_the_library() -> None:
    for year in YEARS:
        start, end = date(year - 1, 12, 31), date(year, 12, 31)
        library = len(chinese_calendar.get_workdays(date(year, 1, 1), end))
        assert CAL.workdays_between(start, end) == library


def test_workdays_between_inverts_add_workdays() -> None:
    for day in days_of(range(2026, 2027))[::5]:
        for n in (0, 1, 2, 7, 30, 250):
            assert CAL.workdays_between(day, CAL.add_workdays(day, n)) == n


def test_unknown_years_fall_back_to_monday_to_friday() -> None:
    assert not CAL.is_known(2027) and CAL.is_known(2026)
    assert CAL.is_workday(date(2027, 1, 1))  # a Friday: New Year's Day not yet entered
    assert not CAL.is_workday(date(2027, 1, 2))
    assert CAL.workdays_between(date(2027, 1, 3), date(2027, 1, 10)) == 5


def test_an_empty_calendar_is_monday_to_friday() -> None:
    empty = WorkCalendar()
    assert empty.known_years == frozenset()
    assert empty.previous_or_same_workday(date(2026, 10, 4)) == date(2026, 10, 2)
    assert empty.add_workdays(date(2026, 10, 2), 1) == date(2026, 10, 5)


def test_from_entries_counts_each_entry_year_as_known() -> None:
    cal = WorkCalendar.from_entries([HolidayEntry(date(2027, 1, 1), False, "元旦")])
    assert cal.is_known(2027) and not cal.is_workday(date(2027, 1, 1))


def test_absurd_spans_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add_workdays(date(2026, 1, 1), MAX_SPAN_DAYS + 1)
    all_off = WorkCalendar({date(2026, 1, 1) + timedelta(days=i): False for i in range(20000)})
    with pytest.raises(ValueError):
        all_off.next_or_same_workday(date(2026, 1, 1))


# -- time phrases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "due"),
    [
        # the end of the plan year
        ("年底前", date(2026, 12, 31)), ("年内", date(2026, 12, 31)),
        ("全年", date(2026, 12, 31)), ("本年度", date(2026, 12, 31)),
        ("年底前完成", date(2026, 12, 31)), ("年末", date(2026, 12, 31)),
        # a named year
        ("2023年内", date(2023, 12, 31)), ("2023年底前", date(2023, 12, 31)),
        ("2022年内", date(2022, 12, 31)), ("2024年度", date(2024, 12, 31)),
        ("２０２４年底前", date(2024, 12, 31)),
        # month ends
        ("6月底前", date(2026, 6, 30)), ("9月底前", date(2026, 9, 30)),
        ("3月底前", date(2026, 3, 31)), ("10月底前", date(2026, 10, 31)),
        ("6月前", date(2026, 6, 30)), ("3月份", date(2026, 3, 31)), ("2月底", date(2026, 2, 28)),
        ("六月底前", date(2026, 6, 30)), ("十二月", date(2026, 12, 31)),
        ("十月底前", date(2026, 10, 31)), ("６月底前", date(2026, 6, 30)),
        ("2024年6月底前", date(2024, 6, 30)), ("二〇二四年十一月底前", date(2024, 11, 30)),
        # exact dates
        ("9月30日前", date(2026, 9, 30)), ("5月20日前", date(2026, 5, 20)),
        ("九月三十日前", date(2026, 9, 30)), ("2025年3月15日前", date(2025, 3, 15)),
        ("2027-01-15前", date(2027, 1, 15)),
        # halves, quarters, seasons
        ("上半年", date(2026, 6, 30)), ("下半年", date(2026, 12, 31)),
        ("2025年上半年", date(2025, 6, 30)), ("年中", date(2026, 6, 30)),
        ("第一季度", date(2026, 3, 31)), ("第二季度", date(2026, 6, 30)),
        ("第三季度", date(2026, 9, 30)), ("第四季度", date(2026, 12, 31)),
        ("一季度", date(2026, 3, 31)), ("1季度", date(2026, 3, 31)),
        ("三季度末", date(2026, 9, 30)),
        ("Q3", date(2026, 9, 30)), ("q2", date(2026, 6, 30)), ("Ｑ４", date(2026, 12, 31)),
        ("暑期", date(2026, 8, 31)), ("暑假前", date(2026, 8, 31)),
    ],
)  # fmt: skip
def test_time_phrases(phrase: str, due: date) -> None:
    resolution = resolve_time_phrase(phrase, 2026)
    assert (resolution.due, resolution.recurrence, resolution.recognised) == (due, None, True)
    assert (
        phrase in resolution.explanation and f"{due.year}年{due.month}月" in resolution.explanation
    )


@pytest.mark.parametrize(
    ("phrase", "recurrence"),
    [
        ("每月", "monthly"), ("每个月报送", "monthly"), ("按月", "monthly"),
        ("每季度", "quarterly"), ("每季度末", "quarterly"), ("按季度", "quarterly"),
        ("每半年", "half_yearly"), ("半年一次", "half_yearly"), ("每年两次", "half_yearly"),
        ("每季度一次", "quarterly"),
    ],
)  # fmt: skip
def test_recurring_phrases_have_no_single_due_date(phrase: str, recurrence: str) -> None:
    resolution = resolve_time_phrase(phrase, 2026)
    assert (resolution.due, resolution.recurrence) == (None, recurrence)
    assert "定期" in resolution.explanation


@pytest.mark.parametrize("phrase", [None, "", "  ", "尽快", "长期坚持", "13月底前"])
def test_missing_or_unknown_phrases_default_to_the_end_of_the_plan_year(phrase) -> None:
    resolution = resolve_time_phrase(phrase, 2026)
    assert resolution.due == date(2026, 12, 31) and resolution.recurrence is None
    assert not resolution.recognised and "默认" in resolution.explanation


def test_normalise_phrase() -> None:
    assert normalise_phrase("二〇二四年 十二月三十一日 前") == "2024年12月31日前"
    assert normalise_phrase("第二十季度") == "第20季度"
    assert normalise_phrase("ｑ３") == "Q3"


# -- deadlines ------------------------------------------------------------------------------


def test_a_deadline_on_a_working_day_stays() -> None:
    proposal = propose_deadline("9月底前", 2026, CAL)
    assert (proposal.due, proposal.nominal, proposal.moved) == (date(2026, 9, 30),) * 2 + (False,)
    assert proposal.calendar_known and "不是工作日" not in proposal.note


def test_a_deadline_on_a_sunday_moves_back_to_friday() -> None:
    proposal = propose_deadline("5月底前", 2026, CAL)  # 2026-05-31 is a Sunday
    assert proposal.nominal == date(2026, 5, 31) and proposal.due == date(2026, 5, 29)
    assert proposal.moved and "提前至此前最后一个工作日2026年5月29日" in proposal.note


def test_a_deadline_in_a_holiday_moves_before_the_holiday() -> None:
    proposal = propose_deadline("10月5日前", 2026, CAL)
    assert proposal.due == date(2026, 9, 30) and proposal.moved
    new_year = propose_deadline("2026年1月1日前", 2026, CAL)
    assert new_year.due == date(2025, 12, 31)


def test_a_year_end_deadline_on_a_weekend_moves_back() -> None:
    proposal = propose_deadline("年底前", 2022, CAL)  # 2022-12-31 is a Saturday
    assert proposal.due == date(2022, 12, 30) and proposal.moved


def test_an_unknown_year_falls_back_to_monday_to_friday_and_says_so() -> None:
    proposal = propose_deadline("年底前", 2027, CAL)
    assert proposal.due == date(2027, 12, 31)  # a Friday
    assert not proposal.calendar_known and not proposal.moved
    assert "2027年法定节假日安排尚未录入，暂按周一至周五计算工作日，请管理员录入。" in proposal.note
    weekend = propose_deadline("10月底前", 2027, CAL)  # 2027-10-31 is a Sunday
    assert weekend.due == date(2027, 10, 29) and weekend.moved and "尚未录入" in weekend.note


def test_a_recurring_phrase_proposes_no_due_date() -> None:
    proposal = propose_deadline("每季度", 2026, CAL)
    assert proposal.due is None and proposal.nominal is None
    assert proposal.recurrence == "quarterly" and proposal.calendar_known
    assert "尚未录入" in propose_deadline("每月", 2027, CAL).note


def test_the_default_deadline_says_it_is_a_default() -> None:
    proposal = propose_deadline(None, 2026, CAL)
    assert proposal.due == date(2026, 12, 31) and "默认" in proposal.note


# -- recurring due dates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recurrence", "after", "due"),
    [
        ("monthly", date(2026, 5, 10), date(2026, 5, 29)),  # 31st is a Sunday
        ("monthly", date(2026, 5, 29), date(2026, 6, 30)),
        ("monthly", date(2026, 5, 30), date(2026, 6, 30)),  # after the moved date
        ("monthly", date(2026, 9, 15), date(2026, 9, 30)),
        ("monthly", date(2026, 12, 31), date(2027, 1, 29)),  # 2027-01-31 is a Sunday
        ("quarterly", date(2026, 1, 1), date(2026, 3, 31)),
        ("quarterly", date(2026, 3, 31), date(2026, 6, 30)),
        ("quarterly", date(2026, 11, 2), date(2026, 12, 31)),
        ("quarterly", date(2026, 12, 31), date(2027, 3, 31)),
        ("half_yearly", date(2026, 2, 1), date(2026, 6, 30)),
        ("half_yearly", date(2026, 6, 30), date(2026, 12, 31)),
        ("half_yearly", date(2022, 7, 1), date(2022, 12, 30)),  # 2022-12-31 is a Saturday
    ],
)
def test_next_recurring_due(recurrence: str, after: date, due: date) -> None:
    assert next_recurring_due(recurrence, after, CAL) == due


def test_next_recurring_due_skips_a_holiday_month_end() -> None:
    # 2023-09-30 was a Saturday but a make-up working day for National Day.
    assert next_recurring_due("monthly", date(2023, 9, 1), CAL) == date(2023, 9, 28)


def test_an_unknown_recurrence_is_refused() -> None:
    with pytest.raises(ValueError):
        next_recurring_due("weekly", date(2026, 1, 1), CAL)


# -- the holiday import format --------------------------------------------------------------


def test_parse_holiday_lines_accepts_the_documented_forms() -> None:
    text = (
        "\ufeff日期,类型,名称\n"
        "# 2027年部分节假日安排\n"
        "\n"
        "2027-01-01,休,元旦\n"
        "2027-02-07，班，春节调休\n"
        "2027/2/8\t假\t春节\n"
        "2027.2.9,休息,春节\n"
        "2027年2月10日,holiday,春节\n"
        "2027-02-11,0\n"
        "  2027-02-20 , 上班 , 春节调休  \n"
        "2027-09-26,workday,国庆节调休\n"
        "2027-10-09,1,国庆节调休\n"
        "２０２７-１０-０１,休,国庆节\n"
        "2027-10-02 休 国庆节\n"
    )
    entries = parse_holiday_lines(text)
    assert entries[0] == HolidayEntry(date(2027, 1, 1), False, "元旦")
    assert entries[1] == HolidayEntry(date(2027, 2, 7), True, "春节调休")
    assert [e.is_workday for e in entries] == [False, True, False, False, False, False, True,
                                               True, True, False, False]  # fmt: skip
    assert entries[5] == HolidayEntry(date(2027, 2, 11), False, "")
    assert entries[6] == HolidayEntry(date(2027, 2, 20), True, "春节调休")
    assert entries[-1] == HolidayEntry(date(2027, 10, 2), False, "国庆节")


def test_parse_holiday_lines_of_nothing_is_empty() -> None:
    assert parse_holiday_lines("") == [] and parse_holiday_lines("# 注释\n\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2027-01-01,休,元旦\n2027-13-01,休,错", "第2行：无法识别日期“2027-13-01”"),
        ("2027-01-01,休,元旦\n2027-02-30,休", "第2行：无法识别日期“2027-02-30”"),
        ("明天,休,元旦", "第1行：无法识别日期“明天”"),
        ("2027-01-01,放羊,元旦", "第1行：无法识别类型“放羊”"),
        ("2027-01-01", "第1行：缺少类型"),
        ("2027-01-01,,元旦", "第1行：缺少类型"),
        ("2027-01-01,休,元旦,多余", "第1行：字段过多"),
        ("2027-01-01,休," + "长" * 51, "第1行：名称超过50个字"),
        ("# 注释\n\n2027-01-01,休,元旦\n2027-01-01,班,元旦", "第4行：2027年1月1日与第3行重复"),
        ("2027-01-01,休,元旦\n日期,类型,名称", "第2行：无法识别日期“日期”"),
    ],
)
def test_parse_holiday_lines_names_the_bad_line(text: str, message: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_holiday_lines(text)
    assert message in caught.value.message
    assert "未保存任何内容" in caught.value.message


def test_parse_holiday_lines_reports_every_bad_line_at_once() -> None:
    text = "2027-01-01,休,元旦\nx,休\n2027-02-07,班,调休\ny,班\n"
    with pytest.raises(DomainError) as caught:
        parse_holiday_lines(text)
    assert "第2行" in caught.value.message and "第4行" in caught.value.message
    assert "第1行" not in caught.value.message and "第3行" not in caught.value.message


def test_parse_holiday_lines_caps_the_errors_shown_and_the_size() -> None:
    with pytest.raises(DomainError) as caught:
        parse_holiday_lines("\n".join(f"x{i},休" for i in range(15)))
    assert "第10行" in caught.value.message and "第11行" not in caught.value.message
    assert "另有5处错误" in caught.value.message
    with pytest.raises(DomainError, match="一次最多导入"):
        parse_holiday_lines("2027-01-01,休\n" * 2001)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("每季度报告一次进展", "quarterly"), ("每月开展一次", "monthly"),
     ("每半年通报", "half_yearly"), ("年底前完成", None), ("持续推进", None)],
)  # fmt: skip
def test_recurrence_in_commitment_text(text: str, expected: str | None) -> None:
    assert recurrence_in(text) == expected
