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
