"""Narrow terminals and pipes: the summary (``model.summary(costs=True)``, ``glassnet summary``) wraps long MAC
formulas onto further lines inside their column and never cuts one; --json and piped output keep every
formula whole on one line. Checked at 60, 80 and 120 columns with formulas longer than any column."""
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet import layers
from glassnet.analysis.table import render_table, wrap_text
from glassnet.cli import main

MODEL_PY = '''
import glassnet as gn
from glassnet import layers


def long_formulas():
    return gn.Sequential([gn.Input(("H", "W", 3)), layers.Conv2D(64, 7, strides=2, name="stem"),
                          layers.MaxPooling2D(3, strides=2, name="pool"),
                          layers.Conv2D(128, 5, dilation_rate=2, padding="same", name="dilated"),
                          layers.SeparableConv2D(256, 3, strides=2, name="separable"),
                          layers.GlobalAveragePooling2D(name="gap"), layers.Dense(10, name="classify")],
                         name="long_formulas")
'''


def long_formulas():
    namespace = {}
    exec(MODEL_PY, namespace)
    return namespace["long_formulas"]()


def box_cells(text: str) -> list[list[str]]:
    """The summary's body rows, each a list of cells whose wrapped pieces are joined back (spaces dropped)."""
    rows, block = [], None
    for line in text.splitlines():
        if line.startswith("┡") or line.startswith("├"):
            block = []
            rows.append(block)
        elif line.startswith("│") and block is not None:
            block.append([c.strip() for c in line[1:-1].split("│")])
    return [["".join(piece[k] for piece in b).replace(" ", "") for k in range(len(b[0]))] for b in rows]


def squeeze(s: str) -> str:
    return s.replace(" ", "")


@pytest.mark.parametrize("width", [60, 80, 120])
def test_summary_wraps_formulas_within_the_width_and_keeps_every_character(width):
    model = long_formulas()
    rows = {r.name: r for r in gn.analyze(model).rows}
    assert max(len(r.macs_formula) for r in rows.values()) > 40  # longer than the MACs column at 60 and 80
    out = []
    model.summary(costs=True, line_length=width, print_fn=out.append)
    text = out[0]
    assert "…" not in text
    assert all(len(line) <= width for line in text.splitlines()), max(map(len, text.splitlines()))
    cells = box_cells(text)
    assert len(cells) == len(model.layers)
    for layer, cell in zip(model.layers, cells):
        r = rows[layer.name]
        assert cell[0] == squeeze(f"{layer.name} ({type(layer).__name__})")
        assert cell[1] == squeeze(r.output_shape)
        assert cell[2] == f"{layer.count_params():,}"  # a count is never split across lines
        assert cell[3] == squeeze(r.params_formula) and cell[4] == squeeze(r.macs_formula)
    if width < 120:  # the formulas really had to wrap
        assert any(line.count("│") and "·" in line.split("│")[-2] and line.split("│")[-2].strip().endswith("·")
                   for line in text.splitlines())


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_command_line_summary_at_a_width(width, tmp_path, capsys):
    path = tmp_path / "models.py"
    path.write_text(MODEL_PY)
    assert main(["summary", f"{path}:long_formulas", "--width", str(width)]) == 0
    text = capsys.readouterr().out
    assert "…" not in text
    summary, report = text.split("\n\n", 1)
    assert all(len(line) <= width for line in summary.splitlines())
    model = long_formulas()
    for r in gn.analyze(model).rows[1:]:
        assert squeeze(r.macs_formula) in [c[4] for c in box_cells(summary)]
    # the analysis table after it: each column's wrapped pieces, read back by the column's span, give the formula
    lines = report.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("─"))
    spans = [m.span() for m in re.finditer(r"─+", lines[rule])]
    end = next(i for i, line in enumerate(lines) if line.startswith(" Params:"))
    body = lines[rule + 1:end]
    blocks: list[list[str]] = [[]]
    for line in body:  # rows are separated by blank lines once one of them wraps
        if line.strip():
            blocks[-1].append(line)
        else:
            blocks.append([])
    if len(blocks) == 1:
        blocks = [[line] for line in body]
    columns = [["".join(piece[a:b] for piece in block).replace(" ", "") for a, b in spans] for block in blocks]
    macs_col = 5
    assert [c[macs_col] for c in columns] == [squeeze(r.macs_formula) for r in gn.analyze(model).rows]
    if width >= 80:
        assert all(len(line) <= width for line in lines)


def test_json_and_piped_output_keep_each_formula_whole(tmp_path, capsys):
    path = tmp_path / "models.py"
    path.write_text(MODEL_PY)
    formulas = [r.macs_formula for r in gn.analyze(long_formulas()).rows]
    assert main(["summary", f"{path}:long_formulas", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [r["macs_formula"] for r in d["rows"]] == formulas
    assert main(["summary", f"{path}:long_formulas"]) == 0  # captured: not a terminal, like a pipe
    report = capsys.readouterr().out.split("\n\n", 1)[1]
    for f in formulas:
        assert f in report  # whole, on one line


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab(H-2)·+ ,⌊⌋/×", min_size=0, max_size=80), width=st.integers(1, 30))
def test_wrap_text_never_loses_a_character_and_respects_the_width(text, width):
    lines = wrap_text(text, width)
    assert all(len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_wrap_text_breaks_formulas_after_operators():
    assert wrap_text("8·27·(H-2)·(W-2)", 12) == ["8·27·(H-2)·", "(W-2)"]
    assert wrap_text("k·k·c·f + f = 3·3·16·32 + 32", 14) == ["k·k·c·f + f =", "3·3·16·32 + 32"]
    table = render_table(["Layer", "MACs"], [["conv", "32·3·3·16·(⌊H/2⌋-3)·(⌊W/2⌋-3)"]], width=20)
    assert "…" not in table and all(len(line) <= 20 for line in table.splitlines())
