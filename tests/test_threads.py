"""glassnet.threads: one intra-op thread for small work, torch's setting for large work, GLASSNET_THREADS and
--threads over both, and the previous setting back after every block."""
import ast
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers, threads
from glassnet.cli import main
from glassnet.errors import ConfigError
from glassnet.tour.report import Chapter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL, LARGE = threads.SMALL_WORK_MACS - 1, threads.SMALL_WORK_MACS


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "machine_busy", lambda wait=True: True)  # a shared machine, unless a test says
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # a recognisable "torch default" for these tests
    yield
    threads.set_threads(None)
    torch.set_num_threads(before)


def test_small_work_gets_one_thread_large_or_unknown_work_keeps_torchs_setting():
    assert threads.choose(SMALL) == 1 and threads.choose(0) == 1
    assert threads.choose(LARGE) == 3 and threads.choose(None) == 3


def test_the_block_runs_with_the_choice_and_the_setting_comes_back_even_after_an_error():
    with threads.for_work(SMALL) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 3
    with pytest.raises(RuntimeError):
        with threads.for_work(SMALL):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 3


def test_large_work_inside_a_small_block_gets_the_setting_from_before_glassnet_changed_it():
    with threads.for_work(SMALL):
        with threads.for_work(LARGE) as inner:
            assert inner == 3 and torch.get_num_threads() == 3
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 3


def test_the_environment_and_set_threads_override_the_rule(monkeypatch):
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.choose(SMALL) == 2 and threads.choose(LARGE) == 2
    monkeypatch.setenv(threads.ENV, "auto")
    assert threads.choose(SMALL) == 1
    threads.set_threads(4)  # --threads wins over the environment
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.choose(SMALL) == 4
    threads.set_threads("auto")
    assert threads.choose(SMALL) == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", 0, True])
def test_a_bad_setting_is_refused_with_its_source(value, monkeypatch):
    with pytest.raises(ConfigError, match=r"threads must be a positive number of threads or 'auto'\. Received: threads="):
        threads.set_threads(value)
    if isinstance(value, str):
        monkeypatch.setenv(threads.ENV, value)
        with pytest.raises(ConfigError, match=rf"{threads.ENV} must be a positive number"):
            threads.choose(SMALL)


def test_the_module_imports_nothing_of_glassnet_but_errors_and_config():
    tree = ast.parse(open(threads.__file__, encoding="utf-8").read())
    inner = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]
    assert inner and {n.module for n in inner} <= {"errors", "config"}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import) and any(a.name.startswith("glassnet") for a in n.names)]


