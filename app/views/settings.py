"""提醒设置: the reminder policy the scheduler follows (admins)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from app.access import require
from app.core.reminder_policy import ReminderPolicy, parse_policy_form
from app.core.roles import Permission
from app.db import get_session
from app.forms_settings import ReminderPolicyForm
from app.services import settings as settings_service
from app.views import client_ip

bp = Blueprint("settings", __name__, url_prefix="/admin/settings")


def _form_data(policy: ReminderPolicy) -> dict:
    data = policy.to_settings()
    data["before_workdays"] = "、".join(str(d) for d in policy.before_workdays)
    for name in ReminderPolicyForm.TEXT_FIELDS[1:3]:
        data[name] = str(data[name])
    return data


@bp.route("/reminders", methods=["GET", "POST"])
@require(Permission.MANAGE_NOTIFICATIONS)
def reminders():
    db = get_session()
    current = settings_service.reminder_policy(db)
    form = ReminderPolicyForm(data=_form_data(current))
    if form.validate_on_submit():
        fields = {name: getattr(form, name).data or "" for name in form.TEXT_FIELDS}
        flags = {name: getattr(form, name).data for name in form.FLAGS}
        policy, errors = parse_policy_form(fields, flags)
        for name, message in errors.items():
            getattr(form, name).errors = [*getattr(form, name).errors, message]
        if policy is not None:
            changed = settings_service.save_reminder_policy(
                db, policy, actor=current_user, ip=client_ip()
            )
            db.commit()
            flash("提醒设置已保存，下一次调度起生效。" if changed else "设置没有变化。", "success")
            return redirect(url_for("settings.reminders"))
    return render_template(
        "settings/reminders.html", form=form, defaults=_form_data(ReminderPolicy())
    )
