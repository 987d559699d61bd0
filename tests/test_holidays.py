"""工作日历: seeding from chinese_calendar, the admin page, and the command line."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from sqlmodel import Session, func, select

from app.cli_calendar import holidays_cli
from app.core.errors import DomainError
from app.core.roles import Role
from app.models import AuditEvent, Holiday
from app.services import holidays as holiday_service
from tests.conftest import login, reread
from tests.factories import World

YEARS = range(2022, 2027)
PAGE = "/admin/calendar/"


def count(db: Session, model) -> int:
    return db.exec(select(func.count()).select_from(model)).one()


def rows(db: Session) -> list[tuple[date, bool, str]]:
    return [(h.day, h.is_workday, h.name) for h in db.exec(select(Holiday).order_by(Holiday.day))]


def audit_actions(db: Session) -> list[str]:
    query = select(AuditEvent).where(AuditEvent.object_type == "holiday").order_by(AuditEvent.id)
    return [e.action for e in db.exec(query)]


def seed(db: Session, years=YEARS) -> int:
    added = holiday_service.seed_from_library(db, years)
    db.commit()
    return added


# -- seeding --------------------------------------------------------------------------------


def test_seeded_calendar_agrees_with_chinese_calendar_on_every_day(db: Session) -> None:
    assert seed(db) > 0
    calendar = holiday_service.load_calendar(db)
    day, end, checked = date(2022, 1, 1), date(2026, 12, 31), 0
    while day <= end:
        assert calendar.is_workday(day) == chinese_calendar.is_workday(day), day
        day, checked = day + timedelta(days=1), checked + 1
    assert checked == 1826
    assert holiday_service.known_years(db) == list(YEARS)
    assert all(calendar.is_known(y) for y in YEARS) and not calendar.is_known(2027)


def test_seeded_rows_have_chinese_names(db: Session) -> None:
    seed(db, [2026])
    table = {day: (is_workday, name) for day, is_workday, name in rows(db)}
    assert table[date(2026, 10, 1)] == (False, "国庆节")
    assert table[date(2026, 10, 10)] == (True, "国庆节调休")
    assert table[date(2026, 1, 1)] == (False, "元旦")
    names = {name for _, _, name in rows(db)}
    assert names <= {"元旦", "春节", "清明节", "劳动节", "端午节", "国庆节", "中秋节",
                     "春节调休", "劳动节调休", "国庆节调休", "元旦调休", "端午节调休",
                     "中秋节调休", "清明节调休", "调休上班"}  # fmt: skip
    assert not any(name.isascii() for name in names)


def test_seeding_twice_changes_nothing(db: Session) -> None:
    seed(db)
    before, events = rows(db), audit_actions(db)
    assert events == ["holiday.seed"]
    assert seed(db) == 0
    reread(db)
    assert rows(db) == before and audit_actions(db) == events


def test_seeding_corrects_library_days_and_keeps_the_admins_own(db: Session) -> None:
    seed(db, [2026])
    wrong = db.get(Holiday, date(2026, 10, 1))
    wrong.name, wrong.is_workday = "错误", True
    db.add(Holiday(day=date(2026, 12, 24), is_workday=False, name="本单位调休"))
    db.commit()
    assert seed(db, [2026]) == 1
    assert db.get(Holiday, date(2026, 10, 1)).name == "国庆节"
    assert db.get(Holiday, date(2026, 12, 24)) is not None


def test_seeding_a_year_the_library_lacks_is_refused(db: Session) -> None:
    with pytest.raises(DomainError, match="无法导入2027年"):
        holiday_service.seed_from_library(db, [2026, 2027])
    db.rollback()
    assert count(db, Holiday) == 0


# -- the page -------------------------------------------------------------------------------


def test_only_admins_see_the_calendar(app, client, world: World) -> None:
    assert client.get(PAGE).status_code == 302
    for role in (Role.ADMIN, Role.COORDINATOR, Role.OFFICE, Role.LEADER, Role.AUDITOR):
        other = app.test_client()
        login(other, world.users[role].login)
        assert other.get(PAGE).status_code == 403, role
        assert other.post("/admin/calendar/seed", data={"year": 2026}).status_code == 403
    login(client, "security1")
    page = client.get(PAGE)
    assert page.status_code == 200 and "工作日历" in page.text
    assert 'href="/admin/calendar/"' in client.get("/admin/users").text


def test_the_page_lists_a_year_and_warns_about_unknown_years(client, world, db) -> None:
    seed(db, [2026])
    login(client, "security1")
    page = client.get(PAGE + "?year=2026").text
    assert "2026年10月10日" in page and "国庆节调休" in page and "星期六" in page
    assert "尚未录入" not in page
    unknown = client.get(PAGE + "?year=2027").text
    assert "2027年法定节假日安排尚未录入" in unknown and "周一至周五" in unknown
    assert "2004—2026年" in unknown


def test_admin_adds_a_2027_holiday_and_a_make_up_day(client, world: World, db) -> None:
    login(client, "security1")
    response = client.post("/admin/calendar/day",
                           data={"day": "2027-01-01", "kind": "rest", "name": "元旦"})  # fmt: skip
    assert response.headers["Location"] == "/admin/calendar/?year=2027"
    client.post(
        "/admin/calendar/day", data={"day": "2027-02-20", "kind": "work", "name": "春节调休"}
    )
    reread(db)
    assert rows(db) == [
        (date(2027, 1, 1), False, "元旦"),
        (date(2027, 2, 20), True, "春节调休"),
    ]
    calendar = holiday_service.load_calendar(db)
    assert calendar.is_known(2027)
    assert not calendar.is_workday(date(2027, 1, 1)) and calendar.is_workday(date(2027, 2, 20))
    page = client.get(PAGE + "?year=2027").text
    assert "2027年1月1日" in page and "2027年2月20日" in page and "尚未录入" not in page
    assert audit_actions(db) == ["holiday.create", "holiday.create"]
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "holiday.create")).first()
    assert event.object_id == 20270101 and event.after["name"] == "元旦"
    assert event.actor_login == "security1"


def test_admin_edits_and_deletes_a_day(client, world: World, db: Session) -> None:
    db.add(Holiday(day=date(2027, 10, 1), is_workday=False, name="国庆"))
    db.commit()
    login(client, "security1")
    form = client.get("/admin/calendar/day/2027-10-01")
    assert form.status_code == 200 and "国庆" in form.text
    client.post("/admin/calendar/day/2027-10-01",
                data={"day": "2030-01-01", "kind": "rest", "name": "国庆节"})  # fmt: skip
    reread(db)
    assert rows(db) == [(date(2027, 10, 1), False, "国庆节")]  # the date stays as it was
    response = client.post("/admin/calendar/day/2027-10-01/delete")
    assert response.headers["Location"] == "/admin/calendar/?year=2027"
    reread(db)
    assert rows(db) == []
    assert audit_actions(db) == ["holiday.update", "holiday.delete"]
    update = db.exec(select(AuditEvent).where(AuditEvent.action == "holiday.update")).one()
    assert (update.before["name"], update.after["name"]) == ("国庆", "国庆节")


def test_unknown_days_are_not_found(client, world: World) -> None:
    login(client, "security1")
    assert client.get("/admin/calendar/day/2027-10-01").status_code == 404
    assert client.get("/admin/calendar/day/not-a-date").status_code == 404
    follow = client.post("/admin/calendar/day/2027-10-01/delete", follow_redirects=True)
    assert "工作日历中没有2027年10月1日" in follow.text


def test_a_bad_day_form_is_explained(client, world: World, db: Session) -> None:
    login(client, "security1")
    response = client.post("/admin/calendar/day", data={"day": "", "kind": "rest"})
    assert response.status_code == 200 and "此项为必填项" in response.text
    response = client.post("/admin/calendar/day", data={"day": "2027-01-01", "kind": "maybe"})
    assert response.status_code == 200
    assert count(db, Holiday) == 0


IMPORT_2027 = """日期,类型,名称
# 2027年部分节假日安排（示例）
2027-01-01,休,元旦
2027-02-06,班,春节调休
2027-02-08，休，春节
2027-02-09\t假\t春节
"""


def test_import_saves_every_line(client, world: World, db: Session) -> None:
    login(client, "security1")
    response = client.post("/admin/calendar/import?year=2027", data={"lines": IMPORT_2027})
    assert response.headers["Location"] == "/admin/calendar/?year=2027"
    reread(db)
    assert [r[:2] for r in rows(db)] == [
        (date(2027, 1, 1), False), (date(2027, 2, 6), True),
        (date(2027, 2, 8), False), (date(2027, 2, 9), False),
    ]  # fmt: skip
    assert "新增4天" in client.get(PAGE + "?year=2027").text


def test_import_with_a_bad_line_changes_nothing_and_names_the_line(client, world, db) -> None:
    db.add(Holiday(day=date(2027, 1, 1), is_workday=False, name="元旦"))
    db.commit()
    before = rows(db)
    login(client, "security1")
    text = "2027-01-01,班,改坏了\n2027-02-06,班,春节调休\n2027-02-30,休,春节\n"
    response = client.post("/admin/calendar/import?year=2027", data={"lines": text})
    assert response.status_code == 200
    assert "第3行" in response.text and "无法识别日期“2027-02-30”" in response.text
    assert "未保存任何内容" in response.text
    assert "春节调休" in response.text  # the text is kept for correcting
    reread(db)
    assert rows(db) == before and audit_actions(db) == []


def test_import_of_nothing_is_explained(client, world: World, db: Session) -> None:
    login(client, "security1")
    response = client.post("/admin/calendar/import", data={"lines": "# 只有注释\n"})
    assert response.status_code == 200 and "没有可导入的行" in response.text
    assert count(db, Holiday) == 0


def test_seeding_a_year_from_the_page(client, world: World, db: Session) -> None:
    login(client, "security1")
    response = client.post("/admin/calendar/seed", data={"year": "2026"}, follow_redirects=True)
    assert "已从日历库导入2026年" in response.text and "2026年10月10日" in response.text
    again = client.post("/admin/calendar/seed", data={"year": "2026"}, follow_redirects=True)
    assert "2026年已与日历库一致" in again.text
    reread(db)
    assert holiday_service.known_years(db) == [2026]


def test_seeding_an_unsupported_year_shows_the_message(client, world: World, db) -> None:
    login(client, "security1")
    response = client.post("/admin/calendar/seed", data={"year": "2027"}, follow_redirects=True)
    assert "内置日历库只有2004—2026年的数据，无法导入2027年" in response.text
    assert count(db, Holiday) == 0
    bad = client.post("/admin/calendar/seed", data={"year": "1800"}, follow_redirects=True)
    assert "年份超出范围" in bad.text


# -- the command line -----------------------------------------------------------------------


def test_cli_seed_defaults_to_2022_through_the_librarys_last_year(app, db: Session) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(holidays_cli, ["seed"])
    assert result.exit_code == 0, result.output
    assert "已导入2022—2026年" in result.output
    assert holiday_service.known_years(db) == list(YEARS)
    again = runner.invoke(holidays_cli, ["seed", "--from-year", "2025", "--to-year", "2026"])
    assert again.exit_code == 0 and "0天有新增或更正" in again.output
    refused = runner.invoke(holidays_cli, ["seed", "--from-year", "2026", "--to-year", "2027"])
    assert refused.exit_code != 0 and "无法导入2027年" in refused.output


def test_cli_import_is_all_or_nothing(app, db: Session, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    bad = tmp_path / "bad.csv"
    bad.write_text("2027-01-01,休,元旦\n2027-01-02,周末\n", encoding="utf-8")
    result = runner.invoke(holidays_cli, ["import", str(bad)])
    assert result.exit_code != 0 and "第2行" in result.output
    assert count(db, Holiday) == 0
    good = tmp_path / "good.csv"
    good.write_text("\ufeff" + IMPORT_2027, encoding="utf-8")
    result = runner.invoke(holidays_cli, ["import", str(good)])
    assert result.exit_code == 0 and "新增4天" in result.output, result.output
    reread(db)
    assert count(db, Holiday) == 4
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "holiday.create")).first()
    assert event.actor_id is None and event.actor_login == "cli"
