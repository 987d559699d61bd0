"""The progress review in words: a 督查通报 as a DocumentSpec, and the e-mail to leaders. Pure.

The 通报 follows the layout of a 督查通报 under GB/T 9704-2012: the masthead (版头), the issue
line and the issuer with the date, a title, the addressees, then 一、总体情况 (with the
下一步打算 table), 二、各单位落实情况 (the ranking table; the offices that did well praised,
those with overdue tasks named, in the measured tone of an official bulletin), 三、逾期未完成任务
(the list), 四、工作要求, the signature and the date. The wording of the praise and the naming
follows the figures' rules (app/core/review.py, rule 7); nothing here decides who is praised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape

from app.core.document import Block, BlockKind, DocumentSpec, Element, Table
from app.core.lifecycle import YELLOW_WORKDAYS
from app.core.outcomes import OutcomeTotal
from app.core.review import OfficeRow, OverdueTask, ReviewFigures, percent
from app.core.timefmt import format_date_cn

MASTHEAD = "法治政府建设任务督查通报"
DEFAULT_ISSUER = "法治政府建设工作领导小组办公室"
DOCUMENT_OVERDUE_LIMIT = 200  # the rest are in the .xlsx: a 通报 is read, not searched
MAIL_OVERDUE_LIMIT = 20
LINE_CHARS = 28  # characters a line of 3号 type in the 版心 (GB/T 9704)
NAMED_LIMIT = 5  # named in the sentence; the table shows every office
# Seven columns fit the 版心 at 4号 (28 characters); 在办 and the light are on the page and in
# the workbook.
OFFICE_HEADERS = ("排名", "单位", "任务数", "已办结", "逾期", "办结率", "按期办结率")
COMMITMENT_HEADERS = ("下一步打算", "任务数", "已办结", "逾期", "完成进度")
OVERDUE_HEADERS = ("序号", "任务", "牵头单位", "时限", "逾期（工作日）")
REQUIREMENTS = (
    ("（一）压实工作责任。", "各单位主要负责同志要切实履行第一责任人职责，对照任务清单逐项推进，"
     "确保按时保质完成。"),
    ("（二）加快推进逾期任务。", "被点名的单位要认真分析原因，于5个工作日内向督办人员书面说明"
     "情况，明确整改措施和完成时限。"),
    ("（三）及时报送进展。", "各单位要及时在系统中报送工作进展和量化成果，上传佐证材料，确保"
     "数据真实准确。"),
)  # fmt: skip


@dataclass(frozen=True)
class Masthead:
    """What the 通报's head says besides the figures."""

    issuer: str = DEFAULT_ISSUER  # 发文机关: the signature too
    issue: str = ""  # 2022年第10期
    year: int | None = None  # the working year in the title; default: the as-of year
    addressee: str = "各有关单位："
    issued_on: date | None = None  # 成文日期; default: the as-of date


def overall_sentence(f: ReviewFigures) -> str:
    """截至…，共有任务8项，已办结4项（50%），在办4项，其中已逾期2项。"""
    return (
        f"截至{format_date_cn(f.as_of)}，共有任务{f.total}项，已办结{f.closed}项"
        f"（{percent(f.completion_rate)}），在办{f.open}项，其中已逾期{f.overdue}项。"
    )


def detail_sentence(f: ReviewFigures) -> str:
    parts = [f"临近时限（{YELLOW_WORKDAYS}个工作日内）的任务{f.due_soon}项。"]
    if f.closed:
        parts.append(
            f"已办结任务中按期办结{f.on_time}项，按期办结率{percent(f.on_time_rate)}"
            "（按原定时限计算，经批准延期的按延期后的时限计算）。"
        )
    if f.extended:
        parts.append(f"经批准延期的任务{f.extended}项。")
    if f.cancelled:
        parts.append(f"另有{f.cancelled}项任务已撤销，不计入统计。")
    return "".join(parts)


def outcomes_sentence(totals: tuple[OutcomeTotal, ...]) -> str:
    if not totals:
        return "各单位尚未报送量化成果。"
    return "各单位报送的量化成果累计：" + "，".join(t.phrase for t in totals) + "。"


def _names(rows: tuple[OfficeRow, ...], limit: int) -> str:
    shown = "、".join(r.name for r in rows[:limit])
    return shown + (f"等{len(rows)}个单位" if len(rows) > limit else "")


