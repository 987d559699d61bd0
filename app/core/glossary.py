"""Chinese names of the domain's codes, for display."""

from __future__ import annotations

from enum import StrEnum


class OfficeKind(StrEnum):
    SECTION = "section"
    STATION = "station"
    COMMUNITY = "community"


OFFICE_KIND_LABELS: dict[OfficeKind, str] = {
    OfficeKind.SECTION: "科室",
    OfficeKind.STATION: "站所",
    OfficeKind.COMMUNITY: "村/社区",
}


class ReportStatus(StrEnum):
    IMPORTED = "imported"
    DRAFT = "draft"


REPORT_STATUS_LABELS: dict[ReportStatus, str] = {
    ReportStatus.IMPORTED: "已导入",
    ReportStatus.DRAFT: "草稿",
}


# Audit actions as the auditor reads them; prefixes name the families used in the filter.
AUDIT_ACTION_LABELS: dict[str, str] = {
    "login": "登录", "logout": "退出", "login.failed": "登录失败（密码错误）",
    "login.unknown_user": "登录失败（用户不存在）", "login.lockout": "账号锁定",
    "login.locked": "锁定期间尝试登录", "login.inactive": "停用账号尝试登录",
    "user.create": "新建用户", "user.update": "修改用户", "user.password": "重置密码",
    "office.create": "新建科室", "office.update": "修改科室",
    "office_rule.create": "新增牵头规则", "office_rule.delete": "删除牵头规则",
    "office_rule.defaults": "补充默认牵头规则", "holiday.seed": "导入法定节假日",
    "holiday.create": "新增工作日历条目", "holiday.update": "修改工作日历条目",
    "holiday.delete": "删除工作日历条目",
    "report.import": "导入报告", "attachment.upload": "上传附件", "task.export": "导出台账",
    "task.accept": "签收", "task.update": "报送进展", "task.submit": "申请办结",
    "task.approve": "审核办结", "task.return": "退回", "task.request_extension": "申请延期",
    "task.decide_extension": "审批延期", "task.extend": "调整时限", "task.reassign": "重新交办",
    "task.cancel": "撤销任务", "task.reopen": "重新打开", "task.comment": "评论",
    "task.urge": "督促",
}  # fmt: skip
AUDIT_FAMILIES: dict[str, str] = {
    "login": "登录与退出", "user": "用户", "office": "科室与规则", "holiday": "工作日历",
    "report": "报告", "task": "任务", "attachment": "附件",
}  # fmt: skip
OBJECT_LABELS: dict[str, str] = {
    "user": "用户", "office": "科室", "office_rule": "牵头规则", "unit": "单位",
    "holiday": "日历", "report": "报告", "task": "任务", "attachment": "附件",
}  # fmt: skip


def audit_action_label(action: str) -> str:
    """The Chinese name of an audit action (the code itself when unknown)."""
    return AUDIT_ACTION_LABELS.get(action, action)


# 通知记录 (the notification log): the outbox's codes as the admin reads them. The keys are the
# values stored in outbox.status / channel / kind; the order is the order of the filter lists.
OUTBOX_STATUS_LABELS: dict[str, str] = {
    "pending": "待发送", "sending": "发送中", "sent": "已发送", "failed": "发送失败",
    "skipped": "已跳过",
}  # fmt: skip
NOTIFY_CHANNEL_LABELS: dict[str, str] = {"email": "邮件", "wecom": "企业微信", "dingtalk": "钉钉"}
NOTIFY_KIND_LABELS: dict[str, str] = {
    "reminder": "催办提醒", "digest": "每周待办汇总", "summary": "月度情况汇总",
    "notice": "系统通知",
}  # fmt: skip
# Resending is audited; registered here rather than inside the tables above so that the
# notification log's additions stay in one place.
AUDIT_ACTION_LABELS["notification.resend"] = "重发通知"
AUDIT_ACTION_LABELS["settings.reminder_policy"] = "修改提醒设置"
AUDIT_FAMILIES["settings"] = "系统设置"
OBJECT_LABELS["setting"] = "设置"
AUDIT_FAMILIES["notification"] = "通知"
OBJECT_LABELS["outbox"] = "通知"
AUDIT_ACTION_LABELS["review.export"] = "导出进度通报"
AUDIT_ACTION_LABELS["review.send"] = "发送进度通报"
AUDIT_FAMILIES["review"] = "进度通报"
OBJECT_LABELS["review"] = "进度通报"
# 年度报告初稿 (next year's report draft).
AUDIT_ACTION_LABELS["draft.generate"] = "生成报告初稿"
AUDIT_ACTION_LABELS["draft.save"] = "保存报告初稿"
AUDIT_ACTION_LABELS["draft.restore"] = "恢复报告初稿版本"
AUDIT_ACTION_LABELS["draft.export"] = "导出报告初稿"
AUDIT_FAMILIES["draft"] = "报告初稿"
OBJECT_LABELS["report_draft"] = "报告初稿"
# Exports of the audit trail itself.
AUDIT_ACTION_LABELS["audit.export"] = "导出审计日志"
AUDIT_FAMILIES["audit"] = "审计日志"
OBJECT_LABELS["audit_event"] = "审计日志"
# 等保2.0 account and session controls (app/access.py, app/services/users.py, login_throttle.py).
AUDIT_ACTION_LABELS["login.ip_lockout"] = "来源地址限制登录"
AUDIT_ACTION_LABELS["login.ip_locked"] = "受限地址尝试登录"
AUDIT_ACTION_LABELS["login.ip_unlock"] = "解除地址登录限制"
AUDIT_ACTION_LABELS["user.unlock"] = "解除锁定"
AUDIT_ACTION_LABELS["password.change"] = "修改密码"
AUDIT_ACTION_LABELS["password.change_failed"] = "修改密码失败（当前密码错误）"
AUDIT_ACTION_LABELS["session.timeout"] = "会话超时退出"
AUDIT_ACTION_LABELS["session.revoke_all"] = "退出全部登录"
AUDIT_ACTION_LABELS["access.denied"] = "越权访问被拒绝"
AUDIT_FAMILIES["password"] = "密码"
AUDIT_FAMILIES["session"] = "会话"
AUDIT_FAMILIES["access"] = "权限拒绝"
OBJECT_LABELS["login_address"] = "登录地址"
