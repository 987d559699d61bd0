"""One task's whole life in the browser, against a live server: the coordinator imports the demo
report and assigns it; the office signs, reports progress with an outcome and evidence and
submits; the coordinator returns it; the office resubmits; the coordinator approves; another
office cannot even see it. Every main page is saved at laptop and phone sizes for a human look."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.core.roles import Role
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, make_township, make_user

pytestmark = pytest.mark.e2e
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "seed-2021.txt"
VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
# The smallest file the attachment check accepts as a PDF.
TINY_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FIRST_COMMITMENT = "持续加大宣传力度"


def shoot(page: Page, name: str) -> None:
    """Save the whole page as ARTIFACTS/<name>-laptop.png and -phone.png; leave it laptop-sized."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(VIEWPORTS["laptop"])


@pytest.fixture
def new_page(browser: Browser, live_server: str) -> Iterator[Callable[[], Page]]:
    """A page in a fresh browser context (its own cookies: one person each), laptop-sized."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(
            base_url=live_server, locale="zh-CN", viewport=VIEWPORTS["laptop"]
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, login: str) -> None:
    page.goto("/login")
    expect(page.get_by_label("用户名")).to_be_focused()
    page.get_by_label("用户名").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login" not in url)


def act(page: Page, label: str, done: str) -> None:
    """Press the button of the action form LABEL and wait for the task page to come back saying
    DONE (the page's URL does not change, so wait for the navigation itself)."""
    button = page.locator("form.action-form").get_by_role("button", name=label, exact=True)
    with page.expect_navigation():
        button.click()
    expect(page.locator(".flash-error")).to_have_count(0)
    expect(page.locator(".flash-success")).to_have_text(done)


def expect_status(page: Page, label: str) -> None:
    expect(page.locator("dl.facts .badge")).to_have_text(label)


def test_task_from_import_to_approval(new_page, db, tmp_path: Path) -> None:
    make_township(db)
    make_user(db, "admin1", Role.ADMIN)
    make_user(db, "security1", Role.SECURITY)
    make_user(db, "auditor1", Role.AUDITOR)
    db.commit()
    evidence = tmp_path / "普法宣传台账.pdf"
    evidence.write_bytes(TINY_PDF)

    # The coordinator imports the demo report; the first commitment goes to 司法所's head.
    coord = new_page()
    coord.goto("/login")
    expect(coord.get_by_label("用户名")).to_be_focused()
    shoot(coord, "login")
    sign_in(coord, "coord1")
    coord.get_by_role("link", name="报告", exact=True).click()
    coord.wait_for_url("**/reports/")
    coord.get_by_role("link", name="导入报告").click()
    coord.wait_for_url("**/reports/import")
    coord.get_by_label("报告文件").set_input_files(str(SEED))
    coord.get_by_role("button", name="识别并预览").click()
    coord.wait_for_url("**/reports/import/*")
    expect(coord.locator("fieldset.commitment")).to_have_count(4)
    expect(coord.locator("#c-0-lead")).to_have_value(FIRST_COMMITMENT)
    expect(coord.locator("#t-0-0-office option:checked")).to_have_text("司法所")
    coord.locator("#t-0-0-owner").select_option(label="sfs_head")
    shoot(coord, "import-preview")
    coord.get_by_role("button", name="确认导入并创建任务").click()
    coord.wait_for_url("**/tasks/?report=*")
    expect(coord.get_by_text("导入完成")).to_be_visible()
    expect(coord.locator("table tbody tr")).to_have_count(4)

    coord.get_by_role("link", name="全部任务").click()
    coord.wait_for_url("**/tasks/")
    shoot(coord, "all-tasks")
    coord.get_by_role("link", name="报告", exact=True).click()
    coord.wait_for_url("**/reports/")
    shoot(coord, "reports")
    coord.get_by_role("link", name=re.compile("2021年度法治政府建设")).first.click()
    coord.wait_for_url(re.compile(r"/reports/\d+$"))
    shoot(coord, "report-detail")

    # The office head finds it among the office's tasks, signs, reports progress, submits.
    office = new_page()
    sign_in(office, "sfs_head")
    office.wait_for_url("**/tasks/mine")
    expect(office.get_by_role("heading", name="我的任务")).to_be_visible()
    task_link = office.get_by_role("link", name=re.compile(FIRST_COMMITMENT))
    expect(task_link).to_have_count(1)
    shoot(office, "my-tasks")
    task_link.click()
    office.wait_for_url(re.compile(r"/tasks/\d+$"))
    task_url = office.url
    expect_status(office, "待签收")
    expect(office.locator("dl.facts")).to_contain_text("司法所")
    shoot(office, "task-assigned")
    act(office, "签收", "已签收，任务进入办理中。")
    expect_status(office, "办理中")

    office.locator("#update-text").fill("已在三个村开展“法律七进”集中宣传，发放资料300余份。")
    office.locator("#outcome-metric-0").fill("开展普法宣传")
    office.locator("#outcome-value-0").fill("12")
    office.locator("#outcome-unit-0").fill("次")
    office.locator("#update-files").set_input_files(str(evidence))
    act(office, "报送进展", "进展已报送。")
    timeline = office.locator("ol.timeline")
    expect(timeline).to_contain_text("开展普法宣传 12次")
    expect(timeline.get_by_role("link", name="普法宣传台账.pdf")).to_be_visible()
    shoot(office, "task-in-progress")
    office.locator("#submit-text").fill("全年宣传任务已完成。")
    act(office, "申请办结", "已申请办结，等待督办人员审核。")
    expect_status(office, "待审核")
    shoot(office, "task-submitted")

    # The coordinator returns it with a reason.
    coord.goto(task_url)
    expect_status(coord, "待审核")
    coord.locator("#return-reason").fill("请补充宣传活动照片。")
    act(coord, "退回", "已退回，任务回到办理中。")
    expect_status(coord, "办理中")

    # The office sees why and submits again.
    office.reload()
    expect_status(office, "办理中")
    expect(office.locator("ol.timeline")).to_contain_text("请补充宣传活动照片。")
    shoot(office, "task-returned")
    act(office, "申请办结", "已申请办结，等待督办人员审核。")
    expect_status(office, "待审核")

    # The coordinator approves.
    coord.reload()
    expect_status(coord, "待审核")
    coord.locator("#approve-text").fill("同意办结。")
    act(coord, "审核办结", "已审核通过，任务办结。")
    expect_status(coord, "已办结")
    shoot(coord, "task-closed")
    coord.get_by_role("link", name="进度通报").click()
    coord.wait_for_url("**/review/**")
    shoot(coord, "review")

    # Someone of another office does not learn the task exists.
    other = new_page()
    sign_in(other, "staff_x")
    response = other.goto(task_url)
    assert response is not None and response.status == 404
    expect(other.get_by_role("heading", name="页面不存在")).to_be_visible()
    shoot(other, "not-found")

    # The administrator's pages.
    admin = new_page()
    sign_in(admin, "admin1")
    admin.wait_for_url("**/admin/users")
    shoot(admin, "admin-users")
    for tab, url, name in [
        ("科室", "**/admin/offices", "admin-offices"),
        ("牵头单位规则", "**/admin/rules", "admin-rules"),
    ]:
        admin.locator("nav.tabs").get_by_role("link", name=tab).click()
        admin.wait_for_url(url)
        shoot(admin, name)

    # The security administrator (三员分立): the policies and locks, the working-day calendar.
    security = new_page()
    sign_in(security, "security1")
    security.wait_for_url("**/admin/security")
    shoot(security, "admin-security")
    security.locator("nav.tabs").get_by_role("link", name="工作日历").click()
    security.wait_for_url("**/admin/calendar/**")
    shoot(security, "admin-calendar")

    # The auditor sees the trail the story left.
    auditor = new_page()
    sign_in(auditor, "auditor1")
    auditor.wait_for_url("**/audit/**")
    expect(auditor.locator("main table")).to_be_visible()
    shoot(auditor, "audit")
