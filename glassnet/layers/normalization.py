"""BatchNormalization and LayerNormalization with Keras defaults and weight order."""
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
from ..formula import prod, sym
from .base import Layer
from .cost import Cost, per_sample

__all__ = ["BatchNormalization", "LayerNormalization"]


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
