"""Test helpers: a .docx through LibreOffice to PDF, and the PDF read back with poppler.

For tests in any file::

    from tests.office_render import convert_to_pdf, need_office, pdf_page_text  # noqa: F401

    def test_draft_renders(need_office, tmp_path): ...

``need_office`` (or ``require_office()``) follows the project's rule for optional externals: a
test skips, saying why, when LibreOffice or poppler is absent outside CI, and fails when either
is absent under CI=true (.ci/run installs libreoffice-writer-nogui, poppler-utils and the CJK
fonts).

Each conversion runs soffice with a profile directory of its own: two conversions sharing a
profile at the same time silently lose one output. FONTCONFIG_FILE points at tests/fonts.conf,
which maps the official 公文 font names (仿宋_GB2312, 黑体, 楷体_GB2312, 方正小标宋简体 …) to the
Noto CJK and AR PL Kai faces; without it everything is drawn in a sans face.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest

FONTS_CONF = Path(__file__).resolve().parent / "fonts.conf"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CONVERT_TIMEOUT_SECONDS = 180
POPPLER_TIMEOUT_SECONDS = 60
POPPLER_TOOLS = ("pdfinfo", "pdftotext", "pdftoppm", "pdffonts")
# The faces tests/fonts.conf maps the official fonts to, and their Debian packages.
FONT_FAMILIES = {
    "Noto Serif CJK SC": "fonts-noto-cjk",
    "Noto Sans CJK SC": "fonts-noto-cjk",
    "AR PL KaitiM GB": "fonts-arphic-gkai00mp",
}
MM_PER_POINT = 25.4 / 72


def soffice_path() -> str | None:
    """LibreOffice's command, or None when it is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def missing_office_tools() -> list[str]:
    """What the PDF checks need and this machine lacks."""
    missing = [] if soffice_path() else ["soffice (libreoffice-writer-nogui)"]
    missing += [f"{tool} (poppler-utils)" for tool in POPPLER_TOOLS if not shutil.which(tool)]
    if not shutil.which("fc-list"):
        return [*missing, "fc-list (fontconfig)"]
    for family, package in FONT_FAMILIES.items():
        listed = subprocess.run(["fc-list", family, "family"], capture_output=True, text=True,
                                timeout=POPPLER_TIMEOUT_SECONDS, check=False)  # fmt: skip
        if not listed.stdout.strip():
            missing.append(f"the font {family} ({package})")
    return missing


def require_office() -> str:
    """soffice's path; otherwise skip (outside CI) or fail (under CI=true), naming what lacks."""
    missing = missing_office_tools()
    if missing:
        what = ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"the PDF checks need {what} in CI (.ci/run installs them)")
        pytest.skip(f"LibreOffice PDF check skipped: {what} not installed here "
                    "(apt-get install libreoffice-writer-nogui poppler-utils fonts-noto-cjk "
                    "fonts-arphic-gkai00mp)")  # fmt: skip
    path = soffice_path()
    assert path is not None
    return path


@pytest.fixture
def need_office() -> str:
    """soffice's path, for a test that converts documents (see require_office)."""
    return require_office()


def convert_to_pdf(docx_path: Path, out_dir: Path) -> Path:
    """Convert DOCX_PATH to OUT_DIR/<stem>.pdf with LibreOffice, on a fresh profile; the PDF."""
    soffice = require_office()
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
    env = dict(os.environ, FONTCONFIG_FILE=str(FONTS_CONF), HOME=str(profile))
    command = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
               "--norestore", "--convert-to", "pdf", "--outdir", str(out_dir),
               str(docx_path)]  # fmt: skip
    # A session of its own, so that a hung conversion can be stopped with its children
    # (soffice starts soffice.bin) and nothing else.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True, text=True)  # fmt: skip
    try:
        output, _ = process.communicate(timeout=CONVERT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"soffice did not convert {docx_path.name} within "
                    f"{CONVERT_TIMEOUT_SECONDS} s:\n{output}")  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    pdf = out_dir / f"{docx_path.stem}.pdf"
    if process.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        pytest.fail(f"soffice did not convert {docx_path.name} (exit {process.returncode}, "
                    f"{pdf} {'exists' if pdf.exists() else 'missing'}):\n{output}")  # fmt: skip
    return pdf


def _poppler(*args: str) -> str:
    completed = subprocess.run(args, capture_output=True, text=True, check=False,
                               timeout=POPPLER_TIMEOUT_SECONDS)  # fmt: skip
    if completed.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed (exit {completed.returncode}):\n"
                    f"{completed.stderr}")  # fmt: skip
    return completed.stdout


def pdf_page_count(pdf: Path) -> int:
    match = re.search(r"^Pages:\s+(\d+)$", _poppler("pdfinfo", str(pdf)), re.MULTILINE)
    assert match, f"pdfinfo gave no page count for {pdf}"
    return int(match.group(1))


def pdf_page_text(pdf: Path, page: int) -> str:
    """The text of PAGE (1-based), laid out as on the page (pdftotext -layout)."""
    return _poppler("pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-")


def pdf_page_png(pdf: Path, page: int, out_png: Path) -> Path:
    """PAGE (1-based) as a PNG at 80 dpi, written to OUT_PNG."""
    out_png.parent.mkdir(parents=True, exist_ok=True)
    prefix = out_png.with_suffix("")
    _poppler("pdftoppm", "-png", "-r", "80", "-f", str(page), "-l", str(page), "-singlefile",
             str(pdf), str(prefix))  # fmt: skip
    written = prefix.with_suffix(".png")
    if written != out_png:
        written.replace(out_png)
    return out_png


def pdf_fonts(pdf: Path) -> list[str]:
    """The names of the fonts embedded in PDF (pdffonts), subset prefixes removed."""
    lines = _poppler("pdffonts", str(pdf)).splitlines()[2:]
    return [line.split()[0].split("+", 1)[-1] for line in lines if line.strip()]


@dataclass(frozen=True)
class Word:
    """A word of a PDF page and its box, in millimetres from the page's top left corner."""

    text: str
    left: float
    top: float
    right: float
    bottom: float


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                   r"(.*?)</word>")  # fmt: skip


def pdf_page_words(pdf: Path, page: int) -> list[Word]:
    """The words of PAGE (1-based) with their boxes (pdftotext -bbox), in reading order."""
    html = _poppler("pdftotext", "-f", str(page), "-l", str(page), "-bbox", str(pdf), "-")
    return [
        Word(unescape(text), *(float(value) * MM_PER_POINT for value in box))
        for *box, text in _WORD.findall(html)
    ]


def pdf_page_lines(pdf: Path, page: int, *, tolerance_mm: float = 1.0) -> list[list[Word]]:
    """The words of PAGE grouped into lines by their baseline (the bottom of their boxes)."""
    lines: list[list[Word]] = []
    for word in sorted(pdf_page_words(pdf, page), key=lambda w: (w.bottom, w.left)):
        if lines and abs(lines[-1][0].bottom - word.bottom) <= tolerance_mm:
            lines[-1].append(word)
        else:
            lines.append([word])
    return [sorted(line, key=lambda w: w.left) for line in lines]
