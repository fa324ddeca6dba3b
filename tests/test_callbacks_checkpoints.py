"""Every callback, atomic checkpoints that survive a kill mid-write, and resume == uninterrupted."""
import csv
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import glassnet as gn
from glassnet import callbacks as C
from glassnet import layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, (x[:, :1] * 2 - x[:, 1:2]).astype(np.float32)


def _model(dropout=0.0):
    return gn.Sequential([gn.Input((6,)), layers.Dense(8, activation="relu"), layers.Dropout(dropout), layers.Dense(1)])


def test_history_and_lambda_callback_hooks():
    calls = []
    cb = C.LambdaCallback(on_train_begin=lambda logs: calls.append("train_begin"),
                          on_epoch_begin=lambda e, logs: calls.append(f"epoch_begin{e}"),
                          on_train_batch_end=lambda b, logs: calls.append(f"batch{b}:{'loss' in logs}"),
                          on_epoch_end=lambda e, logs: calls.append(f"epoch_end{e}:{sorted(logs)}"),
                          on_train_end=lambda logs: calls.append("train_end"))
    x, y = _data(32)
    m = _model()
    m.compile("sgd", "mse")
    h = m.fit(x, y, batch_size=16, epochs=2, validation_data=(x, y), verbose=0, callbacks=[cb])
    assert calls == ["train_begin", "epoch_begin0", "batch0:True", "batch1:True", "epoch_end0:['loss', 'val_loss']",
                     "epoch_begin1", "batch0:True", "batch1:True", "epoch_end1:['loss', 'val_loss']", "train_end"]
    assert h.epoch == [0, 1] and len(h.history["val_loss"]) == 2
    with pytest.raises(ValueError, match="Unknown callback hooks"):
        C.LambdaCallback(on_epoch_ends=print)


class _Custom(C.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append((epoch, self.model is not None, self.params["epochs"]))


def test_base_callback_subclass():
    cb = _Custom()
    x, y = _data(16)
    m = _model()
    m.compile("sgd", "mse")
    m.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    assert cb.seen == [(0, True, 3), (1, True, 3), (2, True, 3)]


def test_early_stopping_restores_best_weights():
    x, y = _data()
    m = _model()
    m.compile(gn.optimizers.SGD(learning_rate=0.05), "mse")
    scores = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99])
    snapshots = []

    class Fake(C.Callback):  # feeds a made-up val_loss and remembers each epoch's weights
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(scores)
            snapshots.append(self.model.get_weights())

    es = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = m.fit(x, y, epochs=7, verbose=0, callbacks=[Fake(), es])
    assert len(h.epoch) == 4 and es.stopped_epoch == 3 and es.best_epoch == 1
    for a, b in zip(m.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_best_only_and_weights_only(tmp_path):
    x, y = _data()
    m = _model()
    m.compile("adam", "mse")
    losses = iter([3.0, 2.0, 2.5, 1.0])

    class Fake(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(losses)
    path = str(tmp_path / "best-{epoch}.glassnet")
    m.fit(x, y, epochs=4, verbose=0, callbacks=[Fake(), C.ModelCheckpoint(path, save_best_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["best-1.glassnet", "best-2.glassnet", "best-4.glassnet"]
    restored = gn.load_model(tmp_path / "best-4.glassnet")
    np.testing.assert_allclose(restored.predict(x), m.predict(x), rtol=1e-6)
    wpath = tmp_path / "w.safetensors"
    m.fit(x, y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(str(wpath), save_weights_only=True, monitor="loss")])
    other = _model()
    other.load_weights(wpath)
    np.testing.assert_allclose(other.predict(x), m.predict(x), rtol=1e-6)


def test_reduce_lr_on_plateau_and_scheduler():
    x, y = _data()
    m = _model()
    m.compile(gn.optimizers.SGD(learning_rate=0.1), "mse")
    flat = iter([1.0, 1.0, 1.0, 1.0, 1.0])

    class Fake(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(flat)
    h = m.fit(x, y, epochs=5, verbose=0, callbacks=[Fake(), C.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.02)])
    # as in Keras, each epoch logs the rate it trained with; the cut applies from the next epoch
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05])
    assert m.learning_rate == pytest.approx(0.025)
    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[C.LearningRateScheduler(lambda e, lr: 0.01 * (e + 1))])
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.02, 0.03])
    assert m.learning_rate == pytest.approx(0.03)


