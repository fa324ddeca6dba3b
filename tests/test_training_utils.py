"""Keras's utilities against Keras (to_categorical, pad_sequences, timeseries_dataset_from_array), PyDataset
in fit, plot_model, clone_model / to_json / model_from_json / config round trips, and TorchModuleWrapper."""
import os

import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers


def test_to_categorical_and_pad_sequences_match_keras(keras):
    labels = np.array([[0], [2], [1], [2]])
    np.testing.assert_array_equal(gn.utils.to_categorical(labels), keras.utils.to_categorical(labels))
    np.testing.assert_array_equal(gn.utils.to_categorical([1, 0], num_classes=4),
                                  keras.utils.to_categorical([1, 0], num_classes=4))
    seqs = [[1, 2, 3, 4], [5], [], [6, 7]]
    for kwargs in ({}, {"maxlen": 3}, {"maxlen": 3, "padding": "post", "truncating": "post"},
                   {"maxlen": 5, "value": -1, "dtype": "float32"}):
        np.testing.assert_array_equal(gn.utils.pad_sequences(seqs, **kwargs), keras.utils.pad_sequences(seqs, **kwargs))
    with pytest.raises(ValueError, match=r'padding must be "pre" or "post"'):
        gn.utils.pad_sequences(seqs, padding="middle")


@pytest.mark.parametrize("kwargs", [dict(sequence_length=4, batch_size=5),
                                    dict(sequence_length=3, sequence_stride=2, sampling_rate=2, batch_size=4,
                                         start_index=2, end_index=40)])
