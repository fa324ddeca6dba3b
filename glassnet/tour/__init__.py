"""``glassnet tour``: each of the seed's questions answered by running real models on real, bundled data.

    glassnet tour [--quick] [--chapter N] [--out DIR]

Every chapter prints as it goes, checks its own claims (a claim that fails stops that chapter loudly) and
reports its accuracy targets without tuning to them. At the end ``DIR/index.html`` (self-contained) and
``DIR/report.json`` (every figure) are written.
"""
from __future__ import annotations

import datetime
import importlib
import time
import traceback

import torch

from ..version import __version__
from .report import Chapter, TourCheckFailed, write_report

__all__ = ["run_tour", "CHAPTERS", "TourCheckFailed"]

CHAPTERS = {1: "ch1_lstm", 2: "ch2_kernels", 3: "ch3_dense_per_pixel", 4: "ch4_depthwise", 5: "ch5_any_size",
            6: "ch6_masks"}


def run_tour(quick: bool = False, chapters=None, out: str = "tour-report", echo=print) -> dict:
    """Run the chosen chapters (all by default), write the report folder and return report.json's content.

    A chapter whose claim fails (``TourCheckFailed``) or that raises is recorded as failed and the others
    still run; the returned dict's ``failed`` lists them.
    """
    numbers = sorted(CHAPTERS) if not chapters else list(chapters)
    unknown = [n for n in numbers if n not in CHAPTERS]
    if unknown:
        raise ValueError(f"The tour has chapters {sorted(CHAPTERS)}. Received: chapter={unknown[0]}.")
    threads = torch.get_num_threads()
    start = time.perf_counter()
    done: list[Chapter] = []
    echo(f"glassnet tour ({'quick' if quick else 'full'}): chapters {', '.join(map(str, numbers))}; "
         f"torch {torch.__version__}, {threads} threads")
    for n in numbers:
        module = importlib.import_module(f".{CHAPTERS[n]}", __name__)
        ch = Chapter(n, module.TITLE, module.QUESTION, echo=echo, quick=quick)
        t0 = time.perf_counter()
        try:
            module.run(ch, quick)
        except TourCheckFailed as exc:
            ch.error = str(exc)
        except Exception as exc:  # a chapter that crashes is reported, and the others still run
            ch.error = f"{type(exc).__name__}: {exc}"
            echo(traceback.format_exc())
        finally:
            torch.set_num_threads(threads)
        ch.seconds = time.perf_counter() - t0
        echo(f"\nChapter {n} {'FAILED: ' + ch.error if ch.error else 'done'} ({ch.seconds:.1f} s)")
        done.append(ch)
    seconds = time.perf_counter() - start
    meta = {"quick": quick, "glassnet": __version__, "torch": torch.__version__, "threads": threads,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "seconds": seconds,
            "failed": [c.number for c in done if c.error]}
    html_path, json_path = write_report(out, done, meta)
    echo(f"\nThe tour took {seconds:.0f} s. Report: {html_path} (figures: {json_path})")
    if meta["failed"]:
        echo(f"FAILED chapters: {meta['failed']}")
    return {**meta, "chapters": [c.to_dict() for c in done], "html": html_path, "json": json_path}
