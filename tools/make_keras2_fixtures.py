"""Build the Keras 2 (tf-keras) legacy ``.h5`` fixtures under ``tests/fixtures/keras2/``.

Each fixture is a small model with random non-constant weights (kernels, biases, normalisation parameters
and statistics), saved by tf-keras as a legacy full-model ``.h5``, beside an ``.npz`` holding an input batch
``x`` and the output ``y`` tf-keras computes for it. ``MANIFEST.json`` records the versions that wrote them.
The tests (``tests/test_keras2_fixtures.py``) need neither TensorFlow nor tf-keras.

Run it once, in its own virtualenv — TensorFlow never goes into glassnet's environment::

    python3.11 -m venv tfvenv
    tfvenv/bin/pip install tensorflow tf-keras h5py numpy
    tfvenv/bin/python tools/make_keras2_fixtures.py            # writes tests/fixtures/keras2/
    tfvenv/bin/python tools/make_keras2_fixtures.py --out DIR  # elsewhere
"""
from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.keras is tf-keras (Keras 2)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import layers  # noqa: E402
from tf_keras.src.applications import regnet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------- the models
def mobilenet_v2():
    """MobileNetV2 as tf-keras builds it, reduced: width 0.35, 32×32 images, 10 classes."""
    return keras.applications.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), weights=None, classes=10)


def _conv2d_bn(x, filters, rows, cols, padding="same", strides=(1, 1)):
    """InceptionV3's unit, unnamed as in tf-keras: Conv2D without bias, BatchNormalization(scale=False), relu."""
    x = layers.Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(axis=3, scale=False)(x)
    return layers.Activation("relu")(x)


