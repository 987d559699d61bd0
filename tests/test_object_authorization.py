"""Object-level authorization over the whole URL map: every route that takes an id (or any other
argument) is called, with every method it accepts, by users who must not reach the object behind
that id (a user of the other office, or a user without the role), with real ids. Each call must
be refused with 403 or 404, and must change nothing: every table is compared row by row before
and after each call (the audit trail may only gain its record of the refusal, which every 403
must leave), and no file is written. The same ids open for the users who may see them.

The test fails when a route with an argument appears that it does not know: cover it in
KNOWN_RULES and probes() below, or, if its argument names nothing secret, in ALLOW_LIST with the
reason.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

from app.clock import utcnow
from app.core.lifecycle import Action, TaskStatus
from app.core.roles import Permission, Role, has_permission
from app.core.timefmt import local_today
from app.models import (
    Attachment,
    AuditEvent,
    ExtensionRequest,
    Holiday,
    ImportDraft,
    OfficeRule,
    Outbox,
    ProgressUpdate,
    Report,
    ReportDraft,
    Task,
    TaskComment,
    User,
)
from app.services import attachments, report_import
from app.services import drafts as draft_service
from tests.conftest import login, reread
from tests.factories import PASSWORD, World, make_user

REPORT_TEXT = (
    Path(__file__).resolve().parent / "fixtures" / "reports" / "seed-2021.txt"
).read_text(encoding="utf-8")

# Routes whose arguments name nothing secret, so no object-level check applies.
ALLOW_LIST: dict[str, str] = {
    # The CSS, JavaScript and images shipped in app/static: public by design (the login page
    # needs them), the same for every user; the path names a file of the release, no record.
    "/static/<path:filename>": "public assets of the release",
}

# Every other route with an argument, and what probes() calls it with. A route added to the app
# must be added here (and to probes()), or the first test fails.
KNOWN_RULES: dict[str, str] = {
    "/tasks/<int:task_id>": "the other office's task, as staff of the other office",
    "/tasks/<int:task_id>/reassign": "another office's task, as office staff and leader",
    "/tasks/<int:task_id>/act/<action>": "every action (and an unknown one) on the other "
    "office's task, as its staff; as auditor and admin",
    "/tasks/<int:task_id>/files/<int:attachment_id>": "the other office's evidence, through its "
    "own task, through the user's own task and through a task both see",
    "/offices/<int:office_id>": "the other office's page, as staff of the other office",
    "/reports/<int:report_id>": "a report, as users without VIEW_REPORTS",
    "/reports/import/<int:draft_id>": "an import in progress, as users without MANAGE_REPORTS",
    "/drafts/<int:draft_id>": "a report draft, as users without VIEW_REPORTS; saving as a leader",
    "/drafts/<int:draft_id>/versions/<int:number>": "a draft's version, as users without "
    "VIEW_REPORTS",
    "/drafts/<int:draft_id>/versions/<int:number>/restore": "restoring a version, as users "
    "without MANAGE_REPORTS",
    "/drafts/<int:draft_id>/export/<fmt>": "every export format, as users without VIEW_REPORTS",
    "/admin/notifications/<int:outbox_id>": "a notification, as users without VIEW_NOTIFICATIONS",
    "/admin/notifications/<int:outbox_id>/resend": "resending, as users without "
    "MANAGE_NOTIFICATIONS",
    "/admin/offices/<int:office_id>/edit": "editing an office, as non-admins",
    "/admin/rules/<int:rule_id>/delete": "deleting a keyword rule, as non-admins",
    "/admin/users/<int:user_id>/edit": "editing an account, as non-admins",
    "/admin/users/<int:user_id>/unlock": "unlocking a locked account, as users without "
    "MANAGE_SECURITY",
    "/admin/calendar/day/<day_iso>": "a calendar day, as non-admins",
    "/admin/calendar/day/<day_iso>/delete": "deleting a calendar day, as non-admins",
}

# A refusal may leave exactly this in the audit trail; a 403 must (docs/security.md).
REFUSAL_ACTIONS = frozenset({"access.denied"})
# Known gaps: 403s given without their access.denied record, as (method, rule). Remove an entry
# when its view refuses through app.access.deny(); the test fails while a stale entry remains.
UNRECORDED_403: frozenset[tuple[str, str]] = frozenset()  # every 403 leaves its record


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class Objects:
    """The world, and for each office a progress update with evidence, a comment and a pending
    extension request on its task; a report draft, an import in progress, a notification, a
    keyword rule and a calendar day."""

    world: World
    files: dict[str, Attachment]  # by office: "a", "b"
    draft: ReportDraft
    import_draft: ImportDraft
    outbox: Outbox
    rule: OfficeRule
    holiday: Holiday
    locked: User  # an account locked after failed sign-ins
    users: dict[str, User]  # by login


def _evidence(app: Flask, db: Session, task: Task, author: User) -> Attachment:
    now = utcnow()
    update = ProgressUpdate(task_id=task.id, author_id=author.id, text="完成第一阶段。",
                            created_at=now)  # fmt: skip
    db.add(update)
    db.flush()
    db.add(TaskComment(task_id=task.id, author_id=author.id, text="请尽快办理。", created_at=now))
    db.add(ExtensionRequest(
        task_id=task.id, requested_by_id=author.id, old_deadline=task.deadline,
        new_deadline=task.deadline + timedelta(days=30), reason="需要补充材料。", created_at=now,
    ))  # fmt: skip
    task.status = TaskStatus.IN_PROGRESS.value
    db.add(task)
    return attachments.save_attachment(
        db, instance_path=app.instance_path, owner_type="progress_update", owner_id=update.id,
        filename="证明材料.pdf", stream=io.BytesIO(pdf_bytes()), user=author, now=now,
    )  # fmt: skip


@pytest.fixture
def objects(app: Flask, db: Session, world: World) -> Objects:
    users = {u.login: u for u in db.exec(select(User))}
    files = {
        "a": _evidence(app, db, world.task_a, users["staff_a"]),
        "b": _evidence(app, db, world.task_b, users["staff_b"]),
    }
    now = utcnow()
    draft = draft_service.generate(
        db, report=db.exec(select(Report).where(Report.unit_id == world.unit.id)).one(),
        actor=users["coord1"], now=now,
        today=local_today(now, app.config["TIMEZONE"]), timezone=app.config["TIMEZONE"],
    )  # fmt: skip
    import_draft = report_import.start_import(
        db, unit_id=world.unit.id, text=REPORT_TEXT, filename="seed-2021.txt", year=2019,
        actor=users["coord1"], now=now,
    )  # fmt: skip
    outbox = Outbox(
        channel="email", kind="reminder", task_id=world.task_a.id, office_id=world.office_a.id,
        recipient="staff_a@example.cn", subject="【催办】甲科室的任务", body="请尽快办理。",
        idempotency_key="probe-1", status="failed", attempts=3, last_error="timeout",
    )  # fmt: skip
    rule = OfficeRule(office_id=world.office_a.id, keyword="普法", position=10)
    holiday = Holiday(day=date(2026, 10, 1), is_workday=False, name="国庆节")
    # Not among USERS: a locked account cannot sign in to probe anything.
    locked = make_user(db, "locked1", Role.OFFICE, office=world.office_a)
    locked.failed_logins, locked.locked_until = 5, now + timedelta(minutes=15)
    db.add_all([outbox, rule, holiday, locked])
    db.commit()
    return Objects(world=world, files=files, draft=draft, import_draft=import_draft,
                   outbox=outbox, rule=rule, holiday=holiday, locked=locked,
                   users=users)  # fmt: skip


# -- the probes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    rule: str  # as in app.url_map
    method: str
    url: str
    intruder: str  # the login that must be refused
    data: dict | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.url} as {self.intruder}"


def _action_form(task: Task, intruder: User) -> dict:
    """Everything any task action reads, filled in so that the action would do something: to
    the intruder's office and person, with a new deadline, a decision and outcomes."""
    return {
        "version": str(task.version), "text": "越权操作的内容", "reason": "越权操作的理由",
        "new_deadline": (task.deadline + timedelta(days=60)).isoformat(), "decision": "approve",
        "office_id": str(intruder.office_id or ""), "owner_id": str(intruder.id),
        "cooperating": [str(intruder.office_id or "")],
        "outcome-metric-0": "开展普法宣传", "outcome-value-0": "9", "outcome-unit-0": "次",
    }  # fmt: skip


