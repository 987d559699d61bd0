"""Flask-WTF forms: the shape of input only. Rules come back from services as DomainError."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.glossary import AUDIT_FAMILIES, OFFICE_KIND_LABELS
from app.core.roles import ROLE_LABELS

REQUIRED = "此项为必填项。"
FIRST_YEAR, LAST_YEAR = 2000, 2100  # dates outside these are typing mistakes, not plans


def plausible_date(form: FlaskForm, field) -> None:
    """Refuse dates no plan of this app can have (and that overflow date arithmetic)."""
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        field.data = None
        raise ValidationError(f"日期须在{FIRST_YEAR}年至{LAST_YEAR}年之间。")


def options(pairs: Iterable[tuple[object, str]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class Form(FlaskForm):
    """Base form: WTForms' own Chinese messages for the errors it raises itself."""

    class Meta:
        locales = ["zh"]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _office_choice(value: str) -> int | None:
    return int(value) if value not in ("", "None", None) else None


class SecretField(PasswordField):
    """A write-only secret: never filled from the stored object, never rendered back."""

    def process_data(self, value: object) -> None:
        self.data = None


PASSWORD_RULES = "至少8位，含大写字母、小写字母、数字、符号中的至少三类，不能包含用户名。"


class LoginForm(Form):
    login = StringField("用户名", validators=[DataRequired(REQUIRED), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired(REQUIRED), Length(max=128)])
    next = HiddenField()


class PasswordChangeForm(Form):
    """修改密码: the user's own change (the rules come back from the service)."""

    current_password = PasswordField(
        "当前密码", validators=[DataRequired(REQUIRED), Length(max=128)]
    )
    new_password = PasswordField(
        "新密码", description=PASSWORD_RULES, validators=[DataRequired(REQUIRED)]
    )
    confirm_password = PasswordField(
        "再次输入新密码",
        validators=[DataRequired(REQUIRED), EqualTo("new_password", "两次输入的新密码不一致。")],
    )


class OfficeForm(Form):
    unit_id = SelectField("所属单位", coerce=int)
    name = StringField("名称", validators=[DataRequired(REQUIRED), Length(max=100)])
    short_name = StringField("简称", validators=[Optional(), Length(max=50)])
    kind = SelectField("类别", choices=options((k.value, v) for k, v in OFFICE_KIND_LABELS.items()))
    mailbox = EmailField(
        "工作邮箱", validators=[Optional(), Email("邮箱格式不正确。"), Length(max=254)]
    )
    leader_name = StringField("分管领导", validators=[Optional(), Length(max=50)])
    leader_email = EmailField(
        "分管领导邮箱", validators=[Optional(), Email("邮箱格式不正确。"), Length(max=254)]
    )
    head_id = SelectField(
        "科室负责人",
        coerce=_office_choice,
        description="导入报告时默认作为本科室任务的责任人。",
    )
    is_active = BooleanField("启用", default=True)
    wecom_webhook = StringField(
        "企业微信群机器人 Webhook 地址",
        description="可选。在企业微信群的“群机器人”中添加机器人后复制，形如 "
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…；本科室的催办摘要将同时发到该群。",
        validators=[Optional(), Length(max=500)],
    )
    dingtalk_webhook = StringField(
        "钉钉自定义机器人 Webhook 地址",
        description="可选。在钉钉群的“智能群助手”中添加自定义机器人，安全设置选择“加签”，"
        "再复制地址，形如 https://oapi.dingtalk.com/robot/send?access_token=…；清空地址时一并删除加签密钥。",
        validators=[Optional(), Length(max=500)],
    )
    dingtalk_secret = SecretField(
        "钉钉加签密钥",
        description="以 SEC 开头，在机器人安全设置的“加签”一栏复制；填写钉钉地址时必填。"
        "已设置时留空表示不修改。",
        validators=[Optional(), Length(max=200)],
    )
    clear_dingtalk_secret = BooleanField("清除密钥")