def test_timeseries_dataset_follows_keras_rule(kwargs):
    """Window i starts at start_index + i·stride and takes every sampling_rate-th step; its target is the target at
    its first step (Keras's rule; Keras's own version needs TensorFlow or grain, absent here)."""
    data = np.arange(100, dtype=np.float32).reshape(50, 2)
    targets = np.arange(50, dtype=np.float32) * 10
    ds = gn.utils.timeseries_dataset_from_array(data, targets, **kwargs)
    start, end = kwargs.get("start_index", 0), kwargs.get("end_index", 50)
    length, stride, rate = kwargs["sequence_length"], kwargs.get("sequence_stride", 1), kwargs.get("sampling_rate", 1)
    windows = [(data[start + s: start + s + length * rate: rate], targets[start + s])
               for s in range(0, end - start - (length - 1) * rate, stride)]
    got = [(x, y) for bx, by in ds for x, y in zip(bx, by)]
    assert len(got) == len(windows) and len(ds) == -(-len(windows) // kwargs["batch_size"])
    for (gx, gy), (ex, ey) in zip(got, windows):
        np.testing.assert_array_equal(gx, ex)
        assert gy == ey
    only_x = gn.utils.timeseries_dataset_from_array(data, None, sequence_length=3, batch_size=None)
    np.testing.assert_array_equal(only_x[1], data[1:4])


class Batches(gn.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("workers, processes", [(1, False), (3, False), (2, True)])
def test_pydataset_trains_like_arrays(workers, processes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = x.sum(-1, keepdims=True)

    def model():
        gn.utils.set_random_seed(2)
        m = gn.Sequential([gn.Input((4,)), layers.Dense(1)])
        m.compile(gn.optimizers.SGD(0.05), "mse")
        return m
    ds = Batches(x, y, 8, workers=workers, use_multiprocessing=processes)
    a, b = model(), model()
    ha = a.fit(ds, epochs=2, verbose=0)
    hb = b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)
    assert ds.epochs_ended == 2
    np.testing.assert_allclose(a.predict(Batches(x, y, 16), verbose=0), b.predict(x, verbose=0), rtol=1e-6)


def _functional():
    a, b = gn.Input((5,), name="a"), gn.Input((3,), name="b")
    shared = layers.Dense(4, name="shared")
    h = layers.Concatenate()([shared(layers.Dense(4)(a)), layers.Dense(4)(b)])
    return gn.Model([a, b], [layers.Dense(1, name="y")(h), layers.Dense(2, activation="softmax", name="p")(h)])


def test_clone_model_has_the_architecture_and_new_weights():
    x = [np.ones((2, 5), np.float32), np.ones((2, 3), np.float32)]
    model = _functional()
    clone = gn.models.clone_model(model)
    assert [type(l).__name__ for l in clone.layers] == [type(l).__name__ for l in model.layers]
    assert clone.count_params() == model.count_params() and clone.output_shape == model.output_shape
    assert not all(np.array_equal(a, b) for a, b in zip(clone.get_weights(), model.get_weights()))
    clone.set_weights(model.get_weights())
    for p, q in zip(clone.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(p, q, rtol=1e-6)
    seq = gn.Sequential([gn.Input((4,)), layers.Dense(3), layers.Dense(1)])
    renamed = gn.models.clone_model(seq, clone_function=lambda l: type(l).from_config({**l.get_config(),
                                                                                        "name": "c_" + l.name}))
    assert [l.name for l in renamed.layers] == ["c_" + l.name for l in seq.layers]


def test_json_and_config_round_trips(keras):
    model = _functional()
    again = gn.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    x = [np.ones((2, 5), np.float32), np.ones((2, 3), np.float32)]
    for p, q in zip(again.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(p, q, rtol=1e-6)
    assert keras.models.model_from_json(model.to_json()).count_params() == model.count_params()  # Keras reads it
    seq = gn.Sequential([gn.Input((6,)), layers.Dense(4, kernel_regularizer="l2"), layers.Dropout(0.2),
                         layers.Dense(2)])
    back = gn.Sequential.from_config(seq.get_config())
    assert [type(l).__name__ for l in back.layers] == ["Dense", "Dropout", "Dense"]
    assert back.count_params() == seq.count_params() and back.input_shape == (None, 6)
    assert isinstance(back.layers[0].kernel_regularizer, gn.regularizers.L2)
    func = gn.Model.from_config(model.get_config())
    assert func.count_params() == model.count_params()


def test_plot_model_writes_an_image(tmp_path):
    pytest.importorskip("pydot", reason="plot_model needs pydot (not installed here)")
    if not any(os.access(os.path.join(p, "dot"), os.X_OK) for p in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("plot_model needs the Graphviz `dot` program (not installed here)")
    image = pytest.importorskip("matplotlib.image", reason="reading the PNG back needs matplotlib")
    model = _functional()
    png = gn.utils.plot_model(model, to_file=tmp_path / "m.png", show_shapes=True, dpi=60)
    pixels = image.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    svg = gn.utils.plot_model(model, to_file=tmp_path / "m.svg", show_shapes=True)
    text = open(svg).read()
    assert "shared (Dense)" in text and "params: 20" in text and "MACs/sample: 4·4" in text and "(None, 8)" in text


def test_plot_model_says_what_to_install(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_pydot(name, *args, **kwargs):
        if name == "pydot":
            raise ImportError("No module named 'pydot'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_pydot)
    with pytest.raises(ImportError, match=r"plot_model needs the `pydot` package and the Graphviz programs: "
                                          r"`pip install pydot`"):
        gn.utils.plot_model(_functional(), to_file="unused.png")


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.norm = torch.nn.LayerNorm(3)

    def forward(self, x):
        return self.norm(torch.relu(self.fc(x)))


def test_torch_module_wrapper_trains_saves_and_counts(tmp_path):
    wrapped = layers.TorchModuleWrapper(Tiny(), name="tiny")
    model = gn.Sequential([gn.Input((4,)), wrapped, layers.Dense(1)])
    assert model.output_shape == (None, 1) and wrapped.output_shape == (None, 3)
    assert model.count_params() == (4 * 3 + 3) + (3 + 3) + (3 + 1)  # its parameters, counted from its tensors
    report = gn.analyze(model)
    row = report.row("tiny")  # its parameters from its tensors, its multiply-adds traced: 4·3 for the Linear
    assert row.params == 21 and row.macs == 12 and row.macs_source == "traced"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = x[:, :1] - x[:, 1:2]
    model.compile(gn.optimizers.Adam(0.02), "mse")
    before = wrapped.module.fc.weight.detach().clone()
    h = model.fit(x, y, epochs=10, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0] and not torch.equal(before, wrapped.module.fc.weight)
    model.save_weights(tmp_path / "w.weights.h5")
    other = gn.Sequential([gn.Input((4,)), layers.TorchModuleWrapper(Tiny()), layers.Dense(1)])
    other.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(other.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    model.save(tmp_path / "m.glassnet")
    for safe_mode in (True, False):  # the pickled module is never loaded, even when the file is trusted
        with pytest.raises(gn.FileFormatError, match="holds a pickled torch module; glassnet never unpickles"):
            gn.load_model(tmp_path / "m.glassnet", safe_mode=safe_mode)
    fresh = Tiny()  # the same architecture, new weights: the file's weights replace them
    back = gn.load_model(tmp_path / "m.glassnet", custom_objects={"tiny": fresh})
    assert back.get_layer("tiny").module is fresh
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
