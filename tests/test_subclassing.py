"""Subclassed layers and models written as Keras 3 writes them, and train_step / test_step / predict_step
overrides with Keras's torch-backend contract — including the Keras guides' GAN and VAE."""
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers


class Linear(layers.Layer):
    """The Keras guide's custom layer: unnamed add_weight in build, a matmul in call."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return torch.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class MLPBlock(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.linear_1 = Linear(16)
        self.linear_2 = Linear(8)
        self.linear_3 = Linear(1)

    def call(self, inputs):
        x = torch.relu(self.linear_1(inputs))
        x = torch.relu(self.linear_2(x))
        return self.linear_3(x)


class Regressor(gn.Model):
    """A subclassed model: layers (one in a list) in __init__, a call, built at the first call."""

    def __init__(self, hidden=16, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [layers.Dense(hidden, activation="relu"), layers.Dense(hidden // 2, activation="tanh")]
        self.head = Linear(1)

    def call(self, inputs, training=False):
        x = inputs
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _keras_regressor(keras, hidden=16):
    class KLinear(keras.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.w) + self.b

    class KRegressor(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.blocks = [keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(hidden // 2,
                                                                                         activation="tanh")]
            self.head = KLinear(1)

        def call(self, inputs, training=False):
            x = inputs
            for block in self.blocks:
                x = block(x)
            return self.head(x)
    return KRegressor()


def _data(n=64, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    return x, (np.sin(x[:, :1]) + x[:, 1:2] ** 2 * 0.3).astype(np.float32)


def test_subclassed_model_trains_as_keras_does(keras):
    x, y = _data()
    g, k = Regressor(), _keras_regressor(keras)
    k(x[:2])
    g(x[:2])  # numpy in: converted, as Keras does; the first call builds every layer
    assert [tuple(w.shape) for w in g.weights] == [tuple(w.shape) for w in k.weights]
    g.set_weights(k.get_weights())
    np.testing.assert_allclose(g.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    k.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    g.compile(gn.optimizers.Adam(0.01), "mse", metrics=["mae"])
    hk = k.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    hg = g.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for key in ("loss", "mae"):
        np.testing.assert_allclose(hg.history[key], hk.history[key], rtol=1e-5)
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_subclassed_model_summary_and_analysis_show_its_layers(capsys):
    model = Regressor(name="regressor")
    with pytest.raises(ValueError, match="not built"):
        gn.analyze(model)
    model.build((None, 5))
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "regressor"' in out and "(Dense)" in out and "(Linear)" in out
    assert model.count_params() == 5 * 16 + 16 + 16 * 8 + 8 + 8 + 1
    report = gn.analyze(model)
    types = [r.type for r in report.rows]
    assert types == ["InputLayer", "Dense", "Dense", "Linear"]
    assert report.row(model.blocks[0].name).macs == 5 * 16
    assert report.rows[-1].macs == 8 and report.rows[-1].macs_source == "traced"  # no cost rule: traced, never 0
    assert report.totals["params"] == model.count_params()
    assert model.output_shape == (None, 1)


class TorchBetween(gn.Model):
    """torch functions between layers: the call cannot be traced symbolically, so one eager run is recorded."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv1D(4, 3)
        self.dense = layers.Dense(2)

    def call(self, x):
        h = torch.relu(self.conv(x)) * 2.0
        return self.dense(torch.mean(h, dim=1))


def test_a_call_with_torch_functions_is_recorded_for_analysis(capsys):
    model = TorchBetween(name="between")
    model.build((None, 10, 3))
    report = gn.analyze(model)
    assert [r.type for r in report.rows] == ["InputLayer", "Conv1D", "TorchOps", "Dense"]
    assert report.row(model.conv.name).macs == 8 * 3 * 3 * 4  # from the layer's own rule
    assert report.rows[2].macs is None and report.totals["macs"] is None  # the torch work: unknown, not 0
    assert report.row(model.conv.name).output_shape == "(None, 8, 4)"
    model.summary()
    assert "(Conv1D)" in capsys.readouterr().out
    np.testing.assert_allclose(model.predict(np.ones((2, 10, 3), np.float32), verbose=0).shape, (2, 2))