def lacking(objects: Objects, *permissions: Permission) -> tuple[str, ...]:
    """The logins of the world's users who hold none of PERMISSIONS."""
    refused = [
        login
        for login, user in objects.users.items()
        if not any(has_permission(user.roles, p) for p in permissions)
    ]
    return tuple(sorted(refused))


def holder(objects: Objects, permission: Permission) -> str:
    """A login (the first by name) of a world user who holds PERMISSION."""
    return min(login for login, user in objects.users.items()
               if has_permission(user.roles, permission))  # fmt: skip


TASK_VIEWERS = (Permission.VIEW_ALL_TASKS, Permission.VIEW_OWN_OFFICE_TASKS)


def probes(objects: Objects) -> list[Probe]:
    """Each route of KNOWN_RULES, with each method, as each user who must be refused. Who that
    is follows from app/core/roles.py: office staff of the other office for an office's tasks
    and pages, and every user lacking the permission a route needs."""
    w, u, files = objects.world, objects.users, objects.files
    found: list[Probe] = []

    def add(rule: str, methods: tuple[str, ...], url: str, intruders, data=None) -> None:
        for method in methods:
            for intruder in intruders:
                body = data(intruder) if callable(data) else data
                found.append(Probe(rule, method, url, intruder, body if method == "POST" else None))

    # Tasks: the other office's task, its evidence, its actions.
    no_tasks = lacking(objects, *TASK_VIEWERS)
    others = {"a": (w.task_a, "staff_b"), "b": (w.task_b, "staff_a")}
    own_task = {"staff_a": w.task_a, "staff_b": w.task_b}
    for key, (task, intruder) in others.items():
        add("/tasks/<int:task_id>", ("GET",), f"/tasks/{task.id}", (intruder, *no_tasks))
        add("/tasks/<int:task_id>/reassign", ("GET",), f"/tasks/{task.id}/reassign",
            lacking(objects, Permission.MANAGE_TASKS))  # fmt: skip
        for action in [*(a.value for a in Action), "no-such-action"]:
            add("/tasks/<int:task_id>/act/<action>", ("POST",),
                f"/tasks/{task.id}/act/{action}", (intruder, *no_tasks),
                lambda login, task=task: _action_form(task, u[login]))  # fmt: skip
        file = files[key]
        for through in (task, own_task[intruder], w.shared_task):
            add("/tasks/<int:task_id>/files/<int:attachment_id>", ("GET",),
                f"/tasks/{through.id}/files/{file.id}", (intruder,))  # fmt: skip
        add("/tasks/<int:task_id>/files/<int:attachment_id>", ("GET",),
            f"/tasks/{task.id}/files/{file.id}", no_tasks)  # fmt: skip
    add("/offices/<int:office_id>", ("GET",), f"/offices/{w.office_a.id}", ("staff_b", *no_tasks))
    add("/offices/<int:office_id>", ("GET",), f"/offices/{w.office_b.id}", ("staff_a",))

    # Reports and drafts.
    no_reports = lacking(objects, Permission.VIEW_REPORTS)
    no_report_changes = lacking(objects, Permission.MANAGE_REPORTS)
    report_id = objects.draft.source_report_id
    add("/reports/<int:report_id>", ("GET",), f"/reports/{report_id}", no_reports)
    add("/reports/import/<int:draft_id>", ("GET", "POST"),
        f"/reports/import/{objects.import_draft.id}", no_report_changes,
        {"action": "confirm"})  # fmt: skip
    draft = objects.draft
    add("/drafts/<int:draft_id>", ("GET",), f"/drafts/{draft.id}", no_reports)
    add("/drafts/<int:draft_id>", ("POST",), f"/drafts/{draft.id}", no_report_changes,
        {"base_version": str(draft.current_version), "title": "越权修改的标题"})  # fmt: skip
    add("/drafts/<int:draft_id>/versions/<int:number>", ("GET",),
        f"/drafts/{draft.id}/versions/1", no_reports)  # fmt: skip
    add("/drafts/<int:draft_id>/versions/<int:number>/restore", ("POST",),
        f"/drafts/{draft.id}/versions/1/restore", no_report_changes,
        {"base_version": str(draft.current_version)})  # fmt: skip
    for fmt in [*draft_service.EXPORT_FORMATS, "exe"]:
        add("/drafts/<int:draft_id>/export/<fmt>", ("GET",),
            f"/drafts/{draft.id}/export/{fmt}", no_reports)  # fmt: skip

    # The notification log.
    outbox = objects.outbox
    add("/admin/notifications/<int:outbox_id>", ("GET",), f"/admin/notifications/{outbox.id}",
        lacking(objects, Permission.VIEW_NOTIFICATIONS))  # fmt: skip
    add("/admin/notifications/<int:outbox_id>/resend", ("POST",),
        f"/admin/notifications/{outbox.id}/resend",
        lacking(objects, Permission.MANAGE_NOTIFICATIONS), {})  # fmt: skip

    # Administration: offices, keyword rules, accounts, unlocking, the calendar.
    no_admin = lacking(objects, Permission.MANAGE_USERS)
    add("/admin/offices/<int:office_id>/edit", ("GET", "POST"),
        f"/admin/offices/{w.office_a.id}/edit", no_admin,
        {"unit_id": str(w.unit.id), "name": "越权改名", "kind": "section"})  # fmt: skip
    add("/admin/rules/<int:rule_id>/delete", ("POST",),
        f"/admin/rules/{objects.rule.id}/delete", no_admin, {})  # fmt: skip
    for target in ("admin1", "staff_a", "auditor1"):
        add("/admin/users/<int:user_id>/edit", ("GET", "POST"),
            f"/admin/users/{u[target].id}/edit", no_admin,
            {"name": "越权改名", "roles": ["admin"], "is_active": "y",
             "password": "Intruder-pass-2026", "office_id": ""})  # fmt: skip
    add("/admin/users/<int:user_id>/unlock", ("POST",),
        f"/admin/users/{objects.locked.id}/unlock",
        lacking(objects, Permission.MANAGE_SECURITY), {})  # fmt: skip
    day = objects.holiday.day.isoformat()
    no_calendar = lacking(objects, Permission.MANAGE_CALENDAR)
    add("/admin/calendar/day/<day_iso>", ("GET", "POST"), f"/admin/calendar/day/{day}",
        no_calendar, {"day": day, "kind": "work", "name": "越权修改"})  # fmt: skip
    add("/admin/calendar/day/<day_iso>/delete", ("POST",),
        f"/admin/calendar/day/{day}/delete", no_calendar, {})  # fmt: skip
    return found