def inception_blocks():
    """InceptionV3's stem and its mixed0–mixed3 blocks (filters ÷ 8), built the way tf-keras builds
    InceptionV3: unnamed Conv2D/BatchNormalization(scale=False) pairs on four branches per block, average
    pooling, concatenations."""
    inp = layers.Input((75, 75, 3))
    x = _conv2d_bn(inp, 4, 3, 3, strides=(2, 2), padding="valid")
    x = _conv2d_bn(x, 4, 3, 3, padding="valid")
    x = _conv2d_bn(x, 8, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _conv2d_bn(x, 10, 1, 1, padding="valid")
    x = _conv2d_bn(x, 24, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    for i, pool_filters in enumerate((4, 8, 8)):
        b1 = _conv2d_bn(x, 8, 1, 1)
        b5 = _conv2d_bn(_conv2d_bn(x, 6, 1, 1), 8, 5, 5)
        b3 = _conv2d_bn(_conv2d_bn(_conv2d_bn(x, 8, 1, 1), 12, 3, 3), 12, 3, 3)
        bp = _conv2d_bn(layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x), pool_filters, 1, 1)
        x = layers.concatenate([b1, b5, b3, bp], axis=3, name=f"mixed{i}")
    b3 = _conv2d_bn(x, 48, 3, 3, strides=(2, 2), padding="valid")
    bd = _conv2d_bn(_conv2d_bn(_conv2d_bn(x, 8, 1, 1), 12, 3, 3), 12, 3, 3, strides=(2, 2), padding="valid")
    bp = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([b3, bd, bp], axis=3, name="mixed3")
    out = layers.Dense(10, name="predictions")(layers.GlobalAveragePooling2D(name="avg_pool")(x))
    return keras.Model(inp, out, name="inception_blocks")


def xception_blocks():
    """Xception's entry flow (filters ÷ 8): SeparableConv2D blocks with strided 1×1 Conv2D residuals, max
    pooling "same" and additions, named as tf-keras names them."""
    inp = layers.Input((71, 71, 3))
    x = layers.Conv2D(4, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(inp)
    x = layers.Activation("relu")(layers.BatchNormalization(name="block1_conv1_bn")(x))
    x = layers.Conv2D(8, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.Activation("relu")(layers.BatchNormalization(name="block1_conv2_bn")(x))
    for block, filters in ((2, 16), (3, 32), (4, 48)):
        residual = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
        residual = layers.BatchNormalization()(residual)
        if block > 2:
            x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
        x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=f"block{block}_sepconv1")(x)
        x = layers.BatchNormalization(name=f"block{block}_sepconv1_bn")(x)
        x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
        x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=f"block{block}_sepconv2")(x)
        x = layers.BatchNormalization(name=f"block{block}_sepconv2_bn")(x)
        x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
        x = layers.add([x, residual])
    x = layers.SeparableConv2D(24, (3, 3), padding="same", depth_multiplier=2, dilation_rate=2,
                               name="block14_sepconv1")(x)
    x = layers.Activation("relu")(layers.BatchNormalization(name="block14_sepconv1_bn")(x))
    out = layers.Dense(10, name="predictions")(layers.GlobalAveragePooling2D(name="avg_pool")(x))
    return keras.Model(inp, out, name="xception_blocks")


def autoencoder():
    """A convolutional autoencoder: strided convolutions down, Conv2DTranspose and UpSampling2D back up."""
    inp = layers.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(12, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(12, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.Conv2DTranspose(8, 4, strides=1, padding="valid", output_padding=0)(x)
    x = layers.UpSampling2D((1, 1), interpolation="bilinear")(x)
    x = layers.Cropping2D(((1, 2), (2, 1)))(x)
    return keras.Model(inp, layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x), name="autoencoder")


def seq2seq():
    """An LSTM encoder, RepeatVector, an LSTM decoder and a TimeDistributed Dense: (6, 5) → (4, 3)."""
    return keras.Sequential([
        layers.Input((6, 5)), layers.Masking(0.0), layers.LSTM(8), layers.RepeatVector(4),
        layers.LSTM(8, return_sequences=True), layers.TimeDistributed(layers.Dense(3))], name="seq2seq")


def multi_head_attention():
    """Self-attention with two heads over (7, 8) sequences, a residual, LayerNormalization, pooling."""
    inp = layers.Input((7, 8))
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inp, inp)
    x = layers.LayerNormalization()(layers.Add()([inp, attended]))
    out = layers.Dense(2)(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inp, out, name="tiny_mha")


def regnet_blocks():
    """RegNet as tf-keras builds it (Keras 3 has no RegNet), reduced: Y blocks (grouped convolutions and
    squeeze-and-excite) at widths 16–48, one block per stage, 32×32 images. Its residuals ``x + skip`` are
    TFOpLambda layers in Keras 2."""
    return regnet.RegNet(depths=[1, 1, 1, 1], widths=[16, 24, 32, 48], group_width=8, block_type="Y",
                         default_size=224, model_name="regnety_small", input_shape=(32, 32, 3), weights=None,
                         classes=10)


def operators_and_preprocessing():
    """Arithmetic on Keras 2 tensors (TFOpLambda layers: ``x + 3``, ``x * (1/6)``, ``1 - x``, ``a + b``) and
    layer names with "/", as tf-keras's MobileNetV3 writes its hard-swish blocks, after the preprocessing layers
    a saved model carries: Rescaling, an adapted Normalization (Keras 2 stores its ``count`` as int64),
    Resizing, CenterCrop."""
    inp = layers.Input((12, 10, 3))
    x = layers.Rescaling(1 / 255.0)(inp)
    norm = layers.Normalization()
    x = norm(x)
    x = layers.CenterCrop(8, 8)(layers.Resizing(10, 9)(x))
    x = layers.Conv2D(6, 3, padding="same", name="block/conv")(x)
    hard_swish = x * (layers.ReLU(6.0, name="block/relu6")(x + 3.0) * (1.0 / 6.0))
    y = 1.0 - layers.Conv2D(6, 1)(hard_swish) / 2.0
    z = layers.Add()([y + x, x])
    model = keras.Model(inp, layers.Dense(2)(layers.GlobalAveragePooling2D()(z)), name="operators")
    norm.adapt(np.random.default_rng(7).uniform(0, 1, (32, 12, 10, 3)).astype(np.float32))
    return model


# name → (builder, input batch of per-sample shape, input kind)
FIXTURES = {
    "mobilenet_v2": (mobilenet_v2, (32, 32, 3), "image"),
    "inception_blocks": (inception_blocks, (75, 75, 3), "image"),
    "xception_blocks": (xception_blocks, (71, 71, 3), "image"),
    "autoencoder": (autoencoder, (16, 16, 3), "image"),
    "seq2seq": (seq2seq, (6, 5), "sequence"),
    "multi_head_attention": (multi_head_attention, (7, 8), "sequence"),
    "regnet_blocks": (regnet_blocks, (32, 32, 3), "pixels"),
    "operators_and_preprocessing": (operators_and_preprocessing, (12, 10, 3), "pixels"),
}


# ---------------------------------------------------------------------- weights, inputs, files
def randomize(model, rng) -> None:
    """Random non-constant values for every weight: variances and scales positive, the rest around 0 with a
    spread that keeps activations finite; integer weights (Normalization's count) are kept."""
    for layer in model.layers:
        if isinstance(layer, layers.Normalization):
            continue  # adapted statistics stay as adapt computed them (tf-keras caches them at adapt time)
        for w in layer.weights:
            if not w.dtype.is_floating:
                continue
            name = w.name.rsplit("/", 1)[-1].split(":")[0]
            shape = tuple(w.shape)
            if name in ("moving_variance", "variance") or name == "gamma":
                value = rng.uniform(0.5, 1.5, shape)
            elif name in ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel", "embeddings"):
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
                value = rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), shape)
            else:
                value = rng.normal(0.0, 0.1, shape)
            w.assign(value.astype(w.dtype.as_numpy_dtype))


def inputs_for(shape, kind, rng) -> np.ndarray:
    if kind == "pixels":
        return rng.uniform(0, 255, (3, *shape)).astype(np.float32)
    x = rng.uniform(-1, 1, (3, *shape)).astype(np.float32)
    if kind == "sequence":
        x[0, -2:] = 0.0  # a masked tail for the Masking layer (where there is one)
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "keras2"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest = {"tensorflow": tf.__version__, "tf_keras": keras.__version__, "fixtures": {}}
    for name, (build, shape, kind) in FIXTURES.items():
        keras.backend.clear_session()
        tf.random.set_seed(0)
        rng = np.random.default_rng(sum(map(ord, name)))
        model = build()
        randomize(model, rng)
        x = inputs_for(shape, kind, rng)
        y = model.predict(x, verbose=0)
        path = os.path.join(args.out, f"{name}.h5")
        model.save(path, save_format="h5")
        np.savez_compressed(os.path.join(args.out, f"{name}.npz"), x=x, y=y)
        manifest["fixtures"][name] = {"params": int(model.count_params()), "layers": len(model.layers),
                                      "h5_bytes": os.path.getsize(path), "doc": build.__doc__.split("\n")[0]}
        print(f"{name}: {model.count_params():,} params, {os.path.getsize(path):,} bytes")
    with open(os.path.join(args.out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