def test_custom_layer_shape_is_inferred_and_nested_layers_tracked():
    block = MLPBlock()
    out = block(gn.Input((7,)))
    assert out.shape == (None, 1)
    assert len(block.weights) == 6 and block.count_params() == 7 * 16 + 16 + 16 * 8 + 8 + 8 + 1
    assert [w.name for w in block.linear_1.weights] == ["variable", "variable_1"]
    model = gn.Model(inp := gn.Input((3, 7)), Linear(2)(inp))
    assert model.output_shape == (None, 3, 2)


def test_subclassed_config_round_trip_and_weights_file(tmp_path):
    model = Regressor(hidden=8, name="r")
    x, _ = _data(4)
    expected = model(torch.tensor(x)).detach().numpy()
    config = model.get_config()
    assert config["hidden"] == 8 and config["name"] == "r"
    again = Regressor.from_config(config)
    again.build((None, 5))
    model.save_weights(tmp_path / "w.weights.h5")
    again.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(again(torch.tensor(x)).detach().numpy(), expected, rtol=1e-6)
    layer = Linear.from_config(Linear(3, name="lin").get_config())
    assert layer.units == 3 and layer.name == "lin"


class CustomStep(gn.Model):
    """The Keras torch guide's custom train_step: compute_loss, backward, optimizer.apply, metrics."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_custom_train_step_equals_the_default_one(keras):
    x, y = _data()

    def build(cls, L, I):
        inp = I((5,))
        return cls(inp, L.Dense(1)(L.Dense(8, activation="tanh")(inp)))
    custom, plain = build(CustomStep, layers, gn.Input), build(gn.Model, layers, gn.Input)
    plain.set_weights(custom.get_weights())
    for m in (custom, plain):
        m.compile(gn.optimizers.SGD(0.05), "mse", metrics=["mae"])
    hc = custom.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    hp = plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert set(hc.history) == {"loss", "mae"}
    for key in ("loss", "mae"):
        np.testing.assert_allclose(hc.history[key], hp.history[key], rtol=1e-6)
    for a, b in zip(custom.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


class OwnMetrics(gn.Model):
    """The guide's second form: own loss function and trackers, listed in the metrics property."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = gn.metrics.Mean(name="loss")
        self.mae_metric = gn.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = gn.losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.loss_fn(y, y_pred)
        loss.backward()
        with torch.no_grad():
            self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(self.loss_fn(y, y_pred))
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def predict_step(self, data):
        x = data[0]
        return {"prediction": self(x), "doubled": 2 * self(x)}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def test_own_trackers_test_step_and_predict_step():
    x, y = _data()
    inp = gn.Input((5,))
    model = OwnMetrics(inp, layers.Dense(1)(inp))
    model.compile(optimizer="adam")  # no loss: the model computes its own
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "mae"} and history.history["loss"][-1] < history.history["loss"][0]
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    pred = model.predict(x, verbose=0)["prediction"]
    assert logs["loss"] == pytest.approx(((pred - y) ** 2).mean(), rel=1e-5)
    assert logs["mae"] == pytest.approx(np.abs(pred - y).mean(), rel=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0)["doubled"], 2 * pred, rtol=1e-6)


