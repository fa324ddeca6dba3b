"""Build the text-preprocessing fixtures under ``tests/fixtures/text/``: what Keras 3 (torch backend) computes
for StringLookup, IntegerLookup, TextVectorization, Hashing and HashedCrossing, which Keras runs through
TensorFlow's string ops — so TensorFlow must be importable here, while glassnet's tests need neither it nor a
network (``tests/test_preprocessing_text.py`` reads these files).

- ``cases.json``: per case, the layer's arguments, the data it adapts to (all at once, or as a stream of
  batches), the inputs, and Keras's outputs, vocabulary and IDF weights.
- ``keras_<name>.keras`` + ``keras_<name>.json``: models Keras saved (weights, config and vocabulary assets as
  Keras writes them) with Keras's predictions, for glassnet to load.
- ``glassnet_<name>.keras`` + ``glassnet_<name>.json``: models glassnet saved, loaded by Keras here, with
  Keras's predictions: the tests check that glassnet still writes the same file and predicts the same.

Run it with glassnet's Python and TensorFlow's packages from their own environment (TensorFlow never goes
into glassnet's)::

    KERAS_BACKEND=torch python tools/make_text_fixtures.py --tf-site tfvenv/lib/python3.11/site-packages
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = ["The cat sat on the mat.", "A dog, a CAT and a bird!", "the  dog\tran;   far away", "Café au lait?",
          "naïve Ünïcode — ÀB", "cats & dogs: 3 of them", "", "it's   the cat's"]
QUERIES = ["the cat and the dog", "an unseen word", "THE MAT!", "Ünïcode café", "", "dog dog dog cat"]


def _plain(value):
    import numpy as np
    import torch
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # a TensorFlow tensor
        value = value.numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value.item())
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dtype(value) -> str:
    import torch
    if isinstance(value, torch.Tensor):
        return str(value.dtype).replace("torch.", "")
    if hasattr(value, "dtype") and getattr(value.dtype, "name", "") != "string":
        return "tf:" + value.dtype.name
    return "string"


def cases():
    """(id, class, kwargs, adapt, stream, inputs)."""
    rows = [["a", "b", "b"], ["c", "a", "a"], ["d", "d", "d"], ["e", "a", "c"]]
    ints = [[12, 36, 36], [1138, 12, 12], [7, 7, 7], [5, 12, 1138]]
    out = [
        ("sl_vocab_int", "StringLookup", {"vocabulary": ["a", "b", "c"]}, None, False,
         [["a", "c", "z"], ["b", "b", "q"]]),
        ("sl_mask_oov3", "StringLookup", {"vocabulary": ["x", "y"], "mask_token": "", "num_oov_indices": 3}, None,
         False, [["x", "", "w", "zz", "y", "unseen", "q"]]),
        ("sl_no_oov", "StringLookup", {"vocabulary": ["x", "y"], "num_oov_indices": 0}, None, False, [["y", "x"]]),
        ("sl_adapt_max", "StringLookup", {"max_tokens": 4}, rows, False, [["a", "b", "e"], ["d", "c", "z"]]),
        ("sl_adapt_mask", "StringLookup", {"mask_token": "c", "oov_token": "?"}, rows, False, [["a", "c", "?"]]),
        ("sl_one_hot", "StringLookup", {"vocabulary": ["a", "b"], "output_mode": "one_hot"}, None, False,
         [["a"], ["b"], ["z"]]),
        ("sl_multi_hot_mask", "StringLookup", {"vocabulary": ["a", "b", "c"], "output_mode": "multi_hot",
                                               "mask_token": ""}, None, False, [["a", "b", "a"], ["", "z", "c"]]),
        ("sl_count_pad", "StringLookup", {"max_tokens": 7, "output_mode": "count", "pad_to_max_tokens": True},
         rows, False, [["a", "a", "b", "q"], ["d", "d", "c", "c"]]),
        ("sl_tf_idf", "StringLookup", {"output_mode": "tf_idf"}, rows, False, [["a", "b", "q"], ["d", "d", "c"]]),
        ("sl_tf_idf_given", "StringLookup", {"output_mode": "tf_idf", "vocabulary": ["a", "b", "c"],
                                             "idf_weights": [0.5, 0.25, 2.0]}, None, False,
         [["a", "b", "q"], ["c", "c", "a"]]),
        ("sl_tf_idf_stream", "StringLookup", {"output_mode": "tf_idf"},
         [["a", "b", "b"], ["c", "a"], ["d", "d", "a"]], True, [["a", "b", "d"]]),
        ("sl_invert", "StringLookup", {"vocabulary": ["a", "b", "c"], "invert": True}, None, False, [0, 1, 2, 3, 9]),
        ("il_vocab", "IntegerLookup", {"vocabulary": [12, 36, 1138]}, None, False, [[12, 1138, 7], [36, 36, 0]]),
        ("il_mask_floormod", "IntegerLookup", {"vocabulary": [12, 36], "mask_token": 0, "num_oov_indices": 3},
         None, False, [[0, 12, -3, 5, 1138, 36, -8]]),
        ("il_farmhash", "IntegerLookup", {"vocabulary": [12, 36], "num_oov_indices": 4, "oov_method": "farmhash"},
         None, False, [[12, -3, 5, 1138, 99999]]),
        ("il_adapt_multi", "IntegerLookup", {"output_mode": "multi_hot", "max_tokens": 5}, ints, False,
         [[12, 7, 99], [1138, 36, 36]]),
        ("il_tf_idf", "IntegerLookup", {"output_mode": "tf_idf"}, ints, False, [[12, 7, 99], [1138, 36, 36]]),
        ("il_invert", "IntegerLookup", {"vocabulary": [12, 36, 1138], "invert": True, "mask_token": 0}, None, False,
         [[0, 1, 2, 3, 4, 9]]),
        ("tv_default", "TextVectorization", {}, CORPUS, False, QUERIES),
        ("tv_seq_len", "TextVectorization", {"output_sequence_length": 3}, CORPUS, False, QUERIES),
        ("tv_seq_len_long", "TextVectorization", {"output_sequence_length": 9, "max_tokens": 6}, CORPUS, False,
         [[q] for q in QUERIES]),
        ("tv_character", "TextVectorization", {"split": "character", "standardize": "lower"}, CORPUS, False,
         QUERIES),
        ("tv_ngrams", "TextVectorization", {"ngrams": 2, "standardize": "strip_punctuation"}, CORPUS, False,
         QUERIES),
        ("tv_ngrams_tuple", "TextVectorization", {"ngrams": [1, 3], "standardize": None, "max_tokens": 30},
         CORPUS, False, QUERIES),
        ("tv_split_none", "TextVectorization", {"split": None, "standardize": "lower"}, CORPUS, False,
         [[q] for q in QUERIES]),
        ("tv_multi_hot", "TextVectorization", {"output_mode": "multi_hot", "max_tokens": 8}, CORPUS, False,
         QUERIES),
        ("tv_count_pad", "TextVectorization", {"output_mode": "count", "max_tokens": 40,
                                               "pad_to_max_tokens": True}, CORPUS, False, QUERIES),
        ("tv_tf_idf", "TextVectorization", {"output_mode": "tf_idf"}, CORPUS, False, QUERIES),
        ("tv_vocabulary", "TextVectorization", {"vocabulary": ["the", "cat", "dog", "mat"]}, None, False, QUERIES),
        ("tv_stream", "TextVectorization", {"max_tokens": 12, "output_mode": "tf_idf"},
         [CORPUS[:3], CORPUS[3:5], CORPUS[5:]], True, QUERIES),
        ("hash_str", "Hashing", {"num_bins": 7}, None, False, [["A", "B", "café", ""], ["x" * 70, "y", "z", "A"]]),
        ("hash_int", "Hashing", {"num_bins": 11}, None, False, [[0, 1, -5, 123456789012], [7, 8, 9, 10]]),
        ("hash_mask", "Hashing", {"num_bins": 5, "mask_value": ""}, None, False, [["A", "", "B"]]),
        ("hash_int_mask", "Hashing", {"num_bins": 5, "mask_value": 0}, None, False, [[0, 3, 0, 4]]),
        ("hash_multi_hot", "Hashing", {"num_bins": 6, "output_mode": "multi_hot"}, None, False,
         [["A", "B", "A"], ["C", "D", "E"]]),
        ("hash_one_hot", "Hashing", {"num_bins": 4, "output_mode": "one_hot"}, None, False, [["A"], ["B"], ["C"]]),
        ("hash_count", "Hashing", {"num_bins": 4, "output_mode": "count"}, None, False, [[1, 1, 2], [3, 3, 3]]),
        ("cross_str_int", "HashedCrossing", {"num_bins": 5}, None, False,
         [["A", "B", "A", "B", "A"], [101, 101, 101, 102, 102]]),
        ("cross_column", "HashedCrossing", {"num_bins": 1000}, None, False,
         [[["a"], ["bb"], ["ccc"]], [[1], [-2], [3]], [["x"], ["y"], ["z"]]]),
        ("cross_one_hot", "HashedCrossing", {"num_bins": 4, "output_mode": "one_hot"}, None, False,
         [[3, 4, 5], [6, 7, 8]]),
    ]
    return out


def _keras_inputs(cls_name, inputs):
    import numpy as np
    import torch
    if cls_name == "HashedCrossing":
        return tuple(np.array(v) for v in inputs)
    if cls_name == "IntegerLookup" or (cls_name == "StringLookup" and all(isinstance(v, int) for v in inputs)):
        return torch.tensor(inputs) if cls_name == "IntegerLookup" else torch.tensor(inputs)
    if cls_name == "Hashing" and isinstance(inputs[0][0], int):
        return torch.tensor(inputs)
    return np.array(inputs)


def run_cases(keras):
    import numpy as np
    results = []
    for cid, cls_name, kwargs, adapt, stream, inputs in cases():
        layer = getattr(keras.layers, cls_name)(**{k: tuple(v) if k == "ngrams" and isinstance(v, list) else v
                                                 for k, v in kwargs.items()})
        if adapt is not None:
            layer.adapt(iter([np.array(b) for b in adapt]) if stream else np.array(adapt))
        out = layer(_keras_inputs(cls_name, inputs))
        row = {"id": cid, "class": cls_name, "kwargs": kwargs, "adapt": adapt, "stream": stream, "inputs": inputs,
               "output": _plain(out), "dtype": _dtype(out)}
        if hasattr(layer, "get_vocabulary"):
            row["vocabulary"] = _plain(layer.get_vocabulary())
        lookup = getattr(layer, "_lookup_layer", layer)
        if getattr(lookup, "output_mode", None) == "tf_idf":
            row["idf_weights"] = _plain(lookup.idf_weights_const)
        results.append(row)
    return results


# ---------------------------------------------------------------------- models both ways
def keras_models(keras):
    """(name, model, layers in order after the input, inputs) saved by Keras."""
    import numpy as np
    L = keras.layers
    keras.utils.set_random_seed(1)
    texts = np.array(CORPUS)[:, None]
    out = []

    tv = L.TextVectorization(split="character", max_tokens=20)
    tv.adapt(np.array(CORPUS))
    chain = [tv, L.Embedding(20, 4, mask_zero=True), L.LSTM(3), L.Dense(2)]
    out.append(("char_lstm", chain, "string", (1,), np.array(QUERIES)[:, None]))

    sl = L.StringLookup(output_mode="multi_hot", mask_token="")
    sl.adapt(np.array([["a", "b", "c"], ["b", "d", ""], ["e", "a", "a"]]))
    out.append(("lookup_multi_hot", [sl, L.Dense(2)], "string", (3,),
                np.array([["a", "z", ""], ["d", "d", "e"]])))

    tf_idf = L.TextVectorization(output_mode="tf_idf", max_tokens=10)
    tf_idf.adapt(np.array(CORPUS))
    out.append(("text_tf_idf", [tf_idf, L.Dense(3)], "string", (1,), np.array(QUERIES)[:, None]))

    given = L.TextVectorization(vocabulary=["the", "cat", "dog", "mat"], output_sequence_length=6)
    out.append(("given_vocabulary", [given, L.Embedding(6, 3), L.GlobalAveragePooling1D(), L.Dense(2)], "string",
                (1,), np.array(QUERIES)[:, None]))

    il = L.IntegerLookup(output_mode="count", num_oov_indices=2)
    il.adapt(np.array([[3, 4, 4], [5, 3, 3], [9, 9, 9]]))
    out.append(("integer_count", [il, L.Dense(2)], "int64", (3,), np.array([[3, 3, 7], [9, 4, 8]])))

    hashing = L.Hashing(num_bins=5, output_mode="one_hot")
    out.append(("hashing_one_hot", [hashing, L.Dense(2)], "string", (1,), np.array([["A"], ["B"], ["café"]])))
    return out


def _keras_predict(chain, x):
    import torch
    for layer in chain:
        x = layer(torch.as_tensor(x) if not isinstance(x, (torch.Tensor,)) and x.dtype.kind in "iuf" else x)
    return x


def save_keras_models(keras, out_dir):
    for name, chain, dtype, shape, x in keras_models(keras):
        inp = keras.Input(shape=shape, dtype=dtype)
        y = inp
        for layer in chain:
            y = layer(y)
        model = keras.Model(inp, y)
        path = os.path.join(out_dir, f"keras_{name}.keras")
        model.save(path)
        expected = _keras_predict(chain, x)
        with open(os.path.join(out_dir, f"keras_{name}.json"), "w") as f:
            json.dump({"inputs": _plain(x), "dtype": dtype, "expected": _plain(expected)}, f)


def glassnet_models():
    """Models glassnet builds, adapts and saves; Keras loads them."""
    import numpy as np
    import glassnet as gn
    from glassnet import layers as L
    gn.utils.set_random_seed(2)
    out = []
    tv = L.TextVectorization(split="character", max_tokens=16)
    tv.adapt(np.array(CORPUS))
    m = gn.Sequential([gn.Input(shape=(1,), dtype="string"), tv, L.Embedding(16, 4, mask_zero=True), L.LSTM(3),
                       L.Dense(2)])
    out.append(("char_lstm", m, np.array(QUERIES)[:, None]))
    tv2 = L.TextVectorization(output_mode="tf_idf", max_tokens=12, ngrams=2)
    tv2.adapt(np.array(CORPUS))
    inp = gn.Input(shape=(1,), dtype="string")
    out.append(("text_tf_idf", gn.Model(inp, L.Dense(3)(tv2(inp))), np.array(QUERIES)[:, None]))
    sl = L.StringLookup(output_mode="count", num_oov_indices=2)
    sl.adapt(np.array([["a", "b", "c"], ["b", "d", "a"]]))
    inp = gn.Input(shape=(3,), dtype="string")
    out.append(("lookup_count", gn.Model(inp, L.Dense(2)(sl(inp))), np.array([["a", "zz", "q"], ["d", "d", "c"]])))
    il = L.IntegerLookup(output_mode="multi_hot", mask_token=0)
    il.adapt(np.array([[3, 4, 4], [5, 3, 0], [9, 9, 9]]))
    inp = gn.Input(shape=(3,), dtype="int64")
    out.append(("integer_multi_hot", gn.Model(inp, L.Dense(2)(il(inp))), np.array([[3, 0, 7], [9, 4, 8]])))
    inp = gn.Input(shape=(2,), dtype="string")
    hashed = L.Hashing(num_bins=6, output_mode="count", mask_value="")
    out.append(("hashing_count", gn.Model(inp, L.Dense(2)(hashed(inp))), np.array([["A", ""], ["café", "B"]])))
    return out


def save_glassnet_models(keras, out_dir):
    import torch
    for name, model, x in glassnet_models():
        path = os.path.join(out_dir, f"glassnet_{name}.keras")
        model.save(path)
        dtype = "int64" if x.dtype.kind in "iu" else "string"
        ours = model(torch.as_tensor(x) if dtype == "int64" else x)
        loaded = keras.saving.load_model(path)
        chain = [layer for layer in loaded.layers if type(layer).__name__ != "InputLayer"]
        theirs = _keras_predict(chain, x)
        assert torch.allclose(torch.as_tensor(theirs), ours, atol=1e-6), (name, theirs, ours)
        with open(os.path.join(out_dir, f"glassnet_{name}.json"), "w") as f:
            json.dump({"inputs": _plain(x), "dtype": dtype, "expected": _plain(theirs)}, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf-site", required=True, help="site-packages of an environment with TensorFlow")
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "text"))
    args = parser.parse_args()
    sys.path.append(args.tf_site)
    sys.path.insert(0, ROOT)
    import keras
    import tensorflow as tf
    os.makedirs(args.out, exist_ok=True)
    results = run_cases(keras)
    manifest = {"keras": keras.__version__, "tensorflow": tf.__version__, "backend": keras.backend.backend(),
                "cases": results}
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=0, ensure_ascii=False)
    save_keras_models(keras, args.out)
    save_glassnet_models(keras, args.out)
    print(f"wrote {len(results)} cases and the model files to {args.out}")


if __name__ == "__main__":
    main()
