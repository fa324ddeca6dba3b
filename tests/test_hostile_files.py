"""Hostile files, round two: each attack is a valid file plus one hostile change (tests/fuzz/hostile.py),
refused with FileFormatError naming the file before anything is read from elsewhere or allocated; and every
loader on every hostile file in a child process under an address-space limit and a timeout."""
import json
import os
import resource
import stat
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import glassnet as gn
from glassnet import layers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))
import hostile  # noqa: E402

CONTAINERS = ["weights", "keras", "legacy"]


def _refused(path, loader, match):
    with pytest.raises(gn.FileFormatError, match=match) as info:
        hostile.load(path, loader)
    assert os.path.basename(path) in str(info.value)
    return info.value


def _loader(path):
    return "weights" if str(path).endswith(".weights.h5") else "model"


@pytest.mark.parametrize("container", CONTAINERS)
def test_external_storage_never_reads_a_host_file(tmp_path, container):
    path = hostile.external_storage(str(tmp_path), container)
    err = _refused(path, _loader(path), r"keeps its data in an external file \('.*secret\.bin'\); refused")
    assert "host secret" not in str(err)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../etc/passwd"])
def test_external_storage_with_absolute_or_relative_paths(tmp_path, target):
    path = hostile.external_storage(str(tmp_path), "legacy", target=target)
    _refused(path, "model", "keeps its data in an external file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need POSIX")
def test_external_storage_on_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = str(tmp_path / "pipe")
    os.mkfifo(fifo)
    path = hostile.external_storage(str(tmp_path), "weights", target=fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    _refused(path, "weights", "keeps its data in an external file")


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("missing", [False, True], ids=["source", "missing_source"])
def test_virtual_datasets_are_refused(tmp_path, container, missing):
    path = hostile.virtual_dataset(str(tmp_path), container, missing_source=missing)
    _refused(path, _loader(path), "is a virtual dataset")


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("kind", ["external", "soft"])
def test_links_on_the_path_to_a_weight_are_refused(tmp_path, container, kind):
    path = hostile.linked(str(tmp_path), container, kind)
    _refused(path, _loader(path), f"is reached through an? {kind} link|a link to elsewhere")


def test_a_whole_layer_group_as_an_external_link_is_refused(tmp_path):
    path = hostile.linked(str(tmp_path), "legacy", "external", whole_group=True)
    _refused(path, "model", r"reached through an external link \('dense'\)|'dense' is a link to elsewhere")


@pytest.mark.parametrize("container", CONTAINERS)
def test_a_deflated_chunk_that_inflates_past_its_size_is_refused(tmp_path, container):
    path = hostile.chunk_bomb(str(tmp_path), container)
    _refused(path, _loader(path), "has a deflated chunk that inflates beyond its 48 bytes")


@pytest.mark.parametrize("container", CONTAINERS)
def test_chunks_larger_than_the_weight_are_refused(tmp_path, container):
    path = hostile.oversized_chunk(str(tmp_path), container)
    _refused(path, _loader(path), r"of shape \(4, 3\) is stored in chunks of \(1024, 1024\)")


@pytest.mark.parametrize("container", CONTAINERS)
def test_big_endian_float64_weights_load_converted(tmp_path, container):
    reference = hostile.small_model()
    path = hostile.big_endian_float64(str(tmp_path), container)
    with pytest.warns(gn.GlassnetWarning, match=r"stored as torch.float64 and is rounded to the model's torch.float32"):
        model = hostile.load(path, _loader(path))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fmt", ["keras", "glassnet"])
def test_duplicate_zip_members_are_refused(tmp_path, fmt):
    path = hostile.duplicate_member(str(tmp_path), fmt)
    _refused(path, "model", r"several members named \['config.json'\]")


def test_a_safetensors_member_inflating_to_a_gigabyte_is_refused_at_once(tmp_path):
    path = hostile.safetensors_zero_bomb(str(tmp_path), inflated_bytes=256 << 20)
    assert os.path.getsize(path) < 2 << 20
    _refused(path, "model", "'model.safetensors' (claims|holds more than)")


def test_a_config_of_brackets_is_refused_before_parsing(tmp_path):
    path = hostile.json_bracket_bomb(str(tmp_path), mb=12)
    _refused(path, "model", r"'config.json' holds [\d,]+ lists and objects")


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex64])
def test_non_float_safetensors_weights_are_refused(tmp_path, dtype):
    path = hostile.safetensors_dtype(str(tmp_path), dtype)
    _refused(path, "model", rf"weight 'layers/dense/vars/0' is stored as {dtype}, not as a float")


