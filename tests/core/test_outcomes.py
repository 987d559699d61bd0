"""Outcome aggregation: same metric and unit summed, different units kept apart."""

from __future__ import annotations

from app.core.outcomes import OutcomeItem, aggregate, format_value


def test_same_metric_and_unit_sum_and_different_units_stay_apart() -> None:
    totals = aggregate([
        OutcomeItem("开展集中普法宣传", 7, "次"), OutcomeItem("开展集中普法宣传", 5, "次"),
        OutcomeItem("开展集中普法宣传", 300, "人"), OutcomeItem("化解矛盾纠纷", 4, "件"),
    ])  # fmt: skip
    assert [(t.phrase, t.count) for t in totals] == [
        ("开展集中普法宣传12次", 2), ("开展集中普法宣传300人", 1), ("化解矛盾纠纷4件", 1),
    ]  # fmt: skip


def test_typing_differences_do_not_split_a_metric() -> None:
    totals = aggregate([
        OutcomeItem("开展 普法宣传", 1, "次"), OutcomeItem("开展普法宣传 ", 2, " 次"),
        OutcomeItem("培训ＡＢ", 1, "场"), OutcomeItem("培训ab", 1, "场"),
        OutcomeItem("  ", 9, "次"),
    ])  # fmt: skip
    assert [(t.metric, t.value) for t in totals] == [("开展 普法宣传", 3), ("培训ＡＢ", 2)]


def test_values_read_as_people_write_them() -> None:
    assert [format_value(v) for v in (12.0, 2.5, 0.1 + 0.2, 1e6, 3.333333)] == [
        "12", "2.5", "0.3", "1000000", "3.33",
    ]  # fmt: skip
