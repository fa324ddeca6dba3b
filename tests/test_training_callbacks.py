"""The callbacks glassnet adds to Keras's set: TensorBoard (read back with tensorboard's event reader),
BackupAndRestore (an interrupted run resumes), ProgbarLogger, SwapEMAWeights, RemoteMonitor (to a local
server), ModelCheckpoint every N batches; and the Keras-name coverage of losses, metrics, optimizers and
callbacks."""
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import callbacks as C
from glassnet import layers


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, (x[:, :1] * 2 - x[:, 1:2]).astype(np.float32)


def _model(optimizer=None):
    gn.utils.set_random_seed(3)
    m = gn.Sequential([gn.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
    m.compile(optimizer or gn.optimizers.Adam(0.01), "mse", metrics=["mae"])
    return m


def test_tensorboard_event_files_read_back(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                            reason="the tensorboard package is a test dependency")
    x, y = _data()
    m = _model()
    logdir = tmp_path / "logs"
    h = m.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, verbose=0,
              callbacks=[C.TensorBoard(logdir, histogram_freq=1, update_freq=2)])
    train = event_accumulator.EventAccumulator(str(logdir / "train"), size_guidance={"scalars": 0, "histograms": 0})
    train.Reload()
    tags = train.Tags()
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate", "batch_loss"} <= set(tags["scalars"])
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in train.Scalars("epoch_loss")], h.history["loss"], rtol=1e-6)
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]  # 9 batches in all, every 2nd
    assert any(t.endswith("/kernel") for t in tags["histograms"])
    val = event_accumulator.EventAccumulator(str(logdir / "validation"))
    val.Reload()
    np.testing.assert_allclose([e.value for e in val.Scalars("epoch_loss")], h.history["val_loss"], rtol=1e-6)
    with pytest.raises(gn.ConfigError, match="TensorBoard does not support profile_batch"):
        C.TensorBoard(profile_batch=2)


class _SimulatedCrash(RuntimeError):
    pass


class _Crash(C.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise _SimulatedCrash("simulated crash")


def test_backup_and_restore_resumes_an_interrupted_run(tmp_path):
    x, y = _data(96)
    gn.utils.set_random_seed(11)
    full = _model()
    full.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False)
    backup = tmp_path / "backup"
    gn.utils.set_random_seed(11)
    m = _model()
    with pytest.raises(_SimulatedCrash):
        m.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False,
              callbacks=[C.BackupAndRestore(backup), _Crash(at_epoch=1)])
    assert os.path.exists(backup / "latest.glassnet")
    gn.utils.set_random_seed(99)
    fresh = _model()  # another process would start from scratch: the backup brings weights, optimizer and epoch
    epochs = []
    fresh.fit(x, y, batch_size=16, epochs=4, verbose=0, shuffle=False,
              callbacks=[C.BackupAndRestore(backup), C.LambdaCallback(on_epoch_begin=lambda e, l: epochs.append(e))])
    assert epochs == [2, 3]
    for a, b in zip(full.get_weights(), fresh.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not os.path.exists(backup)  # deleted after a normal end


def test_model_checkpoint_every_n_batches(tmp_path):
    x, y = _data(64)
    m = _model()
    path = str(tmp_path / "ckpt-{epoch}-{batch}.glassnet")
    m.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[C.ModelCheckpoint(path, save_freq=3, monitor="loss")])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-1-3.glassnet", "ckpt-2-2.glassnet"]
    with pytest.raises(gn.ConfigError, match=r"`save_freq` must be 'epoch' or a positive number of batches"):
        C.ModelCheckpoint(path, save_freq=0)


def test_progbar_logger_and_its_place(capsys):
    x, y = _data(32)
    m = _model()
    m.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[C.ProgbarLogger()])
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "2/2" in out and "loss:" in out


def test_swap_ema_weights_evaluates_with_the_moving_average():
    x, y = _data(64)
    m = _model(gn.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.5))
    m.fit(x, y, batch_size=16, epochs=2, verbose=0)  # fit writes the averages into the model at its end
    m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    opt = m.optimizer
    live = m.get_weights()
    averages = [a.detach().numpy().copy() for a in opt._averages]
    with_ema = m.evaluate(x, y, verbose=0, callbacks=[C.SwapEMAWeights()], return_dict=True)
    for a, b in zip(m.get_weights(), live):
        np.testing.assert_array_equal(a, b)  # swapped back after evaluating
    m.set_weights(averages)
    assert m.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(with_ema["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="SwapEMAWeights must be used when `use_ema=True`"):
        _model().evaluate(x, y, verbose=0, callbacks=[C.SwapEMAWeights()])


def test_remote_monitor_posts_json_to_a_local_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        x, y = _data(32)
        m = _model()
        root = f"http://127.0.0.1:{server.server_address[1]}"
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[C.RemoteMonitor(root=root, send_as_json=True)])
    finally:
        server.shutdown()
    assert [r[0] for r in received] == ["/publish/epoch/end/"] * 2
    first = json.loads(received[0][2])
    assert received[0][1] == "application/json" and first["epoch"] == 0 and set(first) == {"epoch", "loss", "mae"}
    with pytest.raises(gn.ConfigError, match="RemoteMonitor posts to a local URL only"):
        C.RemoteMonitor(root="http://example.com:9000")


def test_keras_names_are_covered(keras):
    """Every public name of keras.optimizers, keras.losses, keras.metrics and keras.callbacks exists here
    (OrbaxCheckpoint, a JAX/Orbax checkpointer, aside)."""
    for ours, theirs, skip in ((gn.optimizers, keras.optimizers, set()), (gn.losses, keras.losses, set()),
                               (gn.metrics, keras.metrics, set()), (gn.callbacks, keras.callbacks, {"OrbaxCheckpoint"})):
        missing = sorted(n for n in dir(theirs) if not n.startswith("_") and n not in skip and not hasattr(ours, n))
        assert missing == [], f"{theirs.__name__}: {missing}"
