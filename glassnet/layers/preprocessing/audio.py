"""Audio preprocessing as Keras 3 computes it on its torch backend: MelSpectrogram (``torch.stft``, a mel
filter bank, decibels) and STFTSpectrogram (the short-time Fourier transform as a strided 1-D convolution with
Fourier kernels, which are weights and train with the model unless the layer is frozen).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ... import checks
from ...dims import conv_output_length, is_fixed
from ...errors import ConfigError, ShapeError
from ...formula import prod, sym
from ..base import Layer
from ..conv import pad_input, spatial_pads
from ..cost import Cost, per_sample

__all__ = ["MelSpectrogram", "STFTSpectrogram", "mel_weight_matrix", "stft_kernel"]

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0
_EPSILON = 1e-7  # keras.config.epsilon()


def _number(owner, name, value, low=None, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (positive and value <= 0) \
            or (low is not None and value < low):
        what = "a positive number" if positive else "a number" if low is None else f"a number >= {low:g}"
        raise ConfigError(f"{checks.owner_text(owner)}: the `{name}` argument must be {what}. "
                          f"Received: {name}={value!r}")
    return value


def _linspace(start: torch.Tensor, stop: torch.Tensor, num: int) -> torch.Tensor:
    """Keras's torch ``linspace`` for tensor ends: ``start + (arange(num) / (num - 1))·(stop - start)``."""
    steps = torch.arange(num, dtype=start.dtype) / (num - 1)
    return start[None] + steps * (stop - start)[None]


def _hertz_to_mel(frequencies: torch.Tensor) -> torch.Tensor:
    return _MEL_HIGH_FREQUENCY_Q * torch.log(1.0 + frequencies / _MEL_BREAK_FREQUENCY_HERTZ)


def mel_weight_matrix(num_mel_bins: int, num_spectrogram_bins: int, sampling_rate: float, lower_edge_hertz: float,
                      upper_edge_hertz: float) -> torch.Tensor:
    """Keras's (and TensorFlow's) ``linear_to_mel_weight_matrix``: ``(num_spectrogram_bins, num_mel_bins)``
    triangular filters, evenly spaced on the mel scale, the DC bin left out — computed in float32 in Keras's
    order."""
    f32 = torch.float32
    zero = torch.tensor(0.0, dtype=f32)
    nyquist = torch.tensor(float(sampling_rate), dtype=f32) / 2.0
    linear = _linspace(zero, nyquist, num_spectrogram_bins)[1:]
    bins_mel = _hertz_to_mel(linear).unsqueeze(1)
    edges = _linspace(_hertz_to_mel(torch.tensor(float(lower_edge_hertz), dtype=f32)),
                      _hertz_to_mel(torch.tensor(float(upper_edge_hertz), dtype=f32)), num_mel_bins + 2)
    lower, center, upper = (edges[i:i + num_mel_bins].reshape(1, num_mel_bins) for i in range(3))
    lower_slopes = (bins_mel - lower) / (center - lower)
    upper_slopes = (upper - bins_mel) / (upper - center)
    weights = torch.maximum(zero, torch.minimum(lower_slopes, upper_slopes))
    return F.pad(weights, (0, 0, 1, 0))


