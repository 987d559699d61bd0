"""Report parser benchmarks: parsing beside merely reading and decoding the same files.

Two measurements, each against a baseline measured in the same run, in the same process:

1. corpus: the report fixtures (tests/fixtures/reports/*.txt), and the same texts as minimal
   .docx files built in memory with python-docx. Reports per second of
   ``read_report_file(name, data)`` alone (read and decode, the baseline) and of
   ``parse_report(read_report_file(name, data))``; the ratio is how many times longer the second
   takes than the first.
2. worst cases: inputs of about 1 MB of UTF-8 (the slowest shapes known for the parser), each
   timed as ``read_report_file("….txt", data)`` alone and with ``parse_report`` after it.

Each round measures every baseline next to its parse, so slow drift on the machine hits both
alike; the figures are the medians of the rounds. The run is bounded: a corpus measurement
stops after its time budget, and each worst case is parsed once per round.
"""

from __future__ import annotations

import gc
import io
import statistics
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "reports"
REPEATED_FIXTURE = "seed-2021.txt"
MEGABYTE = 1_000_000
NL = "\n"
MAX_PASSES = 100_000  # per corpus measurement, whatever the time budget


# -- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A file as the upload view receives it: a name (its extension picks the reader), bytes."""

    name: str
    data: bytes


def fixture_uploads() -> list[Upload]:
    """The report fixtures as .txt uploads, in name order."""
    paths = sorted(FIXTURES.glob("*.txt"))
    if not paths:
        raise RuntimeError(f"no report fixtures in {FIXTURES}")
    return [Upload(path.name, path.read_bytes()) for path in paths]


def as_docx(upload: Upload) -> Upload:
    """The same text as a minimal .docx (one paragraph per line), built in memory."""
    import docx

    document = docx.Document()
    for line in upload.data.decode("utf-8").split("\n"):
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return Upload(upload.name.removesuffix(".txt") + ".docx", buffer.getvalue())


