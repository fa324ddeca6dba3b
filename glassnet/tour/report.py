"""What a tour chapter records — prose, tables, plots, figures, checks and targets — printed to the
terminal as it happens and written at the end as ``index.html`` (self-contained) and ``report.json``."""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import time

from .. import threads
from ..analysis import analyze
from ..analysis.table import render_table
from ..errors import GlassnetError
from ..io.glassnet_format import atomic_write
from .common import plt

__all__ = ["Chapter", "TourCheckFailed", "write_report", "timed_median", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1  # report.json's layout; unknown figures are null


class TourCheckFailed(GlassnetError, AssertionError):
    """A chapter's claim did not hold on this machine (the tour stops that chapter and reports it)."""


def timed_median(fn, repeats: int = 5, warmup: int = 1) -> float:
    """The median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def _panels(fig) -> list[dict]:
    """Per panel of a figure (axes sharing a position, e.g. twinx): lines drawn and whether a legend names them."""
    groups: dict[tuple, dict] = {}
    for ax in fig.axes:
        key = tuple(round(v, 4) for v in ax.get_position().bounds)
        g = groups.setdefault(key, {"lines": 0, "legend": False})
        g["lines"] += len(ax.get_lines())
        g["legend"] = g["legend"] or ax.get_legend() is not None
    if fig.legends:
        for g in groups.values():
            g["legend"] = True
    return list(groups.values())


def _plain(value):
    """A JSON-ready copy: numpy and torch scalars to Python numbers, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Chapter:
    """One chapter's record. Everything it is told is echoed to the terminal at once."""

    def __init__(self, number: int, title: str, question: str, echo=print, quick: bool = False):
        self.number, self.title, self.question, self.quick = number, title, question, quick
        self.echo = echo
        self.blocks: list[tuple[str, object]] = []
        self.figures: dict = {}
        self.checks: list[dict] = []
        self.targets: list[dict] = []
        self.error: str | None = None
        self.seconds: float | None = None
        self.threads_used: set[int] = set()
        bar = "═" * 100
        self.echo(f"\n{bar}\nChapter {number}. {title}\n{bar}\nQ: {question}\n")

    # ------------------------------------------------------------------ content
    def say(self, text: str) -> None:
        self.blocks.append(("text", text))
        self.echo(text)

    def table(self, headers: list[str], rows: list[list], title: str | None = None, right=None) -> None:
        rows = [[str(c) for c in r] for r in rows]
        right = set(range(1, len(headers))) if right is None else set(right)
        self.blocks.append(("table", {"title": title, "headers": headers, "rows": rows, "right": sorted(right)}))
        self.echo(("\n" + title + "\n" if title else "") + render_table(headers, rows, right) + "\n")

    def pre(self, text: str, title: str | None = None) -> None:
        """Preformatted text such as an error message (the HTML page wraps its long lines)."""
        self.blocks.append(("pre", {"title": title, "text": text}))
        self.echo(("\n" + title + "\n" if title else "") + text + "\n")

    def analysis(self, result, title: str | None = None) -> None:
        """An analysis result (``gn.analyze``, ``gn.compare``, ``gn.explain``): its text in the terminal, its
        HTML table in the page."""
        self.blocks.append(("html", {"title": title, "html": result._repr_html_()}))
        self.echo(("\n" + title + "\n" if title else "") + str(result) + "\n")

    def plot(self, fig, caption: str) -> None:
        """A matplotlib figure, kept as PNG bytes for the HTML report (the terminal gets the caption).

        For each panel (an axes with its twins) the page records how many lines it draws and whether it
        has a legend, so a test can check that no panel with several lines leaves them unlabelled."""
        panels = _panels(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
        fig.clear()
        plt().close(fig)
        self.blocks.append(("image", {"caption": caption, "png": base64.b64encode(buf.getvalue()).decode(),
                                      "panels": panels}))
        self.echo(f"[plot: {caption}]")

    def record(self, key: str, value) -> None:
        """A figure for report.json (numbers the prose and tables quote)."""
        self.figures[key] = _plain(value)

    def work(self, model, batch_shape):
        """A context manager for training or predicting with ``model`` on batches of ``batch_shape``: the
        intra-op threads ``glassnet.threads`` chooses for its multiply-adds per step (recorded)."""
        macs = analyze(model, input_shape=batch_shape).totals["macs"]
        n = threads.choose(macs)
        self.threads_used.add(n)
        return threads.using(n)

    # ------------------------------------------------------------------ claims
    def check(self, claim: str, ok: bool, detail: str) -> None:
        """A claim the chapter makes; if it does not hold, the chapter fails loudly."""
        self.checks.append({"claim": claim, "ok": bool(ok), "detail": detail})
        self.echo(f"  {'✔' if ok else '✘'} {claim} — {detail}")
        if not ok:
            raise TourCheckFailed(f"Tour chapter {self.number} ({self.title}): the claim '{claim}' does not hold: "
                                  f"{detail}.")

    def target(self, name: str, value: float, goal: str, met: bool, note: str = "") -> None:
        """An accuracy target: reported, met or not (the data decides, the tour does not tune to it).

        The quick tour trains too briefly to judge accuracy: there a target is reported as not judged.
        """
        judged = not self.quick
        self.targets.append({"name": name, "value": _plain(value), "goal": goal, "met": bool(met) if judged else None,
                             "note": note})
        verdict = ("◆ met" if met else "◇ not met") if judged else "· quick tour, judged in the full tour"
        self.echo(f"  {verdict}: {name} = {value:.4g} (goal: {goal}){' — ' + note if note else ''}")

    def to_dict(self) -> dict:
        return {"number": self.number, "title": self.title, "question": self.question, "seconds": self.seconds,
                "threads": sorted(self.threads_used), "error": self.error, "checks": self.checks,
                "targets": self.targets, "figures": self.figures}


# ---------------------------------------------------------------------- files
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1d232b;line-height:1.45}
h1{font-size:1.7em}h2{margin-top:2.2em;border-bottom:2px solid #d8dee6;padding-bottom:.2em}
.q{font-style:italic;color:#445}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.92em;max-width:100%}
th,td{border:1px solid #d8dee6;padding:.25em .6em;text-align:left;vertical-align:top}
td{overflow-wrap:break-word}th{background:#f2f5f8;overflow-wrap:normal}
td.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f6f8fa;padding:.8em;font-size:.82em;border-radius:4px;white-space:pre-wrap;overflow-wrap:anywhere}
.analysis table{font-size:.8em}.analysis td,.analysis th{padding:2px 5px!important}
.analysis ul{font-size:.9em;color:#334}
.ok{color:#17803d}.bad{color:#b42318}.miss{color:#a15c00}figure{margin:1em 0}img{max-width:100%}
figcaption{color:#556;font-size:.9em}.caption{font-weight:600;margin-top:1em}.ran{color:#556;font-size:.85em}
"""


_BREAK_AFTER = re.compile(r"([·×+_=]|,(?!\d))(?=\S)")  # not inside 1,234


def _breakable(escaped: str) -> str:
    """Escaped text with break opportunities (<wbr>) after ·, ×, +, comma, _ and =, so a formula, a shape or a
    layer name can wrap inside a narrow table cell instead of widening the table past the page."""
    return _BREAK_AFTER.sub(r"\1<wbr>", escaped)


def _breakable_html(fragment: str) -> str:
    """``_breakable`` applied to the text between the tags of an HTML fragment (an analysis table)."""
    return re.sub(r">([^<]+)<", lambda m: ">" + _breakable(m.group(1)) + "<", fragment)


_VERDICT = {True: ("ok", "met"), False: ("miss", "not met"), None: ("", "not judged in the quick tour")}


def _html_chapter(ch: Chapter) -> str:
    e = html.escape
    out = [f'<h2 id="ch{ch.number}">{ch.number}. {e(ch.title)}</h2>', f'<p class="q">Q: {e(ch.question)}</p>']
    for kind, body in ch.blocks:
        if kind == "text":
            out.append(f"<p>{e(body)}</p>")
        elif kind == "table":
            if body["title"]:
                out.append(f'<div class="caption">{e(body["title"])}</div>')
            head = "".join(f"<th>{e(h)}</th>" for h in body["headers"])
            rows = "".join("<tr>" + "".join(f'<td{" class=r" if i in body["right"] else ""}>{_breakable(e(c))}</td>'
                                            for i, c in enumerate(r)) + "</tr>" for r in body["rows"])
            out.append(f"<table><tr>{head}</tr>{rows}</table>")
        elif kind == "pre":
            if body["title"]:
                out.append(f'<div class="caption">{e(body["title"])}</div>')
            out.append(f"<pre>{e(body['text'])}</pre>")
        elif kind == "html":  # an analysis result's own HTML (escaped where it was built)
            if body["title"]:
                out.append(f'<div class="caption">{e(body["title"])}</div>')
            out.append(f'<div class="analysis">{_breakable_html(body["html"])}</div>')
        elif kind == "image":
            panels = body.get("panels", [])
            lines = max((p["lines"] for p in panels), default=0)
            unlabelled = sum(1 for p in panels if p["lines"] > 1 and not p["legend"])
            out.append(f'<figure data-most-lines="{lines}" data-unlabelled-panels="{unlabelled}">'
                       f'<img alt="{e(body["caption"])}" src="data:image/png;base64,{body["png"]}">'
                       f"<figcaption>{e(body['caption'])}</figcaption></figure>")
    if ch.checks or ch.error:
        items = "".join(f'<li class="{"ok" if c["ok"] else "bad"}">{"✔" if c["ok"] else "✘"} {e(c["claim"])} — '
                        f'{e(c["detail"])}</li>' for c in ch.checks)
        out.append(f"<h3>Checks</h3><ul>{items}</ul>")
    if ch.targets:
        items = "".join(f'<li class="{_VERDICT[t["met"]][0]}">{_VERDICT[t["met"]][1]}: '
                        f'{e(t["name"])} = {t["value"]:.4g} (goal: {e(t["goal"])}){" — " + e(t["note"]) if t["note"] else ""}'
                        f"</li>" for t in ch.targets)
        out.append(f"<h3>Accuracy targets (reported, not tuned)</h3><ul>{items}</ul>")
    if ch.error:
        out.append(f'<p class="bad"><b>This chapter failed:</b> {e(ch.error)}</p>')
    if ch.seconds is not None:
        out.append(f'<p class="ran">Chapter {ch.number} ran in {ch.seconds:.1f} s.</p>')
    return "\n".join(out)


def write_report(folder: str, chapters: list[Chapter], meta: dict) -> tuple[str, str]:
    """Write ``index.html`` and ``report.json`` into ``folder`` (atomically); return their paths."""
    os.makedirs(folder, exist_ok=True)
    data = {**_plain(meta), "chapters": [c.to_dict() for c in chapters]}
    json_path, html_path = os.path.join(folder, "report.json"), os.path.join(folder, "index.html")
    with atomic_write(json_path) as f:
        f.write(json.dumps(data, indent=2).encode())
    e = html.escape
    toc = "".join(f'<li><a href="#ch{c.number}">{c.number}. {e(c.title)}</a>'
                  f'{" — <span class=bad>failed</span>" if c.error else ""}</li>' for c in chapters)
    mode = "quick" if meta.get("quick") else "full"
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>glassnet tour</title>"
            f"<style>{_CSS}</style></head><body><h1>The glassnet tour</h1>"
            f"<p>Each chapter answers one of the questions people ask about Keras layers by running real models "
            f"on real data that ships inside Python packages. Every number below was computed by this run "
            f"({mode} tour, glassnet {e(str(meta.get('glassnet')))}, torch {e(str(meta.get('torch')))}, "
            f"{e(str(meta.get('date')))}, {meta.get('seconds', 0):.0f} s). The figures are in report.json.</p>"
            + (f"<p><small>{e(meta['repeatability'])}</small></p>" if meta.get("repeatability") else "")
            + f"<ol>{toc}</ol>" + "\n".join(_html_chapter(c) for c in chapters) + "</body></html>")
    with atomic_write(html_path) as f:
        f.write(page.encode("utf-8"))
    return html_path, json_path
