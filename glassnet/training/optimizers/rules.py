"""The update rules of Keras 3's optimizers, step for step as Keras computes them on its torch backend.

``torch.optim`` differs from Keras in most of these rules, so the rules are written here:
``torch.optim.Adam``/``AdamW``/``Adamax``/``Adagrad``/``RMSprop`` add epsilon elsewhere (Keras's Adam
uses ``lr·sqrt(1-β₂ᵗ)/(1-β₁ᵗ) · m/(sqrt(v)+ε)``, torch ``lr/(1-β₁ᵗ) · m/(sqrt(v/(1-β₂ᵗ))+ε)``; the two
part by orders of magnitude where a gradient is near zero), ``torch.optim.SGD`` keeps momentum of
raw gradients and multiplies by the current learning rate (Keras keeps momentum of ``lr·g``, which
differs once the rate changes), and Ftrl, Lion, Lamb, Adafactor, Muon and ScheduleFreeAdamW have no
Keras-exact torch twin. ``Adadelta`` and ``Nadam`` do match ``torch.optim``'s rules; they are written
here too so that every optimizer keeps its slots in Keras's order and names (``.keras`` files map
onto them) and shares the base class's clipping, accumulation and EMA.

Scalars (learning rate, bias corrections) are float32, as Keras's variables are.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
import torch

from ... import checks
from ...errors import ConfigError
from .base import Optimizer

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl", "Lion", "Lamb",
           "Adafactor", "Muon", "ScheduleFreeAdamW"]


def _f32(x) -> float:
    """``x`` rounded to float32, as a Python float (Keras's hyper-parameters are float32 variables)."""
    return float(np.float32(x))


@lru_cache(maxsize=4096)
def _powers(beta: float, step: int) -> float:
    """``beta ** step`` in float32, as Keras computes bias corrections."""
    return float(np.power(np.float32(beta), np.float32(step)))


@lru_cache(maxsize=4096)
def _adam_alpha(lr: float, beta_1: float, beta_2: float, step: int) -> float:
    """``lr · sqrt(1 - β₂ᵗ) / (1 - β₁ᵗ)`` in float32 (one value per step, shared by every weight)."""
    one = np.float32(1)
    return float(np.float32(lr) * np.sqrt(one - np.float32(_powers(beta_2, step)))
                 / (one - np.float32(_powers(beta_1, step))))


class SGD(Optimizer):
    """Gradient descent with momentum: ``m = momentum·m - lr·g``; ``w += m`` (Nesterov:
    ``w += momentum·m - lr·g``); plain ``w -= lr·g`` without momentum."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.momentum = checks.number_in("SGD", "momentum", momentum, 0.0, 1.0, high_inclusive=True)
        self.nesterov = bool(nesterov)

    def build(self, variables):
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum != 0 else []

    def update_step(self, gradient, variable, learning_rate):
        lr = _f32(learning_rate)
        if self.momentum != 0:
            m = self.momentums[self._get_variable_index(variable)]
            m.mul_(self.momentum).add_(gradient, alpha=-lr)
            if self.nesterov:
                variable.add_(gradient, alpha=-lr).add_(m, alpha=self.momentum)
            else:
                variable.add_(m)
        else:
            variable.add_(gradient, alpha=-lr)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam as Keras writes it: ``m += (1-β₁)(g-m)``, ``v += (1-β₂)(g²-v)``,
    ``w -= lr·sqrt(1-β₂ᵗ)/(1-β₁ᵗ) · m / (sqrt(v) + ε)`` (``amsgrad``: the running maximum of ``v``)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, bool(amsgrad)

    def build(self, var_list):
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        alpha = _adam_alpha(float(learning_rate), self.beta_1, self.beta_2, self.iterations + 1)
        m, v = self._momentums[i], self._velocities[i]
        m.mul_(self.beta_1).add_(gradient, alpha=1 - self.beta_1)
        v.mul_(self.beta_2).add_(gradient * gradient, alpha=1 - self.beta_2)
        if self.amsgrad:
            v_hat = self._velocity_hats[i]
            torch.maximum(v_hat, v, out=v_hat)
            v = v_hat
        variable.add_((m * alpha) / (torch.sqrt(v) + self.epsilon), alpha=-1)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (``w *= 1 - weight_decay·lr`` before each update)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        if self.weight_decay is None:
            raise ConfigError("AdamW: argument `weight_decay` must be a float. Received: weight_decay=None")


class RMSprop(Optimizer):
    """``v = ρv + (1-ρ)g²``; ``w -= lr·g / sqrt(v + ε)`` (ε inside the root, unlike ``torch.optim.RMSprop``);
    ``centered`` subtracts the squared mean gradient; ``momentum`` accumulates the increments."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, bool(centered)

    def build(self, var_list):
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        self._momentums = self.add_optimizer_variables(var_list, "momentum") if self.momentum > 0 else []
        self._average_gradients = (self.add_optimizer_variables(var_list, "average_gradient")
                                   if self.centered else [])

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        lr, rho = _f32(learning_rate), self.rho
        v = self._velocities[i]
        v.mul_(rho).add_(gradient * gradient, alpha=1 - rho)
        denom = v + self.epsilon
        if self.centered:
            a = self._average_gradients[i]
            a.mul_(rho).add_(gradient, alpha=1 - rho)
            denom.add_(a * a, alpha=-1)
        increment = (gradient * lr) / torch.sqrt(denom)
        if self.momentum > 0:
            m = self._momentums[i]
            m.mul_(self.momentum).add_(increment)
            variable.add_(m, alpha=-1)
        else:
            variable.add_(increment, alpha=-1)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """``acc += g²``; ``w -= lr·g / sqrt(acc + ε)`` (``acc`` starts at ``initial_accumulator_value``)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def build(self, var_list):
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(var_list, "accumulator",
                                                          initializer=self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        acc = self._accumulators[self._get_variable_index(variable)]
        acc.add_(gradient * gradient)
        variable.add_((gradient * _f32(learning_rate)) / torch.sqrt(acc + self.epsilon), alpha=-1)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """``E[g²] = ρE[g²] + (1-ρ)g²``; ``Δ = -sqrt(E[Δ²]+ε)/sqrt(E[g²]+ε)·g``; ``E[Δ²] = ρE[Δ²] + (1-ρ)Δ²``;
    ``w += lr·Δ`` (the same rule as ``torch.optim.Adadelta``)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def build(self, var_list):
        super().build(var_list)
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            var_list, ["accumulated_grad", "accumulated_delta_var"])

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        acc_g, acc_d = self._accumulated_grads[i], self._accumulated_delta_vars[i]
        rho = self.rho
        acc_g.mul_(rho).add_(gradient * gradient, alpha=1 - rho)
        delta = -((torch.sqrt(acc_d + self.epsilon) * gradient) / torch.sqrt(acc_g + self.epsilon))
        acc_d.mul_(rho).add_(delta * delta, alpha=1 - rho)
        variable.add_(delta, alpha=_f32(learning_rate))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adam with the infinity norm: ``u = max(β₂u, |g|)``; ``w -= lr·m / ((u + ε)(1-β₁ᵗ))``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list):
        super().build(var_list)
        self._m, self._u = self.add_optimizer_variables(var_list, ["momentum", "norm"])

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        b1_power = _powers(self.beta_1, self.iterations + 1)
        m, u = self._m[i], self._u[i]
        m.mul_(self.beta_1).add_(gradient, alpha=1 - self.beta_1)
        u.mul_(self.beta_2)
        torch.maximum(u, torch.abs(gradient), out=u)
        variable.add_((m * _f32(learning_rate)) / ((u + self.epsilon) * _f32(1 - b1_power)), alpha=-1)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum: Keras's momentum schedule ``μₜ = β₁(1 - ½·0.96ᵗ)`` and the running
    product of the ``μ`` (``u_product``)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list):
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])
        self._u_product = self.add_variable((), initializer=1.0, name="u_product")

    def _update_all(self, grads, variables, learning_rate):
        f32 = torch.float32
        t = torch.tensor(float(self.iterations + 1), dtype=f32)
        beta_1 = torch.tensor(self.beta_1, dtype=f32)
        decay = torch.tensor(0.96, dtype=f32)
        u_t = beta_1 * (1.0 - 0.5 * torch.pow(decay, t))
        u_t_1 = beta_1 * (1.0 - 0.5 * torch.pow(decay, t + 1))
        u_product_t = self._u_product * u_t
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = float(torch.pow(torch.tensor(self.beta_2, dtype=f32), t))
        self._u_product.copy_(u_product_t)
        lr = _f32(learning_rate)
        c1, c2 = float(u_t_1), float(1 - u_t)
        d1, d2 = float(1 - u_product_t_1), float(1 - u_product_t)
        for g, var in zip(grads, variables):
            i = self._get_variable_index(var)
            m, v = self._momentums[i], self._velocities[i]
            m.mul_(self.beta_1).add_(g, alpha=1 - self.beta_1)
            v.mul_(self.beta_2).add_(g * g, alpha=1 - self.beta_2)
            m_hat = (m * c1) / d1 + (g * c2) / d2
            v_hat = v / (1 - beta_2_power)
            var.add_((m_hat * lr) / (torch.sqrt(v_hat) + self.epsilon), alpha=-1)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al. 2013) with Keras's L1, L2 and shrinkage terms."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        for arg, value, ok, rule in (
                ("initial_accumulator_value", initial_accumulator_value, initial_accumulator_value >= 0, "positive or zero"),
                ("learning_rate_power", learning_rate_power, learning_rate_power <= 0, "negative or zero"),
                ("l1_regularization_strength", l1_regularization_strength, l1_regularization_strength >= 0,
                 "positive or zero"),
                ("l2_regularization_strength", l2_regularization_strength, l2_regularization_strength >= 0,
                 "positive or zero"),
                ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength,
                 l2_shrinkage_regularization_strength >= 0, "positive or zero")):
            if not ok:
                raise ConfigError(f"Ftrl: `{arg}` needs to be {rule}. Received: {arg}={value}.")
        self.learning_rate_power, self.initial_accumulator_value = learning_rate_power, initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def build(self, var_list):
        super().build(var_list)
        self._accumulators, self._linears = self.add_optimizer_variables(
            var_list, ["accumulator", "linear"], initializer=[self.initial_accumulator_value, "zeros"])

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        lr = torch.tensor(learning_rate, dtype=variable.dtype)
        accum, linear = self._accumulators[i], self._linears[i]
        p = self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        grad_to_use = gradient + 2 * self.l2_shrinkage_regularization_strength * variable
        new_accum = accum + torch.square(gradient)
        linear.copy_(linear + (grad_to_use - ((torch.pow(new_accum, -p) - torch.pow(accum, -p)) / lr) * variable))
        quadratic = torch.pow(new_accum, -p) / lr + 2 * l2
        l1 = self.l1_regularization_strength
        variable.copy_((torch.clamp(linear, -l1, l1) - linear) / quadratic)
        accum.copy_(new_accum)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Lion(Optimizer):
    """``w -= lr·sign(β₁m + (1-β₁)g)``; then ``m = β₂m + (1-β₂)g``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        if beta_1 <= 0 or beta_1 > 1:
            raise ConfigError("Lion: argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                              f"degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1, self.beta_2 = beta_1, beta_2

    def build(self, var_list):
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        m = self._momentums[self._get_variable_index(variable)]
        c = (m * self.beta_1).add_(gradient, alpha=1 - self.beta_1).sign()
        variable.add_(c * _f32(learning_rate), alpha=-1)
        m.mul_(self.beta_2).add_(gradient, alpha=1 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Lamb(Optimizer):
    """Adam's direction scaled per weight by the trust ratio ``‖w‖ / ‖update‖`` (You et al. 2019)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list):
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        t = self.iterations + 1
        b1p, b2p = _powers(self.beta_1, t), _powers(self.beta_2, t)
        m, v = self._momentums[i], self._velocities[i]
        m.add_((gradient - m) * (1 - self.beta_1))
        v.add_((torch.square(gradient) - v) * (1 - self.beta_2))
        update = (m / (1.0 - b1p)) / (torch.sqrt(v / (1.0 - b2p)) + self.epsilon)
        w_norm = torch.sqrt(torch.sum(variable ** 2))
        g_norm = torch.sqrt(torch.sum(update ** 2))
        ratio = torch.where(w_norm > 0, torch.where(g_norm > 0, w_norm / g_norm, 1.0), 1.0)
        variable.sub_(ratio * _f32(learning_rate) * update)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern 2018): factored second moments for weights of rank >= 2, relative step
    size ``max(ε₂, rms(w))·min(lr, 1/sqrt(t))`` and update clipping at ``clip_threshold``."""

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, bool(relative_step)

    def build(self, var_list):
        super().build(var_list)
        self._r, self._c, self._v = [], [], []
        for var in var_list:
            if var.ndim < 2:  # Keras keeps two unused scalars for these (they are in its variable list)
                self._r.append(self.add_variable((), name="r"))
                self._c.append(self.add_variable((), name="c"))
            else:
                i = self._get_variable_index(var)
                self._r.append(self._add_slot(i, var.new_zeros(var.shape[:-1]), "r"))
                self._c.append(self._add_slot(i, var.new_zeros(var.shape[:-2] + var.shape[-1:]), "c"))
            self._v.append(self.add_variable_from_reference(var, name="velocity"))

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        lr = torch.tensor(learning_rate, dtype=variable.dtype)
        t = torch.tensor(float(self.iterations + 1), dtype=variable.dtype)
        if not callable(self._learning_rate) and self.relative_step:
            lr = torch.minimum(lr, 1 / torch.sqrt(t))
        r, c, v = self._r[i], self._c[i], self._v[i]
        rho_t = torch.minimum(lr, 1 / torch.sqrt(t))
        alpha_t = torch.maximum(torch.tensor(self.epsilon_2, dtype=variable.dtype), _rms(variable)) * rho_t
        regulated = torch.square(gradient) + self.epsilon_1
        beta_2_t = 1 - torch.pow(t, self.beta_2_decay)
        if variable.ndim >= 2:
            r.copy_(beta_2_t * r + (1 - beta_2_t) * torch.mean(regulated, dim=-1))
            c.copy_(beta_2_t * c + (1 - beta_2_t) * torch.mean(regulated, dim=-2))
            v.copy_((r / torch.mean(r, dim=-1, keepdim=True)).unsqueeze(-1) * c.unsqueeze(-2))
        else:
            v.copy_(beta_2_t * v + (1 - beta_2_t) * regulated)
        u = gradient / torch.sqrt(v)
        u_hat = u / torch.maximum(torch.ones((), dtype=variable.dtype), _rms(u) / self.clip_threshold)
        variable.sub_(alpha_t * u_hat)

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


def _rms(x):
    return torch.sqrt(torch.mean(torch.square(x)))


class Muon(Optimizer):
    """Muon (Jordan et al. 2024): momentum orthogonalised by a Newton-Schulz iteration for 2-D weights,
    AdamW for the others (and for embeddings and ``exclude_layers``), as Keras implements it."""

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None, exclude_embeddings=True,
                 muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5,
                 nesterov=True, rms_rate=0.2, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.adam_beta_1, self.adam_beta_2, self.epsilon = adam_beta_1, adam_beta_2, epsilon
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio, self.momentum, self.ns_steps, self.nesterov = adam_lr_ratio, momentum, ns_steps, nesterov
        self.exclude_embeddings, self.exclude_layers = exclude_embeddings, list(exclude_layers or [])
        self.adam_weight_decay, self.rms_rate = adam_weight_decay, rms_rate

    def _should_use_adamw(self, variable) -> bool:
        if variable.ndim != 2:
            return True
        path = getattr(variable, "path", "") or ""
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(k, path) for k in self.exclude_layers)

    def build(self, var_list):
        super().build(var_list)
        self.momentums, self.adam_velocities = [], []
        for var in var_list:
            self.momentums.append(self.add_variable_from_reference(var, name="momentum"))
            self.adam_velocities.append(self.add_variable_from_reference(var, name="velocity")
                                        if self._should_use_adamw(var) else None)

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        m, v = self.momentums[i], self.adam_velocities[i]
        if v is not None:
            lr = _f32(learning_rate * self.adam_lr_ratio)
            t = self.iterations + 1
            alpha = lr * math.sqrt(1 - _powers(self.adam_beta_2, t)) / (1 - _powers(self.adam_beta_1, t))
            m.add_((gradient - m) * (1 - self.adam_beta_1))
            v.add_((torch.square(gradient) - v) * (1 - self.adam_beta_2))
            variable.sub_((m * alpha) / (torch.sqrt(v) + self.epsilon))
            return
        m.add_(gradient + m * (self.momentum - 1))
        g = gradient + self.momentum * m if self.nesterov else m
        update = learning_rate * self._newton_schulz(g, self.ns_steps)
        if self.rms_rate is not None:
            update = update * math.sqrt(max(update.shape[0], update.shape[1])) * self.rms_rate
        variable.sub_(update)

    def _newton_schulz(self, x, steps: int):
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = x.transpose(-2, -1)
        x = x / (torch.linalg.norm(x, dim=(-2, -1), keepdim=True) + 1e-7)
        for _ in range(steps):
            xx = x @ x.transpose(-2, -1)
            x = a * x + (b * xx + c * xx @ xx) @ x
        return x.transpose(-2, -1) if tall else x

    def _apply_weight_decay(self, variables, lr):
        for v in variables:
            if not self._use_weight_decay(v):
                continue
            wd = self.adam_weight_decay if self._should_use_adamw(v) else self.weight_decay
            if wd is not None:
                v.copy_(v - v * wd * lr)

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}


class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW (Defazio et al. 2024) as Keras 3.15.1 computes it on torch: the optimizer
    keeps ``z`` (the "momentum" slot, starting at the weights) and the model holds the interpolation
    ``y``. As on Keras's torch backend, ``x`` is recovered from the updated ``z``."""

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.warmup_steps = beta_1, beta_2, epsilon, warmup_steps

    def build(self, var_list):
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])
        for m, var in zip(self._momentums, var_list):
            m.copy_(var.detach())

    def update_step(self, gradient, variable, learning_rate):
        i = self._get_variable_index(variable)
        dt = variable.dtype
        lr = torch.tensor(learning_rate, dtype=dt)
        t = torch.tensor(float(self.iterations + 1), dtype=dt)
        if self.warmup_steps > 0:
            lr = lr * torch.minimum(t / self.warmup_steps, torch.ones((), dtype=dt))
        z, v = self._momentums[i], self._velocities[i]
        bias_correction_2 = 1 - torch.pow(torch.tensor(self.beta_2, dtype=dt), t)
        v.add_((torch.square(gradient) - v) * (1 - self.beta_2))
        denom = torch.sqrt(v / bias_correction_2) + self.epsilon
        z.sub_((lr * gradient) / denom)
        weight = 1.0 / t
        x_old = (variable - (1 - self.beta_1) * z) / self.beta_1
        x_new = (1 - weight) * x_old + weight * z
        variable.copy_((1 - self.beta_1) * z + self.beta_1 * x_new)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}