class OfficeRuleForm(Form):
    office_id = SelectField("科室", coerce=int)
    keyword = StringField("关键词", validators=[DataRequired(REQUIRED), Length(max=50)])
    position = IntegerField(
        "优先级",
        default=100,
        description="数字小的规则先匹配。",
        validators=[DataRequired(REQUIRED), NumberRange(1, 9999, "优先级应在1至9999之间。")],
    )


class UserForm(Form):
    login = StringField("用户名", validators=[DataRequired(REQUIRED), Length(max=64)])
    name = StringField("姓名", validators=[DataRequired(REQUIRED), Length(max=50)])
    email = EmailField("邮箱", validators=[Optional(), Email("邮箱格式不正确。"), Length(max=254)])
    office_id = SelectField("所属科室", coerce=_office_choice, validate_choice=True)
    roles = MultiCheckboxField(
        "角色",
        choices=options((r.value, v) for r, v in ROLE_LABELS.items()),
        description="三员分立：系统管理员、安全管理员、安全审计员须由三个不同的账号担任，"
        "且不能兼任督办协调员、科室人员、分管领导等业务角色。",
    )
    is_active = BooleanField("启用", default=True)
    password = PasswordField(
        "密码",
        description=f"{PASSWORD_RULES}新建或重置的密码，用户首次登录时须修改。"
        "编辑时留空表示不修改。",
        validators=[Optional(), Length(max=128)],
    )


class TaskFilterForm(Form):
    class Meta:
        csrf = False
        locales = ["zh"]

    q = StringField("关键词", validators=[Optional(), Length(max=100)])
    office_id = SelectField("牵头单位", coerce=_office_choice, validate_choice=False)
    status = SelectField("状态", validate_choice=False)
    light = SelectField(
        "亮灯",
        choices=options([("", "全部"), ("red", "红灯（逾期）"), ("yellow", "黄灯（临近）"),
                         ("green", "绿灯（正常）")]),
        validate_choice=False,
    )  # fmt: skip
    year = IntegerField(
        "报告年度", validators=[Optional(), NumberRange(2000, 2100, "年度应在2000至2100之间。")]
    )
    due_from = DateField("时限自", validators=[Optional(), plausible_date])
    due_to = DateField("时限至", validators=[Optional(), plausible_date])
    sort = SelectField("排序", validate_choice=False)
    report = HiddenField()
    commitment = HiddenField()


class BulkForm(Form):
    """Bulk actions on the tasks ticked in the list (the task ids are read by hand)."""

    action = SelectField(
        "批量操作", choices=options([("reassign", "批量交办"), ("extend", "批量调整时限")])
    )
    office_id = SelectField("交办给", coerce=_office_choice, validate_choice=False)
    new_deadline = DateField("新时限", validators=[Optional(), plausible_date])
    reason = StringField("理由", validators=[DataRequired(REQUIRED), Length(max=500)])


class AuditFilterForm(Form):
    class Meta:
        csrf = False
        locales = ["zh"]

    action = SelectField(
        "操作类别",
        choices=options([("", "全部")] + list(AUDIT_FAMILIES.items())),
        validate_choice=False,
    )
    actor = StringField("操作人", validators=[Optional(), Length(max=64)])
    date_from = DateField("起始日期", validators=[Optional(), plausible_date])
    date_to = DateField("截止日期", validators=[Optional(), plausible_date])


class ImportUploadForm(Form):
    unit_id = SelectField("报告单位", coerce=int)
    year = IntegerField(
        "报告年度",
        description="报告所总结的年度（如“关于2021年度…的报告”填 2021）；留空则从标题识别。",
        validators=[Optional(), NumberRange(2000, 2100, "年度应在2000至2100之间。")],
    )
    file = FileField("报告文件", description="支持 .txt、.docx、.pdf，不超过10MB。")
    text = TextAreaField("或粘贴报告全文", validators=[Optional(), Length(max=2_000_000)])


class CsrfOnlyForm(Form):
    """A form whose fields are read by hand (the import preview); it checks the CSRF token."""
