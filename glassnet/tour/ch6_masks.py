"""Chapter 6: Masking against Embedding(mask_zero=True) — names → gender, and padded sunspot windows."""
from __future__ import annotations

import numpy as np
import torch

from .. import layers
from ..analysis import analyze
from ..models import Input, Sequential
from ..utils import set_random_seed
from . import data
from .common import EpochLines, balanced_accuracy, plt, split_indices

TITLE = "Masking against Embedding(mask_zero=True)"
QUESTION = ("How does a Masking layer differ from Embedding(mask_zero=True)? Does padding change what an LSTM "
            "computes, and how do I see where the mask goes?")
PAD = -1.0  # sunspot numbers are ≥ 0 and some years are exactly 0, so the padding value must be negative
LETTERS = list("abcdefghijklmnopqrstuvwxyz")


def name_model(length: int | None, tail: list | None = None, name: str = "names_to_gender") -> Sequential:
    """Names (strings) → gender: a character-level TextVectorization (letters → ids 2–27, 1 for any other
    character, 0 pads to ``length`` or, when None, to the longest name of the batch), then ``tail`` (by default
    new Embedding(mask_zero=True) → LSTM → Dense layers; pass a trained model's to share them)."""
    tail = tail or [layers.Embedding(len(LETTERS) + 2, 16, mask_zero=True, name="letters"),
                    layers.LSTM(32, name="lstm"), layers.Dense(1, activation="sigmoid", name="is_male")]
    chars = layers.TextVectorization(standardize=None, split="character", vocabulary=LETTERS,
                                     output_sequence_length=length, name="characters")
    return Sequential([Input((), dtype="string"), chars, *tail], name=name)


def window_model(length: int) -> Sequential:
    return Sequential([Input((None, 1)), layers.Masking(mask_value=PAD, name="masking"),
                       layers.LSTM(16, name="lstm"), layers.Dense(1, name="forecast")], name="padded_windows")


def mask_flow(ch, model, title: str) -> None:
    rows = [[r.name, r.type, r.output_shape, r.mask_in or "—", r.mask_out or "—", r.mask_effect]
            for r in analyze(model).rows]
    ch.table(["Layer", "Type", "Output shape", "Mask in", "Mask out", "What it does to the mask"], rows, title=title,
             right=set())


def same_as_unpadded(model, padded, pieces: list, alone_model=None) -> float:
    """The largest difference between the padded batch's outputs and each sequence run alone, unpadded (by
    ``alone_model`` when given: the same layers, reading one name without padding)."""
    alone_model = alone_model or model
    with torch.no_grad():
        batch = model(torch.as_tensor(padded) if isinstance(padded, np.ndarray) and padded.dtype.kind == "f"
                      else padded)
        alone = torch.cat([alone_model(torch.as_tensor(p[None]) if isinstance(p, np.ndarray) else [p])
                           for p in pieces])
    return float((batch - alone).abs().max())


