"""An office's group robots on the admin office form: the 钉钉 secret is write-only (stored,
never shown back, never audited), and bad input is explained and changes nothing."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from app.models import AuditEvent, Office
from tests.conftest import login, reread
from tests.factories import World

WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa"
DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=c9a2f4d0e8b7aa1e5f3c6d9b0a7e4f21"
SECRET = "SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc"
OTHER_SECRET = "SEC0f9e8d7c6b5a49382716051f2e3d4c5b6a79881726354a5b6c7d8e9f0a1b2c3d"


def form(world: World, **overrides) -> dict:
    """The office form as a browser posts it: every field present, the secret left empty."""
    data = {"unit_id": world.unit.id, "name": "综合执法办", "short_name": "执法办",
            "kind": "section", "mailbox": "zfb@example.cn", "leader_name": "",
            "leader_email": "", "head_id": "None", "is_active": "y", "wecom_webhook": WECOM,
            "dingtalk_webhook": DINGTALK, "dingtalk_secret": SECRET}  # fmt: skip
    return {**data, **overrides}


def office_named(db: Session, name: str = "综合执法办") -> Office | None:
    reread(db)
    return db.exec(select(Office).where(Office.name == name)).first()


def audit_text(db: Session) -> str:
    reread(db)
    events = db.exec(select(AuditEvent)).all()
    return json.dumps([[e.before, e.after] for e in events], ensure_ascii=False)


def create(client, world: World, db: Session, **overrides) -> Office:
    response = client.post("/admin/offices/new", data=form(world, **overrides))
    assert response.headers.get("Location") == "/admin/offices", response.text
    office = office_named(db)
    assert office is not None
    return office


def test_admin_sets_up_both_robots(client, world: World, db: Session) -> None:
    login(client, "admin1")
    office = create(client, world, db)
    assert office.wecom_webhook == WECOM
    assert office.dingtalk_webhook == DINGTALK
    assert office.dingtalk_secret == SECRET
    page = client.get(f"/admin/offices/{office.id}/edit").text
    assert SECRET not in page and SECRET[3:20] not in page
    assert "当前状态：已设置" in page and "清除密钥" in page
    assert 'autocomplete="new-password"' in page  # browsers must not fill in a login password
    assert "钉钉加签密钥" in page and "企业微信群机器人 Webhook 地址" in page
    listing = client.get("/admin/offices").text
    assert "企业微信、钉钉" in listing
    [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "office.create")).all()
    assert event.after["dingtalk_secret"] == "已设置"
    assert SECRET not in audit_text(db)
    # The webhook keys are credentials too: the audit shows only their last characters.
    assert "693a91f6" not in audit_text(db) and "c9a2f4d0" not in audit_text(db)
    assert event.after["wecom_webhook"].endswith("key=***5aaa")


def test_a_new_office_form_shows_no_secret_state(client, world: World) -> None:
    login(client, "admin1")
    page = client.get("/admin/offices/new").text
    assert "当前状态：未设置" in page and "清除密钥" not in page


def test_offices_without_robots_show_a_dash(client, world: World, db: Session) -> None:
    login(client, "admin1")
    create(client, world, db, dingtalk_webhook="", dingtalk_secret="")
    listing = client.get("/admin/offices").text
    assert "<td>企业微信</td>" in listing and "<td>—</td>" in listing


def test_editing_with_the_secret_empty_keeps_it(client, world: World, db: Session) -> None:
    login(client, "admin1")
    office = create(client, world, db)
    response = client.post(f"/admin/offices/{office.id}/edit",
                           data=form(world, dingtalk_secret="", leader_name="刘军"))  # fmt: skip
    assert response.status_code == 302
    office = office_named(db)
    assert office.dingtalk_secret == SECRET and office.leader_name == "刘军"
    update = db.exec(select(AuditEvent).where(AuditEvent.action == "office.update")).one()
    assert update.before["dingtalk_secret"] == update.after["dingtalk_secret"] == "已设置"
    assert "dingtalk_secret_replaced" not in update.after


def test_a_new_secret_replaces_the_old_one(client, world: World, db: Session) -> None:
    login(client, "admin1")
    office = create(client, world, db)
    client.post(f"/admin/offices/{office.id}/edit", data=form(world, dingtalk_secret=OTHER_SECRET))
    assert office_named(db).dingtalk_secret == OTHER_SECRET
    update = db.exec(select(AuditEvent).where(AuditEvent.action == "office.update")).one()
    assert update.after["dingtalk_secret_replaced"] is True
    text = audit_text(db)
    assert SECRET not in text and OTHER_SECRET not in text


def test_clearing_the_secret_with_the_webhook(client, world: World, db: Session) -> None:
    login(client, "admin1")
    office = create(client, world, db)
    response = client.post(
        f"/admin/offices/{office.id}/edit",
        data=form(world, dingtalk_webhook="", dingtalk_secret="", clear_dingtalk_secret="y"),
    )
    assert response.status_code == 302
    office = office_named(db)
    assert office.dingtalk_webhook is None and office.dingtalk_secret is None
    assert office.wecom_webhook == WECOM
    update = db.exec(select(AuditEvent).where(AuditEvent.action == "office.update")).one()
    assert update.before["dingtalk_secret"] == "已设置" and update.after["dingtalk_secret"] is None


def test_removing_the_dingtalk_webhook_drops_its_secret(client, world, db) -> None:
    login(client, "admin1")
    office = create(client, world, db)
    client.post(f"/admin/offices/{office.id}/edit",
                data=form(world, dingtalk_webhook="", dingtalk_secret=""))  # fmt: skip
    office = office_named(db)
    assert office.dingtalk_webhook is None and office.dingtalk_secret is None


def test_clearing_the_secret_of_a_robot_in_use_is_refused(client, world, db) -> None:
    login(client, "admin1")
    office = create(client, world, db)
    response = client.post(f"/admin/offices/{office.id}/edit",
                           data=form(world, dingtalk_secret="", clear_dingtalk_secret="y",
                                     leader_name="刘军"))  # fmt: skip
    assert response.status_code == 200
    assert "不能清除加签密钥" in response.text
    office = office_named(db)
    assert office.dingtalk_secret == SECRET and office.leader_name is None


def test_posts_without_the_robot_fields_leave_the_robots_alone(client, world, db) -> None:
    # Older clients and scripts that post only the first fields must not wipe the robots.
    login(client, "admin1")
    office = create(client, world, db)
    data = {k: v for k, v in form(world, leader_name="刘军").items()
            if k not in ("wecom_webhook", "dingtalk_webhook", "dingtalk_secret")}  # fmt: skip
    assert client.post(f"/admin/offices/{office.id}/edit", data=data).status_code == 302
    office = office_named(db)
    assert (office.wecom_webhook, office.dingtalk_webhook, office.dingtalk_secret) == (
        WECOM, DINGTALK, SECRET)  # fmt: skip
    assert office.leader_name == "刘军"


def assert_refused(client, world, db, message: str, **overrides) -> None:
    response = client.post("/admin/offices/new", data=form(world, **overrides))
    assert response.status_code == 200
    assert message in response.text
    assert office_named(db) is None
    assert SECRET not in response.text and OTHER_SECRET not in response.text


def test_bad_webhooks_are_explained_and_nothing_is_saved(client, world, db) -> None:
    login(client, "admin1")
    assert_refused(client, world, db, "Webhook 地址须以 https:// 或 http:// 开头",
                   wecom_webhook="ftp://qyapi.weixin.qq.com/send?key=1")  # fmt: skip
    assert_refused(client, world, db, "Webhook 地址须以 https:// 或 http:// 开头",
                   dingtalk_webhook="oapi.dingtalk.com/robot/send?access_token=1")  # fmt: skip
    assert_refused(client, world, db, "不能包含空格",
                   wecom_webhook="https://qyapi.weixin.qq.com/send?key=a b")  # fmt: skip


def test_a_dingtalk_robot_needs_a_secret(client, world, db) -> None:
    login(client, "admin1")
    assert_refused(client, world, db, "使用钉钉机器人须填写加签密钥", dingtalk_secret="")


def test_a_secret_must_start_with_sec(client, world, db) -> None:
    login(client, "admin1")
    assert_refused(client, world, db, "钉钉加签密钥应以 SEC 开头", dingtalk_secret="abc123456")


def test_a_secret_without_a_webhook_is_refused(client, world, db) -> None:
    login(client, "admin1")
    assert_refused(client, world, db, "请同时填写钉钉自定义机器人 Webhook 地址",
                   dingtalk_webhook="", dingtalk_secret=OTHER_SECRET)  # fmt: skip


def test_a_bad_edit_changes_nothing(client, world: World, db: Session) -> None:
    login(client, "admin1")
    office = create(client, world, db)
    response = client.post(
        f"/admin/offices/{office.id}/edit",
        data=form(world, wecom_webhook="javascript:alert(1)", dingtalk_secret=OTHER_SECRET,
                  leader_name="刘军"),
    )  # fmt: skip
    assert response.status_code == 200 and "Webhook 地址须以" in response.text
    assert OTHER_SECRET not in response.text
    office = office_named(db)
    assert (office.wecom_webhook, office.dingtalk_secret, office.leader_name) == (
        WECOM, SECRET, None)  # fmt: skip
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "office.update")).first() is None