def ranking_sentences(f: ReviewFigures) -> list[str]:
    """The praise and the naming: measured, and only what the figures say."""
    sentences = []
    if f.praised:
        sentences.append(
            f"{_names(f.praised, len(f.praised))}任务推进有力，无逾期任务，办结率和按期办结率"
            "均高于总体水平，予以通报表扬。"
        )
    if f.named:
        listed = "、".join(f"{r.name}（逾期{r.overdue}项）" for r in f.named[:NAMED_LIMIT])
        more = f"等{len(f.named)}个单位" if len(f.named) > NAMED_LIMIT else ""
        sentences.append(
            f"{listed}{more}存在逾期未完成任务，予以通报。请相关单位高度重视，"
            "认真查找原因，采取有效措施，加快推进落实。"
        )
    if not f.named and f.total:
        sentences.append("各单位均无逾期未完成任务，请继续保持。")
    return sentences


def office_table_rows(f: ReviewFigures) -> tuple[tuple[str, ...], ...]:
    return tuple(
        (str(o.rank), o.name, str(o.total), str(o.closed), str(o.overdue),
         percent(o.completion_rate), percent(o.on_time_rate))
        for o in f.offices
    )  # fmt: skip


def commitment_table_rows(f: ReviewFigures) -> tuple[tuple[str, ...], ...]:
    return tuple(
        (c.label, str(c.tasks), str(c.closed), str(c.overdue), percent(c.progress))
        for c in f.commitments
    )


def overdue_row(number: int, t: OverdueTask) -> tuple[str, ...]:
    deadline = format_date_cn(t.deadline)
    if t.extended:
        deadline += f"（原定{format_date_cn(t.original_deadline)}，已延期）"
    days = str(t.days_overdue) if t.days_overdue else "不足1个"
    return (str(number), t.title, t.office_name, deadline, days)


def days_phrase(days: int) -> str:
    """已逾期3个工作日; a task due on a Friday is overdue on the Saturday by less than one."""
    return f"已逾期{days}个工作日" if days else "已逾期（不足1个工作日）"


def review_spec(f: ReviewFigures, masthead: Masthead | None = None) -> DocumentSpec:
    """The 督查通报 of F."""
    head = masthead or Masthead()
    year = head.year or f.as_of.year
    issued = head.issued_on or f.as_of
    title = f"关于{year}年法治政府建设任务落实情况的通报"
    # 2号 type holds about 20 characters a line: break where the sense allows (GB/T 9704 7.3.1)
    shown_title = f"关于{year}年法治政府建设任务\n落实情况的通报"
    elements: list[Element] = [
        Block(BlockKind.MASTHEAD, MASTHEAD),
        Block(BlockKind.ISSUE_LINE, head.issue or f"{f.as_of.year}年第{f.as_of.month}期"),
        *_issuer_lines(head.issuer, format_date_cn(issued)),
        Block(BlockKind.TITLE, shown_title),
        Block(BlockKind.ADDRESSEE, head.addressee),
        Block(
            BlockKind.BODY,
            f"为推动{year}年法治政府建设各项任务落实落地，现将截至"
            f"{format_date_cn(f.as_of)}的任务落实情况通报如下。",
        ),
        Block(BlockKind.HEADING1, "一、总体情况"),
        Block(BlockKind.BODY, overall_sentence(f) + detail_sentence(f)),
        Block(BlockKind.BODY, outcomes_sentence(f.outcomes)),
    ]
    if f.commitments:
        elements.append(Table(COMMITMENT_HEADERS, commitment_table_rows(f),
                              caption="表1 “下一步打算”落实进度"))  # fmt: skip
    elements.append(Block(BlockKind.HEADING1, "二、各单位落实情况"))
    elements += [Block(BlockKind.BODY, s) for s in ranking_sentences(f)]
    if f.offices:
        caption = "表2 各单位任务落实情况（按办结率、按期办结率排名）"
        elements.append(Table(OFFICE_HEADERS, office_table_rows(f), caption=caption))
    elements += _overdue_section(f)
    elements.append(Block(BlockKind.HEADING1, "四、工作要求"))
    elements += [Block(BlockKind.HEADING2, lead, tail) for lead, tail in REQUIREMENTS]
    elements += [Block(BlockKind.SIGNATURE, head.issuer),
                 Block(BlockKind.DATE, format_date_cn(issued))]  # fmt: skip
    return DocumentSpec(tuple(elements), title=title, author=head.issuer,
                        keywords=("督查通报", "法治政府建设"))  # fmt: skip


def _issuer_lines(issuer: str, day: str) -> list[Block]:
    """The issuer and the date on one line of the 版头 when they fit, else one line each."""
    if len(issuer) + len(day) + 2 <= LINE_CHARS:
        return [Block(BlockKind.ISSUE_LINE, f"{issuer}　　{day}")]
    return [Block(BlockKind.ISSUE_LINE, issuer), Block(BlockKind.ISSUE_LINE, day)]