def run(ch, quick: bool) -> None:
    ch.table(["", "Embedding(V+1, d, mask_zero=True)", "Masking(mask_value=v)"],
             [["input", "integer ids (batch, T)", "float features (batch, T, f)"],
              ["a step is padding when", "its id is 0", "all its f features equal v"],
              ["consequence", "id 0 is reserved: a vocabulary of V needs input_dim V+1", "v must never occur as real data"],
              ["output at padded steps", "the embedding of id 0 (ignored downstream)", "zeros"],
              ["the mask goes to", "every later layer that accepts one, until one consumes it", "the same"]],
             title="Where each mask comes from", right=set())

    # ------------------------------------------------------------------ names → gender
    names, gender = data.first_names()
    both = len(set(n for n, g in zip(names, gender) if g == 1) & set(n for n, g in zip(names, gender) if g == 0))
    texts = np.array(names)
    longest = max(len(n) for n in names)
    train, test = split_indices(len(names), 0.2, seed=0, labels=gender)
    n_male, n_female = int(gender.sum()), int((gender == 0).sum())
    ch.say(f"Data: the names package's census first names, {n_male:,} male and {n_female:,} female ({both} names are "
           f"in both lists, once with each label). The model reads the names as strings: its "
           f"TextVectorization(split='character') turns letters into ids 2–27 (1 is its out-of-vocabulary id) and "
           f"pads every name with 0 to {longest} letters, in Python before the torch graph. {len(train):,} names "
           f"train, {len(test):,} test (stratified).")
    set_random_seed(0)
    model = name_model(longest)
    mask_flow(ch, model, "Mask flow from gn.analyze: Embedding creates the mask, the LSTM consumes it")
    weights = {0: len(train) / (2 * np.sum(gender[train] == 0)), 1: len(train) / (2 * np.sum(gender[train] == 1))}
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    epochs = 5 if quick else 20
    log = EpochLines(ch.echo, "names", every=max(1, epochs // 5))
    with ch.work(model, (64,)):
        model.fit(texts[train], gender[train, None].astype(np.float32), batch_size=64, epochs=epochs, verbose=0,
                  class_weight=weights, callbacks=[log])
        prob = model.predict(texts[test], verbose=0)[:, 0]
    pred = (prob > 0.5).astype(np.int64)
    acc, bal = float(np.mean(pred == gender[test])), balanced_accuracy(gender[test], pred)
    majority = float(np.mean(gender[test] == 0))
    ch.table(["Predictor", "Accuracy", "Balanced accuracy"],
             [["always 'female' (the majority class)", f"{majority:.4f}", "0.5000"],
              [f"Embedding(mask_zero) → LSTM(32), {epochs} epochs, class-weighted", f"{acc:.4f}", f"{bal:.4f}"]],
             title=f"Names → gender on {len(test):,} test names (balanced accuracy = mean of per-class recall)")
    ch.record("names", {"male": n_male, "female": n_female, "in_both_lists": both, "test_accuracy": acc,
                        "test_balanced_accuracy": bal, "majority_accuracy": majority, "epochs": epochs})
    ch.target("names → gender balanced accuracy", bal, "> 0.5 (the majority-class baseline)", bal > 0.5)

    sample = test[:40]
    pieces = [names[i] for i in sample]
    tail = model.layers[1:]  # the trained Embedding, LSTM and Dense, read through other paddings below
    unpadded = name_model(None, tail, name="names_unpadded")  # one name alone: no padding at all
    diff = same_as_unpadded(model, texts[sample], pieces, unpadded)
    diff_longer = same_as_unpadded(name_model(20, tail, name="names_padded_to_20"), texts[sample], pieces, unpadded)
    ch.check("the masked model gives each name the output it gives the name alone, unpadded, however long the "
             "padding", max(diff, diff_longer) <= 1e-5, f"largest difference {max(diff, diff_longer):.2e} over "
                                                         f"{len(sample)} test names padded to {longest} and to 20")

    # ------------------------------------------------------------------ padded sunspot windows
    years, spots = data.sunspots()
    series = spots / 100.0
    length = 16
    zeros = int(np.sum(spots == 0))
    rng = np.random.default_rng(0)
    targets = np.arange(length, len(series))
    lengths = rng.integers(4, length + 1, size=len(targets))
    padded = np.full((len(targets), length, 1), PAD, np.float32)
    for k, (t, n) in enumerate(zip(targets, lengths)):
        padded[k, length - n:, 0] = series[t - n:t]
    y = series[targets][:, None].astype(np.float32)
    cut = int(len(targets) * 0.8)
    zero_trap = layers.Masking(mask_value=0.0).compute_mask(torch.as_tensor(padded))
    real = torch.as_tensor(padded[..., 0] != PAD)
    lost = int((real & ~zero_trap).sum())
    ch.say(f"Sunspot windows of 4–{length} years (random lengths) predict the next year; each is padded at the front "
           f"to {length} steps with {PAD}. Why not pad with 0, Keras's default mask_value? {zeros} years had no "
           f"sunspots at all: Masking(0.0) would silently drop {lost} real observations from these windows.")
    set_random_seed(1)
    wmodel = window_model(length)
    mask_flow(ch, wmodel, "Mask flow from gn.analyze: Masking creates the mask from the values, the LSTM consumes it")
    wmodel.compile(optimizer="adam", loss="mse")
    wepochs = 15 if quick else 80
    log = EpochLines(ch.echo, "windows", every=max(1, wepochs // 4))
    with ch.work(wmodel, (16, length, 1)):
        wmodel.fit(padded[:cut], y[:cut], batch_size=16, epochs=wepochs, verbose=0, callbacks=[log])
        pred = wmodel.predict(padded[cut:], verbose=0)[:, 0] * 100
    mse = float(np.mean((pred - spots[targets[cut:]]) ** 2))
    naive = float(np.mean((spots[targets[cut:] - 1] - spots[targets[cut:]]) ** 2))
    ch.table(["Predictor", "Test MSE"], [["naive: repeat the last year", f"{naive:,.1f}"],
                                         [f"Masking → LSTM(16), {wepochs} epochs", f"{mse:,.1f}"]],
             title=f"Variable-length windows, test years {years[targets[cut]]}–{years[-1]}")
    ch.record("windows", {"zero_years": zeros, "observations_lost_to_mask_value_0": lost, "test_mse": mse,
                          "naive_test_mse": naive, "epochs": wepochs})
    pieces = [padded[k][length - lengths[k]:] for k in range(cut, min(cut + 30, len(targets)))]
    diff_w = same_as_unpadded(wmodel, padded[cut:cut + len(pieces)], pieces)
    ch.check("each padded window gives the output of the same window run alone, unpadded", diff_w <= 1e-5,
             f"largest difference {diff_w:.2e} over {len(pieces)} test windows")
    ch.record("masked_vs_unpadded_max_abs_diff", {"names": max(diff, diff_longer), "windows": diff_w})

    pyplot = plt()
    fig, (a, b) = pyplot.subplots(1, 2, figsize=(12, 3.4))
    lengths_by = [[len(n) for n, g in zip(names, gender) if g == k] for k in (0, 1)]
    a.hist(lengths_by, bins=np.arange(1.5, longest + 1.5), label=["female", "male"], density=True)
    a.set_xlabel(f"letters in the name (the rest of the {longest} steps are masked)")
    a.set_title("How much of each padded name is real")
    a.legend()
    b.bar(["majority\naccuracy", "LSTM\naccuracy", "majority\nbalanced", "LSTM\nbalanced"],
          [majority, acc, 0.5, bal], color=["tab:gray", "tab:blue", "tab:gray", "tab:blue"])
    b.set_ylim(0, 1)
    b.set_title("Names → gender on test names")
    ch.plot(fig, "Left: name lengths, so the share of padding the mask hides. Right: accuracy and balanced accuracy "
                 "against always guessing the majority class.")
