"""Normalisation layers with Keras defaults and weight order: BatchNormalization, LayerNormalization,
GroupNormalization, RMSNormalization, UnitNormalization and the SpectralNormalization wrapper."""
from __future__ import annotations

import math
import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce

from .. import checks, initializers
from ..dims import fmt_shape
from ..errors import ConfigError, GlassnetWarning, ShapeError
from ..formula import plus, prod, sym
from . import registry
from .base import Layer
from .core import REGULARIZER_FIX
from .cost import Cost, per_sample

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization", "UnitNormalization",
           "SpectralNormalization"]


def _axes_tuple(axis) -> tuple[int, ...]:
    return tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)


class BatchNormalization(Layer):
    """Normalises each channel with batch statistics in training and moving statistics otherwise.

    ``y = (x - mean) / sqrt(var + epsilon) · gamma + beta``.  In training (``training=True`` and
    ``trainable``) the biased batch variance is used and ``moving = moving·momentum + batch·(1-momentum)``.
    A mask restricts the batch statistics to real steps. With ``synchronized=True`` and a
    ``torch.distributed`` process group of several processes (DDP), the batch statistics are those of
    the global batch across processes (``torch.nn.SyncBatchNorm``'s semantics, gradients included); in a
    single process they are the local batch's, which is the same thing.

    Weights: ``gamma, beta`` (trainable), ``moving_mean, moving_variance`` (non-trainable), each ``(C,)``.
    """

    normalises_by_batch = True  # in training its output depends on the other samples of the batch

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, renorm=False,
                 renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self._weight_options(("beta", "gamma"), dict(beta_regularizer=beta_regularizer,
                                                     gamma_regularizer=gamma_regularizer,
                                                     beta_constraint=beta_constraint,
                                                     gamma_constraint=gamma_constraint))
        checks.unsupported(self, "Leave renorm=False.", renorm=renorm)
        if not isinstance(axis, int):
            raise ConfigError(self._error("takes a single int axis", f"axis={axis!r}"))
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale, self.synchronized = bool(center), bool(scale), bool(synchronized)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def compute_output_shape(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape) or self.axis % len(input_shape) == 0:
            raise ShapeError(self._error(f"normalises axis {self.axis}, which the input does not have",
                                         f"input shape {fmt_shape(input_shape)}"))
        self._require_fixed(input_shape, self.axis, f"size on axis {self.axis} (the normalised features)")
        if self.built:
            self._check_built_dim(input_shape, self.axis, self.moving_mean.shape[0], "features")
        return input_shape

    def build(self, input_shape):
        c = input_shape[self.axis]
        if self.scale:
            self.add_weight(name="gamma", shape=(c,), initializer=self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.add_weight(name="beta", shape=(c,), initializer=self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint)
        self.add_weight(name="moving_mean", shape=(c,), initializer=self.moving_mean_initializer, trainable=False)
        self.add_weight(name="moving_variance", shape=(c,), initializer=self.moving_variance_initializer,
                        trainable=False)

    def _broadcast(self, v: torch.Tensor, ndim: int) -> torch.Tensor:
        axis = self.axis % ndim
        return v.reshape([-1 if i == axis else 1 for i in range(ndim)])

    def call(self, inputs, training=False, mask=None):
        axis = self.axis % inputs.ndim
        reduce = [i for i in range(inputs.ndim) if i != axis]
        if training and self.trainable:
            mean, var = self._batch_moments(inputs, reduce, mask)
            with torch.no_grad():
                m = self.momentum
                self.moving_mean.mul_(m).add_(mean.reshape(-1).detach(), alpha=1 - m)
                self.moving_variance.mul_(m).add_(var.reshape(-1).detach(), alpha=1 - m)
        else:
            mean = self._broadcast(self.moving_mean, inputs.ndim)
            var = self._broadcast(self.moving_variance, inputs.ndim)
        inv = torch.rsqrt(var + self.epsilon)
        if self.scale:
            inv = inv * self._broadcast(self.gamma, inputs.ndim)
        out = inputs * inv - mean * inv
        if self.center:
            out = out + self._broadcast(self.beta, inputs.ndim)
        return out

    def _batch_moments(self, x, reduce, mask):
        """Mean and biased variance over the batch (and every axis but the channels), masked steps left
        out; across processes when ``synchronized`` under a process group."""
        w = None if mask is None else mask.unsqueeze(-1).expand_as(x).to(x.dtype)
        sync = self.synchronized and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if w is None and not sync:
            var, mean = torch.var_mean(x, dim=reduce, correction=0, keepdim=True)
            return mean, var
        if w is None:
            count = torch.full_like(x.sum(dim=reduce, keepdim=True), float(math.prod(x.shape[i] for i in reduce)))
            s1 = x.sum(dim=reduce, keepdim=True)
        else:
            count = w.sum(dim=reduce, keepdim=True)
            s1 = (x * w).sum(dim=reduce, keepdim=True)
        if not sync:
            count = count + 1e-7
            mean = s1 / count
            return mean, (((x - mean) * w) ** 2).sum(dim=reduce, keepdim=True) / count
        # per-process sums, then one all-reduce: mean = Σs1/N, var = (Σ(ss + s1²/n))/N - mean²
        local_mean = s1 / count.clamp(min=1e-7)
        dev = x - local_mean
        ss = ((dev * w) ** 2 if w is not None else dev * dev).sum(dim=reduce, keepdim=True)
        stats = differentiable_all_reduce(torch.cat([s1, ss + s1 * local_mean, count]))
        s1_all, s2_all, n_all = stats.chunk(3)
        mean = s1_all / n_all
        return mean, (s2_all / n_all - mean * mean).clamp(min=0)

    def cost(self, input_shape, output_shape):
        c = input_shape[self.axis]
        k = 2 + int(self.scale) + int(self.center)
        return Cost(params=prod(k, sym("c")), values={sym("c"): c}, other_flops=per_sample(input_shape) * 2,
                    reads=f"normalises each of the {c} channels with batch statistics (training) or moving ones",
                    needs_fixed=(f"axis {self.axis} (channels)",), saved=("input",))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "synchronized": self.synchronized,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                **self._weight_options_config()}


