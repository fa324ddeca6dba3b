"""MelSpectrogram and STFTSpectrogram against Keras 3 (torch backend): outputs to float32 round-off on random
signals for every mode, window and layout, STFT kernels equal to Keras's initializer, shapes, parameter and
multiply-add formulas against count_params() and torch's flop counter, gradients in float64, trainable and
frozen kernels, configs both ways, Keras files both ways and the errors."""
import copy

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import glassnet as gn
from glassnet import layers
from glassnet.errors import ConfigError, ShapeError
from glassnet.layers import registry

MEL = [
    ("default", {}),
    ("hamming_8k", dict(fft_length=256, sequence_stride=100, sequence_length=200, window="hamming", num_mel_bins=40,
                        sampling_rate=8000, min_freq=50.0, max_freq=3000)),
    ("power_no_window", dict(fft_length=512, power_to_db=False, mag_exp=1.0, window=None)),
    ("top_db_ref", dict(fft_length=128, sequence_stride=64, top_db=20.0, ref_power=2.0, num_mel_bins=32)),
]
STFT = [
    ("log", {}),
    ("magnitude_periodic_spectrum", dict(mode="magnitude", frame_length=50, frame_step=20, fft_length=64,
                                         window="hamming", periodic=True, scaling="spectrum")),
    ("psd_same", dict(mode="psd", padding="same", frame_length=64, frame_step=16)),
    ("real_expanded_no_window", dict(mode="real", expand_dims=True, window=None, scaling=None)),
    ("imag_channels_first", dict(mode="imag", data_format="channels_first", frame_length=32)),
    ("angle_blackman", dict(mode="angle", window="blackman", frame_length=40)),
    ("stft_channels_first_expanded", dict(mode="stft", expand_dims=True, data_format="channels_first",
                                          window="bartlett", frame_length=30, padding="same")),
    ("log_boxcar_odd", dict(mode="log", window="boxcar", frame_length=33, frame_step=7, padding="same")),
    ("magnitude_array_window", dict(mode="magnitude", frame_length=16, frame_step=8,
                                    window=[float(v) for v in np.linspace(0.2, 1.0, 16)])),
]


def _signal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _stft_input(kwargs, batch=2, time=300, channels=3):
    x = _signal((batch, time, channels))
    return x.transpose(0, 2, 1).copy() if kwargs.get("data_format") == "channels_first" else x


@pytest.mark.parametrize("name,kwargs", MEL, ids=[c[0] for c in MEL])
def test_mel_spectrogram_matches_keras(keras, name, kwargs):
    x = _signal((3, 4000))
    ours, theirs = layers.MelSpectrogram(**kwargs), keras.layers.MelSpectrogram(**kwargs)
    out, expected = ours(torch.from_numpy(x)), np.asarray(theirs(x))
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=2e-7 * scale)
    np.testing.assert_allclose(ours(torch.from_numpy(x[1])).numpy(), np.asarray(theirs(x[1])), rtol=0,
                               atol=2e-7 * scale)
    assert tuple(ours.compute_output_shape((None, 4000))) == tuple(theirs.compute_output_shape((None, 4000)))
    assert out.shape[1:] == ours.compute_output_shape((None, 4000))[1:]


def test_mel_filters_match_keras(keras):
    theirs = keras.layers.MelSpectrogram().linear_to_mel_weight_matrix(40, 129, 8000, 125.0, 3800.0)
    ours = layers.preprocessing.audio.mel_weight_matrix(40, 129, 8000, 125.0, 3800.0)
    assert torch.equal(ours, torch.as_tensor(np.asarray(theirs)))


def test_mel_frames_are_what_the_transform_gives(keras):
    """1 + samples // stride frames; Keras's shape rule says (samples + stride + 1) // stride, one too many when
    samples + 1 is a multiple of the stride — glassnet declares what both compute."""
    layer = layers.MelSpectrogram(fft_length=512, sequence_stride=512, num_mel_bins=16)
    assert layer(torch.from_numpy(_signal((2, 1023)))).shape == (2, 16, 2) == layer.compute_output_shape((2, 1023))
    assert np.asarray(keras.layers.MelSpectrogram(fft_length=512, sequence_stride=512, num_mel_bins=16)(
        _signal((2, 1023)))).shape == (2, 16, 2)


