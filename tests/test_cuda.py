"""The CUDA paths, where a GPU is present (skipped otherwise): fused cuDNN LSTM/GRU and the packed path for
masks against the CPU with the same weights, attention on the GPU, fit/evaluate/predict moving batches to
the model's device, a checkpoint saved on the GPU loading on the CPU."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _twins(build, shape, dtype=torch.float32):
    """The same model on the CPU and on the GPU (same weights)."""
    gn.utils.set_random_seed(0)
    cpu = build()
    cpu(torch.zeros(shape, dtype=dtype))
    gn.utils.set_random_seed(0)
    gpu = build()
    gpu(torch.zeros(shape, dtype=dtype))
    gpu.set_weights(cpu.get_weights())
    return cpu, gpu.to("cuda")


def _grads(model, x):
    x = x.clone().requires_grad_(x.is_floating_point())
    out = model(x, training=False)
    out = out[0] if isinstance(out, list) else out
    (out * torch.linspace(-1, 1, out.numel(), device=out.device).reshape(out.shape)).sum().backward()
    return out.detach().cpu(), [w.grad.detach().cpu() for w in model.trainable_weights]


@pytest.mark.parametrize("rnn", ["lstm", "gru", "simple_rnn", "bidirectional"])
@pytest.mark.parametrize("padding", [None, "right", "left", "middle"])
def test_recurrent_layers_on_the_gpu_match_the_cpu(rnn, padding):
    def build():
        layer = {"lstm": lambda: layers.LSTM(16, return_sequences=True), "gru": lambda: layers.GRU(16),
                 "simple_rnn": lambda: layers.SimpleRNN(8, return_sequences=True),
                 "bidirectional": lambda: layers.Bidirectional(layers.LSTM(8))}[rnn]()
        inner = [layers.Masking()] if padding else []
        return gn.Sequential([gn.Input((12, 5)), *inner, layer])
    cpu, gpu = _twins(build, (2, 12, 5))
    x = torch.randn(6, 12, 5)
    if padding == "right":
        x[0, 7:], x[3, 2:] = 0, 0
    elif padding == "left":
        x[1, :5], x[4, :9] = 0, 0
    elif padding == "middle":
        x[2, 3:6] = 0
    out_c, g_c = _grads(cpu, x)
    out_g, g_g = _grads(gpu, x.cuda())
    torch.testing.assert_close(out_g, out_c, rtol=1e-4, atol=1e-5)
    for a, b in zip(g_g, g_c):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_on_the_gpu_matches_the_cpu(causal):
    def build():
        inp = gn.Input((10, 16))
        out = layers.MultiHeadAttention(4, 8)(inp, inp, use_causal_mask=causal)
        return gn.Model(inp, out)
    cpu, gpu = _twins(build, (2, 10, 16))
    x = torch.randn(3, 10, 16)
    out_c, g_c = _grads(cpu, x)
    out_g, g_g = _grads(gpu, x.cuda())
    torch.testing.assert_close(out_g, out_c, rtol=1e-4, atol=1e-4)
    for a, b in zip(g_g, g_c):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_fit_evaluate_predict_on_the_gpu_and_a_checkpoint_back_on_the_cpu(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 20, 3)).astype(np.float32)
    y = x[:, -1, :1] * 0.5
    gn.utils.set_random_seed(1)
    model = gn.Sequential([gn.Input((20, 3)), layers.LSTM(16), layers.Dense(1)]).to("cuda")
    model.compile("adam", "mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0, validation_split=0.25)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert next(model.parameters()).is_cuda
    loss = model.evaluate(x, y, verbose=0)[0]
    pred = model.predict(x, verbose=0)
    assert isinstance(pred, np.ndarray) and pred.shape == (256, 1)
    model.save(tmp_path / "gpu.glassnet")
    cpu_model = gn.load_model(tmp_path / "gpu.glassnet")
    assert next(cpu_model.parameters()).device.type == "cpu"
    np.testing.assert_allclose(cpu_model.predict(x, verbose=0), pred, rtol=1e-4, atol=1e-5)
    cpu_model.compile("adam", "mse")
    assert cpu_model.evaluate(x, y, verbose=0) == pytest.approx(loss, rel=1e-4)


def test_conv_net_trains_on_the_gpu():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 16, 16, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    model = gn.Sequential([gn.Input((16, 16, 1)), layers.Conv2D(8, 3, activation="relu"),
                           layers.BatchNormalization(), layers.GlobalAveragePooling2D(), layers.Dense(2)]).to("cuda")
    model.compile("adam", gn.losses.SparseCategoricalCrossentropy(from_logits=True)
                  if hasattr(gn.losses, "SparseCategoricalCrossentropy") else ("sparse_categorical_crossentropy",
                                                                             {"from_logits": True}),
                  metrics=["accuracy"])
    h = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert np.isfinite(h.history["loss"]).all()


def test_nccl_with_one_rank():
    """A NCCL process group of one: glassnet's cross-process sum, and DDP over a glassnet model's run."""
    import socket
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from glassnet.training import distributed
    if not dist.is_nccl_available():
        pytest.skip("torch was built without NCCL")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        torch.cuda.set_device(0)
        total = distributed.all_reduce_sum(torch.tensor([1.5, 2.5], dtype=torch.float64))
        assert total.tolist() == [1.5, 2.5]
        model = gn.Sequential([gn.Input((6,)), layers.Dense(4), layers.BatchNormalization(synchronized=True),
                               layers.Dense(1)]).to("cuda")

        class Run(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                return self.m.run(x, training=True)[0][0]
        ddp = DistributedDataParallel(Run(model), device_ids=[0])
        x = torch.randn(16, 6, device="cuda")
        ddp(x).sum().backward()
        assert all(p.grad is not None for p in model.trainable_weights)
    finally:
        dist.destroy_process_group()