class GAN(gn.Model):
    """The Keras guide's GAN (torch backend): two optimizers, its own trackers, train_step only."""

    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.d_loss_tracker = gn.metrics.Mean(name="d_loss")
        self.g_loss_tracker = gn.metrics.Mean(name="g_loss")
        self.seed_generator = gn.random.SeedGenerator(1337)
        self.built = True

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = real_images.shape[0]
        random_latent_vectors = gn.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        generated_images = self.generator(random_latent_vectors)
        combined_images = torch.concat([generated_images, real_images], axis=0)
        labels = torch.concat([torch.ones((batch_size, 1)), torch.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * gn.random.uniform(labels.shape, seed=self.seed_generator)
        self.zero_grad()
        predictions = self.discriminator(combined_images)
        d_loss = self.loss_fn(labels, predictions)
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        random_latent_vectors = gn.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = torch.zeros((batch_size, 1))
        self.zero_grad()
        predictions = self.discriminator(self.generator(random_latent_vectors))
        g_loss = self.loss_fn(misleading_labels, predictions)
        grads = g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def test_keras_guide_gan_trains():
    gn.utils.set_random_seed(0)
    latent_dim = 4
    rng = np.random.default_rng(0)
    real = (rng.standard_normal((128, 2)) * 0.3 + np.array([2.0, -1.0])).astype(np.float32)
    discriminator = gn.Sequential([gn.Input((2,)), layers.Dense(16, activation="relu"), layers.Dense(1)],
                                  name="discriminator")
    generator = gn.Sequential([gn.Input((latent_dim,)), layers.Dense(16, activation="relu"), layers.Dense(2)],
                              name="generator")
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(d_optimizer=gn.optimizers.Adam(learning_rate=0.003), g_optimizer=gn.optimizers.Adam(learning_rate=0.003),
                loss_fn=gn.losses.BinaryCrossentropy(from_logits=True))
    start = generator.predict(rng.standard_normal((256, latent_dim)).astype(np.float32), verbose=0).mean(0)
    history = gan.fit(real, epochs=30, batch_size=32, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"} and len(history.history["d_loss"]) == 30
    end = generator.predict(rng.standard_normal((256, latent_dim)).astype(np.float32), verbose=0).mean(0)
    target = real.mean(0)
    assert np.linalg.norm(end - target) < 0.5 * np.linalg.norm(start - target)  # the generator moved to the data


class Sampling(layers.Layer):
    """The VAE guide's reparameterisation layer (a custom layer in a functional model)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = gn.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = gn.random.normal(shape=tuple(z_mean.shape), seed=self.seed_generator).to(z_mean.device)
        return z_mean + torch.exp(0.5 * z_log_var) * epsilon


class VAE(gn.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = gn.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = gn.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = gn.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        data = data[0] if isinstance(data, tuple) else data
        self.zero_grad()
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z)
        reconstruction_loss = torch.mean(torch.sum(gn.losses.binary_crossentropy(data, reconstruction), dim=1))
        kl_loss = -0.5 * (1 + z_log_var - torch.square(z_mean) - torch.exp(z_log_var))
        kl_loss = torch.mean(torch.sum(kl_loss, dim=1))
        total_loss = reconstruction_loss + kl_loss
        total_loss.backward()
        with torch.no_grad():
            self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {"loss": self.total_loss_tracker.result(), "reconstruction_loss":
                self.reconstruction_loss_tracker.result(), "kl_loss": self.kl_loss_tracker.result()}


def test_keras_guide_vae_trains(capsys):
    gn.utils.set_random_seed(1)
    latent_dim = 2
    rng = np.random.default_rng(1)
    digits = (rng.random((256, 8, 4)) < np.linspace(0.1, 0.9, 4)).astype(np.float32)  # binary "images"
    encoder_inputs = gn.Input(shape=(8, 4))
    x = layers.Flatten()(encoder_inputs)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = gn.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    latent_inputs = gn.Input(shape=(latent_dim,))
    x = layers.Dense(16, activation="relu")(latent_inputs)
    decoder_outputs = layers.Reshape((8, 4))(layers.Dense(32, activation="sigmoid")(x))
    decoder = gn.Model(latent_inputs, decoder_outputs, name="decoder")
    encoder.summary()
    assert "Sampling" in capsys.readouterr().out
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=gn.optimizers.Adam(0.01))
    history = vae.fit(digits, epochs=15, batch_size=32, verbose=0)
    assert set(history.history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]


def test_numpy_calls_and_int_inputs():
    dense = layers.Dense(3)
    out = dense(np.ones((2, 4)))  # float64 numpy → the layer's float32
    assert out.dtype == torch.float32 and out.shape == (2, 3)
    both = layers.Concatenate()([np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32)])
    assert tuple(both.shape) == (2, 5)
    model = gn.Sequential([gn.Input((4,)), layers.Dense(2)])
    assert isinstance(model(np.ones((3, 4))), torch.Tensor)
    assert model.predict(np.ones((3, 4), np.int64), verbose=0).dtype == np.float32  # ints cast to the input's dtype


def test_a_functional_model_refuses_missing_inputs_clearly():
    with pytest.raises(gn.ConfigError, match=r"Model needs inputs and outputs.*subclass Model"):
        gn.Model()
