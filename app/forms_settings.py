"""The reminder policy form (提醒设置): the shape of input only; app.core.reminder_policy
parses and checks the values."""

from __future__ import annotations

from wtforms import BooleanField, StringField
from wtforms.validators import Length

from app.forms import Form


class ReminderPolicyForm(Form):
    before_workdays = StringField(
        "到期前提醒（工作日）",
        description="在时限前多少个工作日提醒承办人和牵头单位，可填多个，用顿号或逗号分隔，"
        "如“10、5、1”；留空则不提前提醒。",
        validators=[Length(max=60)],
    )
    overdue_every_workdays = StringField(
        "逾期后每隔（工作日）",
        description="到期当天提醒一次；逾期后每隔多少个工作日再提醒，并抄送单位负责人和督办协调员。",
        validators=[Length(max=10)],
    )
    submitted_after_workdays = StringField(
        "待审核超过（工作日）",
        description="任务申请办结后超过多少个工作日未审核，提醒督办协调员。",
        validators=[Length(max=10)],
    )
    send_time = StringField(
        "每周提示和月度进展的发送时间",
        description="北京时间，如 09:00。每周提示在每周第一个工作日发送，"
        "月度进展在每月第一个工作日发送。",
        validators=[Length(max=10)],
    )
    periodic = BooleanField("提醒按月、按季度报送进展的任务")
    weekly_digest = BooleanField("每周向各单位发送在办任务提示")
    monthly_summary = BooleanField("每月向分管领导发送进展情况")

    TEXT_FIELDS = ("before_workdays", "overdue_every_workdays", "submitted_after_workdays",
                   "send_time")  # fmt: skip
    FLAGS = ("periodic", "weekly_digest", "monthly_summary")
