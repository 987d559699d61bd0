"""Benchmark of next year's report draft, as ratios to writing an empty .docx in the same run.

The issue asks for "the draft for 1,000 closed tasks with 5,000 updates ... as a ratio to ...
writing an empty .docx". The data set is built in a fresh temporary instance (SQLite file,
migrated with the real migrations): one unit, 20 offices, last year's report with 50
commitments and 3 problems, 1,000 closed tasks (plus 100 open ones, for 存在问题 and 下一步打算)
and 5,000 progress updates on the closed tasks, each with 0–2 quantified outcomes drawn from a
few metrics (so that the totals really aggregate). ``--quick``: 200 closed tasks, 1,000 updates.

Measured, round after round, each as the median of a few repetitions:

- ``empty_docx`` (the baseline): ``render_docx(DocumentSpec(()))``, app/docx_render.py writing a
  document with no paragraphs (styles, numbering, footers and all).
- ``build``: app/core/drafting.build_draft on inputs already loaded (the pure core alone).
- ``load_build``: app/services/drafts.draft_input (three queries) + build_draft.
- ``draft_docx``: load + build + draft_to_document + render_docx — the whole export of the draft
  as .docx, what `flask draft-report -o FILE.docx` and the page's export button do.
- ``draft_txt``: the same, written as plain text (the round trip's format).

Ratios are the figure's median over the rounds divided by the baseline's; ratio_min/max are the
spread of the per-round ratios. Nothing passes or fails. The run checks, once, that the draft
counts every outcome of every closed task exactly once.

Run alone: ``.venv/bin/python bench/draft_bench.py [--quick]``; bench/run.py calls ``run``.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

METRICS = [("开展集中普法宣传", "次"), ("发放宣传资料", "份"), ("调处化解矛盾纠纷", "件"),
           ("培训执法人员", "人次"), ("开展法治讲座", "场"), ("受教育群众", "人")]  # fmt: skip
TIMEZONE = "Asia/Shanghai"
TODAY = date(2022, 12, 20)
SOURCE_TEXT = "示例区合成镇人民政府\n关于2021年度法治政府建设情况的报告\n区委、区政府：\n"


@dataclass(frozen=True)
class Size:
    closed: int
    updates: int
    open: int
    commitments: int
    offices: int
    rounds: int
    repeats: int


FULL = Size(closed=1000, updates=5000, open=100, commitments=50, offices=20, rounds=5, repeats=3)
QUICK = Size(closed=200, updates=1000, open=20, commitments=20, offices=10, rounds=3, repeats=2)


# -- the data set ---------------------------------------------------------------------------


@contextmanager
def temporary_database() -> Iterator[str]:
    """A migrated SQLite database in a temporary folder, removed afterwards."""
    from alembic import command
    from alembic.config import Config

    folder = Path(tempfile.mkdtemp(prefix="luoshi-draft-bench-"))
    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    try:
        cfg = Config(str(REPO_ROOT / "migrations" / "alembic.ini"))
        cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
        cfg.attributes["database_url"] = url
        cfg.attributes["configure_logger"] = False
        command.upgrade(cfg, "head")
        yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fill(session: Any, size: Size, seed: int = 20221220) -> int:
    """The data set; returns the source report's id."""
    from sqlalchemy import insert

    from app.models import (
        Commitment,
        CommitmentProblem,
        Office,
        Outcome,
        Problem,
        ProgressUpdate,
        Report,
        Task,
        Unit,
    )

    rng = random.Random(seed)
    now = datetime(2022, 12, 1, tzinfo=UTC)
    unit = Unit(name="示例区合成镇人民政府", short_name="合成镇")
    session.add(unit)
    session.flush()
    offices = list(session.scalars(insert(Office).returning(Office.id), [
        {"unit_id": unit.id, "name": f"合成科室{i + 1:02d}", "kind": "section", "is_active": True,
         "created_at": now} for i in range(size.offices)]))  # fmt: skip
    report = Report(unit_id=unit.id, year=TODAY.year - 1, status="imported",
                    title=f"关于{TODAY.year - 1}年度法治政府建设情况的报告",
                    source_text=SOURCE_TEXT)  # fmt: skip
    session.add(report)
    session.flush()
    problems = list(session.scalars(insert(Problem).returning(Problem.id), [
        {"report_id": report.id, "position": i, "lead": f"合成问题{i + 1}",
         "text": f"合成问题{i + 1}，有待改进"} for i in range(3)]))  # fmt: skip
    commitments = list(session.scalars(insert(Commitment).returning(Commitment.id), [
        {"report_id": report.id, "position": i, "marker": f"（{i + 1}）",
         "lead": f"合成承诺{i + 1}", "text": f"合成承诺{i + 1}。推进相关工作，完善制度机制。"}
        for i in range(size.commitments)]))  # fmt: skip
    session.execute(
        insert(CommitmentProblem),
        [{"commitment_id": commitments[i], "problem_id": p} for i, p in enumerate(problems)],
    )
    tasks = [
        {"commitment_id": rng.choice(commitments), "title": f"合成任务{i + 1}，推进落实",
         "description": "", "lead_office_id": rng.choice(offices),
         "deadline": TODAY + timedelta(days=rng.randint(-60, 60)),
         "status": "closed" if i < size.closed else rng.choice(["assigned", "in_progress"]),
         "version": 1, "created_at": now, "updated_at": now,
         "closed_at": now if i < size.closed else None}
        for i in range(size.closed + size.open)
    ]  # fmt: skip
    task_ids = list(session.scalars(insert(Task).returning(Task.id), tasks))
    closed = task_ids[: size.closed]
    updates = [
        {"task_id": closed[i % len(closed)] if i < len(closed) else rng.choice(closed),
         "text": rng.choice(["在辖区各村开展集中普法宣传活动，发放资料300份。",
                             "我们组织执法人员参加业务培训。完成考试。", "完成年度工作任务。",
                             f"调处化解矛盾纠纷{rng.randint(1, 9)}件，群众满意。"]),
         "created_at": now - timedelta(minutes=i)}
        for i in range(size.updates)
    ]  # fmt: skip
    update_ids = list(session.scalars(insert(ProgressUpdate).returning(ProgressUpdate.id),
                                      updates))  # fmt: skip
    outcomes = [
        {"update_id": uid, "metric": metric, "value": rng.choice([1, 2, 3, 5, 7, 12, 300]),
         "unit": unit_name}
        for uid in update_ids for metric, unit_name in rng.sample(METRICS, rng.randint(0, 2))
    ]  # fmt: skip
    if outcomes:
        session.execute(insert(Outcome), outcomes)
    session.commit()
    return report.id


