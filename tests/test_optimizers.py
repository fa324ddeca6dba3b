"""Every Keras 3 optimizer and learning-rate schedule against Keras itself (torch backend): the same
variables, the same gradients, several steps, weights and optimizer variables within 1e-5."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet.layers.variables import Variable

SHAPES = [(4, 3), (3,), (2, 5)]


def _grads(rng, steps):
    out = []
    for _ in range(steps):
        gs = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        gs[1][0] = 1e-8  # a near-zero gradient: where epsilon's place in the rule shows
        out.append(gs)
    return out


def _run_both(keras, make_keras, make_ours, steps=6, seed=0, names=("dense/kernel", "dense/bias", "embedding/embeddings")):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = _grads(rng, steps)
    kvars = [keras.Variable(v.copy(), name=n.split("/")[-1]) for v, n in zip(init, names)]
    ours = [Variable(torch.tensor(v.copy()), name=n.split("/")[-1], path=n) for v, n in zip(init, names)]
    kopt, gopt = make_keras(), make_ours()
    for step, gs in enumerate(grads):
        kopt.apply([torch.tensor(g) for g in gs], kvars)
        gopt.apply([torch.tensor(g) for g in gs], ours)
        for k, o in zip(kvars, ours):
            np.testing.assert_allclose(o.detach().numpy(), k.numpy(), rtol=1e-5, atol=1e-5,
                                       err_msg=f"step {step}")
    return kopt, gopt, kvars, ours


CASES = {
    "sgd": dict(learning_rate=0.1),
    "sgd_momentum": dict(learning_rate=0.05, momentum=0.9),
    "sgd_nesterov": dict(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adam": dict(learning_rate=0.01),
    "adam_amsgrad_decay": dict(learning_rate=0.01, amsgrad=True, weight_decay=0.1),
    "adamw": dict(learning_rate=0.01),
    "rmsprop": dict(learning_rate=0.01),
    "rmsprop_centered_momentum": dict(learning_rate=0.01, momentum=0.5, centered=True),
    "adagrad": dict(learning_rate=0.1),
    "adadelta": dict(learning_rate=1.0),
    "adamax": dict(learning_rate=0.01),
    "nadam": dict(learning_rate=0.01),
    "ftrl": dict(learning_rate=0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.02,
                 l2_shrinkage_regularization_strength=0.01, beta=0.1),
    "lion": dict(learning_rate=0.01),
    "lamb": dict(learning_rate=0.01),
    "adafactor": dict(learning_rate=0.01),
    "muon": dict(learning_rate=0.01),
    "schedulefreeadamw": dict(learning_rate=0.01, warmup_steps=2),
}
CLASS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad",
         "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "Nadam", "ftrl": "Ftrl", "lion": "Lion", "lamb": "Lamb",
         "adafactor": "Adafactor", "muon": "Muon", "schedulefreeadamw": "ScheduleFreeAdamW"}


@pytest.mark.parametrize("case", list(CASES))
def test_update_rule_matches_keras_step_by_step(keras, case):
    name = CLASS[case.split("_")[0]]
    cfg = CASES[case]
    kopt, gopt, _, _ = _run_both(keras, lambda: getattr(keras.optimizers, name)(**cfg),
                                 lambda: getattr(gn.optimizers, name)(**cfg))
    # the optimizer's variables, in Keras's order (what a .keras file stores under optimizer/vars)
    theirs = [np.asarray(v.numpy()) for v in kopt.variables]
    mine = gopt.keras_variables()
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("extra", [dict(clipnorm=0.5), dict(clipvalue=0.1), dict(global_clipnorm=1.0),
                                   dict(use_ema=True, ema_momentum=0.9), dict(use_ema=True, ema_overwrite_frequency=2),
                                   dict(gradient_accumulation_steps=2), dict(loss_scale_factor=4.0),
                                   dict(weight_decay=0.05)],
                         ids=["clipnorm", "clipvalue", "global_clipnorm", "ema", "ema_overwrite", "accumulation",
                              "loss_scale_factor", "weight_decay"])
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_base_options_match_keras(keras, name, extra):
    cfg = dict(learning_rate=0.05, **extra)
    kopt, gopt, kvars, ours = _run_both(keras, lambda: getattr(keras.optimizers, name)(**cfg),
                                        lambda: getattr(gn.optimizers, name)(**cfg), steps=7)
    if extra.get("use_ema"):
        kopt.finalize_variable_values(kvars)
        gopt.finalize_variable_values(ours)
        for k, o in zip(kvars, ours):
            np.testing.assert_allclose(o.detach().numpy(), k.numpy(), rtol=1e-5, atol=1e-6)
    assert gopt.iterations == int(kopt.iterations)


SCHEDULES = {
    "exponential": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5)),
    "exponential_staircase": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5,
                                                       staircase=True)),
    "piecewise": ("PiecewiseConstantDecay", dict(boundaries=[2, 5], values=[0.1, 0.05, 0.01])),
    "polynomial": ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=4, end_learning_rate=0.01,
                                           power=2.0)),
    "polynomial_cycle": ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=3, cycle=True)),
    "inverse_time": ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)),
    "inverse_time_staircase": ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5,
                                                        staircase=True)),
    "cosine": ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=5, alpha=0.1)),
    "cosine_warmup": ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=5, warmup_target=0.1,
                                          warmup_steps=3)),
    "cosine_restarts": ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=2, t_mul=2.0,
                                                    m_mul=0.5, alpha=0.05)),
    "cosine_restarts_t1": ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=3, t_mul=1.0)),
}


@pytest.mark.parametrize("case", list(SCHEDULES))
def test_schedule_values_and_training_match_keras(keras, case):
    cls, cfg = SCHEDULES[case]
    ks, gs = getattr(keras.optimizers.schedules, cls)(**cfg), getattr(gn.optimizers.schedules, cls)(**cfg)
    for step in range(14):
        np.testing.assert_allclose(float(gs(step)), float(ks(step)), rtol=1e-6, atol=1e-9, err_msg=f"step {step}")
    _run_both(keras, lambda: keras.optimizers.SGD(learning_rate=getattr(keras.optimizers.schedules, cls)(**cfg),
                                                  momentum=0.5),
              lambda: gn.optimizers.SGD(learning_rate=getattr(gn.optimizers.schedules, cls)(**cfg), momentum=0.5),
              steps=8)
    assert gs.get_config() == ks.get_config()
    assert type(gn.optimizers.schedules.deserialize(gn.optimizers.schedules.serialize(gs))).__name__ == cls


def test_loss_scale_optimizer_matches_keras_and_skips_nonfinite_steps(keras):
    rng = np.random.default_rng(3)
    init = rng.standard_normal((3, 2)).astype(np.float32)
    kv, gv = keras.Variable(init.copy()), Variable(torch.tensor(init.copy()))
    kopt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=8.0, dynamic_growth_steps=2)
    gopt = gn.optimizers.LossScaleOptimizer(gn.optimizers.SGD(0.1), initial_scale=8.0, dynamic_growth_steps=2)
    for step in range(6):
        g = rng.standard_normal((3, 2)).astype(np.float32) * 8.0
        if step == 2:
            g[0, 0] = np.inf
        kopt.apply([torch.tensor(g)], [kv])
        gopt.apply([torch.tensor(g)], [gv])
        np.testing.assert_allclose(gv.detach().numpy(), kv.numpy(), rtol=1e-6)
        assert float(gopt.dynamic_scale) == float(kopt.dynamic_scale.numpy())
    assert float(gopt.scale_loss(torch.tensor(1.0))) == float(kopt.scale_loss(torch.tensor(1.0)))


def test_multi_optimizer_gives_each_weight_its_optimizer(keras):
    x = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    y = x.sum(-1, keepdims=True)

    def model(L, M, I):
        inp = I((4,))
        return M(inp, L.Dense(1, name="head")(L.Dense(3, name="encoder")(inp)))
    k, g = model(keras.layers, keras.Model, keras.Input), model(gn.layers, gn.Model, gn.Input)
    assert [w.path for w in g.trainable_weights] == [w.path for w in k.trainable_weights] == [
        "encoder/kernel", "encoder/bias", "head/kernel", "head/bias"]
    g.set_weights(k.get_weights())
    k.compile(keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        keras.optimizers.SGD(0.05), {"encoder/.*": keras.optimizers.Adam(0.01)})), "mse")
    g.compile(gn.optimizers.MultiOptimizer(gn.optimizers.OptimizerMap(
        gn.optimizers.SGD(0.05), {"encoder/.*": gn.optimizers.Adam(0.01)})), "mse")
    k.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    g.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(AttributeError, match="Learning rate cannot be accessed on a MultiOptimizer"):
        g.optimizer.learning_rate


def test_weight_paths_are_keras_paths(keras):
    """Paths decide which optimizer a MultiOptimizer picks and what Muon excludes: they follow Keras's scopes."""
    def seq(L, S, I):  # named: automatic model names count up differently in each library
        return S([I((4,)), L.Dense(3, name="encoder"), L.Embedding(5, 2, name="embedding")], name="seq")
    k, g = seq(keras.layers, keras.Sequential, keras.Input), seq(gn.layers, gn.Sequential, gn.Input)
    assert [w.path for w in g.weights] == [w.path for w in k.weights]


