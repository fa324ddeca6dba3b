"""The tour: the quick tour runs every chapter, checks its claims and writes a self-contained report."""
import json
import sys

import numpy as np
import pytest
import torch

from glassnet import cli
from glassnet.tour import CHAPTERS, run_tour
from glassnet.tour import data


@pytest.mark.slow
def test_quick_tour_runs_every_chapter_and_writes_its_report(tmp_path, monkeypatch):
    monkeypatch.delenv("GLASSNET_THREADS", raising=False)
    lines = []
    result = run_tour(quick=True, out=str(tmp_path), echo=lines.append)
    assert result["failed"] == []
    assert [c["number"] for c in result["chapters"]] == sorted(CHAPTERS)
    for ch in result["chapters"]:
        assert ch["error"] is None and ch["checks"] and all(c["ok"] for c in ch["checks"]), ch["number"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["quick"] is True and len(saved["chapters"]) == 6 and saved["schema_version"] == 1
    assert saved["threads"]["used"] == [1] and "repeat bit for bit" in saved["repeatability"]
    assert "—" not in json.dumps(saved["chapters"][0]["figures"]) and '"?"' not in json.dumps(saved)
    figures = {c["number"]: c["figures"] for c in saved["chapters"]}
    assert figures[1]["lstm_params"]["with_bias"] == 480 and figures[1]["lstm_params"]["without_bias"] == 440
    assert all(r["lstm_params"] == 480 for r in figures[1]["window_results"].values())
    assert figures[3]["equality_max_abs_diff"] <= 1e-5
    assert figures[4]["params"] == {"depthwise": 80, "conv2d": 584}
    assert max(figures[6]["masked_vs_unpadded_max_abs_diff"].values()) <= 1e-5
    # quick targets are reported but not judged
    assert all(t["met"] is None for c in saved["chapters"] for t in c["targets"])
    page = (tmp_path / "index.html").read_text()
    assert page.count("<h2 id=") == 6 and page.count("data:image/png;base64,") >= 4
    assert all(f"Chapter {n} ran in " in page for n in CHAPTERS) and "seed's" not in page
    assert "{'" not in page and "<pre>Analysis of" not in page  # no dict reprs; analyses are HTML tables
    assert "http://" not in page and "https://" not in page  # self-contained
    text = "\n".join(lines)
    assert "Chapter 6. Masking against Embedding(mask_zero=True)" in text and "epoch" in text


def test_a_failed_claim_fails_its_chapter_loudly(tmp_path, monkeypatch):
    from glassnet.tour import ch3_dense_per_pixel as ch3

    def broken(ch, quick):
        ch.check("one equals two", 1 == 2, "1 != 2")
    monkeypatch.setattr(ch3, "run", broken)
    status = cli.main(["tour", "--quick", "--chapter", "3", "--out", str(tmp_path)])
    assert status == 1
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["failed"] == [3]
    assert "the claim 'one equals two' does not hold: 1 != 2" in saved["chapters"][0]["error"]
    assert "This chapter failed" in (tmp_path / "index.html").read_text()


def test_figures_repeat_whatever_torchs_thread_setting(tmp_path, monkeypatch):
    """The tour trains on one thread whatever torch's default, so a machine with more cores (a larger default)
    gets the same figures bit for bit."""
    monkeypatch.delenv("GLASSNET_THREADS", raising=False)
    runs = []
    for default in (1, 2):
        before = torch.get_num_threads()
        torch.set_num_threads(default)
        try:
            result = run_tour(quick=True, chapters=[4], out=str(tmp_path / str(default)), echo=lambda *_: None)
        finally:
            torch.set_num_threads(before)
        assert result["threads"] == {"used": [1], "requested": None, "torch_default": default}
        runs.append(result["chapters"][0]["figures"])
    assert runs[0] == runs[1] and runs[0]["separable_vs_full"]["conv2d"]["test_accuracy"] > 0


def test_tour_command_line_rejects_an_unknown_chapter(capsys):
    assert cli.main(["tour", "--chapter", "9"]) == 2
    assert "--chapter must be one of [1, 2, 3, 4, 5, 6]; received 9" in capsys.readouterr().err


def test_bundled_data():
    names, gender = data.first_names()
    assert (int(gender.sum()), int((gender == 0).sum())) == (1219, 4275)
    ids = data.encode_names(["ab", "zoe"])
    np.testing.assert_array_equal(ids, [[1, 2, 0], [26, 15, 5]])
    years, spots = data.sunspots()
    assert (years[0], years[-1], len(spots)) == (1700, 2008, 309) and spots.min() == 0
    x, y = data.mnist()
    assert x.shape == (5000, 28, 28, 1) and 0 <= x.min() and x.max() == 1 and np.bincount(y).tolist() == [500] * 10
    x, y = data.digits()
    assert x.shape == (1797, 8, 8, 1) and x.max() == 1


def test_missing_data_package_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "names", None)  # makes `import names` fail as if it were not installed
    with pytest.raises(ImportError, match=r"the 'names' package, which is not installed.*pip install 'glassnet\[tour\]'"):
        data.first_names()
