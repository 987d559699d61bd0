"""A coordinator imports a report in the browser: upload → preview → edit → confirm → tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, make_township

pytestmark = pytest.mark.e2e
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "seed-2021.txt"


def test_upload_preview_edit_confirm(page, db) -> None:
    make_township(db)
    page.goto("/login")
    page.get_by_label("用户名").fill("coord1")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="报告", exact=True).click()
    page.get_by_role("link", name="导入报告").click()
    page.get_by_label("报告文件").set_input_files(str(SEED))
    page.get_by_role("button", name="识别并预览").click()

    page.wait_for_url("**/reports/import/*")
    assert page.locator("mark.src-mark").count() == 4
    assert page.get_by_role("heading", name="原文").is_visible()
    # Edit: a sharper lead for the first commitment, link it to a problem, drop the third.
    page.locator("#c-0-lead").fill("加大法治宣传力度")
    page.locator("#c-0").get_by_label("依法行政工作开展还不够深入").check()
    page.locator("#c-2").get_by_role("button", name="删除此项").click()
    page.wait_for_url("**/reports/import/*")
    assert page.locator("fieldset.commitment").count() == 3
    assert page.locator("#c-0-lead").input_value() == "加大法治宣传力度"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import-preview.png"), full_page=True)

    page.get_by_role("button", name="确认导入并创建任务").click()
    page.wait_for_url("**/tasks/?report=*")
    assert page.get_by_text("导入完成").is_visible()
    rows = page.locator("table tbody tr")
    assert rows.count() == 3
    assert page.get_by_role("link", name="加大法治宣传力度").is_visible()
    page.screenshot(path=str(ARTIFACTS / "imported-tasks.png"), full_page=True)
