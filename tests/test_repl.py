"""In a REPL and in Jupyter: gn.compare and gn.explain print nothing themselves and return objects that show
once (text repr, HTML table, Markdown, JSON); print_fn= keeps the old printing; model.summary() prints like
Keras. And a name Keras has that glassnet lacks says so, with what to use instead."""
import code
import contextlib
import io
import json

import pytest

import glassnet as gn
from glassnet import _keras_names, layers
from glassnet.analysis import Comparison, Explanation


def _models():
    a = gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(64, (3, 3))], name="conv_3x3")
    b = gn.Sequential([gn.Input((28, 28, 1)), layers.Conv2D(32, (7, 7))], name="conv_7x7")
    return a, b


def _repl(source: str, names: dict) -> str:
    """What an interactive session prints for ``source`` (each expression statement echoes its repr once)."""
    out = io.StringIO()
    console = code.InteractiveConsole(locals=dict(names))
    with contextlib.redirect_stdout(out):
        for line in source.splitlines():
            console.push(line)
    return out.getvalue()


def test_compare_returns_a_comparison_that_the_repl_shows_once(capsys):
    a, b = _models()
    c = gn.compare(a, b)
    assert capsys.readouterr().out == ""  # nothing printed by compare itself
    assert isinstance(c, Comparison) and repr(c) == str(c) and "ratio 2.50×" in str(c)
    shown = _repl("gn.compare(a, b)", {"gn": gn, "a": a, "b": b})
    assert shown.count("ratio 2.50×") == 1 and shown.count("params ") == 1
    printed = _repl("print(gn.compare(a, b))", {"gn": gn, "a": a, "b": b})
    assert printed.count("ratio 2.50×") == 1


def test_comparison_html_markdown_json():
    c = gn.compare(*_models())
    page = c._repr_html_()
    assert page == c.to_html() and page.count("<table") == 2 and "conv_3x3" in page and "389,376" in page
    assert "<tr>" in page and "│" not in page
    md = c.to_markdown().splitlines()
    assert "| # | Model | Layer (type) | Output | Params | MACs | RF |" in md
    assert any(line.startswith("| 1 | conv_3x3 | conv2d") for line in md)
    d = json.loads(c.to_json())
    assert d["schema_version"] == gn.analysis.SCHEMA_VERSION and d["kind"] == "comparison"
    assert d["totals"]["params"] == {"a": 640, "b": 1600, "b/a": 2.5}


def test_print_fn_keeps_the_old_printing():
    out = []
    gn.compare(*_models(), print_fn=out.append)
    assert len(out) == 1 and "ratio 2.50×" in out[0]
    model = gn.Sequential([gn.Input((None, 1)), layers.LSTM(10), layers.Dense(1)], name="lstm_forecaster")
    out = []
    e = gn.explain(model, print_fn=out.append)
    assert out == [str(e)]


def test_explain_returns_an_explanation_printed_once(capsys):
    model = gn.Sequential([gn.Input((None, 1)), layers.LSTM(10), layers.Dense(1)], name="lstm_forecaster")
    e = gn.explain(model)
    assert capsys.readouterr().out == ""
    assert isinstance(e, Explanation) and repr(e) == str(e) and "owns 480 parameters" in e
    print(e)
    out = capsys.readouterr().out
    assert out.count('Model "lstm_forecaster": 2 layers, 491 parameters.') == 1
    assert "costs T·4·10·(1+10) multiply-adds per sample (linear in T)" in out
    shown = _repl("gn.explain(model)", {"gn": gn, "model": model})
    assert shown.count('Model "lstm_forecaster"') == 1