@pytest.mark.parametrize("name,kwargs", STFT, ids=[c[0] for c in STFT])
def test_stft_spectrogram_matches_keras(keras, name, kwargs):
    x = _stft_input(kwargs)
    ours, theirs = layers.STFTSpectrogram(**kwargs), keras.layers.STFTSpectrogram(**kwargs)
    out, expected = ours(torch.from_numpy(x)).detach(), np.asarray(theirs(x).detach())
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=2e-6 * max(np.abs(expected).max(), 1.0))
    for w in theirs.weights:  # the Fourier kernels, as Keras's STFT initializer makes them
        np.testing.assert_allclose(getattr(ours, w.name).detach().numpy(), np.asarray(w), rtol=0, atol=1e-7)
    assert ours.compute_output_shape((None, *x.shape[1:])) == theirs.compute_output_shape((None, *x.shape[1:]))
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]


@pytest.mark.parametrize("name,kwargs", STFT, ids=[c[0] for c in STFT])
def test_stft_cost_rule_against_count_params_and_flop_counter(name, kwargs):
    x = _stft_input(kwargs, batch=3)
    inp = gn.Input(x.shape[1:])
    model = gn.Model(inp, layers.STFTSpectrogram(**kwargs)(inp))
    layer = model.layers[-1]
    cost = layer.cost(inp.symbolic_shape, layer.compute_output_shape(inp.symbolic_shape))
    kernels = 1 if kwargs.get("mode") in ("real", "imag") else 2
    assert cost.params_formula == ("2·l·b" if kernels == 2 else "l·b")
    assert cost.params_count() == layer.count_params() == kernels * layer.frame_length * (layer._fft_length // 2 + 1)
    meta = model.to("meta")
    with FlopCounterMode(display=False) as counter:
        meta(torch.empty(x.shape, device="meta"))
    assert 3 * cost.macs_per_sample() == counter.get_total_flops() // 2


def test_mel_cost_rule_against_the_flop_counter():
    """The mel projection's multiply-adds are counted (torch's flop counter sees the matmul, not the FFT)."""
    inp = gn.Input((4000,))
    model = gn.Model(inp, layers.MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=40)(inp))
    layer = model.layers[-1]
    cost = layer.cost((None, 4000), layer.compute_output_shape((None, 4000)))
    assert cost.params_count() == 0 and cost.other_flops is None and "FFT's work is not" in cost.reads
    with FlopCounterMode(display=False) as counter:
        layer(torch.zeros(3, 4000))
    assert 3 * cost.macs_per_sample() == counter.get_total_flops() // 2 == 3 * 32 * 129 * 40


def test_stft_kernels_train_unless_frozen():
    x = torch.from_numpy(_signal((2, 120, 1)))
    layer = layers.STFTSpectrogram(mode="magnitude", frame_length=16, frame_step=8)
    layer(x).sum().backward()
    assert len(layer.trainable_weights) == 2 and all(w.grad is not None and w.grad.abs().sum() > 0
                                                     for w in layer.trainable_weights)
    frozen = layers.STFTSpectrogram(mode="magnitude", frame_length=16, frame_step=8, trainable=False)
    frozen(x)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2
    assert frozen.get_config()["trainable"] is False


def test_gradients_in_float64():
    x = torch.from_numpy(_signal((2, 40, 2)).astype(np.float64)).requires_grad_(True)
    stft = layers.STFTSpectrogram(mode="log", frame_length=8, frame_step=4, dtype="float64")
    stft(x)
    assert torch.autograd.gradcheck(lambda v, r, i: torch.func.functional_call(
        stft, {"real_kernel": r, "imag_kernel": i}, (v,)), (x, stft.real_kernel.detach().clone().requires_grad_(True),
                                                          stft.imag_kernel.detach().clone().requires_grad_(True)))
    signal = torch.from_numpy(_signal((2, 300)).astype(np.float64)).requires_grad_(True)
    mel = layers.MelSpectrogram(fft_length=64, sequence_stride=32, num_mel_bins=8, power_to_db=False, dtype="float64")
    assert torch.autograd.gradcheck(mel, (signal,))


