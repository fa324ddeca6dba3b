"""A real 2-process data-parallel run (gloo over loopback): both ranks end with bit-identical weights
that equal a single process trained on the same global batches."""
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

# the data and the compiled model, the same text in each worker and in the single-process reference;
# BatchNormalization(synchronized=True) must see the global batch, so it too equals one process
PROBLEM = textwrap.dedent("""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32) * np.arange(1, 65, dtype=np.float32)[:, None] / 32
    y = (x @ rng.standard_normal((5, 1))).astype(np.float32)
    gn.utils.set_random_seed(3)
    middle = [layers.BatchNormalization(synchronized=True, momentum=0.5)] if SYNC_BN else []
    m = gn.Sequential([gn.Input((5,)), layers.Dense(8, activation="tanh"), *middle, layers.Dense(1)])
    m.compile(gn.optimizers.SGD(learning_rate=0.05, momentum=0.9), "mse", metrics=["mae"])
""")

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    import glassnet as gn
    from glassnet import layers
    SYNC_BN = sys.argv[2] == "1"
""") + PROBLEM + textwrap.dedent("""
    h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ev = m.evaluate(x[:61], y[:61], return_dict=True, verbose=0)
    np.savez(sys.argv[1], *m.get_weights())
    print(json.dumps({"history": h.history, "eval": ev, "rank": torch.distributed.get_rank()}))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("sync_bn", [False, True], ids=["dense", "synchronized_batchnorm"])
def test_two_process_gloo_matches_single_process(tmp_path, sync_bn):
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo", GLASSNET_DIST_TIMEOUT="60",
                   PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / f"rank{rank}.npz"),
                                       "1" if sync_bn else "0"],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
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
    w0 = np.load(tmp_path / "rank0.npz")
    w1 = np.load(tmp_path / "rank1.npz")
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k])  # bit-identical on both ranks
    assert outs[0]["history"] == outs[1]["history"] and outs[0]["eval"] == outs[1]["eval"]

    # the same global batches (16 = 2 ranks × 8) in one process
    ns = {"np": np, "gn": gn, "layers": layers, "SYNC_BN": sync_bn}
    exec(PROBLEM, ns)
    x, y, m = ns["x"], ns["y"], ns["m"]
    h = m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, k in zip(m.get_weights(), w0.files):
        np.testing.assert_allclose(a, w0[k], atol=1e-5, rtol=0)
    np.testing.assert_allclose(outs[0]["history"]["loss"], h.history["loss"], rtol=1e-5)
    # evaluation splits 61 samples without padding: every sample counts exactly once
    ev = m.evaluate(x[:61], y[:61], return_dict=True, verbose=0)
    assert outs[0]["eval"]["loss"] == pytest.approx(ev["loss"], rel=1e-5)
    assert outs[0]["eval"]["mae"] == pytest.approx(ev["mae"], rel=1e-5)