def test_explanation_html_markdown_json_with_null_for_unknowns():
    model = gn.Sequential([gn.Input((None, 1)), layers.LSTM(10), layers.Dense(1)], name="lstm_forecaster")
    e = gn.explain(model)
    page = e._repr_html_()
    assert page == e.to_html() and "<table" in page and "T·4·10·(1+10)" in page and "&quot;" not in page.split(">", 1)[0]
    assert page.count("<tr>") == 1 + 2
    md = e.to_markdown()
    assert "| Layer (type) | Output shape | Reads its input | Parameters | Multiply-adds | Needs fixed | Mask |" in md
    d = json.loads(e.to_json())
    assert d["schema_version"] == gn.analysis.SCHEMA_VERSION and d["kind"] == "explanation"
    lstm = d["layers"][0]
    assert lstm["macs"] is None and lstm["macs_formula"] == "T·4·10·(1+10)" and lstm["growth"] == "linear in T"
    assert lstm["params"] == 480 and lstm["mask"] is None and "—" not in e.to_json() and '"?"' not in e.to_json()


def test_a_layer_explanation_and_wrapping_to_a_width():
    layer = layers.Conv2D(16, 3)
    gn.Sequential([gn.Input(("H", "W", 3)), layer])
    e = gn.explain(layer)
    assert e.header is None and len(e.rows) == 1
    narrow = e.to_text(width=40)
    assert all(len(line) <= 40 for line in narrow.splitlines())
    assert "".join(narrow.split()) == "".join(e.text.split())  # every character kept


def test_summary_still_prints_like_keras(capsys):
    model = gn.Sequential([gn.Input((4,)), layers.Dense(2)], name="tiny")
    assert model.summary() is None
    out = capsys.readouterr().out
    assert out.startswith('Model: "tiny"') and "Total params: 10" in out


# ---------------------------------------------------------------------- names Keras has and glassnet lacks
def test_every_keras_layers_name_resolves_or_says_what_to_use(keras):
    names = [n for n in dir(keras.layers) if not n.startswith("_")]
    assert len(names) > 150
    unexplained = []
    for name in names:
        try:
            getattr(layers, name)
        except AttributeError as exc:
            text = str(exc)
            if f"Keras has keras.layers.{name}, glassnet does not (yet)." not in text:
                unexplained.append(text)
    assert unexplained == []


@pytest.mark.parametrize("name,instead", [
    ("JaxLayer", "It wraps another framework's model; glassnet runs PyTorch only."),
    ("add", "Use the layer: layers.Add()([a, b])."),
    ("concatenate", "Use the layer: layers.Concatenate(axis=-1)([a, b])."),
])
def test_a_missing_layer_says_what_to_use_instead(name, instead):
    with pytest.raises(AttributeError, match=rf"^module 'glassnet.layers' has no attribute '{name}': Keras has "
                                             rf"keras.layers.{name}, glassnet does not \(yet\)\.") as err:
        getattr(layers, name)
    assert instead in str(err.value)
    assert not hasattr(layers, name)


def test_names_keras_never_had_and_dunder_probes_stay_plain():
    for name in ("NotALayer", "__wrapped__", "__path__x"):
        with pytest.raises(AttributeError) as err:
            getattr(layers, name)
        assert str(err.value) == f"module 'glassnet.layers' has no attribute '{name}'"
    assert layers.Dense is not None and "Dense" in dir(layers)


def test_the_helper_serves_other_packages():
    err = _keras_names.missing("", "ops")
    assert str(err).startswith("module 'glassnet' has no attribute 'ops': Keras has keras.ops, glassnet does not (yet).")
    assert "torch functions" in str(err)
    with pytest.raises(AttributeError, match=r"^module 'glassnet' has no attribute 'ops': Keras has keras.ops"):
        gn.ops  # noqa: B018 - the package's own hook
    with pytest.raises(AttributeError, match=r"Keras has keras.utils.split_dataset.*torch.utils.data.random_split"):
        gn.utils.split_dataset  # noqa: B018
    with pytest.raises(AttributeError, match=r"^module 'glassnet.metrics' has no attribute 'NoSuch'$"):
        _keras_names.module_getattr("metrics", "glassnet.metrics")("NoSuch")  # no table: Python's own words


def test_no_table_names_what_glassnet_has():
    """A name glassnet has resolves before the table is asked; an entry for it would be dead text."""
    for keras_module, table in _keras_names.KERAS_NAMES.items():
        module = gn if not keras_module else getattr(gn, keras_module)
        assert [name for name in table if name in vars(module)] == [], keras_module