def to_a_megabyte(unit: str) -> str:
    """UNIT repeated to just over 1 MB of UTF-8."""
    return unit * (MEGABYTE // len(unit.encode("utf-8")) + 1)


@dataclass(frozen=True)
class WorstCase:
    key: str
    label: str
    text: str

    def upload(self) -> Upload:
        return Upload(f"{self.key}.txt", self.text.encode("utf-8"))


def worst_cases() -> list[WorstCase]:
    """About 1 MB each: a real report repeated, then the shapes that are slowest to parse."""
    seed = (FIXTURES / REPEATED_FIXTURE).read_text(encoding="utf-8")
    headings = to_a_megabyte("（一）x\n")
    markers = to_a_megabyte("（一）加强\n（二）推进\n")
    yi_shi = to_a_megabyte("一是")
    return [
        WorstCase("report", f"{REPEATED_FIXTURE} repeated", to_a_megabyte(seed)),
        WorstCase("headings", f"（一）x ×{headings.count(NL):,} lines", headings),
        WorstCase("paragraph_markers", f"（一）加强（二）推进 ×{markers.count(NL):,}", markers),
        WorstCase("yi_shi_in_plan", f"一是 ×{len(yi_shi) // 2:,} in a plan",
                  "三、下一步打算\n" + yi_shi),
        WorstCase("full_stops_in_plan", "。 ×500,000 in a plan",
                  "三、下一步打算\n一是" + "。" * 500_000),
    ]  # fmt: skip


# -- timing ---------------------------------------------------------------------------------


def read_only(uploads: list[Upload]) -> int:
    """Read and decode every upload (the baseline); return how many were read."""
    from app.report_files import read_report_file

    for upload in uploads:
        read_report_file(upload.name, upload.data)
    return len(uploads)


def read_and_parse(uploads: list[Upload]) -> int:
    """Read, decode and parse every upload; return how many were parsed."""
    from app.core.report_parser import parse_report
    from app.report_files import read_report_file

    for upload in uploads:
        parse_report(read_report_file(upload.name, upload.data))
    return len(uploads)


def reports_per_second(work: Callable[[], int], budget: float) -> float:
    """Repeat WORK (one pass over a corpus) until BUDGET seconds have passed; reports/s."""
    gc.collect()
    done = passes = 0
    started = time.perf_counter()
    elapsed = 0.0
    while passes < MAX_PASSES and (passes == 0 or elapsed < budget):
        done += work()
        passes += 1
        elapsed = time.perf_counter() - started
    return done / elapsed


def seconds_of(work: Callable[[], Any]) -> float:
    """The wall time of one call of WORK."""
    gc.collect()
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def parse_outcome(upload: Upload) -> int | str:
    """How many plan items the parser finds in UPLOAD, or the ParseError it raises."""
    from app.core.report_parser import parse_report
    from app.core.report_types import ParseError
    from app.report_files import read_report_file

    text = read_report_file(upload.name, upload.data)  # a reading error is a bench bug: raise
    try:
        return len(parse_report(text).plans)
    except ParseError as error:
        return f"ParseError: {error}"


# -- the corpus -----------------------------------------------------------------------------


@dataclass
class Pair:
    """Per-round figures of a baseline and of the same work with parsing added."""

    label: str
    decode: list[float] = field(default_factory=list)
    parse: list[float] = field(default_factory=list)

    def ratios(self, *, per_second: bool) -> list[float]:
        """Per round, how many times longer decode+parse took than decode alone."""
        pairs = zip(self.decode, self.parse, strict=True)
        return [d / p if per_second else p / d for d, p in pairs]


def check_docx(txt: list[Upload], docx: list[Upload]) -> None:
    """Fail early unless each .docx reads as the same text as its .txt."""
    from app.report_files import read_report_file

    for plain, word in zip(txt, docx, strict=True):
        if read_report_file(plain.name, plain.data) != read_report_file(word.name, word.data):
            raise RuntimeError(f"{word.name} does not read as the same text as {plain.name}")


def measure_corpus(rounds: int, budget: float) -> dict[str, Any]:
    """Reports per second of reading alone and of reading plus parsing, per file format."""
    txt = fixture_uploads()
    docx = [as_docx(upload) for upload in txt]
    check_docx(txt, docx)
    formats = {"txt": (Pair(".txt"), txt), "docx": (Pair(".docx (python-docx)"), docx)}
    for _pair, uploads in formats.values():  # warm-up, and every fixture must parse
        read_and_parse(uploads)
    for number in range(1, rounds + 1):
        for pair, uploads in formats.values():
            pair.decode.append(reports_per_second(lambda u=uploads: read_only(u), budget))
            pair.parse.append(reports_per_second(lambda u=uploads: read_and_parse(u), budget))
            print(f"  round {number}: corpus {pair.label:<20} {pair.decode[-1]:9.1f} decoded/s "
                  f"{pair.parse[-1]:9.1f} parsed/s", flush=True)  # fmt: skip

    def figures(pair: Pair) -> dict[str, Any]:
        decode, parse = statistics.median(pair.decode), statistics.median(pair.parse)
        ratios = pair.ratios(per_second=True)
        return {"label": pair.label, "decode_rps": round(decode, 1),
                "decode_parse_rps": round(parse, 1), "ratio": round(decode / parse, 3),
                "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3)}  # fmt: skip

    return {
        "reports": len(txt),
        "txt_bytes": sum(len(upload.data) for upload in txt),
        "docx_bytes": sum(len(upload.data) for upload in docx),
        **{key: figures(pair) for key, (pair, _uploads) in formats.items()},
    }


# -- the worst cases ------------------------------------------------------------------------


def measure_worst_cases(rounds: int) -> dict[str, Any]:
    """Seconds to read and decode each 1 MB input, and to read, decode and parse it."""
    cases = [(case, case.upload()) for case in worst_cases()]
    pairs = {case.key: Pair(case.label) for case, _upload in cases}
    outcomes = {case.key: parse_outcome(upload) for case, upload in cases}  # also a warm-up
    for number in range(1, rounds + 1):
        for case, upload in cases:
            pair = pairs[case.key]
            pair.decode.append(seconds_of(lambda u=upload: read_only([u])))
            pair.parse.append(seconds_of(lambda u=upload: read_and_parse([u])))
            print(f"  round {number}: 1 MB {pad(case.label, 28)} {pair.decode[-1]:7.3f} s decode "
                  f"{pair.parse[-1]:7.3f} s decode+parse", flush=True)  # fmt: skip
    result: dict[str, Any] = {}
    for case, upload in cases:
        pair = pairs[case.key]
        decode, parse = statistics.median(pair.decode), statistics.median(pair.parse)
        ratios = pair.ratios(per_second=False)
        result[case.key] = {
            "label": case.label, "bytes": len(upload.data),
            "decode_seconds": round(decode, 4), "decode_parse_seconds": round(parse, 4),
            "ratio": round(parse / decode, 3),
            "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
            "plans": outcomes[case.key],
        }  # fmt: skip
    return result


def run(rounds: int, budget: float) -> dict[str, Any]:
    """Both parser benchmarks, as one JSON-ready mapping."""
    print(f"measuring the report parser ({rounds} rounds, corpus {budget:g} s a measurement) ...",
          flush=True)  # fmt: skip
    corpus = measure_corpus(rounds, budget)
    worst = measure_worst_cases(rounds)
    return {"rounds": rounds, "corpus_seconds": budget, "corpus": corpus, "worst_cases": worst}


# -- the table ------------------------------------------------------------------------------


def pad(text: str, width: int) -> str:
    """TEXT left-aligned in WIDTH terminal columns (a Chinese character takes two)."""
    columns = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - columns, 0)


def print_table(figures: dict[str, Any]) -> None:
    """The parser figures for people (the JSON line printed last is for programs)."""
    corpus = figures["corpus"]
    print(f"report parser: median of {figures['rounds']} rounds; ratio = time of read+decode+parse"
          f" / time of read+decode alone")  # fmt: skip
    print()
    title = f"fixture corpus ({corpus['reports']} reports)"
    print(f"{pad(title, 30)}{'decoded/s':>12}"
          f"{'decoded+parsed/s':>18}{'ratio':>9}{'ratio range':>15}")  # fmt: skip
    for key in ("txt", "docx"):
        row = corpus[key]
        spread = f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        print(f"{pad(row['label'], 30)}{row['decode_rps']:>12.1f}{row['decode_parse_rps']:>18.1f}"
              f"{row['ratio']:>9.2f}{spread:>15}")  # fmt: skip
    print()
    print(f"{pad('1 MB worst cases (.txt, UTF-8)', 36)}{'MB':>6}{'decode s':>10}"
          f"{'decode+parse s':>16}{'ratio':>9}{'ratio range':>15}")  # fmt: skip
    for row in figures["worst_cases"].values():
        spread = f"{row['ratio_min']:.1f}-{row['ratio_max']:.1f}"
        print(f"{pad(row['label'], 36)}{row['bytes'] / MEGABYTE:>6.2f}"
              f"{row['decode_seconds']:>10.3f}{row['decode_parse_seconds']:>16.3f}"
              f"{row['ratio']:>9.1f}{spread:>15}")  # fmt: skip
    print()
