from datetime import UTC, date, datetime

from app.core.timefmt import format_date_cn, format_datetime_cn, local_today


def test_dates_in_official_form_without_zero_padding() -> None:
    assert format_date_cn(date(2022, 6, 30)) == "2022年6月30日"
    assert format_date_cn(date(2026, 1, 5)) == "2026年1月5日"
    assert format_date_cn(None) == ""


def test_datetimes_are_shown_in_shanghai_time() -> None:
    instant = datetime(2026, 11, 30, 17, 5, tzinfo=UTC)
    assert format_datetime_cn(instant, "Asia/Shanghai") == "2026年12月1日 01:05"


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert (
        format_datetime_cn(datetime(2026, 11, 30, 17, 5), "Asia/Shanghai") == "2026年12月1日 01:05"
    )


def test_local_today_crosses_midnight() -> None:
    assert local_today(datetime(2026, 12, 31, 16, 30, tzinfo=UTC), "Asia/Shanghai") == date(
        2027, 1, 1
    )
    assert local_today(datetime(2026, 12, 31, 15, 59, tzinfo=UTC), "Asia/Shanghai") == date(
        2026, 12, 31
    )