def test_cli_threads_option_applies_during_the_command_and_is_undone(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr("glassnet.cli._cmd_summary", lambda args: seen.append(torch.get_num_threads()))
    for option, expected in ((["--threads", "2"], 2), ([], 1), (["--threads", "auto"], 1)):
        assert main(["summary", "x.py:f", *option]) == 0
        assert seen[-1] == expected and torch.get_num_threads() == 3
    assert threads.requested() is None


@pytest.mark.parametrize("argv,env", [(["--threads", "0"], None), ([], "lots")])
def test_cli_bad_thread_setting_is_one_line_exit_2(argv, env, monkeypatch, capsys):
    if env:
        monkeypatch.setenv(threads.ENV, env)
    assert main(["summary", os.path.join(ROOT, "examples", "seed_models.py:conv_3x3"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error: ") and "positive number" in err and err.count("\n") == 1


def test_every_command_takes_threads(capsys):
    for cmd in ("summary", "compare", "explain", "tour", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "--threads N" in capsys.readouterr().out


def test_a_tour_chapter_trains_on_the_threads_the_rule_chooses_and_records_them():
    ch = Chapter(1, "t", "q", echo=lambda *_: None)
    small = gn.Sequential([gn.Input((16, 1)), layers.LSTM(10), layers.Dense(1)])
    with ch.work(small, (16, 16, 1)):
        assert torch.get_num_threads() == 1
    big = gn.Sequential([gn.Input((10_000, 64)), layers.LSTM(512)])  # 16·10⁴·4·512·(64+512) ≈ 1.9·10¹¹ MACs
    with ch.work(big, (16, 10_000, 64)):
        assert torch.get_num_threads() == 3
    assert ch.threads_used == {1, 3} and ch.to_dict()["threads"] == [1, 3]
    threads.set_threads(2)
    with ch.work(small, (16, 16, 1)):
        assert torch.get_num_threads() == 2


def test_the_benchmarks_load_generator_starts_two_busy_processes_and_stops_them():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import threads as bench  # benchmarks/threads.py
    finally:
        sys.path.pop(0)
    with bench.Load() as load:
        pids = [p.pid for p in load.procs]
        assert len(pids) == 2 and all(p.poll() is None for p in load.procs)
    assert all(not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z" for pid in pids)
    assert "gn.Sequential" in bench.quickstart_code()  # the README's Quick start, as the benchmark runs it
    raw = {"quickstart": {c: {t: [{"seconds": s, "load_before": 0.5}] for t, s in (("1", 1.0), ("2", 3.0))}
                          for c in ("idle", "loaded")}}
    table = bench.markdown({"workloads": ["quickstart"], "labels": bench.LABELS, **bench.summarise(raw, ["quickstart"])})
    assert "| README Quick start (wall) | 1.000 s | 3.000 s | 1.000 s | 3.000 s | 3.00× | 3.00× |" in table
    assert "idle: 0.5–0.5; loaded: 0.5–0.5" in table


def test_the_tour_command_reports_the_threads_it_used(tmp_path):
    """A tiny chapter through the real command line in a fresh process: report.json says which threads ran."""
    env = dict(os.environ, PYTHONPATH=ROOT, KERAS_BACKEND="torch", OMP_NUM_THREADS="2")
    env.pop(threads.ENV, None)
    done = subprocess.run([sys.executable, "-m", "glassnet", "tour", "--quick", "--chapter", "4", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["threads"] == {"used": [1], "requested": None, "torch_default": 2}
    assert saved["chapters"][0]["threads"] == [1] and "whatever its number of cores" in saved["repeatability"]


# ------------------------------------------------------------------ fit, evaluate and predict follow the policy
class _ThreadSpy(gn.callbacks.Callback):
    """Records torch's intra-op threads at every batch of fit, evaluate and predict."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append(("fit", torch.get_num_threads()))

    def on_test_batch_begin(self, batch, logs=None):
        self.seen.append(("evaluate", torch.get_num_threads()))

    def on_predict_batch_begin(self, batch, logs=None):
        self.seen.append(("predict", torch.get_num_threads()))


def _small_model():
    model = gn.Sequential([gn.Input((8,)), layers.Dense(4, activation="relu"), layers.Dense(1)])
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    return model, rng.standard_normal((40, 8)).astype("float32"), rng.standard_normal((40, 1)).astype("float32")


def test_fit_evaluate_and_predict_run_a_small_model_on_one_thread_and_restore_the_setting():
    model, x, y = _small_model()
    spy = _ThreadSpy()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[spy], validation_data=(x, y))
    model.evaluate(x, y, verbose=0, callbacks=[spy])
    model.predict(x, batch_size=16, verbose=0, callbacks=[spy])
    assert {kind for kind, _ in spy.seen} == {"fit", "evaluate", "predict"}
    assert {n for _, n in spy.seen} == {1}
    assert torch.get_num_threads() == 3
    # the work it chose by: the forward multiply-adds of one batch, as the analysis counts them
    assert model.work_per_step(torch.from_numpy(x[:16])) == gn.analyze(model, input_shape=(16, 8)).totals["macs"]


def test_glassnet_threads_and_set_threads_override_the_policy_in_fit_and_predict(monkeypatch):
    model, x, y = _small_model()
    spy = _ThreadSpy()
    monkeypatch.setenv(threads.ENV, "2")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[spy])
    threads.set_threads(4)
    model.predict(x, verbose=0, callbacks=[spy])
    assert [n for _, n in spy.seen] == [2, 2, 4, 4]  # two batches of 32 and 8 each
    assert torch.get_num_threads() == 3


def test_predict_of_one_batch_gives_what_the_batched_path_gives():
    """One array within one batch skips the data pipeline; outputs, types and errors stay the same."""
    model, x, _ = _small_model()
    spy = _ThreadSpy()
    for sample in (x[:1], x[:5], x[:5].astype("float64")):
        fast = model.predict(sample, verbose=0)
        full = model.predict(sample, verbose=0, callbacks=[spy])  # callbacks take the batched path
        assert isinstance(fast, np.ndarray) and fast.dtype == full.dtype == np.float32
        np.testing.assert_array_equal(fast, full)
    as_tensor = model.predict(torch.from_numpy(x[:3]))
    assert isinstance(as_tensor, torch.Tensor) and not as_tensor.requires_grad
    with pytest.raises(gn.ShapeError, match="Received"):
        model.predict(x[:1, :5])
    with pytest.raises(ValueError, match="empty"):
        model.predict(x[:0])


def test_choosing_the_threads_draws_nothing_from_the_random_state():
    """The work is judged on the front of the data, not on a shuffled first batch: one epoch of fit draws one
    permutation and nothing more, so a resumed run's random state stays the checkpoint's."""
    model, x, y = _small_model()
    torch.manual_seed(3)
    torch.randperm(len(x))  # what one shuffled epoch draws
    expected = torch.random.get_rng_state()
    torch.manual_seed(3)
    model.fit(x, y, epochs=1, shuffle=True, verbose=0)
    assert torch.equal(torch.random.get_rng_state(), expected)


# ------------------------------------------------------------------ the machine's own load
def test_on_an_idle_machine_only_tiny_work_gets_one_thread(monkeypatch):
    monkeypatch.setattr(threads, "machine_busy", lambda wait=True: False)
    assert threads.choose(threads.TINY_WORK_MACS - 1) == 1
    assert threads.choose(threads.TINY_WORK_MACS) == 3 and threads.choose(SMALL) == 3  # torch's setting


def test_machine_busy_counts_other_programs_cpu_time_not_this_process(monkeypatch):
    """Busy means other programs used at least BUSY_CORES of a core since the last look: the machine's busy CPU
    seconds minus this process's, per second of wall time."""
    monkeypatch.undo()  # the real machine_busy
    monkeypatch.setattr(threads, "_last", None)
    monkeypatch.setattr(threads, "_busy", False)
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    readings = iter([(0.0, 100.0, 10.0), (1.0, 101.0, 10.9),   # 1 s: 1.0 busy, 0.9 ours → others 0.1: idle
                     (2.0, 102.9, 11.0),                        # 1 s: 1.9 busy, 0.1 ours → others 1.8: busy
                     (2.05, 103.0, 11.0),                       # 0.05 s later: too soon to look again
                     (9.0, 110.0, 17.9), (9.5, 110.5, 18.4)])   # 7 s later (stale): measured afresh, ours only
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(readings))
    assert threads.machine_busy() is False
    assert threads.machine_busy() is True
    assert threads.machine_busy(wait=False) is True
    assert threads.machine_busy() is False


def test_machine_busy_reads_this_machine():
    """On Linux the reading is real: this process's CPU time is part of the machine's."""
    reading = threads._cpu_times()
    if reading is None:
        pytest.skip("no /proc/stat here")
    wall, busy, own = reading
    assert wall > 0 and busy >= own > 0