# -- what "nothing changed" means ---------------------------------------------------------------


@dataclass(frozen=True)
class State:
    tables: dict[str, tuple[int, str]]  # every table but the audit trail: (rows, digest)
    audit: list[tuple]  # the audit trail's rows
    files: frozenset[str]  # the files under the instance folder


def state(app: Flask, db: Session) -> State:
    reread(db)
    tables: dict[str, tuple[int, str]] = {}
    audit: list[tuple] = []
    for table in SQLModel.metadata.sorted_tables:
        rows = [tuple(row) for row in db.execute(sa_select(table).order_by(*table.primary_key))]
        if table.name == AuditEvent.__tablename__:
            audit = rows
        else:
            digest = hashlib.sha256(repr(rows).encode()).hexdigest()
            tables[table.name] = (len(rows), digest)
    db.rollback()
    files = frozenset(str(p.relative_to(app.instance_path))
                      for p in Path(app.instance_path).rglob("*") if p.is_file())  # fmt: skip
    return State(tables, audit, files)


def changes(before: State, after: State) -> list[str]:
    """What a refused request changed (empty: nothing but its record in the audit trail)."""
    found = [f"table {name} changed" for name in before.tables
             if after.tables.get(name) != before.tables[name]]  # fmt: skip
    if after.audit[: len(before.audit)] != before.audit:
        found.append("existing audit events changed")
    action = [c.name for c in AuditEvent.__table__.columns].index("action")
    for row in after.audit[len(before.audit) :]:
        if row[action] not in REFUSAL_ACTIONS:
            found.append(f"audit event {row[action]} written")
    if after.files != before.files:
        found.append(f"files changed: {sorted(after.files ^ before.files)}")
    return found


