"""The year's two documents as a reader gets them: the generated draft and the progress review,
rendered to .docx by the app and to PDF by LibreOffice (each conversion on its own profile)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.services import drafts as draft_service
from app.services import review as review_service
from app.services.holidays import load_calendar
from tests.office_render import convert_to_pdf, pdf_page_count, pdf_page_png, require_office
from tests.office_render import pdf_page_text as page_text
from tests.test_drafts import TZ, today, tracked  # noqa: F401 - fixture

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def flat(text: str) -> str:
    """PDF text without the line breaks and spaces the layout put in."""
    return "".join(text.split())


def test_the_generated_draft_renders_as_a_document(db: Session, tracked, tmp_path) -> None:  # noqa: F811
    require_office()
    content = draft_service.fresh(db, tracked["report"], today=today(), timezone=TZ)
    docx_path = tmp_path / "draft.docx"
    docx_path.write_bytes(draft_service.render(content, "docx"))
    pdf = convert_to_pdf(docx_path, tmp_path)
    assert pdf_page_count(pdf) >= 1
    first = flat(page_text(pdf, 1))
    assert flat(content.title) in first and "一、工作情况" in first
    ARTIFACTS.mkdir(exist_ok=True)
    pdf_page_png(pdf, 1, ARTIFACTS / "year_end_draft_page1.png")


def test_the_review_renders_as_a_document(db: Session, tracked, tmp_path) -> None:  # noqa: F811
    require_office()
    as_of = today()
    figures = review_service.load_figures(db, as_of=as_of, calendar=load_calendar(db),
                                          tz=ZoneInfo(TZ))  # fmt: skip
    assert figures.total >= 5
    docx_path = tmp_path / "review.docx"
    docx_path.write_bytes(
        review_service.export_docx(figures, review_service.masthead(db, as_of=as_of))
    )
    pdf = convert_to_pdf(docx_path, tmp_path)
    assert pdf_page_count(pdf) >= 1
    first = flat(page_text(pdf, 1))
    assert "法治政府建设任务落实情况的通报" in first
    ARTIFACTS.mkdir(exist_ok=True)
    pdf_page_png(pdf, 1, ARTIFACTS / "year_end_review_page1.png")


@pytest.mark.parametrize("fmt", ["txt", "md"])
def test_plain_exports_carry_the_same_title(db: Session, tracked, fmt: str) -> None:  # noqa: F811
    content = draft_service.fresh(db, tracked["report"], today=today(), timezone=TZ)
    text = draft_service.render(content, fmt).decode("utf-8")
    assert content.title in text.splitlines()[0:6] or f"# {content.title}" in text