def _overdue_section(f: ReviewFigures) -> list[Element]:
    elements: list[Element] = [Block(BlockKind.HEADING1, "三、逾期未完成任务")]
    if not f.overdue_tasks:
        elements.append(Block(BlockKind.BODY, f"截至{format_date_cn(f.as_of)}，无逾期未完成任务。"))
        return elements
    shown = f.overdue_tasks[:DOCUMENT_OVERDUE_LIMIT]
    text = (f"截至{format_date_cn(f.as_of)}，逾期未完成任务共{len(f.overdue_tasks)}项"
            "（逾期时间按工作日计算，已扣除法定节假日）")  # fmt: skip
    if len(shown) < len(f.overdue_tasks):
        text += f"，下表列出逾期最久的{len(shown)}项，完整名单见导出的数据表"
    elements.append(Block(BlockKind.BODY, text + "。"))
    elements.append(Table(OVERDUE_HEADERS, tuple(overdue_row(n, t) for n, t in
                                                 enumerate(shown, start=1)),
                          caption="表3 逾期未完成任务清单"))  # fmt: skip
    return elements


# -- the e-mail -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MailBody:
    text: str
    html: str
    markdown: str


_HTML_PAGE = (
    '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
    '</head>\n<body style="font-family:sans-serif;font-size:14px;line-height:1.6">\n{body}'
    '<p style="color:#666;font-size:12px">本邮件由落实督办系统自动发送，请勿直接回复。</p>\n'
    "</body></html>\n"
)  # e-mail HTML: inline styles are the only ones mail clients keep (no CSP applies)


def _html_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f'<th align="left" style="padding:2px 8px">{escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="padding:2px 8px">{escape(c)}</td>' for c in row) + "</tr>\n"
        for row in rows
    )
    return f'<table border="1" cellspacing="0">\n<tr>{head}</tr>\n{body}</table>\n'


def _mail_offices(f: ReviewFigures) -> list[OfficeRow]:
    """Overdue first, then those near their deadlines: what a leader should look at."""
    return sorted(f.offices, key=lambda o: (-o.overdue, -o.due_soon, -o.open, o.name))


def review_mail(f: ReviewFigures, *, subject: str, greeting: str, link: str) -> MailBody:
    """The review as a mail: the overall figures, a row per office, the longest overdue tasks."""
    summary = overall_sentence(f)
    details = detail_sentence(f) + outcomes_sentence(f.outcomes)
    offices = _mail_offices(f)
    lines = [greeting, "", summary + details, "", "各单位情况（逾期多的在前）："]
    lines += [f"  {o.name}：共{o.total}项，已办结{o.closed}项，在办{o.open}项，逾期{o.overdue}项，"
              f"临近时限{o.due_soon}项" for o in offices]  # fmt: skip
    overdue = list(f.overdue_tasks[:MAIL_OVERDUE_LIMIT])
    if overdue:
        lines += ["", f"逾期未完成任务（共{len(f.overdue_tasks)}项，逾期最久的在前）："]
        lines += [
            f"  {n}. {t.title}（{t.office_name}，时限{format_date_cn(t.deadline)}，"
            f"{days_phrase(t.days_overdue)}）"
            for n, t in enumerate(overdue, 1)
        ]
        if len(f.overdue_tasks) > len(overdue):
            lines.append(f"  ……另有{len(f.overdue_tasks) - len(overdue)}项，请登录系统查看。")
    lines += ["", f"详情及通报（Word）、数据（Excel）请登录系统查看：{link}", ""]
    office_rows = [(o.name, str(o.total), str(o.closed), str(o.open), str(o.overdue),
                    str(o.due_soon)) for o in offices]  # fmt: skip
    body = (
        f"<p>{escape(greeting)}</p>\n<p>{escape(summary + details)}</p>\n"
        + _html_table(("单位", "任务", "已办结", "在办", "逾期", "临近时限"), office_rows)
        + (_html_table(OVERDUE_HEADERS, [overdue_row(n, t) for n, t in enumerate(overdue, 1)])
           if overdue else "")
        + f'<p><a href="{escape(link, quote=True)}">登录系统查看详情</a></p>\n'
    )  # fmt: skip
    markdown = "\n".join([f"### {subject}", summary, f"[查看进度通报]({link})"])
    html = _HTML_PAGE.format(title=escape(subject), body=body)
    return MailBody("\n".join(lines), html, markdown)