def test_csv_logger(tmp_path):
    x, y = _data()
    m = _model()
    m.compile("adam", "mse", metrics=["mae"])
    path = tmp_path / "log.csv"
    m.fit(x, y, epochs=2, verbose=0, callbacks=[C.CSVLogger(path)])
    m.fit(x, y, epochs=1, verbose=0, callbacks=[C.CSVLogger(path, append=True)])
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1", "0"] and set(rows[0]) == {"epoch", "loss", "mae"}


def test_terminate_on_nan():
    x, y = _data()
    m = _model()
    m.compile(gn.optimizers.SGD(learning_rate=1e6), "mse")
    h = m.fit(x * 1e3, y * 1e6, batch_size=8, epochs=5, verbose=0, callbacks=[C.TerminateOnNaN()])
    assert len(h.epoch) <= 1


def test_resume_equals_uninterrupted_run(tmp_path):
    x, y = _data(96)

    def run(epochs, resume=None, ckpt=None):
        gn.utils.set_random_seed(7)
        m = _model(dropout=0.3)
        m.compile("adam", "mse")
        cbs = [C.ModelCheckpoint(str(ckpt), monitor="loss")] if ckpt else []
        if resume:
            gn.utils.set_random_seed(123)  # a different random state: everything must come from the checkpoint
            m = _model(dropout=0.3)
            m.compile("adam", "mse")
        m.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=cbs, resume_from=resume)
        return m
    full = run(4)
    ckpt = tmp_path / "ckpt.glassnet"
    run(2, ckpt=ckpt)
    resumed = run(4, resume=ckpt)
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


KILL_SCRIPT = textwrap.dedent("""
    import sys, time, zipfile
    import numpy as np
    import glassnet as gn
    from glassnet import layers
    path = sys.argv[1]
    m = gn.Sequential([gn.Input((6,)), layers.Dense(2000), layers.Dense(1)])
    m.compile("adam", "mse")
    m.save(path, _training_state=True)
    np.save(path + ".expected.npy", m.predict(np.ones((2, 6), np.float32)))
    for w in m.weights:
        w.data.add_(1.0)
    original = zipfile.ZipFile.writestr
    def slow(self, name, data, *a, **k):
        original(self, name, data, *a, **k)
        print("writing", name, flush=True)
        time.sleep(30)
    zipfile.ZipFile.writestr = slow
    m.save(path, _training_state=True)
""")


def test_checkpoint_killed_mid_write_leaves_previous_loadable(tmp_path):
    path = str(tmp_path / "ckpt.glassnet")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, path], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        line = proc.stdout.readline()
        assert line.startswith("writing")  # the second save is under way
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    model = gn.load_model(path)
    expected = np.load(path + ".expected.npy")
    np.testing.assert_allclose(model.predict(np.ones((2, 6), np.float32)), expected, rtol=1e-6)


def test_corrupt_native_file_is_refused(tmp_path):
    bad = tmp_path / "bad.glassnet"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(gn.FileFormatError, match=r"bad\.glassnet: not a model file \(neither a zip archive nor HDF5\)"):
        gn.load_model(bad)
    m = _model()
    m.save(tmp_path / "ok.glassnet")
    data = (tmp_path / "ok.glassnet").read_bytes()
    (tmp_path / "trunc.glassnet").write_bytes(data[: len(data) // 2])
    with pytest.raises(gn.FileFormatError):
        gn.load_model(tmp_path / "trunc.glassnet")
    other = gn.Sequential([gn.Input((6,)), layers.Dense(3), layers.Dense(1)])
    with pytest.raises(gn.FileFormatError, match=r"ok\.glassnet: weight 'layers/dense/vars/0' has shape \(6, 8\), the model expects \(6, 3\)"):
        other.load_weights(tmp_path / "ok.glassnet")


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_saved_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through a private temporary file; the result is readable like any new file."""
    old = os.umask(0o027)
    try:
        model = gn.Sequential([gn.Input((3,)), layers.Dense(2)])
        for name in ("m.glassnet", "m.keras", "m.h5", "m.weights.h5"):
            path = tmp_path / name
            model.save_weights(path) if name.endswith(".weights.h5") else model.save(path)
            assert (path.stat().st_mode & 0o777) == 0o640, name
    finally:
        os.umask(old)