@pytest.mark.parametrize("dtype,change", [(torch.float16, "widened"), (torch.float64, "rounded")])
def test_other_float_widths_load_with_a_note(tmp_path, dtype, change):
    path = hostile.safetensors_dtype(str(tmp_path), dtype)
    with pytest.warns(gn.GlassnetWarning, match=f"stored as {dtype} and is {change} to the model's torch.float32"):
        model = gn.load_model(path)
    assert model.layers[0].kernel.dtype == torch.float32


@pytest.mark.parametrize("name", ["a\x00b", "tab\there", "top_level_model_weights", "model_weights"])
def test_layer_names_that_break_file_paths_are_refused_at_creation(name):
    with pytest.raises(gn.ConfigError, match="layer name"):
        layers.Dense(2, name=name)


# ---------------------------------------------------------------------- every loader, bounded
CHILD = textwrap.dedent("""
    import json, os, resource, signal, sys, traceback
    sys.path.insert(0, sys.argv[2])
    import warnings
    warnings.simplefilter("ignore")
    import torch, h5py, glassnet as gn
    import hostile
    base = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = base + (1 << 30)          # a 1 GiB address-space budget on top of what the interpreter holds
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def alarm(*_):
        raise TimeoutError("over 20 s")
    signal.signal(signal.SIGALRM, alarm)
    for name, path, loader in json.loads(sys.argv[1]):
        signal.alarm(20)
        try:
            hostile.load(path, loader)
            outcome = "loaded"
        except gn.FileFormatError as exc:
            outcome = "refused"
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            signal.alarm(0)
        print(json.dumps([name, outcome]), flush=True)
""")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the address space from /proc")
def test_every_loader_on_every_hostile_file_within_memory_and_time(tmp_path):
    attacks = hostile.all_attacks(str(tmp_path))
    assert len(attacks) >= 25
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(here), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(attacks), os.path.join(here, "fuzz")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcomes = dict(json.loads(line) for line in proc.stdout.splitlines() if line.startswith("["))
    assert set(outcomes) == {name for name, _, _ in attacks}
    assert {name: o for name, o in outcomes.items() if o != "refused"} == {}


