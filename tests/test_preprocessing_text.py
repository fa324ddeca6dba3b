"""Text and categorical preprocessing against Keras 3 (torch backend).

StringLookup, IntegerLookup, TextVectorization, Hashing and HashedCrossing run their string work in TensorFlow
inside Keras, so Keras cannot run them without it: their reference outputs, vocabularies, IDF weights and
``.keras`` files were written by Keras 3 with ``tools/make_text_fixtures.py`` (``tests/fixtures/text/``), which
also loaded glassnet-written files in Keras and recorded its predictions. CategoryEncoding and Discretization
need no TensorFlow and are compared with Keras live.
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest
import torch

import glassnet as gn
from glassnet import layers
from glassnet.errors import ConfigError, FileFormatError
from glassnet.layers.preprocessing._farmhash import fingerprint64

keras = pytest.importorskip("keras")

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "text")
with open(os.path.join(FIXTURES, "cases.json"), encoding="utf-8") as _f:
    MANIFEST = json.load(_f)
CASES = {c["id"]: c for c in MANIFEST["cases"]}
ENCODED = ("one_hot", "multi_hot", "count")


def build(case):
    layer = getattr(layers, case["class"])(**case["kwargs"])
    if case["adapt"] is not None:
        batches = [np.array(b) for b in case["adapt"]]
        layer.adapt(iter(batches) if case["stream"] else np.array(case["adapt"]))
    return layer


def inputs_of(case):
    x, cls, kwargs = case["inputs"], case["class"], case["kwargs"]
    if cls == "HashedCrossing":
        return tuple(np.array(v) for v in x)
    if cls == "IntegerLookup" or kwargs.get("invert") or (cls == "Hashing" and isinstance(x[0][0], int)):
        return torch.tensor(x)
    return np.array(x)


@pytest.mark.parametrize("cid", sorted(CASES))
def test_outputs_vocabulary_and_idf_equal_keras(cid):
    case = CASES[cid]
    layer = build(case)
    out = layer(inputs_of(case))
    if case["dtype"] == "string":
        assert np.asarray(out).tolist() == case["output"]
    else:
        expected = np.asarray(case["output"])
        got = out.numpy()
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)
        mode = case["kwargs"].get("output_mode", "int")
        # Keras declares float32 for encoded lookups (its TensorFlow lookup hands back int64 counts)
        lookup = case["class"] in ("StringLookup", "IntegerLookup", "TextVectorization") and mode in ENCODED
        assert str(out.dtype).replace("torch.", "") == ("float32" if lookup else case["dtype"])
    if "vocabulary" in case:
        assert layer.get_vocabulary() == case["vocabulary"]
    if "idf_weights" in case:
        lookup = getattr(layer, "_lookup_layer", layer)
        np.testing.assert_allclose(lookup.idf_weights, case["idf_weights"], rtol=1e-6)


def test_the_fixtures_come_from_keras_with_tensorflow():
    assert MANIFEST["backend"] == "torch" and MANIFEST["keras"].startswith("3.")
    assert len(CASES) >= 40


def test_farmhash_fingerprint64_matches_tensorflow_over_lengths():
    """TensorFlow's to_hash_bucket_fast (FarmHash Fingerprint64) of texts of 0…80 bytes, as the fixtures recorded
    through Hashing: every length class of the algorithm (0–3, 4–7, 8–16, 17–32, 33–64, > 64) is covered."""
    case = CASES["hash_str"]
    flat = [s for row in case["inputs"] for s in row]
    bins = [b for row in case["output"] for b in row]
    assert [fingerprint64(s.encode()) % 7 for s in flat] == bins
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F  # FarmHash's k2, the hash of nothing


# ---------------------------------------------------------------------- CategoryEncoding, Discretization (live)
@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("shape", [(5,), (4, 3), (4, 1)])
def test_category_encoding_equals_keras(mode, shape):
    x = np.random.default_rng(0).integers(0, 6, size=shape)
    ours = layers.CategoryEncoding(6, output_mode=mode)(torch.as_tensor(x))
    theirs = keras.layers.CategoryEncoding(6, output_mode=mode)(torch.as_tensor(x))
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    assert ours.dtype == theirs.dtype


def test_category_encoding_count_weights_equal_keras():
    x = torch.tensor([[0, 1, 1], [3, 3, 2]])
    w = torch.tensor([[0.5, 1.0, 2.0], [1.5, -1.0, 3.0]])
    ours = layers.CategoryEncoding(4, output_mode="count")(x, count_weights=w)
    theirs = keras.layers.CategoryEncoding(4, output_mode="count")(x, count_weights=w)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-7)


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_with_boundaries_equals_keras(mode):
    x = torch.tensor([[-1.5, 0.0, 0.1, 2.0], [0.3, 0.3, 5.0, -0.2]])
    bounds = [0.0, 0.1, 1.0]
    ours = layers.Discretization(bin_boundaries=bounds, output_mode=mode)(x)
    theirs = keras.layers.Discretization(bin_boundaries=bounds, output_mode=mode)(x)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    assert ours.dtype == theirs.dtype


def _keras_adapt(layer, batches):
    """Keras's Discretization.adapt without its tf.data check: its own update_state and finalize_state."""
    layer.reset_state()
    for b in batches:
        layer.update_state(b)
    layer.finalize_state()


