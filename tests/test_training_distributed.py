"""Stateful metrics under a real 2-process data-parallel run (gloo over loopback): AUC and Precision states are
summed across processes, so every rank reports what one process computes over all the data."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBLEM = textwrap.dedent("""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = ((x @ rng.standard_normal((5, 1))) + 0.5 * rng.standard_normal((64, 1)) > 0).astype(np.float32)
    gn.utils.set_random_seed(3)
    m = gn.Sequential([gn.Input((5,)), layers.Dense(6, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    m.compile(gn.optimizers.SGD(learning_rate=0.1), "binary_crossentropy",
              metrics=[gn.metrics.AUC(name="auc"), gn.metrics.Precision(name="precision"),
                       gn.metrics.AUC(curve="PR", name="pr_auc")])
""")

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    import glassnet as gn
    from glassnet import layers
""") + PROBLEM + textwrap.dedent("""
    h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.savez(sys.argv[1], *m.get_weights())
    ev = m.evaluate(x[:61], y[:61], batch_size=7, return_dict=True, verbose=0)
    print(json.dumps({"history": h.history, "eval": ev}))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_auc_and_precision_reduced_across_two_processes_equal_one_process(tmp_path):
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo", GLASSNET_DIST_TIMEOUT="60", PYTHONPATH=ROOT,
                   OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / f"rank{rank}.npz")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("distributed workers timed out")
        assert p.returncode == 0, stderr[-2000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]  # every rank logs the same (global) numbers
    assert set(outs[0]["history"]) == {"loss", "auc", "precision", "pr_auc"}

    # one process, the same weights, all 61 samples
    ns = {"np": np, "gn": gn, "layers": layers}
    exec(PROBLEM, ns)
    x, y, m = ns["x"], ns["y"], ns["m"]
    weights = np.load(tmp_path / "rank0.npz")
    m.set_weights([weights[k] for k in weights.files])
    ev = m.evaluate(x[:61], y[:61], batch_size=61, return_dict=True, verbose=0)
    for key in ("loss", "auc", "precision", "pr_auc"):
        assert outs[0]["eval"][key] == pytest.approx(ev[key], rel=1e-5, abs=1e-7), key
    assert 0.5 < ev["auc"] <= 1.0
