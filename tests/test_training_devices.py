"""Training on the model's device: CUDA batches come from page-locked memory with non-blocking copies, every
optimizer and metric gives on the GPU what it gives on the CPU, mixed precision runs there, and checkpoints
move between devices. Each test runs on the CPU and, where there is one, on a CUDA device."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from glassnet.layers.variables import Variable

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    return x, (x[:, :1] * 2 - np.tanh(x[:, 1:2])).astype(np.float32)


def _model(device="cpu", optimizer=None, policy=None):
    gn.utils.set_random_seed(4)
    m = gn.Sequential([gn.Input((8,)), layers.Dense(16, activation="relu", dtype=policy),
                       layers.Dense(1, dtype=policy)]).to(device)
    m.compile(optimizer or gn.optimizers.Adam(0.01), "mse", metrics=["mae", gn.metrics.R2Score()])
    return m


@pytest.mark.parametrize("device", DEVICES)
def test_batches_arrive_on_the_device_pinned_and_results_match_the_cpu(device):
    x, y = _data()
    m = _model(device)
    seen = []
    original = m._trainer._to_device

    def recording(batch, dev):
        first = batch[0] if isinstance(batch, tuple) else batch
        if isinstance(first, torch.Tensor):
            seen.append((first.device.type, first.is_pinned()))
        return original(batch, dev)
    m._trainer._to_device = recording
    h = m.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, validation_split=0.25)
    assert seen and all(s == ("cpu", device == "cuda") for s in seen)  # pinned exactly when going to CUDA
    assert next(m.parameters()).device.type == device
    ref = _model("cpu")
    hr = ref.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, validation_split=0.25)
    for key in ("loss", "mae", "r2_score", "val_loss"):
        np.testing.assert_allclose(h.history[key], hr.history[key], rtol=2e-4, atol=1e-5)
    out = m.predict(x, verbose=0)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, ref.predict(x, verbose=0), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl",
                                  "Lion", "Lamb", "Adafactor", "Muon", "ScheduleFreeAdamW"])
def test_optimizers_give_the_cpu_numbers_on_the_device(device, name):
    rng = np.random.default_rng(1)
    shapes = [(6, 4), (4,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(5)]
    results = {}
    for dev in ("cpu", device):
        params = [Variable(torch.tensor(v, device=dev), name=f"w{i}", path=f"d/w{i}") for i, v in enumerate(init)]
        opt = getattr(gn.optimizers, name)(learning_rate=0.01, clipnorm=1.0, use_ema=True)
        for gs in grads:
            opt.apply([torch.tensor(g, device=dev) for g in gs], params)
        opt.finalize_variable_values(params)
        results[dev] = [p.detach().cpu().numpy() for p in params]
    for a, b in zip(results["cpu"], results[device]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_metrics_accumulate_on_the_device(device):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (200, 1)).astype(np.float32)
    p = np.clip(y * 0.6 + rng.random((200, 1)) * 0.5, 0, 1).astype(np.float32)
    for cls, kwargs in ((gn.metrics.AUC, {}), (gn.metrics.Precision, {"thresholds": [0.3, 0.6]}),
                        (gn.metrics.F1Score, {"threshold": 0.5}), (gn.metrics.BinaryAccuracy, {})):
        on_dev, on_cpu = cls(**kwargs), cls(**kwargs)
        for s in (slice(0, 80), slice(80, 200)):
            on_dev.update_state(torch.tensor(y[s], device=device), torch.tensor(p[s], device=device))
            on_cpu.update_state(torch.tensor(y[s]), torch.tensor(p[s]))
        assert all(v.device.type == device for v in on_dev.variables)
        np.testing.assert_allclose(np.asarray(on_dev.result().cpu()), np.asarray(on_cpu.result()), rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_mixed_precision_trains_on_the_device(device):
    x, y = _data(256)
    policies = ["mixed_bfloat16"] + (["mixed_float16"] if device == "cuda" else [])
    for policy in policies:
        m = _model(device, policy=policy)
        assert isinstance(m.optimizer, gn.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
        h = m.fit(x, y, batch_size=32, epochs=20, verbose=0)
        assert h.history["loss"][-1] < 0.5 * h.history["loss"][0], policy
        assert all(w.dtype == torch.float32 for w in m.weights)


@pytest.mark.parametrize("device", DEVICES)
def test_checkpoints_move_between_devices(device, tmp_path):
    """A checkpoint written on one device resumes on the other: weights, optimizer slots, epoch."""
    x, y = _data(64)
    path = tmp_path / "ckpt.glassnet"
    src = _model(device)
    src.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
            callbacks=[gn.callbacks.ModelCheckpoint(str(path), monitor="loss")])
    full = _model(device)
    full.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for target in DEVICES:
        resumed = _model(target)
        resumed.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, resume_from=path)
        assert resumed.optimizer.iterations == 12
        assert all(v.device.type == target for v in resumed.optimizer._variables)
        for a, b in zip(resumed.get_weights(), full.get_weights()):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)
    back = gn.load_model(path)
    np.testing.assert_allclose(back.predict(x, verbose=0), src.predict(x, verbose=0), rtol=2e-4, atol=1e-5)