@pytest.mark.parametrize("num_bins,epsilon", [(4, 0.01), (7, 0.1)])
def test_discretization_adapt_equals_keras_streamed(num_bins, epsilon):
    rng = np.random.default_rng(3)
    batches = [rng.normal(size=(50, 2)).astype("float32") * (k + 1) for k in range(4)]
    ours = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    ours.adapt(torch.utils.data.DataLoader(torch.as_tensor(np.concatenate(batches)), batch_size=50))
    theirs = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    _keras_adapt(theirs, batches)
    np.testing.assert_allclose(ours.bin_boundaries, theirs.bin_boundaries, rtol=1e-6)
    whole = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    whole.adapt(np.concatenate(batches))
    keras_whole = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    _keras_adapt(keras_whole, [np.concatenate(batches)])
    np.testing.assert_allclose(whole.bin_boundaries, keras_whole.bin_boundaries, rtol=1e-6)


def test_discretization_and_category_encoding_keras_files_both_ways(tmp_path):
    x = np.array([[-1.0, 0.5, 3.0], [0.2, 2.0, -0.5]], np.float32)
    inp = keras.Input((3,))
    h = keras.layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode="count")(inp)
    km = keras.Model(inp, keras.layers.Dense(2)(h))
    km.save(tmp_path / "k.keras")
    ours = gn.load_model(str(tmp_path / "k.keras"))
    np.testing.assert_allclose(ours.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-6, atol=1e-6)

    gn.utils.set_random_seed(0)
    inp = gn.Input((3,), dtype="int64")
    model = gn.Model(inp, layers.Dense(2)(layers.CategoryEncoding(5, output_mode="multi_hot")(inp)))
    model.save(str(tmp_path / "g.keras"))
    back = keras.saving.load_model(tmp_path / "g.keras")
    xi = np.array([[0, 4, 4], [1, 2, 3]])
    np.testing.assert_allclose(back.predict(xi, verbose=0), model.predict(xi, verbose=0), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------- .keras files both ways
KERAS_FILES = sorted(n[len("keras_"):-len(".keras")] for n in os.listdir(FIXTURES)
                     if n.startswith("keras_") and n.endswith(".keras"))
GLASSNET_FILES = sorted(n[len("glassnet_"):-len(".keras")] for n in os.listdir(FIXTURES)
                        if n.startswith("glassnet_") and n.endswith(".keras"))


def _fixture(prefix, name):
    with open(os.path.join(FIXTURES, f"{prefix}_{name}.json"), encoding="utf-8") as f:
        spec = json.load(f)
    return os.path.join(FIXTURES, f"{prefix}_{name}.keras"), spec


def _x(spec):
    return torch.tensor(spec["inputs"]) if spec.get("dtype") == "int64" else np.array(spec["inputs"])


@pytest.mark.parametrize("name", KERAS_FILES)
def test_a_model_keras_saved_loads_and_predicts_the_same(name):
    path, spec = _fixture("keras", name)
    model = gn.load_model(path)
    with torch.no_grad():
        got = model(_x(spec))
    np.testing.assert_allclose(got.numpy(), spec["expected"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", GLASSNET_FILES)
def test_glassnet_writes_the_file_keras_loaded_and_predicts_what_keras_predicted(name, tmp_path):
    """The fixture is a file glassnet wrote, which Keras loaded and predicted from (recorded beside it): glassnet
    loads it and predicts what Keras did, and writing it again gives the same config, assets and weights."""
    path, spec = _fixture("glassnet", name)
    model = gn.load_model(path)
    with torch.no_grad():
        got = model(_x(spec))
    np.testing.assert_allclose(got.numpy(), spec["expected"], rtol=1e-5, atol=1e-6)
    model.save(str(tmp_path / "again.keras"))
    with zipfile.ZipFile(path) as a, zipfile.ZipFile(tmp_path / "again.keras") as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        assert json.loads(a.read("config.json")) == json.loads(b.read("config.json"))
        for member in a.namelist():
            if member.startswith("assets/"):
                assert a.read(member) == b.read(member)
        assert _h5_arrays(a.read("model.weights.h5")) == _h5_arrays(b.read("model.weights.h5"))


def _h5_arrays(data: bytes) -> dict:
    out = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()].tolist()) if isinstance(o, h5py.Dataset) else None)
    return out


