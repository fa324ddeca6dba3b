"""``glassnet tour``: the questions people ask about Keras layers, answered by running real models on real
data that ships inside Python packages.

    glassnet tour [--quick] [--chapter N] [--out DIR] [--threads N]

Every chapter prints as it goes, checks its own claims (a claim that fails stops that chapter loudly) and
reports its accuracy targets without tuning to them. At the end ``DIR/index.html`` (self-contained) and
``DIR/report.json`` (every figure) are written.

What repeats (``repeatability``): the seeds are fixed, and the tour's training runs on one CPU thread
(``glassnet.threads``: its work is small) with torch's deterministic algorithms, so its figures repeat bit for
bit on machines with the same kind of CPU and the same torch, whatever their number of cores. A thread
count forced above one (``--threads``, ``GLASSNET_THREADS``) splits float sums in another order and can move
accuracies in their last digits; timings differ on every run.
"""
from __future__ import annotations

import datetime
import importlib
import importlib.util
import sys
import time
import traceback

import torch

from .. import threads as thread_policy
from ..version import __version__
from .report import SCHEMA_VERSION, Chapter, TourCheckFailed, write_report

__all__ = ["run_tour", "CHAPTERS", "TourCheckFailed", "repeatability", "require_extras"]

CHAPTERS = {1: "ch1_lstm", 2: "ch2_kernels", 3: "ch3_dense_per_pixel", 4: "ch4_depthwise", 5: "ch5_any_size",
            6: "ch6_masks"}


# the tour's extra packages (glassnet[tour]): module → package to install
EXTRAS = {"matplotlib": "matplotlib", "statsmodels": "statsmodels", "mlxtend": "mlxtend", "sklearn": "scikit-learn",
          "names": "names"}


def require_extras() -> None:
    """Refuse to start, in one sentence, when a package the tour reads data from or draws with is missing."""
    def absent(module: str) -> bool:
        if module in sys.modules:
            return sys.modules[module] is None  # None: blocked, as if not installed
        return importlib.util.find_spec(module) is None
    missing = [package for module, package in EXTRAS.items() if absent(module)]
    if missing:
        raise ImportError(f"The tour needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
                          "installed. Install the tour's extras: pip install 'glassnet[tour]' (or run `make demo`).")


def repeatability(used: list[int], forced: int | None) -> str:
    """What repeats in this run's figures, and on what condition (written into the page and report.json)."""
    one = used in ([], [1])
    how = "every training ran on one CPU thread" if one else f"training ran on {', '.join(map(str, used))} CPU threads"
    where = (", whatever its number of cores" if one else
             f", run with the same thread count ({'--threads ' + str(forced) if forced else 'torch default here'})")
    text = (f"The seeds are fixed and {how} with torch's deterministic algorithms, so the figures repeat bit for bit "
            f"on a machine with the same kind of CPU and the same torch ({torch.__version__}){where}. ")
    text += ("Forcing more threads (--threads, GLASSNET_THREADS) splits float sums in another order and can move "
             "accuracies in their last digits. " if one else
             "Another thread count splits float sums in another order and can move accuracies in their last digits. ")
    return text + ("Timings differ on every run; parameter counts, multiply-adds and the equalities checked hold "
                   "everywhere.")


def run_tour(quick: bool = False, chapters=None, out: str = "tour-report", echo=print) -> dict:
    """Run the chosen chapters (all by default), write the report folder and return report.json's content.

    A chapter whose claim fails (``TourCheckFailed``) or that raises is recorded as failed and the others
    still run; the returned dict's ``failed`` lists them.
    """
    numbers = sorted(CHAPTERS) if not chapters else list(chapters)
    unknown = [n for n in numbers if n not in CHAPTERS]
    if unknown:
        raise ValueError(f"The tour has chapters {sorted(CHAPTERS)}. Received: chapter={unknown[0]}.")
    require_extras()
    default_threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    start = time.perf_counter()
    done: list[Chapter] = []
    forced = thread_policy.requested()
    echo(f"glassnet tour ({'quick' if quick else 'full'}): chapters {', '.join(map(str, numbers))}; "
         f"torch {torch.__version__}; "
         + (f"{forced} intra-op thread(s), as asked" if forced else
            f"one intra-op thread for small work ({default_threads} is torch's default here)"))
    torch.use_deterministic_algorithms(True)
    try:
        for n in numbers:
            module = importlib.import_module(f".{CHAPTERS[n]}", __name__)
            ch = Chapter(n, module.TITLE, module.QUESTION, echo=echo, quick=quick)
            t0 = time.perf_counter()
            try:
                with thread_policy.for_work(0):  # the chapter's own bookkeeping; ch.work() sizes each training
                    module.run(ch, quick)
            except TourCheckFailed as exc:
                ch.error = str(exc)
            except Exception as exc:  # a chapter that crashes is reported, and the others still run
                ch.error = f"{type(exc).__name__}: {exc}"
                echo(traceback.format_exc())
            ch.seconds = time.perf_counter() - t0
            echo(f"\nChapter {n} {'FAILED: ' + ch.error if ch.error else 'done'} (ran in {ch.seconds:.1f} s)")
            done.append(ch)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    seconds = time.perf_counter() - start
    used = sorted({t for c in done for t in c.threads_used})
    repeat = repeatability(used, forced)
    meta = {"schema_version": SCHEMA_VERSION, "quick": quick, "glassnet": __version__, "torch": torch.__version__,
            "threads": {"used": used, "requested": forced, "torch_default": default_threads}, "repeatability": repeat,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "seconds": seconds,
            "failed": [c.number for c in done if c.error]}
    html_path, json_path = write_report(out, done, meta)
    echo(f"\nThe tour took {seconds:.0f} s. Report: {html_path} (figures: {json_path})")
    if meta["failed"]:
        echo(f"FAILED chapters: {meta['failed']}")
    return {**meta, "chapters": [c.to_dict() for c in done], "html": html_path, "json": json_path}