def _comparable(config):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items() if k not in ("name", "dtype")}


@pytest.mark.parametrize("factory", [lambda L: L.MelSpectrogram(fft_length=256, window=None, max_freq=4000.0),
                                     lambda L: L.STFTSpectrogram("psd", 64, 16, 128, "hamming", True, "spectrum",
                                                                 "same", True, "channels_first")])
def test_configs_read_both_ways(keras, factory):
    g, k = factory(layers), factory(keras.layers)
    g_config, k_config = g.get_config(), k.get_config()
    assert set(g_config) == set(k_config)
    assert _comparable(type(k).from_config(copy.deepcopy(g_config)).get_config()) == _comparable(k_config)
    ours = registry.deserialize({"class_name": type(k).__name__, "config": copy.deepcopy(k_config)})
    assert _comparable(ours.get_config()) == _comparable(g_config)


def test_keras_files_both_ways(keras, tmp_path):
    """A model with both layers and trained (non-Fourier) kernels: Keras saves, glassnet loads and predicts the
    same, and the reverse."""
    rng = np.random.default_rng(1)
    wave, sig = keras.Input((2000,)), keras.Input((400, 2))
    mel = keras.layers.MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=16)(wave)
    mel = keras.layers.Flatten()(mel)
    spec = keras.layers.Flatten()(keras.layers.STFTSpectrogram(mode="magnitude", frame_length=32, frame_step=16)(sig))
    km = keras.Model([wave, sig], keras.layers.Dense(3)(keras.layers.Concatenate()([mel, spec])))
    for v in km.weights:
        v.assign((np.asarray(v) + rng.standard_normal(tuple(v.shape)) * 0.05).astype(np.float32))
    x = [_signal((2, 2000), 3), _signal((2, 400, 2), 4)]
    expected = km.predict(x, verbose=0)
    km.save(tmp_path / "k.keras")
    g = gn.load_model(tmp_path / "k.keras")
    assert g.count_params() == km.count_params()
    np.testing.assert_allclose(g.predict(x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    g.save(tmp_path / "g.keras")
    k2 = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(k2.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_errors():
    with pytest.raises(ConfigError, match=r"MelSpectrogram 'mel_spectrogram\w*' needs fft_length >= sequence_length. "
                                          r"Received: sequence_length=300, fft_length=256"):
        layers.MelSpectrogram(fft_length=256, sequence_length=300)
    with pytest.raises(ConfigError, match=r"the `window` argument must be one of 'hann', 'hamming', None. "
                                          r"Received: window='blackman'"):
        layers.MelSpectrogram(window="blackman")
    with pytest.raises(ShapeError, match=r"expects raw audio \(batch, samples\) or \(samples,\). "
                                         r"Received: input shape \(2, 3, 400\)"):
        layers.MelSpectrogram()(torch.zeros(2, 3, 400))
    with pytest.raises(ConfigError, match=r"STFTSpectrogram 'stft_spectrogram\w*' needs frame_step <= frame_length. "
                                          r"Received: frame_step=300, frame_length=256"):
        layers.STFTSpectrogram(frame_step=300)
    with pytest.raises(ConfigError, match=r"the `window` argument must be one of 'hann', 'hamming', 'blackman', "
                                          r"'bartlett', 'boxcar'. Received: window='kaiser'"):
        layers.STFTSpectrogram(window="kaiser")
    with pytest.raises(ConfigError, match=r"the `mode` argument must be one of 'log'"):
        layers.STFTSpectrogram(mode="power")
    with pytest.raises(ShapeError, match=r"STFTSpectrogram 'stft_spectrogram\w*' expects input of rank 3 "
                                         r"\(batch, time, channels\)"):
        layers.STFTSpectrogram()(gn.Input((400,)))