class MelSpectrogram(Layer):
    """Raw audio ``(batch, samples)`` (or ``(samples,)``) → a mel spectrogram ``(batch, num_mel_bins, frames)``,
    ``frames = 1 + samples // sequence_stride``.

    Frames of ``sequence_length`` samples (centred, the signal reflected at its ends) every ``sequence_stride``
    samples are windowed (``"hann"``, ``"hamming"`` or None), Fourier-transformed to ``fft_length`` points, their
    magnitudes raised to ``mag_exp``, projected on ``num_mel_bins`` triangular mel filters between ``min_freq``
    and ``max_freq`` (default: half the sampling rate) and, with ``power_to_db``, converted to decibels relative
    to ``ref_power``, floored at ``min_power`` and clipped ``top_db`` below the largest value of the whole batch
    (as Keras does). No weights; active at inference.

    Example:
        >>> layers.MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=40)(gn.Input((16000,))).shape
        (None, 40, 126)
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True, top_db=80.0,
                 mag_exp=2.0, min_power=1e-10, ref_power=1.0, **kwargs):
        super().__init__(**kwargs)
        self.fft_length = checks.positive_int(self, "fft_length", fft_length)
        self.sequence_stride = checks.positive_int(self, "sequence_stride", sequence_stride)
        self.sequence_length = checks.positive_int(self, "sequence_length", sequence_length or fft_length)
        if self.fft_length < self.sequence_length:
            raise ConfigError(self._error("needs fft_length >= sequence_length",
                                          f"sequence_length={sequence_length}, fft_length={fft_length}"))
        self.window = checks.one_of(self, "window", window, ("hann", "hamming", None))
        self.sampling_rate = _number(self, "sampling_rate", sampling_rate, positive=True)
        self.num_mel_bins = checks.positive_int(self, "num_mel_bins", num_mel_bins)
        self.min_freq = _number(self, "min_freq", min_freq, low=0)
        self.max_freq = _number(self, "max_freq", max_freq or int(sampling_rate / 2), positive=True)
        if self.max_freq <= self.min_freq:
            raise ConfigError(self._error("needs max_freq above min_freq", f"min_freq={min_freq}, max_freq={max_freq}"))
        self.power_to_db = checks.boolean(self, "power_to_db", power_to_db)
        self.top_db = _number(self, "top_db", top_db)
        self.mag_exp = _number(self, "mag_exp", mag_exp)
        self.min_power = _number(self, "min_power", min_power, positive=True)
        self.ref_power = _number(self, "ref_power", ref_power)

    def call(self, inputs):
        dtype = self.dtype_policy.torch_compute_dtype
        x = inputs.to(dtype if dtype in (torch.float32, torch.float64) else torch.float32)
        if self.window is None:
            window = torch.ones(self.sequence_length, dtype=x.dtype, device=x.device)
        else:
            make = torch.hann_window if self.window == "hann" else torch.hamming_window
            window = make(self.sequence_length, periodic=True, dtype=x.dtype, device=x.device)
        stft = torch.stft(x, n_fft=self.fft_length, hop_length=self.sequence_stride, win_length=self.sequence_length,
                          window=window, center=True, return_complex=True).transpose(-2, -1)
        spec = torch.pow(torch.sqrt(stft.real.square() + stft.imag.square()), self.mag_exp)
        matrix = mel_weight_matrix(self.num_mel_bins, spec.shape[-1], self.sampling_rate, self.min_freq,
                                   self.max_freq).to(spec)
        out = torch.tensordot(spec, matrix, dims=1)
        if self.power_to_db:
            out = 10.0 * torch.log10(torch.clamp_min(out, self.min_power))
            ref = torch.tensor(abs(self.ref_power), dtype=out.dtype, device=out.device)
            out = out - 10.0 * torch.log10(torch.clamp_min(ref, self.min_power))
            out = torch.maximum(out, out.max() - self.top_db)
        return out.transpose(-1, -2).to(dtype)

    def _frames(self, length):
        return None if length is None else length // self.sequence_stride + 1

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise self._shape_error(input_shape)
        return (self.num_mel_bins, self._frames(input_shape[0])) if len(input_shape) == 1 else \
            (input_shape[0], self.num_mel_bins, self._frames(input_shape[1]))

    def _shape_error(self, input_shape):
        return ShapeError(self._error("expects raw audio (batch, samples) or (samples,)",
                                      f"input shape {tuple(input_shape)}"))

    def compute_output_dtype(self, inputs):
        return self.dtype_policy.compute_dtype

    def cost(self, input_shape, output_shape):
        bins, mels = sym("b"), sym("m")
        frames = output_shape[-1]
        return Cost(macs=prod(frames, bins, mels), values={bins: self.fft_length // 2 + 1, mels: self.num_mel_bins},
                    other_flops=None, rf=("global",),
                    reads=f"cuts the signal into frames of {self.sequence_length} samples every "
                          f"{self.sequence_stride}, "
                          f"Fourier-transforms each to {self.fft_length // 2 + 1} frequency bins and projects their "
                          f"power on {self.num_mel_bins} mel filters (the multiply-adds counted; the FFT's work is "
                          "not)" + ("; decibels are clipped relative to the batch's maximum" if self.power_to_db
                                    else ""))

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window, "sampling_rate": self.sampling_rate,
                "num_mel_bins": self.num_mel_bins, "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
                "min_power": self.min_power, "ref_power": self.ref_power}


# windows torch computes as scipy.signal.get_window does (periodic = scipy's ``fftbins``)
_WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window, "blackman": torch.blackman_window,
            "bartlett": torch.bartlett_window, "boxcar": lambda n, periodic, dtype: torch.ones(n, dtype=dtype)}
_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
# element-wise operations per output element after the convolutions
_MODE_FLOPS = {"real": 0, "imag": 0, "stft": 0, "angle": 1, "psd": 4, "magnitude": 5, "log": 7}


def stft_kernel(side: str, window, scaling, periodic: bool, frame_length: int, bins: int) -> torch.Tensor:
    """Keras's ``initializers.STFT``: the ``(frame_length, 1, bins)`` cosine (``"real"``) or negative sine
    (``"imag"``) Fourier kernel, times the window, divided by the window's norm (``"density"``) or sum
    (``"spectrum"``), in float32."""
    f32 = torch.float32
    scale = 1.0
    win = None
    if window is not None:
        if isinstance(window, str):
            win = _WINDOWS[window](frame_length, periodic=periodic, dtype=torch.float64).to(f32)
        else:
            win = torch.as_tensor(window, dtype=torch.float64).to(f32)
        win = win.reshape(frame_length, 1, 1)
        if scaling == "density":
            scale = torch.sqrt(torch.sum(torch.square(win)))
        elif scaling == "spectrum":
            scale = torch.sum(torch.abs(win))
    freq = torch.arange(bins, dtype=f32).reshape(1, 1, bins) / ((bins - 1) * 2)
    time = torch.arange(frame_length, dtype=f32).reshape(frame_length, 1, 1)
    args = (-2 * time) * freq * torch.arccos(torch.tensor(-1.0, dtype=f32))
    kernel = torch.cos(args) if side == "real" else torch.sin(args)
    return kernel if win is None else kernel * win / scale


class STFTSpectrogram(Layer):
    """The short-time Fourier transform of ``(batch, time, channels)`` signals (``channels_first``: ``(batch,
    channels, time)``), each channel on its own, as Keras computes it: a strided 1-D convolution of each channel
    with ``real_kernel`` and ``imag_kernel`` ``(frame_length, 1, fft_length // 2 + 1)`` — Fourier kernels times
    ``window`` (``"hann"``, ``"hamming"``, ``"blackman"``, ``"bartlett"``, ``"boxcar"``, an array of
    ``frame_length`` values, or None), scaled by ``scaling``.

    The kernels are weights: they train with the model (``trainable=False`` freezes them, as in Keras) and
    travel in ``.keras`` files. ``mode``: ``"log"`` (log-magnitude), ``"magnitude"``, ``"psd"``, ``"real"``,
    ``"imag"``, ``"angle"`` or ``"stft"`` (real and imaginary parts stacked on the frequency axis). Output
    ``(batch, frames, bins·channels)`` (``expand_dims=True``: ``(batch, frames, bins, channels)``).

    Example:
        >>> layer = layers.STFTSpectrogram(frame_length=64, frame_step=32)
        >>> layer(gn.Input((1024, 1))).shape, layer.count_params()
        ((None, 31, 33), 4224)
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann", periodic=False,
                 scaling="density", padding="valid", expand_dims=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.mode = checks.one_of(self, "mode", mode, _MODES)
        self.frame_length = checks.positive_int(self, "frame_length", frame_length)
        if frame_step is not None and (checks.positive_int(self, "frame_step", frame_step) > frame_length):
            raise ConfigError(self._error("needs frame_step <= frame_length",
                                          f"frame_step={frame_step}, frame_length={frame_length}"))
        self.frame_step = frame_step
        self._frame_step = frame_step or frame_length // 2
        if fft_length is not None and checks.positive_int(self, "fft_length", fft_length) < frame_length:
            raise ConfigError(self._error("needs fft_length >= frame_length",
                                          f"fft_length={fft_length}, frame_length={frame_length}"))
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        if isinstance(window, str):
            checks.one_of(self, "window", window, tuple(_WINDOWS))
        elif window is not None and (not isinstance(window, (list, tuple)) or len(window) != frame_length):
            raise ConfigError(self._error("needs window as a name, None or a list of frame_length values",
                                          f"window={window!r}"))
        self.window = window
        self.periodic = checks.boolean(self, "periodic", periodic)
        self.scaling = checks.one_of(self, "scaling", scaling, ("density", "spectrum", None))
        self.padding = checks.one_of(self, "padding", padding, ("valid", "same"))
        self.expand_dims = checks.boolean(self, "expand_dims", expand_dims)
        self.data_format = checks.data_format(self, data_format)

    @property
    def _bins(self) -> int:
        return self._fft_length // 2 + 1

    def build(self, input_shape):
        shape = (self.frame_length, 1, self._bins)
        for side in ("real", "imag"):
            if self.mode != ("imag" if side == "real" else "real"):
                self.add_weight(name=f"{side}_kernel", shape=shape, initializer=lambda s, dtype, side=side: stft_kernel(
                    side, self.window, self.scaling, self.periodic, self.frame_length, self._bins).to(dtype))

    def _conv(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """``(batch·channels, 1, time)`` → ``(batch·channels, bins, frames)``."""
        pads = spatial_pads(x.shape[2:], (self.frame_length,), (self._frame_step,), (1,), self.padding)
        x, padding = pad_input(x, pads)
        return F.conv1d(x, kernel.to(x.dtype).permute(2, 1, 0), stride=self._frame_step, padding=padding)

    def call(self, inputs):
        if not inputs.is_floating_point():
            raise TypeError(f"STFTSpectrogram needs float signals. Received: input dtype={inputs.dtype}")
        x = inputs.transpose(1, 2) if self.data_format == "channels_last" else inputs
        batch, channels, time = x.shape
        x = x.reshape(batch * channels, 1, time)
        real = self._conv(x, self.real_kernel) if self.mode != "imag" else None
        imag = self._conv(x, self.imag_kernel) if self.mode != "real" else None
        if self.mode in ("real", "imag", "angle", "stft"):
            out = {"real": real, "imag": imag}.get(self.mode)
            out = torch.atan2(imag, real) if self.mode == "angle" else \
                torch.cat([real, imag], dim=1) if self.mode == "stft" else out
        else:
            power = torch.square(real) + torch.square(imag)
            if self.mode == "psd":
                out = power + F.pad(power[:, 1:-1], (0, 0, 1, 1))
            else:
                out = torch.sqrt(torch.clamp_min(power, _EPSILON))
                out = out if self.mode == "magnitude" else torch.log(torch.clamp_min(out, _EPSILON))
        return self._arrange(out.reshape(batch, channels, out.shape[1], out.shape[2]))

    def _arrange(self, out: torch.Tensor) -> torch.Tensor:
        """``(batch, channels, bins, frames)`` → the layer's output layout."""
        batch, channels, bins, frames = out.shape
        if self.expand_dims:
            return out.permute(0, 3, 2, 1) if self.data_format == "channels_last" else out.transpose(2, 3)
        out = out.reshape(batch, channels * bins, frames)
        return out.transpose(1, 2) if self.data_format == "channels_last" else out

    def compute_output_shape(self, input_shape):
        self._require_rank(input_shape, 3, "(batch, time, channels)" if self.data_format == "channels_last"
                           else "(batch, channels, time)")
        time, channels = (input_shape[1], input_shape[2]) if self.data_format == "channels_last" else \
            (input_shape[2], input_shape[1])
        frames = conv_output_length(time, self.frame_length, self._frame_step, self.padding)
        bins = self._bins * (2 if self.mode == "stft" else 1)
        if self.expand_dims:
            return (input_shape[0], frames, bins, channels) if self.data_format == "channels_last" else \
                (input_shape[0], channels, frames, bins)
        features = bins * channels if is_fixed(channels) else None
        return (input_shape[0], frames, features) if self.data_format == "channels_last" else \
            (input_shape[0], features, frames)

    def cost(self, input_shape, output_shape):
        length, bins = sym("l"), sym("b")
        kernels = 1 if self.mode in ("real", "imag") else 2
        time, channels = (input_shape[1], input_shape[2]) if self.data_format == "channels_last" else \
            (input_shape[2], input_shape[1])
        frames = conv_output_length(time, self.frame_length, self._frame_step, self.padding)
        kernel = prod(length, bins)
        return Cost(params=prod(kernels, kernel) if kernels > 1 else kernel,
                    values={length: self.frame_length, bins: self._bins},
                    macs=prod(kernels, channels, frames, length, bins),
                    other_flops=per_sample(output_shape) * _MODE_FLOPS[self.mode],
                    rf=("window", [(self.frame_length, self._frame_step, 1)]),
                    reads=f"slides a {self.frame_length}-sample window every {self._frame_step} samples over each "
                          f"channel, correlating it with {kernels * self._bins} Fourier kernels (its weights), "
                          f"then takes the {self.mode} of each frequency bin")

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "window": self.window,
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "data_format": self.data_format, "expand_dims": self.expand_dims}