def signed_in(app: Flask, login_name: str) -> FlaskClient:
    client = app.test_client()
    response = login(client, login_name, PASSWORD)
    assert response.status_code == 302, f"{login_name} could not sign in"
    return client


def call(client: FlaskClient, probe: Probe):
    if probe.method == "GET":
        response = client.get(probe.url)
    else:
        response = client.post(probe.url, data=probe.data or {})
    response.close()  # a file sent by mistake is closed too
    return response


def by_intruder(found: list[Probe]) -> Iterator[tuple[str, list[Probe]]]:
    names = sorted({p.intruder for p in found})
    for name in names:
        yield name, [p for p in found if p.intruder == name]


# -- the tests ----------------------------------------------------------------------------------


def rules_with_arguments(app: Flask) -> dict[str, set[str]]:
    rules: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.arguments:
            rules.setdefault(rule.rule, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    return rules


def test_every_route_with_an_argument_is_known(app: Flask) -> None:
    seen = set(rules_with_arguments(app))
    unknown = seen - set(KNOWN_RULES) - set(ALLOW_LIST)
    gone = (set(KNOWN_RULES) | set(ALLOW_LIST)) - seen
    assert not unknown, f"routes with an argument this test does not probe: {sorted(unknown)}"
    assert not gone, f"routes this test knows that no longer exist: {sorted(gone)}"
    assert not set(KNOWN_RULES) & set(ALLOW_LIST)


def test_every_known_route_is_probed_with_every_method(app: Flask, objects: Objects) -> None:
    rules = rules_with_arguments(app)
    probed: dict[str, set[str]] = {}
    for probe in probes(objects):
        probed.setdefault(probe.rule, set()).add(probe.method)
    missing = {rule: sorted(rules[rule] - probed.get(rule, set())) for rule in KNOWN_RULES}
    assert {rule: methods for rule, methods in missing.items() if methods} == {}


def test_objects_are_refused_to_users_who_must_not_reach_them(
    app: Flask, db: Session, objects: Objects
) -> None:
    failures: list[str] = []
    unrecorded: set[tuple[str, str]] = set()
    for intruder, mine in by_intruder(probes(objects)):
        client = signed_in(app, intruder)
        for probe in mine:
            before = state(app, db)
            response = call(client, probe)
            after = state(app, db)
            if response.status_code not in (403, 404):
                where = response.headers.get("Location", "")
                failures.append(f"{probe}: {response.status_code} {where}".rstrip())
            failures.extend(f"{probe}: {change}" for change in changes(before, after))
            if response.status_code == 403 and len(after.audit) != len(before.audit) + 1:
                unrecorded.add((probe.method, probe.rule))
                if (probe.method, probe.rule) not in UNRECORDED_403:
                    failures.append(f"{probe}: 403 without its access.denied record")
    failures.extend(f"{method} {rule}: now recorded, remove it from UNRECORDED_403"
                    for method, rule in sorted(UNRECORDED_403 - unrecorded))  # fmt: skip
    assert not failures, "\n".join(failures)


def test_anonymous_callers_are_sent_to_sign_in(app: Flask, db: Session, objects: Objects) -> None:
    client = app.test_client()
    failures = []
    before = state(app, db)
    for probe in {(p.method, p.url): p for p in probes(objects)}.values():
        response = call(client, probe)
        location = response.headers.get("Location", "")
        if not (response.status_code == 302 and "/login" in location):
            failures.append(f"{probe.method} {probe.url}: {response.status_code} {location}")
    assert not failures, "\n".join(failures)
    assert changes(before, state(app, db)) == []


def rightful(objects: Objects) -> list[tuple[str, str, str]]:
    """(rule, url, login): the objects of the GET probes opened by someone who may see them."""
    w, files, draft = objects.world, objects.files, objects.draft
    a, b = w.task_a.id, w.task_b.id
    day = objects.holiday.day.isoformat()
    reader, manager = (
        holder(objects, Permission.VIEW_REPORTS),
        holder(objects, Permission.MANAGE_REPORTS),
    )
    return [
        ("/tasks/<int:task_id>", f"/tasks/{a}", "staff_a"),
        ("/tasks/<int:task_id>", f"/tasks/{b}", "staff_b"),
        ("/tasks/<int:task_id>/reassign", f"/tasks/{a}/reassign",
         holder(objects, Permission.MANAGE_TASKS)),
        ("/tasks/<int:task_id>/files/<int:attachment_id>", f"/tasks/{a}/files/{files['a'].id}",
         "staff_a"),
        ("/tasks/<int:task_id>/files/<int:attachment_id>", f"/tasks/{b}/files/{files['b'].id}",
         "staff_b"),
        ("/offices/<int:office_id>", f"/offices/{w.office_a.id}", "staff_a"),
        ("/offices/<int:office_id>", f"/offices/{w.office_b.id}", "staff_b"),
        ("/reports/<int:report_id>", f"/reports/{draft.source_report_id}", reader),
        ("/reports/import/<int:draft_id>", f"/reports/import/{objects.import_draft.id}", manager),
        ("/drafts/<int:draft_id>", f"/drafts/{draft.id}", reader),
        ("/drafts/<int:draft_id>/versions/<int:number>", f"/drafts/{draft.id}/versions/1", reader),
        *(("/drafts/<int:draft_id>/export/<fmt>", f"/drafts/{draft.id}/export/{fmt}", reader)
          for fmt in draft_service.EXPORT_FORMATS),
        ("/admin/notifications/<int:outbox_id>", f"/admin/notifications/{objects.outbox.id}",
         holder(objects, Permission.VIEW_NOTIFICATIONS)),
        ("/admin/offices/<int:office_id>/edit", f"/admin/offices/{w.office_a.id}/edit",
         holder(objects, Permission.MANAGE_USERS)),
        ("/admin/users/<int:user_id>/edit", f"/admin/users/{objects.users['staff_a'].id}/edit",
         holder(objects, Permission.MANAGE_USERS)),
        ("/admin/calendar/day/<day_iso>", f"/admin/calendar/day/{day}",
         holder(objects, Permission.MANAGE_CALENDAR)),
    ]  # fmt: skip


def test_the_probed_ids_are_real(app: Flask, objects: Objects) -> None:
    """Whoever may see an object opens it with the same ids: a 404 above is a refusal, not a
    wrong id."""
    controls = rightful(objects)
    get_rules = {p.rule for p in probes(objects) if p.method == "GET"}
    assert get_rules == {rule for rule, _, _ in controls}
    clients: dict[str, FlaskClient] = {}
    failures = []
    for _, url, owner in controls:
        if owner not in clients:
            clients[owner] = signed_in(app, owner)
        response = clients[owner].get(url)
        response.close()
        if response.status_code != 200:
            failures.append(f"GET {url} as {owner}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_the_action_form_works_for_someone_who_may_act(
    app: Flask, db: Session, objects: Objects
) -> None:
    """The form the probes post is one that does change a task when the user may act on it."""
    task, staff = objects.world.task_a, objects.users["staff_a"]
    client = signed_in(app, "staff_a")
    before = state(app, db)
    response = client.post(f"/tasks/{task.id}/act/comment", data=_action_form(task, staff))
    assert response.status_code == 302
    assert "table task_comment changed" in changes(before, state(app, db))


def test_a_new_route_with_an_id_is_noticed(app: Flask) -> None:
    app.add_url_rule("/things/<int:thing_id>", "thing", lambda thing_id: "")
    unknown = set(rules_with_arguments(app)) - set(KNOWN_RULES) - set(ALLOW_LIST)
    assert unknown == {"/things/<int:thing_id>"}
