"""The 督查通报 as a DocumentSpec, and the leaders' mail, worded from known figures."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from app.core.document import Block, BlockKind, Table, to_text
from app.core.review_document import (
    DOCUMENT_OVERDUE_LIMIT,
    Masthead,
    days_phrase,
    ranking_sentences,
    review_mail,
    review_spec,
)
from tests.core.test_review import D, review


def kinds(spec) -> list[str]:
    return [e.kind.value if isinstance(e, Block) else type(e).__name__ for e in spec.elements]


def test_the_layout_of_a_bulletin() -> None:
    spec = review_spec(review(), Masthead(issuer="蓬东乡法治政府建设工作领导小组办公室"))
    blocks = spec.blocks()
    assert [b.text for b in blocks[:5]] == [
        "法治政府建设任务督查通报", "2022年第10期",
        "蓬东乡法治政府建设工作领导小组办公室", "2022年10月12日",  # too long for one line
        "关于2022年法治政府建设任务\n落实情况的通报",  # broken where the sense allows
    ]  # fmt: skip
    assert [b.text for b in blocks if b.kind == BlockKind.HEADING1] == [
        "一、总体情况", "二、各单位落实情况", "三、逾期未完成任务", "四、工作要求",
    ]  # fmt: skip
    assert kinds(spec)[-2:] == ["signature", "date"] and blocks[-1].text == "2022年10月12日"
    assert spec.title == "关于2022年法治政府建设任务落实情况的通报"
    assert spec.author == "蓬东乡法治政府建设工作领导小组办公室"
    short = review_spec(review(), Masthead(issuer="蓬东乡依法治乡办"))
    assert short.blocks()[2].text == "蓬东乡依法治乡办　　2022年10月12日"


def test_the_figures_in_words() -> None:
    text = to_text(review_spec(review()))
    assert (
        "截至2022年10月12日，共有任务8项，已办结4项（50%），在办4项，其中已逾期2项。"
        "临近时限（5个工作日内）的任务1项。已办结任务中按期办结3项，按期办结率75%"
    ) in text
    assert "经批准延期的任务1项。另有1项任务已撤销，不计入统计。" in text
    assert (
        "各单位报送的量化成果累计：开展普法宣传12次，开展普法宣传300人，化解矛盾纠纷3件。" in text
    )


def test_praise_and_naming_follow_the_figures() -> None:
    sentences = ranking_sentences(review())
    assert sentences[0].startswith("农业站任务推进有力") and "予以通报表扬" in sentences[0]
    assert sentences[1].startswith("司法所（逾期2项）存在逾期未完成任务，予以通报。")


def test_many_named_offices_are_summed_up() -> None:
    f = review()
    named = tuple(replace(f.named[0], name=f"单位{i}", overdue=9 - i) for i in range(7))
    sentence = ranking_sentences(replace(f, named=named, praised=()))[0]
    assert sentence.startswith("单位0（逾期9项）、单位1（逾期8项）")
    assert "单位4（逾期5项）等7个单位存在逾期未完成任务" in sentence and "单位5" not in sentence


def test_tables_of_the_bulletin() -> None:
    tables = [e for e in review_spec(review()).elements if isinstance(e, Table)]
    assert [t.caption[:2] for t in tables] == ["表1", "表2", "表3"]
    commitments, offices, overdue = tables
    assert commitments.rows[0] == ("2021年度 一是加强宣传", "5", "3", "1", "60%")
    assert offices.headers == ("排名", "单位", "任务数", "已办结", "逾期", "办结率", "按期办结率")
    assert offices.rows == (
        ("1", "农业站", "2", "1", "0", "50%", "100%"),
        ("2", "司法所", "4", "2", "2", "50%", "100%"),
        ("3", "综治办", "2", "1", "0", "50%", "0%"),
    )
    assert overdue.rows == (
        ("1", "T3", "司法所", "2022年9月30日", "5"), ("2", "T10", "司法所", "2022年10月10日", "2"),
    )  # fmt: skip


def test_an_extended_overdue_task_shows_both_dates() -> None:
    f = review()
    late = replace(f.overdue_tasks[0], original_deadline=date(2022, 9, 1), days_overdue=0)
    (table,) = [e for e in review_spec(replace(f, overdue_tasks=(late,))).elements
                if isinstance(e, Table) and e.caption.startswith("表3")]  # fmt: skip
    assert table.rows[0][3:] == ("2022年9月30日（原定2022年9月1日，已延期）", "不足1个")
    assert days_phrase(0) == "已逾期（不足1个工作日）" and days_phrase(3) == "已逾期3个工作日"


def test_a_long_overdue_list_is_cut_and_says_where_the_rest_is() -> None:
    f = review()
    many = tuple(replace(f.overdue_tasks[0], task_id=i) for i in range(DOCUMENT_OVERDUE_LIMIT + 5))
    spec = review_spec(replace(f, overdue_tasks=many))
    (table,) = [e for e in spec.elements if isinstance(e, Table) and e.caption.startswith("表3")]
    assert len(table.rows) == DOCUMENT_OVERDUE_LIMIT
    assert f"共{DOCUMENT_OVERDUE_LIMIT + 5}项" in to_text(
        spec
    ) and "完整名单见导出的数据表" in to_text(spec)


def test_an_empty_review_still_reads() -> None:
    text = to_text(review_spec(review(date(2022, 1, 1))))
    assert "共有任务0项" in text and "无逾期未完成任务" in text and "尚未报送量化成果" in text
    assert "表2" not in text


def test_the_mail_puts_overdue_offices_first_and_escapes_html() -> None:
    f = review()
    body = review_mail(
        f, subject="【进度通报】", greeting="各位领导：", link="http://x/review/?a=1&b=2"
    )
    assert "共有任务8项，已办结4项（50%），在办4项，其中已逾期2项" in body.text
    assert body.text.index("司法所：共4项") < body.text.index("农业站：共2项")
    assert "1. T3（司法所，时限2022年9月30日，已逾期5个工作日）" in body.text
    assert 'href="http://x/review/?a=1&amp;b=2"' in body.html
    evil = replace(f, overdue_tasks=(replace(f.overdue_tasks[0], title="<script>"),))
    assert "<script>" not in review_mail(evil, subject="s", greeting="g", link="l").html
    assert body.markdown.startswith("### 【进度通报】")
    assert D.isoformat() not in body.text  # dates are written the Chinese way
