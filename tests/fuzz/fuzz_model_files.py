"""Fuzz the model-file readers: every mutated ``.keras``, ``.h5`` or ``.glassnet`` file must either load
or raise ``FileFormatError`` — no other exception, no hang, no memory blow-up.

Short runs are part of the test suite (tests/fuzz/test_fuzz.py). A longer run:

    python tests/fuzz/fuzz_model_files.py --seconds 900

Mutations: random byte flips, truncation, byte insertions and deletions on the raw file; on the JSON
config inside, replacing, deleting or retyping values (huge sizes, negative numbers, wrong types, deep
nesting, unknown classes); and HDF5 and zip features a valid file may hold but a model file must not
(tests/fuzz/hostile.py): external storage, virtual datasets, external and soft links, inflating and
oversized chunks, duplicate zip members — each on a random container, weight and target.
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import os
import random
import signal
import sys
import tempfile
import time
import zipfile


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import glassnet as gn  # noqa: E402
from glassnet import layers  # noqa: E402

import hostile  # noqa: E402


def seed_files(folder: str) -> list[str]:
    """Valid files of every kind to mutate."""
    gn.utils.set_random_seed(0)
    inp = gn.Input((None,), dtype="int64")
    x = layers.Embedding(12, 4, mask_zero=True)(inp)
    x = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(x)
    x = layers.GlobalAveragePooling1D()(x)
    seq_model = gn.Model(inp, layers.Dense(2)(x))
    cnn = gn.Sequential([gn.Input((8, 8, 2)), layers.Conv2D(3, 3), layers.BatchNormalization(),
                         layers.GlobalMaxPooling2D(), layers.Dense(2)])
    paths = []
    for i, model in enumerate((seq_model, cnn)):
        for ext in (".keras", ".h5", ".glassnet"):
            p = os.path.join(folder, f"seed{i}{ext}")
            model.save(p)
            paths.append(p)
    return paths


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        b = b[: rng.randrange(len(b))]
    elif kind == 2:
        i = rng.randrange(len(b))
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    else:
        i = rng.randrange(len(b))
        del b[i:i + rng.randint(1, 64)]
    return bytes(b)


_NASTY = [None, -1, 0, 10**12, 2**31, 3.5, "x", "", [], {}, [None] * 3, {"class_name": "Nope"}, True,
          [10**9, 10**9], {"class_name": "__lambda__", "config": {"code": "AAAA"}}]


def _mutate_json(obj, rng: random.Random):
    """Replace, delete or retype one value somewhere in the config."""
    path = []
    node = obj
    while isinstance(node, (dict, list)) and node and rng.random() < 0.85:
        key = rng.choice(list(node.keys())) if isinstance(node, dict) else rng.randrange(len(node))
        path.append((node, key))
        node = node[key]
    if not path:
        return obj
    parent, key = path[-1]
    r = rng.random()
    if r < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif r < 0.25:
        parent[key] = "__DEEP__"  # replaced by deeply nested brackets in the JSON text
    else:
        parent[key] = copy.deepcopy(rng.choice(_NASTY))
    return obj


def _mutate_config_in_zip(data: bytes, rng: random.Random) -> bytes:
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            content = zin.read(name)
            if name == "config.json":
                cfg = json.loads(content)
                for _ in range(rng.randint(1, 3)):
                    cfg = _mutate_json(cfg, rng)
                depth = rng.choice([5, 50, 5000])
                content = json.dumps(cfg).replace('"__DEEP__"', "[" * depth + "]" * depth).encode()
            zout.writestr(name, content)
    return out.getvalue()


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang("loading took longer than the per-file limit")


def _hdf5_feature(folder: str, rng: random.Random) -> tuple[str, str]:
    """A valid file with one hostile HDF5 or zip feature, chosen at random: (path, loader)."""
    container = rng.choice(["weights", "keras", "legacy"])
    sub = tempfile.mkdtemp(dir=folder)
    kind = rng.randrange(7)
    if kind == 0:
        target = rng.choice([None, "/etc/passwd", "/proc/self/environ", "../" * rng.randint(1, 6) + "etc/hostname"])
        path = hostile.external_storage(sub, container, target=target)
    elif kind == 1:
        path = hostile.virtual_dataset(sub, container, missing_source=rng.random() < 0.5)
    elif kind == 2:
        path = hostile.linked(sub, container, rng.choice(["external", "soft"]),
                              whole_group=container == "legacy" and rng.random() < 0.5)
    elif kind == 3:
        path = hostile.chunk_bomb(sub, container, inflated_bytes=rng.choice([49, 4096, 1 << 20, 64 << 20]))
    elif kind == 4:
        path = hostile.oversized_chunk(sub, container)
    elif kind == 5:
        path = hostile.duplicate_member(sub, rng.choice(["keras", "glassnet"]))
    else:
        path = hostile.safetensors_zero_bomb(sub, inflated_bytes=rng.choice([1 << 20, 64 << 20]))
    return path, "weights" if path.endswith(".weights.h5") else "model"


def check_one(path: str, data: bytes | None, folder: str, limit_s: int = 10, loader: str = "model") -> str:
    """Load mutated bytes (or the file at ``path`` when ``data`` is None); return 'loaded' or 'refused';
    raise anything else (a hang included)."""
    if data is None:
        target = path
    else:
        target = os.path.join(folder, "mutant" + os.path.splitext(path)[1])
        with open(target, "wb") as f:
            f.write(data)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit_s)
    try:
        model = hostile.load(target, loader)
    except gn.FileFormatError as exc:
        if isinstance(exc.__cause__, Hang):
            raise exc.__cause__
        return "refused"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    # a loaded model must be usable
    model.count_params()
    return "loaded"


def run(seconds: float = 10.0, seed: int = 0, max_cases: int | None = None) -> dict:
    rng = random.Random(seed)
    outcomes = {"loaded": 0, "refused": 0}
    with tempfile.TemporaryDirectory() as folder:
        seeds = seed_files(folder)
        originals = {p: open(p, "rb").read() for p in seeds}
        start = time.time()
        n = 0
        while time.time() - start < seconds and (max_cases is None or n < max_cases):
            path = rng.choice(seeds)
            data = originals[path]
            loader = "model"
            if rng.random() < 0.15:
                path, loader = _hdf5_feature(folder, rng)
                mutant = None
            elif zipfile.is_zipfile(io.BytesIO(data)) and rng.random() < 0.5:
                mutant = _mutate_config_in_zip(data, rng)
            else:
                mutant = _mutate_bytes(data, rng)
            if os.environ.get("FUZZ_TRACE") and mutant is not None:
                with open(os.environ["FUZZ_TRACE"] + os.path.splitext(path)[1], "wb") as f:
                    f.write(mutant)
                print(n, os.path.basename(path), file=sys.stderr, flush=True)
            try:
                outcomes[check_one(path, mutant, folder, loader=loader)] += 1
            except Exception as exc:
                bad = os.path.join(os.getcwd(), "fuzz-failure" + os.path.splitext(path)[1])
                with open(bad, "wb") as f:
                    f.write(mutant if mutant is not None else open(path, "rb").read())
                raise AssertionError(f"{type(exc).__name__} escaped for a mutant of {os.path.basename(path)} "
                                     f"(saved as {bad}): {exc}") from exc
            n += 1
    outcomes["cases"] = n
    return outcomes


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import warnings
    warnings.simplefilter("ignore")  # loaders note converted dtypes; the run counts outcomes
    print(run(args.seconds, args.seed))
