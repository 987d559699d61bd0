"""The progress form's "add an outcome" button works under the strict CSP, by keyboard too."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from app.core.lifecycle import TaskStatus
from app.models import Outcome, Task
from tests.factories import PASSWORD, World

pytestmark = pytest.mark.e2e


def test_more_outcome_rows_than_the_page_starts_with(page, world: World, db) -> None:
    task = db.get(Task, world.task_a.id)
    task.status = TaskStatus.IN_PROGRESS.value
    db.commit()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto("/login")
    page.get_by_label("用户名").fill("staff_a")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/tasks/mine")
    page.goto(f"/tasks/{task.id}")
    rows = page.locator(".outcome-row")
    expect(rows).to_have_count(3)
    add = page.get_by_role("button", name="再添加一项成果")
    add.focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(4)
    expect(page.locator("#outcome-metric-3")).to_be_focused()
    page.locator("#update-text").fill("四项成果")
    for n in range(4):
        page.locator(f"#outcome-metric-{n}").fill(f"指标{n}")
        page.locator(f"#outcome-value-{n}").fill(str(n + 1))
        page.locator(f"#outcome-unit-{n}").fill("次")
    page.get_by_role("button", name="报送进展").click()
    expect(page.get_by_text("进展已报送")).to_be_visible()
    db.rollback()
    db.expire_all()
    assert sorted(o.value for o in db.exec(select(Outcome))) == [1, 2, 3, 4]
    assert errors == []  # no CSP violation or script error
