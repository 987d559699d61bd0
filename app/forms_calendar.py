"""Forms of the working-day calendar page (工作日历): the shape of input only."""

from __future__ import annotations

from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.core.holiday_list import MAX_LINES, NAME_MAX_LENGTH
from app.forms import REQUIRED, Form, options

KIND_CHOICES = [("rest", "休（放假）"), ("work", "班（调休上班）")]
MIN_YEAR, MAX_YEAR = 2000, 2100


class HolidayDayForm(Form):
    day = DateField("日期", validators=[DataRequired(REQUIRED)])
    kind = SelectField("类型", choices=options(KIND_CHOICES))
    name = StringField(
        "名称",
        description="如：国庆节、国庆节调休。",
        validators=[Optional(), Length(max=NAME_MAX_LENGTH)],
    )

    @property
    def is_workday(self) -> bool:
        return self.kind.data == "work"


class HolidayImportForm(Form):
    lines = TextAreaField(
        "批量导入",
        description=(
            "每行一天：日期,类型,名称。类型写“休”或“班”。以 # 开头的行为注释。"
            "例：2027-01-01,休,元旦 / 2027-02-07,班,春节调休。任何一行有误则全部不导入。"
        ),
        validators=[DataRequired(REQUIRED), Length(max=MAX_LINES * 80)],
    )


class SeedForm(Form):
    year = IntegerField(
        "年份",
        validators=[DataRequired(REQUIRED), NumberRange(MIN_YEAR, MAX_YEAR, "年份超出范围。")],
    )


class ConfirmForm(Form):
    """A POST with nothing but its CSRF token (delete)."""