@pytest.mark.parametrize("name", ["Adam", "RMSprop", "SGD"])
def test_fit_matches_keras_with_its_optimizers(keras, name):
    """Whole training runs (forward, loss, backward, update) agree with Keras at 1e-5."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 8)).astype(np.float32)
    y = (x @ rng.standard_normal((8, 1)) + 0.5).astype(np.float32)

    def build(L, I, S):
        return S([I((8,)), L.Dense(16, activation="tanh"), L.Dense(1)])
    g, k = build(gn.layers, gn.Input, gn.Sequential), build(keras.layers, keras.Input, keras.Sequential)
    g.set_weights(k.get_weights())
    cfg = dict(learning_rate=0.01) if name != "SGD" else dict(learning_rate=0.05, momentum=0.9)
    k.compile(getattr(keras.optimizers, name)(**cfg), "mse")
    g.compile(getattr(gn.optimizers, name)(**cfg), "mse")
    hk = k.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    hg = g.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hg.history["loss"], hk.history["loss"], rtol=1e-5)


def test_optimizer_state_from_a_keras_file_continues_as_keras_does(keras, tmp_path):
    """Keras's optimizer variables (``optimizer/vars`` of a .keras file) load into glassnet's optimizer; training
    then continues exactly as Keras continues."""
    import h5py
    import io
    import zipfile
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = x[:, :1] * 2 - x[:, 1:2]
    k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    k.compile(keras.optimizers.Adam(0.02), "mse")
    k.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    path = str(tmp_path / "k.keras")
    k.save(path)
    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        group = f["optimizer/vars"]
        arrays = [np.asarray(group[str(i)]) for i in range(len(group))]
    g = gn.load_model(path)  # load_model restores the compiled optimizer's variables from the file
    assert g.optimizer.iterations == 8
    restored = g.optimizer.keras_variables()
    assert len(restored) == len(arrays)
    for a, b in zip(restored, arrays):
        np.testing.assert_array_equal(np.asarray(a), b)
    k.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    g.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_optimizer_state_round_trips_through_a_checkpoint(tmp_path):
    """The .glassnet checkpoint holds every slot and the iteration count; a resumed run equals an uninterrupted one."""
    x = np.random.default_rng(0).standard_normal((48, 6)).astype(np.float32)
    y = x[:, :1] - x[:, 2:3]

    def run(epochs, resume=None, save=None):
        gn.utils.set_random_seed(5)
        m = gn.Sequential([gn.Input((6,)), gn.layers.Dense(5, activation="relu"), gn.layers.Dense(1)])
        m.compile(gn.optimizers.Nadam(0.01, use_ema=True, clipnorm=1.0), "mse")
        cbs = [gn.callbacks.ModelCheckpoint(str(save), monitor="loss")] if save else []
        m.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0, callbacks=cbs, resume_from=resume)
        return m
    full = run(3)
    ckpt = tmp_path / "c.glassnet"
    run(1, save=ckpt)
    resumed = run(3, resume=ckpt)
    assert resumed.optimizer.iterations == full.optimizer.iterations == 18
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_optimizer_config_round_trip_and_keras_names(keras):
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl", "Lion", "Lamb",
                 "Adafactor", "Muon", "ScheduleFreeAdamW"]:
        opt = getattr(gn.optimizers, name)(learning_rate=0.003)
        config = gn.optimizers.serialize(opt)
        if name == "Lamb":  # Keras 3.15.1 leaves Lamb out of its deserialization table
            kopt = keras.optimizers.Lamb.from_config(config["config"])
        else:
            kopt = keras.optimizers.deserialize(config)  # Keras reads glassnet's config
        assert type(kopt).__name__ == name and float(kopt.learning_rate) == pytest.approx(0.003)
        back = gn.optimizers.deserialize(keras.optimizers.serialize(kopt))  # and glassnet reads Keras's
        assert type(back).__name__ == name and back.learning_rate == pytest.approx(0.003)
    sched = gn.optimizers.Adam(gn.optimizers.schedules.CosineDecay(0.1, 10))
    again = gn.optimizers.deserialize(gn.optimizers.serialize(sched))
    assert again.learning_rate == pytest.approx(0.1)


def test_optimizer_arguments_are_checked():
    with pytest.raises(gn.ConfigError, match=r"only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set"):
        gn.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(gn.ConfigError, match=r"`gradient_accumulation_steps` must be an integer >= 2"):
        gn.optimizers.Adam(gradient_accumulation_steps=1)
    with pytest.raises(gn.ConfigError, match=r"AdamW: argument `weight_decay` must be a float"):
        gn.optimizers.AdamW(weight_decay=None)
    with pytest.raises(ImportError, match=r"`keras.optimizers.legacy` is not supported"):
        gn.optimizers.legacy.Adam()
    with pytest.raises(TypeError, match="created with a `LearningRateSchedule`"):
        gn.optimizers.Adam(gn.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)).learning_rate = 0.1