class LayerNormalization(Layer):
    """Normalises each sample over ``axis`` (default the last): ``(x - mean)/sqrt(var + eps)·gamma + beta``.

    Weights: ``gamma, beta`` of the normalised axes' shape.
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._weight_options(("beta", "gamma"), dict(beta_regularizer=beta_regularizer,
                                                     gamma_regularizer=gamma_regularizer,
                                                     beta_constraint=beta_constraint,
                                                     gamma_constraint=gamma_constraint))
        self.axis = _axes_tuple(axis)
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(f"LayerNormalization '{self.name}': rms_scaling=True is deprecated in Keras 3 and scales by "
                          "the variance, not the root mean square; glassnet computes what Keras computes. For RMS "
                          "normalization use RMSNormalization.", GlassnetWarning, stacklevel=2)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _param_shape(self, input_shape):
        axes = sorted(a % len(input_shape) for a in self.axis)
        return axes, tuple(input_shape[a] for a in axes)

    def compute_output_shape(self, input_shape):
        if any(not -len(input_shape) <= a < len(input_shape) or a % len(input_shape) == 0 for a in self.axis):
            raise ShapeError(self._error(f"normalises axis {self.axis}, which the input does not have",
                                         f"input shape {fmt_shape(input_shape)}"))
        for a in self.axis:
            self._require_fixed(input_shape, a, f"size on axis {a} (the normalised features)")
        return input_shape

    def build(self, input_shape):
        _, shape = self._param_shape(input_shape)
        if self.scale or self.rms_scaling:
            self.add_weight(name="gamma", shape=shape, initializer=self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.add_weight(name="beta", shape=shape, initializer=self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def call(self, inputs):
        axes, shape = self._param_shape(tuple(inputs.shape))
        if axes == list(range(inputs.ndim - len(axes), inputs.ndim)) and not self.rms_scaling:
            return F.layer_norm(inputs, shape, self.gamma if self.scale else None,
                                self.beta if self.center else None, self.epsilon)
        bshape = [inputs.shape[i] if i in axes else 1 for i in range(inputs.ndim)]
        if self.rms_scaling:  # Keras 3: x·rsqrt(var(x) + ε)·γ — the variance about the mean, not the mean square
            var = torch.var(inputs, dim=axes, correction=0, keepdim=True)
            return inputs * torch.rsqrt(var + self.epsilon) * self.gamma.reshape(bshape)
        var, mean = torch.var_mean(inputs, dim=axes, correction=0, keepdim=True)
        out = (inputs - mean) * torch.rsqrt(var + self.epsilon)
        if self.scale:
            out = out * self.gamma.reshape(bshape)
        if self.center:
            out = out + self.beta.reshape(bshape)
        return out

    def cost(self, input_shape, output_shape):
        _, shape = self._param_shape(input_shape)
        k = int(self.scale or self.rms_scaling) + int(self.center and not self.rms_scaling)
        n = sym("n")
        return Cost(params=prod(k, n), values={n: math.prod(shape)}, other_flops=per_sample(input_shape) * 5,
                    reads=f"normalises each sample over axis {self.axis if len(self.axis) > 1 else self.axis[0]}",
                    needs_fixed=("the normalised axes",), saved=("input",))

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis) if len(self.axis) > 1 else self.axis[0],
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer), **self._weight_options_config()}


class GroupNormalization(Layer):
    """Normalises each sample over groups of channels: the channels on ``axis`` are split into ``groups``
    groups, each normalised over its channels and every other non-batch axis, then scaled and shifted per
    channel. ``groups=-1`` is instance normalisation (one group per channel); ``groups=1`` is a layer
    normalisation over all axes with per-channel ``gamma``/``beta``. A mask passes through (unused).

    Weights: ``gamma, beta (C,)``; the channels must be fixed and divisible by ``groups``.

    Example:
        >>> layers.GroupNormalization(groups=4)(gn.Input((8, 8, 16))).shape
        (None, 8, 8, 16)
    """

    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        checks.unsupported(self, REGULARIZER_FIX, beta_regularizer=beta_regularizer,
                           gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                           gamma_constraint=gamma_constraint)
        if groups != -1:
            checks.positive_int(self, "groups", groups)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ConfigError(self._error("takes a single int axis", f"axis={axis!r}"))
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _groups(self, channels: int) -> int:
        return channels if self.groups == -1 else self.groups

    def compute_output_shape(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape) or self.axis % len(input_shape) == 0:
            raise ShapeError(self._error(f"normalises channels on axis {self.axis}, which the input does not have",
                                         f"input shape {fmt_shape(input_shape)}"))
        c = self._require_fixed(input_shape, self.axis, f"size on axis {self.axis} (the channels)")
        if self.built:
            self._check_built_dim(input_shape, self.axis, self._channels, "channels")
        g = self._groups(c)
        if c < g or c % g:
            raise ShapeError(self._error(
                f"splits its {c} channels into groups={g}, so the channels must be a multiple of the groups",
                f"input shape {fmt_shape(input_shape)}", "Choose groups that divides the number of channels."))
        return input_shape

    def build(self, input_shape):
        c = self._channels = input_shape[self.axis]
        if self.scale:
            self.add_weight(name="gamma", shape=(c,), initializer=self.gamma_initializer)
        if self.center:
            self.add_weight(name="beta", shape=(c,), initializer=self.beta_initializer)

    def call(self, inputs):
        axis = self.axis % inputs.ndim
        x = inputs.movedim(axis, 1) if axis != 1 else inputs
        # torch 2.13's group_norm cannot differentiate a bias without a weight; beta is added apart then
        fused_beta = self.beta if self.center and self.scale else None
        out = F.group_norm(x, self._groups(x.shape[1]), self.gamma if self.scale else None, fused_beta, self.epsilon)
        if self.center and not self.scale:
            out = out + self.beta.reshape(-1, *([1] * (out.ndim - 2)))
        return out.movedim(1, axis) if axis != 1 else out

    def cost(self, input_shape, output_shape):
        c = input_shape[self.axis]
        k = int(self.scale) + int(self.center)
        return Cost(params=prod(k, sym("c")), values={sym("c"): c}, other_flops=per_sample(input_shape) * 5,
                    reads=f"normalises each sample over {self._groups(c)} groups of {c // self._groups(c)} channels "
                          "(each group over all positions), then scales and shifts each channel",
                    rf=("global",), needs_fixed=(f"axis {self.axis} (channels)",), saved=("input",))

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer)}


class RMSNormalization(Layer):
    """Root-mean-square normalisation: ``x · rsqrt(mean(x², axis) + epsilon) · scale`` (no centring, no bias).

    Weights: ``scale`` of the normalised axes' shape (ones at first). As in Keras 3, a mask is dropped.

    Example:
        >>> layer = layers.RMSNormalization()
        >>> layer(gn.Input((5, 8))).shape, tuple(layer.scale.shape)
        ((None, 5, 8), (8,))
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes_tuple(axis)
        if not self.axis or any(isinstance(a, bool) or not isinstance(a, int) for a in self.axis):
            raise ConfigError(self._error("takes an int axis or a list of int axes", f"axis={axis!r}"))
        self.epsilon = float(epsilon)

    def _param_shape(self, input_shape):
        axes = sorted(a % len(input_shape) for a in self.axis)
        return axes, tuple(input_shape[a] for a in axes)

    def compute_output_shape(self, input_shape):
        if any(not -len(input_shape) <= a < len(input_shape) or a % len(input_shape) == 0 for a in self.axis):
            raise ShapeError(self._error(f"normalises axis {list(self.axis)}, which the input does not have",
                                         f"input shape {fmt_shape(input_shape)}"))
        for a in self.axis:
            self._require_fixed(input_shape, a, f"size on axis {a} (the normalised features)")
        if self.built and self._param_shape(input_shape)[1] != tuple(self.scale.shape):
            raise ShapeError(self._error(f"expects the shape {tuple(self.scale.shape)} on axes {list(self.axis)}, "
                                         "as it was built with", f"input shape {fmt_shape(input_shape)}"))
        return input_shape

    def build(self, input_shape):
        self.add_weight(name="scale", shape=self._param_shape(input_shape)[1], initializer="ones")

    def call(self, inputs):
        axes, shape = self._param_shape(tuple(inputs.shape))
        if axes == list(range(inputs.ndim - len(axes), inputs.ndim)):
            return F.rms_norm(inputs, shape, self.scale, self.epsilon)
        rms = torch.rsqrt(torch.mean(inputs * inputs, dim=axes, keepdim=True) + self.epsilon)
        return inputs * rms * self.scale.reshape([inputs.shape[i] if i in axes else 1 for i in range(inputs.ndim)])

    def cost(self, input_shape, output_shape):
        axes, shape = self._param_shape(input_shape)
        n = sym("n")
        return Cost(params=n, values={n: math.prod(shape)}, other_flops=per_sample(input_shape) * 4,
                    rf=("pointwise",) if axes == [len(input_shape) - 1] else ("global",),
                    reads=f"divides each sample by its root mean square over axis "
                          f"{list(self.axis) if len(self.axis) > 1 else self.axis[0]}, then scales each feature",
                    needs_fixed=("the normalised axes",), saved=("input",))

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis) if len(self.axis) > 1 else self.axis[0],
                "epsilon": self.epsilon}


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis``: ``x · min(rsqrt(Σx²), 1e12)`` (Keras's epsilon,
    so an all-zero vector stays zero). No weights; a mask passes through (unused).

    Example:
        >>> layers.UnitNormalization()(torch.tensor([[3.0, 4.0]]))
        tensor([[0.6000, 0.8000]])
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = _axes_tuple(axis)
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise TypeError(f"Invalid value for `axis` argument: expected an int or a list/tuple of ints. "
                            f"Received: axis={axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def _axes(self, rank: int) -> list[int]:
        return [a % rank for a in _axes_tuple(self.axis)]

    def compute_output_shape(self, input_shape):
        if any(not -len(input_shape) <= a < len(input_shape) for a in _axes_tuple(self.axis)):
            raise ShapeError(self._error(f"normalises axis {self.axis}, which the input does not have",
                                         f"input shape {fmt_shape(input_shape)}"))
        return input_shape

    def call(self, inputs):
        square_sum = torch.sum(inputs * inputs, dim=self._axes(inputs.ndim), keepdim=True)
        return inputs * torch.clamp(torch.rsqrt(square_sum), max=1e12)

    def cost(self, input_shape, output_shape):
        global_axes = [a for a in self._axes(len(input_shape)) if a != len(input_shape) - 1]
        return Cost(other_flops=per_sample(input_shape) * 3, rf=("global",) if global_axes else ("pointwise",),
                    reads=f"divides each sample by its L2 norm over axis {self.axis}", saved=("input",))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


_POWER_EPSILON = 1e-7  # keras.backend.epsilon(), the floor of the norms in the power iteration


def _unit(x: torch.Tensor) -> torch.Tensor:
    """``x`` over its L2 norm, with Keras's floor (``utils.normalize(x, axis=None)``)."""
    return x * torch.clamp(torch.rsqrt(torch.sum(x * x)), max=1 / _POWER_EPSILON)


class SpectralNormalization(Layer):
    """Keeps the spectral norm of a wrapped layer's ``kernel`` (or ``embeddings``) near 1, as Keras 3 does.

    In training (``training=True``) each call first runs ``power_iterations`` steps of power iteration
    from the stored ``vector_u`` to estimate the kernel's largest singular value ``σ``, then *overwrites*
    the kernel with ``kernel / σ`` and stores the new ``vector_u`` (no gradient flows through ``σ``);
    the wrapped layer then runs on the updated kernel. In inference it only runs the wrapped layer.
    As in Keras, an all-zero kernel is left alone and a mask is dropped. Keras 3.15 also casts the output
    to the input's dtype, which truncates a wrapped Embedding's vectors to integers; glassnet returns
    the wrapped layer's output unchanged.

    Weights (Keras's order): the wrapped layer's kernel, ``vector_u (1, kernel.shape[-1])`` (non-trainable),
    then the wrapped layer's other weights; params ``(wrapped layer's) + v`` with ``v = kernel.shape[-1]``.

    Example:
        >>> layer = layers.SpectralNormalization(layers.Dense(4))
        >>> layer(gn.Input((3,))).shape, tuple(layer.vector_u.shape)
        ((None, 4), (1, 4))
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        if not isinstance(layer, Layer):
            raise ConfigError(f"SpectralNormalization needs a glassnet layer. Received: layer={layer!r}")
        super().__init__(**kwargs)
        self.layer = layer
        self.power_iterations = checks.positive_int(self, "power_iterations", power_iterations)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer._build_from(input_shape)
        kernel = self._kernel()
        self.add_weight(name="vector_u", shape=(1, kernel.shape[-1]),
                        initializer=initializers.get({"class_name": "TruncatedNormal", "config": {"stddev": 0.02}}),
                        trainable=False)

    def own_weights(self):
        """The wrapped layer's kernel, then ``vector_u``: Keras 3 tracks the kernel on the wrapper too, so its
        files hold it twice (``…/vars/0`` and ``…/layer/vars/0``); ``weights`` lists it once."""
        return [self._kernel(), *super().own_weights()] if self.built else super().own_weights()

    def _kernel(self) -> torch.Tensor:
        for name in ("kernel", "embeddings"):
            if name in self.layer._own_trainable + self.layer._own_non_trainable:
                return getattr(self.layer, name)
        raise ConfigError(self._error(f"wraps {type(self.layer).__name__} '{self.layer.name}', which has neither a "
                                      "kernel nor embeddings to normalise",
                                      fix="Wrap a Dense, convolution or Embedding layer."))

    @torch.no_grad()
    def _normalise_kernel(self) -> None:
        kernel = self._kernel()
        if not bool(torch.any(kernel != 0)):
            return
        w = kernel.reshape(-1, kernel.shape[-1])
        u = self.vector_u
        for _ in range(self.power_iterations):
            v = _unit(u @ w.t())
            u = _unit(v @ w)
        sigma = v @ w @ u.t()
        kernel.copy_(kernel / sigma)
        self.vector_u.copy_(u)

    def call(self, inputs, training=False):
        if training:
            self._normalise_kernel()
        return self.layer(inputs, training=training)

    def cost(self, input_shape, output_shape):
        inner = self.layer.cost(input_shape, output_shape)
        v = sym("v")
        rows = self._kernel().numel() // self._kernel().shape[-1] if self.built else "?"
        return Cost(params=plus(inner.params, v), values={**inner.values, v: self.vector_u.shape[1]},
                    macs=inner.macs, other_flops=inner.other_flops,
                    reads=f"{inner.reads}; in training it first rescales the {rows}×{self.vector_u.shape[1]} kernel "
                          f"by its largest singular value, estimated with {self.power_iterations} power "
                          "iteration(s) per call (not per sample)",
                    rf=inner.rf, needs_fixed=inner.needs_fixed, saved=inner.saved,
                    children=[(self.layer.name, inner)])

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = config.pop("layer")
        return cls(registry.deserialize(layer) if isinstance(layer, dict) else layer, **config)

    def get_config(self):
        return {**super().get_config(), "layer": registry.serialize(self.layer),
                "power_iterations": self.power_iterations}
