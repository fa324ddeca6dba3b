"""Shared test machinery: copy the same random, non-constant weights into a glassnet and a Keras
model, then compare outputs and gradients (inputs and weights)."""
from __future__ import annotations

import numpy as np
import torch

import glassnet as gn

RTOL, ATOL = 1e-5, 1e-5


def random_weights(model, rng: np.random.Generator) -> list[np.ndarray]:
    """Random weights for every variable of a Keras model, positive where a variance is expected."""
    out = []
    for v in model.weights:
        shape = tuple(v.shape)
        if "variance" in v.path:
            out.append(rng.uniform(0.5, 1.5, shape).astype(v.dtype))
        else:
            out.append((rng.standard_normal(shape) * 0.5).astype(v.dtype))
    return out


def _scale(t: torch.Tensor) -> float:
    return max(1.0, float(t.detach().abs().max()))


def assert_close(a, b, what: str, rtol=RTOL, atol=ATOL):
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def compare_with_keras(gn_model, k_model, inputs, training=False, check_grads=True, seed=0, mask=None, kwargs=None,
                       rtol=RTOL, atol=ATOL):
    """Same weights → same outputs and same gradients w.r.t. inputs and trainable weights."""
    rng = np.random.default_rng(seed)
    ws = random_weights(k_model, rng)
    k_model.set_weights(ws)
    gn_model.set_weights(ws)
    for a, b in zip(gn_model.get_weights(), k_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    float_inputs = [np.issubdtype(np.asarray(x).dtype, np.floating) for x in inputs]
    xg = [torch.tensor(x, requires_grad=f) for x, f in zip(inputs, float_inputs)]
    xk = [torch.tensor(x, requires_grad=f) for x, f in zip(inputs, float_inputs)]
    kwargs = dict(kwargs or {})
    if mask is not None:
        kwargs["mask"] = torch.tensor(mask)
    yk = k_model(xk if len(xk) > 1 else xk[0], training=training, **kwargs)
    yg = gn_model(xg if len(xg) > 1 else xg[0], training=training, **kwargs)
    yk = yk if isinstance(yk, (list, tuple)) else [yk]
    yg = yg if isinstance(yg, (list, tuple)) else [yg]
    assert len(yk) == len(yg)
    for i, (a, b) in enumerate(zip(yg, yk)):
        assert_close(a, b, f"output {i}", rtol, atol)
    if not check_grads:
        return yg
    loss_g = loss_k = 0
    for a, b in zip(yg, yk):
        r = torch.tensor(rng.standard_normal(tuple(a.shape))).to(a.dtype)
        loss_g = loss_g + (a * r).sum()
        loss_k = loss_k + (b * r).sum()
    loss_g.backward()
    loss_k.backward()
    for i, (a, b, f) in enumerate(zip(xg, xk, float_inputs)):
        if f:
            assert_close(a.grad, b.grad, f"input gradient {i}", rtol, atol * _scale(b.grad))
    kw = [v.value for v in k_model.trainable_weights]
    gw = gn_model.trainable_weights
    assert len(kw) == len(gw)
    for i, (a, b) in enumerate(zip(gw, kw)):
        assert a.grad is not None and b.grad is not None, f"weight {i} has no gradient"
        assert_close(a.grad, b.grad, f"gradient of weight {i} ({k_model.trainable_weights[i].path})",
                     rtol, atol * _scale(b.grad))
    return yg


def pair(keras, gn_layer, k_layer, shapes, dtype=None):
    """A glassnet and a Keras model around one layer, on inputs of per-sample ``shapes``."""
    gi = [gn.Input(s, dtype=dtype) for s in shapes]
    ki = [keras.Input(s, dtype=dtype) for s in shapes]
    g = gn.Model(gi if len(gi) > 1 else gi[0], gn_layer(gi if len(gi) > 1 else gi[0]))
    k = keras.Model(ki if len(ki) > 1 else ki[0], k_layer(ki if len(ki) > 1 else ki[0]))
    return g, k


def check_layer(keras, build, inputs, **kwargs):
    """Keras semantics in float32 (outputs to rtol 1e-5; gradients to 1e-5 of the gradient's scale,
    since a gradient is a sum over many terms whose float32 round-off grows with their number),
    then glassnet's own gradients against finite differences in float64 (``gradcheck``)."""
    g, k = build()
    out = compare_with_keras(g, k, [np.asarray(x, np.float32) if np.issubdtype(np.asarray(x).dtype, np.floating)
                                    else x for x in inputs], **kwargs)
    gradcheck_model(build()[0], inputs, training=kwargs.get("training", False), mask=kwargs.get("mask"))
    return g, k, out


def gradcheck_model(g, inputs, training=False, mask=None):
    """``torch.autograd.gradcheck`` of a glassnet model in float64, w.r.t. inputs and weights."""
    g = g.double()
    xs = [torch.tensor(np.asarray(x, np.float64), requires_grad=True) if np.issubdtype(np.asarray(x).dtype, np.floating)
          else torch.tensor(x) for x in inputs]
    params = [w for w in g.trainable_weights]
    names = [id(p) for p in params]

    def fn(*args):
        xs_, ws = list(args[:len(xs)]), args[len(xs):]
        saved = [p.data for p in params]
        try:
            state = {n: w for n, w in zip(names, ws)}
            out = torch.func.functional_call(
                g, {k: state.get(id(v), v) for k, v in g.named_parameters()},
                (xs_ if len(xs_) > 1 else xs_[0],),
                {"training": training, **({"mask": torch.tensor(mask)} if mask is not None else {})})
        finally:
            for p, d in zip(params, saved):
                p.data = d
        outs = out if isinstance(out, (list, tuple)) else [out]
        return tuple(o for o in outs if o.is_floating_point())

    args = tuple(xs) + tuple(p.detach().clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-6, rtol=1e-5, fast_mode=True)