# -- timing ---------------------------------------------------------------------------------


def median_seconds(work: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def check_outcomes_once(data: Any, draft: Any) -> None:
    """Every outcome of every closed task counted exactly once (the test's rule, at scale)."""
    rows = sum(len(u.outcomes) for t in data.tasks if t.status == "closed" for u in t.updates)
    counted = sum(o.count for s in draft.sections for p in s.paragraphs for x in p.sentences
                  for o in x.outcomes)  # fmt: skip
    if rows != counted:
        raise RuntimeError(f"the draft counts {counted} outcomes of {rows}")


LABELS = {
    "empty_docx": "empty .docx (render_docx of an empty spec), baseline",
    "build": "build_draft (pure core, inputs loaded)",
    "load_build": "load from the database + build_draft",
    "draft_docx": "load + build + render .docx",
    "draft_txt": "load + build + plain text",
}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """The figures, one dict per measurement (the baseline first), JSON-ready."""
    from sqlmodel import Session

    from app.core.document import DocumentSpec, to_text
    from app.core.drafting import build_draft, draft_to_document
    from app.db import make_engine
    from app.docx_render import render_docx
    from app.models import Report
    from app.services import drafts

    size = QUICK if quick else FULL
    print(f"measuring the report draft ({size.closed} closed tasks, {size.updates} updates, "
          f"{size.rounds} rounds) ...", flush=True)  # fmt: skip
    with temporary_database() as url:
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                report_id = fill(session, size)
            with Session(engine) as session:
                report = session.get(Report, report_id)

                def load() -> Any:
                    return drafts.draft_input(session, report, today=TODAY, timezone=TIMEZONE)

                data = load()
                check_outcomes_once(data, build_draft(data))
                work: dict[str, Callable[[], Any]] = {
                    "empty_docx": lambda: render_docx(DocumentSpec(())),
                    "build": lambda: build_draft(data),
                    "load_build": lambda: build_draft(load()),
                    "draft_docx": lambda: render_docx(draft_to_document(build_draft(load()))),
                    "draft_txt": lambda: to_text(draft_to_document(build_draft(load()))),
                }
                for action in work.values():  # warm-up
                    action()
                rounds: dict[str, list[float]] = {key: [] for key in work}
                for number in range(1, size.rounds + 1):
                    for key, action in work.items():
                        rounds[key].append(median_seconds(action, size.repeats))
                    print(
                        f"  round {number}: "
                        + "  ".join(f"{key} {rounds[key][-1] * 1000:.1f} ms" for key in work),
                        flush=True,
                    )
        finally:
            engine.dispose()
    base = statistics.median(rounds["empty_docx"])
    rows = []
    for key, seconds in rounds.items():
        ratios = [s / b for s, b in zip(seconds, rounds["empty_docx"], strict=True)]
        rows.append({
            "name": key, "label": LABELS[key], "closed_tasks": size.closed,
            "updates": size.updates, "seconds": round(statistics.median(seconds), 5),
            "ratio": round(statistics.median(seconds) / base, 3),
            "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
        })  # fmt: skip
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The figures for people."""
    if not rows:
        return
    print(f"report draft: {rows[0]['closed_tasks']} closed tasks, {rows[0]['updates']} updates; "
          "ratio = time / time of writing an empty .docx")  # fmt: skip
    print(f"{'measurement':<52}{'ms':>10}{'ratio':>9}{'ratio range':>15}")
    for row in rows:
        spread = f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        print(f"{row['label']:<52}{row['seconds'] * 1000:>10.1f}{row['ratio']:>9.2f}{spread:>15}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 closed tasks, 1,000 updates")
    args = parser.parse_args()
    print_table(run(args.quick))


if __name__ == "__main__":
    main()