def test_keras_layout_of_an_adapted_vocabulary(tmp_path):
    """As Keras writes it: vocabulary null in the config, the vocabulary in assets/<layer path>/vocabulary.txt
    (for TextVectorization also under _lookup_layer), tf_idf weights as vars/idf_weights."""
    tv = layers.TextVectorization(output_mode="tf_idf", max_tokens=6)
    tv.adapt(["a b c", "a a d", "e"])
    inp = gn.Input((1,), dtype="string")
    gn.Model(inp, layers.Dense(2)(tv(inp))).save(str(tmp_path / "m.keras"))
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        entry = json.loads(z.read("config.json"))["config"]["layers"][1]["config"]
        assert entry["vocabulary"] is None and entry["idf_weights"] is None and entry["vocabulary_size"] == 6
        assert "has_input_vocabulary" not in entry
        for where in ("layers/text_vectorization", "layers/text_vectorization/_lookup_layer"):
            assert z.read(f"assets/{where}/vocabulary.txt").decode() == "\n".join(tv.get_vocabulary())
        weights = _h5_arrays(z.read("model.weights.h5"))
    np.testing.assert_allclose(weights["layers/text_vectorization/vars/idf_weights"], tv._lookup_layer.idf_weights)


def _altered(path, tmp_path, change):
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for member in src.namelist():
            data = change(member, src.read(member))
            if data is not None:
                dst.writestr(member, data)
    return str(bad)


@pytest.mark.parametrize("change,message", [
    (lambda m, d: b"\xff\xfe not utf-8" if m.endswith("vocabulary.txt") else d, "not UTF-8 text"),
    (lambda m, d: None if m.endswith("vocabulary.txt") else d, "neither a vocabulary in its config nor"),
    (lambda m, d: b"\n[UNK]\na\na" if m.endswith("vocabulary.txt") else d, "repeated terms"),
])
def test_a_broken_or_hostile_vocabulary_asset_is_refused(tmp_path, change, message):
    path, _ = _fixture("keras", "char_lstm")
    with pytest.raises(FileFormatError, match=message):
        gn.load_model(_altered(path, tmp_path, change))


def test_an_integer_vocabulary_asset_must_hold_integers(tmp_path):
    path, _ = _fixture("keras", "integer_count")
    with pytest.raises(FileFormatError, match="cannot be restored"):
        gn.load_model(_altered(path, tmp_path, lambda m, d: b"-1\n-1\n__import__('os')" if
                               m.endswith("vocabulary.txt") else d))


