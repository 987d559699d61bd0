"""A person signs in with the keyboard alone and lands on their office's task list."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, World

pytestmark = pytest.mark.e2e


def test_keyboard_login_to_my_tasks(page, world: World) -> None:
    page.goto("/tasks/mine")
    assert page.url.endswith("/login?next=%2Ftasks%2Fmine")
    # The user-name field has focus; type, Tab to the password, Enter submits.
    expect(page.get_by_label("用户名")).to_be_focused()
    page.keyboard.type("staff_a")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/tasks/mine")
    assert page.get_by_role("heading", name="我的任务").is_visible()
    assert page.get_by_role("link", name="甲科室的任务").is_visible()
    assert page.get_by_role("link", name="乙科室的任务").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "my-tasks.png"), full_page=True)


def test_wrong_password_shows_the_message(page, world: World) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill("staff_a")
    page.get_by_label("密码").fill("Wrong-pass-1")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_text("用户名或密码错误。").is_visible()


def test_logout_button_ends_the_session(page, world: World) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill("coord1")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/tasks/")
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/login")
    assert page.get_by_text("您已安全退出。").is_visible()
    page.goto("/tasks/")
    assert "/login" in page.url