# ---------------------------------------------------------------------- checkpoints
def _checkpoint(tmp_path):
    x = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    y = x[:, :2] * 0.5
    model = hostile.small_model()
    model.compile("adam", "mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / "ckpt.glassnet")
    model.save(path, _training_state=True)
    return path, x, y


def _damage(path, edit_meta=None, edit_tensors=None):
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if edit_meta:
        meta = json.loads(members["training.json"])
        members["training.json"] = json.dumps(edit_meta(meta)).encode()
    if edit_tensors:
        tensors = st_load(members["training.safetensors"])
        edit_tensors(tensors)
        members["training.safetensors"] = st_save(tensors)
    out = path.replace("ckpt", "bad")
    with zipfile.ZipFile(out, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    return out


def _set(d, key, value):
    d[key] = value
    return d


def _first_state(tensors):
    """The first per-parameter optimizer state tensor (Adam's first moment)."""
    return next(k for k in sorted(tensors) if k.startswith("optimizer/") and tensors[k].numel() > 1)


DAMAGES = {
    "negative_epoch": (lambda m: _set(m, "epoch", -5), None, "epoch -5"),
    "epoch_text": (lambda m: _set(m, "epoch", "3"), None, "epoch '3'"),
    "huge_epoch": (lambda m: _set(m, "epoch", 10**15), None, "epoch 1000000000000000"),
    "not_an_object": (lambda m: [m], None, "training.json is not an object"),
    "other_optimizer": (lambda m: (m["optimizer"].__setitem__("class", "SGD"), m)[1], None, "optimizer is 'SGD'"),
    "groups_missing": (lambda m: (m["optimizer"].pop("param_groups"), m)[1], None, "no list of param_groups"),
    "too_many_groups": (lambda m: (m["optimizer"]["param_groups"].append(m["optimizer"]["param_groups"][0]), m)[1],
                        None, "groups do not match"),
    "lr_text": (lambda m: (m["optimizer"]["param_groups"][0].__setitem__("lr", "fast"), m)[1], None,
                "optimizer setting lr='fast'"),
    "lr_nan": (lambda m: (m["optimizer"]["param_groups"][0].__setitem__("lr", float("nan")), m)[1], None,
               "optimizer setting lr=nan"),
    "scalar_text": (lambda m: (m["optimizer"].__setitem__("scalars", {"0/step": "x"}), m)[1], None,
                    "optimizer scalar '0/step' is 'x'"),
    "scalar_unknown_param": (lambda m: (m["optimizer"].__setitem__("scalars", {"99/step": 1.0}), m)[1], None,
                             "optimizer scalar '99/step' names no parameter"),
    "state_wrong_shape": (None, lambda t: t.__setitem__(_first_state(t), torch.zeros(7)), "has shape \\(7,\\)"),
    "state_nan": (None, lambda t: t[_first_state(t)].fill_(float("nan")), "holds NaN or infinite values"),
    "state_int": (None, lambda t: t.__setitem__(_first_state(t), torch.zeros(t[_first_state(t)].shape,
                                                                              dtype=torch.uint8)), "has dtype torch.uint8"),
    "state_unknown_param": (None, lambda t: t.__setitem__("optimizer/99/momentum", torch.zeros(3)),
                            "'optimizer/99/momentum' names no parameter"),
    "rng_wrong_size": (None, lambda t: t.__setitem__("rng/torch", torch.zeros(10, dtype=torch.uint8)),
                       "random-generator state"),
    "rng_wrong_dtype": (None, lambda t: t.__setitem__("rng/torch", t["rng/torch"].float()), "random-generator state"),
}


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_a_damaged_checkpoint_is_refused_before_anything_changes(tmp_path, case):
    path, x, y = _checkpoint(tmp_path)
    edit_meta, edit_tensors, match = DAMAGES[case]
    bad = _damage(path, edit_meta, edit_tensors)
    model = hostile.small_model()
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    before = [w.copy() for w in model.get_weights()]
    state_before = {k: v.clone() for k, v in model.optimizer.state_dict()["state"][0].items()}
    with pytest.raises(gn.FileFormatError, match=match) as info:
        model.fit(x, y, epochs=5, batch_size=8, verbose=0, resume_from=bad)
    assert "bad.glassnet" in str(info.value)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    for k, v in model.optimizer.state_dict()["state"][0].items():
        torch.testing.assert_close(v, state_before[k])


def test_a_valid_checkpoint_still_resumes(tmp_path):
    path, x, y = _checkpoint(tmp_path)
    model = hostile.small_model()
    model.compile("adam", "mse")
    h = model.fit(x, y, epochs=3, batch_size=8, verbose=0, resume_from=path)
    assert h.epoch == [2]


def test_stale_temporaries_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    target = tmp_path / "m.glassnet"
    dead_pid = 2 ** 22 + 12345
    while True:
        try:
            os.kill(dead_pid, 0)
            dead_pid += 1
        except ProcessLookupError:
            break
    stale = tmp_path / f".tmp-{dead_pid}-abcd-m.glassnet"
    stale.write_bytes(b"half a file")
    alive = tmp_path / f".tmp-{os.getppid()}-efgh-m.glassnet"  # a living process's: kept
    alive.write_bytes(b"in progress")
    other = tmp_path / f".tmp-{dead_pid}-ijkl-other.glassnet"  # another target's: kept
    other.write_bytes(b"x")
    hostile.small_model().save(target)
    assert not stale.exists() and alive.exists() and other.exists() and target.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-") and str(os.getpid()) in p]