# ---------------------------------------------------------------------- .glassnet, adapt, models on strings
def test_adapted_vocabularies_survive_glassnet_files(tmp_path):
    sl = layers.StringLookup(output_mode="tf_idf", num_oov_indices=2)
    sl.adapt(np.array([["a", "b"], ["b", "c"], ["c", "c"]]))
    il = layers.IntegerLookup(max_tokens=4)
    il.adapt(np.array([5, 5, 6, 7, 7, 7]))
    disc = layers.Discretization(num_bins=3)
    disc.adapt(np.arange(30, dtype=np.float32))
    s_in, i_in, d_in = gn.Input((2,), dtype="string"), gn.Input((2,), dtype="int64"), gn.Input((2,))
    model = gn.Model([s_in, i_in, d_in], [sl(s_in), il(i_in), disc(d_in)])
    model.save(str(tmp_path / "m.glassnet"))
    back = gn.load_model(str(tmp_path / "m.glassnet"))
    x = [np.array([["a", "z"], ["c", "b"]]), torch.tensor([[5, 9], [7, 6]]), torch.tensor([[1.0, 25.0], [12, 3]])]
    for a, b in zip(model(x), back(x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert back.get_layer(sl.name).get_vocabulary() == sl.get_vocabulary()
    assert back.get_layer(il.name).get_vocabulary() == il.get_vocabulary()
    assert back.get_layer(disc.name).bin_boundaries == disc.bin_boundaries


def test_adapt_streams_a_dataloader_of_labelled_batches():
    texts = ["the cat", "a dog", "the dog", "cats"]
    data = list(zip(texts, [0, 1, 1, 0]))
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    streamed = layers.TextVectorization()
    streamed.adapt(loader)
    whole = layers.TextVectorization()
    whole.adapt(np.array(texts))
    assert streamed.get_vocabulary() == whole.get_vocabulary()


def test_errors_name_the_layer_and_the_fix():
    with pytest.raises(ConfigError, match="StringLookup 'sl' .*vocabulary file"):
        layers.StringLookup(vocabulary="/etc/passwd", name="sl")
    with pytest.raises(ConfigError, match="salt"):
        layers.Hashing(num_bins=3, salt=1)
    with pytest.raises(ConfigError, match="has no vocabulary yet"):
        layers.StringLookup(output_mode="multi_hot", name="x")(gn.Input((2,), dtype="string"))
    with pytest.raises(TypeError, match="torch tensors hold no strings"):
        layers.TextVectorization(vocabulary=["a"])(torch.zeros(2))
    inp = gn.Input((1,), dtype="string")
    with pytest.raises(ConfigError, match="must feed exactly one layer that reads strings"):
        tv = layers.TextVectorization(vocabulary=["a"])
        gn.Model(inp, [tv(inp), layers.StringLookup(vocabulary=["a"])(inp)])


def test_a_text_model_summary_shows_the_string_stage():
    tv = layers.TextVectorization(vocabulary=["a", "b"], output_sequence_length=4)
    model = gn.Sequential([gn.Input((), dtype="string"), tv, layers.Embedding(4, 2), layers.Flatten(),
                           layers.Dense(1)])
    assert model.output_shape == (None, 1)
    row = gn.analyze(model).rows[1]
    assert row.type == "TextVectorization" and row.params == 0 and row.macs == 0
    assert "string processing, not counted" in row.reads and "vocabulary of 4 entries" in row.reads
    out = model(["a b a", "c"])
    assert tuple(out.shape) == (2, 1)
    lines = []
    model.summary(costs=True, line_length=200, print_fn=lines.append)
    text = lines[0]
    row = next(line for line in text.splitlines() if f"{tv.name} (" in line)
    assert "vocabulary V = 4" in row and "0 (string processing," in row  # the cell goes on: "not counted)"
    assert f"String stage: {tv.name} (TextVectorization)" in " ".join(text.split()) and "Total params: 17 " in text


def test_onnx_export_of_a_text_model_says_what_to_export_instead(tmp_path):
    pytest.importorskip("onnxscript")
    tv = layers.TextVectorization(vocabulary=["a", "b"], output_sequence_length=4)
    model = gn.Sequential([gn.Input((), dtype="string", name="text"), tv, layers.Embedding(4, 2), layers.Flatten(),
                           layers.Dense(1)])
    with pytest.raises(gn.GlassnetError, match="input 'text' takes strings.*Export the part after that layer"):
        model.export_onnx(str(tmp_path / "m.onnx"))
    assert not (tmp_path / "m.onnx").exists()


def test_character_level_names_classifier_trains_on_strings():
    """names → gender from the raw strings: TextVectorization(split="character") → Embedding(mask_zero=True) →
    LSTM → Dense, fit on a list of str; the training loss falls and predict takes strings too."""
    data = pytest.importorskip("glassnet.tour.data")
    names, gender = data.first_names()
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(gender == k), 300, replace=False) for k in (0, 1)])
    rng.shuffle(pick)
    texts, y = np.array([names[i] for i in pick]), gender[pick].astype(np.float32)[:, None]
    gn.utils.set_random_seed(0)
    tv = layers.TextVectorization(split="character")
    tv.adapt(texts)
    model = gn.Sequential([gn.Input((1,), dtype="string"), tv,
                           layers.Embedding(tv.vocabulary_size(), 8, mask_zero=True), layers.LSTM(16),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=gn.optimizers.Adam(0.01), loss="binary_crossentropy")
    history = model.fit(texts[:, None], y, batch_size=32, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] - 0.01, losses
    prob = model.predict(texts[:8, None], verbose=0)
    assert isinstance(prob, np.ndarray) and prob.shape == (8, 1)
    # each name's output is the one it gets alone: the batch padding is masked
    alone = np.concatenate([model.predict(texts[i:i + 1, None], verbose=0) for i in range(8)])
    np.testing.assert_allclose(prob, alone, atol=1e-5)


def _text_model(tv):
    return gn.Sequential([gn.Input((), dtype="string"), tv, layers.Embedding(tv.vocabulary_size(), 4, mask_zero=True),
                          layers.GRU(4), layers.Dense(1)])


def test_fit_predict_and_evaluate_take_dataloaders_of_strings():
    """Batches of strings (a DataLoader of (text, label) pairs, validation as arrays) are encoded as they are
    read; each batch is padded to its own longest text, as Keras pads it."""
    texts = ["the cat sat", "a dog", "dogs run far away", "cats", "the end", "a long sentence of words"]
    labels = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])[:, None]
    tv = layers.TextVectorization()
    tv.adapt(texts)
    gn.utils.set_random_seed(0)
    model = _text_model(tv)
    model.compile(optimizer="adam", loss="mse")
    loader = torch.utils.data.DataLoader(list(zip(texts, labels)), batch_size=4)
    history = model.fit(loader, epochs=2, verbose=0, validation_data=(np.array(texts), labels.numpy()))
    assert len(history.history["loss"]) == 2 and len(history.history["val_loss"]) == 2
    by_loader = model.predict(torch.utils.data.DataLoader(texts, batch_size=4), verbose=0)
    by_array = model.predict(np.array(texts), batch_size=4, verbose=0)
    np.testing.assert_allclose(by_loader, by_array, rtol=1e-6)
    with torch.no_grad():
        direct = model(np.array(texts[:4]))  # one batch, encoded and padded on its own
    np.testing.assert_allclose(by_array[:4], direct.numpy(), rtol=1e-6)
    assert np.isfinite(model.evaluate(np.array(texts), labels.numpy(), verbose=0))


def test_integer_lookup_adapts_from_a_dataloader_as_from_the_whole_array():
    x = torch.tensor([[1, 2, 2], [3, 3, 3], [2, 9, 9], [9, 9, 4]])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(4)), batch_size=2)
    streamed = layers.IntegerLookup(output_mode="tf_idf")
    streamed.adapt(loader)
    whole = layers.IntegerLookup(output_mode="tf_idf")
    whole.adapt(x)
    assert streamed.get_vocabulary() == whole.get_vocabulary() == [-1, 9, 3, 2, 4, 1]
    np.testing.assert_allclose(streamed.idf_weights, whole.idf_weights)


def test_a_checkpoint_written_during_fit_keeps_the_string_input(tmp_path):
    texts = np.array(["the cat", "a dog", "the dog", "cats"])
    tv = layers.TextVectorization()
    tv.adapt(texts)
    model = _text_model(tv)
    model.compile(optimizer="adam", loss="mse")
    path = str(tmp_path / "best.keras")
    model.fit(texts, np.zeros((4, 1), np.float32), epochs=1, verbose=0,
              callbacks=[gn.callbacks.ModelCheckpoint(path)])
    back = gn.load_model(path)
    assert back.inputs[0].dtype == "string"
    with torch.no_grad():
        torch.testing.assert_close(back(texts), model(texts))


def test_a_sequential_without_input_takes_a_string_input_from_its_first_texts():
    model = gn.Sequential([layers.StringLookup(vocabulary=["a", "b"]), layers.Embedding(3, 2), layers.Flatten(),
                           layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.array([["a", "b"], ["b", "z"]]), np.zeros((2, 1), np.float32), verbose=0)
    assert model.input_shape == (None, 2) and model.inputs[0].dtype == "string"
    assert model.predict(np.array([["z", "a"]]), verbose=0).shape == (1, 1)
