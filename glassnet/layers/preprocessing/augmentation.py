"""The shared base of Keras 3's random image layers, and Keras's affine warp (the layers themselves are in
``geometric``, ``distortion`` and ``mixing``).

Every augmentation layer is the identity (its input cast to the layer's compute dtype, as Keras casts) unless
called with ``training=True`` — ``fit`` does that. (A plain eager call ``layer(x)`` is inference in glassnet,
as for Dropout; Keras's image layers default to ``training=True`` there, and to inference in ``predict``.)
Its random draws come from a generator of its own when it is given ``seed=`` (the same seed repeats the same
stream, as Keras's ``SeedGenerator``), else from torch's global generator, so ``gn.utils.set_random_seed``
makes them repeat. Draws are made on the CPU and moved to the images' device, so a seed gives the same
augmentation on every device.

A layer takes a batch of images ``(batch, height, width, channels)`` or a single image ``(height, width,
channels)`` (``channels_first``: channels before height and width), or a dict ``{"images": ..., "labels":
...}`` when called on tensors; bounding boxes and segmentation masks are refused with an error that says what
is supported.

Writing a new augmentation layer (the API is these five names; everything else is private):

- subclass ``_ImageAugmentation``; call ``super().__init__(seed=seed, data_format=data_format, **kwargs)``;
- ``get_random_transformation(images)``: draw what the batch needs, with ``self._uniform`` / ``self._normal`` /
  ``self._randint`` / ``self._beta`` (``images`` is always batched here, in the layer's ``data_format``);
- ``transform_images(images, transformation)``: the math, batched; ``transform_labels`` if labels change;
- ``_work``: ``(element-wise operations per output element, "what it does")`` for the shared cost rule;
- helpers: ``factor_range`` (Keras's ``factor`` rule), ``value_range`` / ``transform_value_range``
  (Keras's ``value_range`` rule), ``check_seed``, ``affine_matrix`` + ``affine_transform`` and ``sample``
  (Keras's warps and ``map_coordinates``, exactly); ``_bad(owner, name, what, value)`` builds the argument
  error every check here raises.
"""
from __future__ import annotations

import inspect
import math

import torch

from ... import checks
from ...errors import ConfigError, ShapeError
from ..base import Layer
from ..cost import Cost, per_sample

__all__ = ["factor_range", "value_range", "transform_value_range", "check_seed", "affine_matrix", "affine_transform",
           "sample", "FILL_MODES", "INTERPOLATIONS"]

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


# ---------------------------------------------------------------------------------------------- argument rules
def factor_range(owner, factor, bounds=(-1.0, 1.0), name: str = "factor") -> tuple[float, float]:
    """Keras's ``factor`` rule: a number ``f`` means ``(-f, f)`` clipped to ``bounds``; a pair is sorted; either
    must lie within ``bounds``."""
    what = f"a number or a pair of numbers in [{bounds[0]:g}, {bounds[1]:g}]"
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or not all(_is_number(f) for f in factor) or factor[0] > bounds[1] \
                or factor[1] < bounds[0]:
            raise _bad(owner, name, what, factor)
        lower, upper = sorted(float(f) for f in factor)
        return lower, upper
    if not _is_number(factor) or not bounds[0] <= factor <= bounds[1]:
        raise _bad(owner, name, what, factor)
    return max(-abs(float(factor)), bounds[0]), abs(float(factor))


def value_range(owner, value) -> tuple[float, float]:
    """Keras's ``value_range`` rule: a pair ``(low, high)`` of numbers, kept sorted."""
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_is_number(v) for v in value):
        raise _bad(owner, "value_range", "a pair of numbers (low, high)", value)
    return tuple(sorted(value))


def transform_value_range(images: torch.Tensor, original, target) -> torch.Tensor:
    """Map values linearly from the ``original`` range to the ``target`` range (Keras's arithmetic order)."""
    if tuple(original) == tuple(target):
        return images
    low, high = (torch.tensor(v, dtype=images.dtype, device=images.device) for v in original)
    t_low, t_high = (torch.tensor(v, dtype=images.dtype, device=images.device) for v in target)
    return (images - low) / (high - low) * (t_high - t_low) + t_low


def _bad(owner, name: str, what: str, value) -> ConfigError:
    return ConfigError(f"{checks.owner_text(owner)}: the `{name}` argument must be {what}. Received: {name}={value!r}")


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def check_seed(owner, seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad(owner, "seed", "an int or None", seed)
    return seed


# ------------------------------------------------------------------------------------------------- affine warps
def affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale, shear_x, shear_y,
                  height: int, width: int) -> torch.Tensor:
    """Keras's ``_compute_affine_matrix``: per-image ``(batch, 8)`` transforms ``[a0, a1, a2, b0, b1, b2, 0, 0]``
    mapping an output pixel ``(x, y)`` to the input point ``(a0·x + a1·y + a2, b0·x + b1·y + b2)``.

    ``angle``, ``shear_x``, ``shear_y`` are in degrees; the centre is a fraction of ``(width - 1, height - 1)``;
    every argument but height and width is a ``(batch,)`` tensor (or a number for the centre)."""
    rad = torch.tensor(math.pi / 180.0, dtype=angle.dtype, device=angle.device)
    angle, shear_x, shear_y = angle * rad, shear_x * rad, shear_y * rad
    cx = center_x * (torch.tensor(width, dtype=angle.dtype, device=angle.device) - 1)
    cy = center_y * (torch.tensor(height, dtype=angle.dtype, device=angle.device) - 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    shear_x, shear_y = torch.tan(shear_x), torch.tan(shear_y)
    a0 = scale * (cos + shear_x * sin)
    a1 = scale * (-sin + shear_x * cos)
    a2 = translate_x + cx - cx * a0 - cy * a1
    b0 = scale * (shear_y * cos + sin)
    b1 = scale * (shear_y * -sin + cos)
    b2 = translate_y + cy - cx * b0 - cy * b1
    zeros = torch.zeros_like(a0)
    return torch.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], dim=1)


def _mirror(index: torch.Tensor, size: int) -> torch.Tensor:
    s = size - 1  # half-wavelength of the triangular wave
    return torch.abs((index + s) % (2 * s) - s) if s > 0 else torch.zeros_like(index)


_INDEX_FIXERS = {  # where an index outside [0, size) reads from (Keras's torch backend)
    "constant": lambda index, size: index.clamp(0, size - 1),
    "nearest": lambda index, size: index.clamp(0, size - 1),
    "wrap": lambda index, size: index % size,
    "mirror": _mirror,
    "reflect": lambda index, size: torch.div(_mirror(2 * index + 1, 2 * size + 1) - 1, 2, rounding_mode="floor"),
}


def sample(images: torch.Tensor, y: torch.Tensor, x: torch.Tensor, interpolation: str = "bilinear",
           fill_mode: str = "constant", fill_value: float = 0.0) -> torch.Tensor:
    """Read ``(batch, height, width, channels)`` images at the points ``(y, x)`` (two ``(batch, H', W')`` tensors
    of row and column coordinates), as Keras's ``map_coordinates`` reads them: ``"nearest"`` rounds half to even,
    ``"bilinear"`` weights the four neighbours; a neighbour outside the image reads ``fill_value``
    (``fill_mode="constant"``) or the pixel ``fill_mode`` points to (``"reflect"``: d c b a | a b c d | d c b a;
    ``"wrap"``: a b c d | a b c d; ``"nearest"``: a a a a | a b c d | d d d d). Returns ``(batch, H', W',
    channels)``; differentiable in the images.

    It gathers the neighbours itself (four ``torch.gather`` calls for bilinear, one for nearest) rather than
    calling ``F.grid_sample``, which has no ``"wrap"`` padding and, after reflecting, rounds ties for
    ``"nearest"`` differently: this way every fill mode equals Keras's ``map_coordinates`` exactly."""
    batch, height, width, channels = images.shape
    flat = images.reshape(batch, height * width, channels)
    fix = _INDEX_FIXERS[fill_mode]

    def read(iy, ix):
        index = (fix(iy, height) * width + fix(ix, width)).reshape(batch, -1, 1).expand(-1, -1, channels)
        value = torch.gather(flat, 1, index).reshape(*iy.shape, channels)
        if fill_mode == "constant":
            valid = ((iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)).unsqueeze(-1)
            value = torch.where(valid, value, torch.as_tensor(fill_value, dtype=value.dtype, device=value.device))
        return value

    if interpolation == "nearest":
        return read(torch.round(y).long(), torch.round(x).long())
    y0, x0 = torch.floor(y), torch.floor(x)
    wy1, wx1 = (y - y0).unsqueeze(-1), (x - x0).unsqueeze(-1)
    wy0, wx0 = 1 - wy1, 1 - wx1
    iy, ix = y0.long(), x0.long()
    out = (wy0 * wx0) * read(iy, ix) + (wy0 * wx1) * read(iy, ix + 1)
    return out + (wy1 * wx0) * read(iy + 1, ix) + (wy1 * wx1) * read(iy + 1, ix + 1)


def affine_transform(images: torch.Tensor, transform: torch.Tensor, interpolation: str = "bilinear",
                     fill_mode: str = "constant", fill_value: float = 0.0,
                     data_format: str = "channels_last") -> torch.Tensor:
    """Keras's ``ops.image.affine_transform`` for a batch: output pixel ``(x, y)`` of image ``i`` reads the input
    at ``(a0·x + a1·y + a2, b0·x + b1·y + b2)`` from ``transform[i]`` (``(batch, 8)``, projective terms 0),
    with Keras's interpolation and fill rules (see ``sample``)."""
    if data_format == "channels_first":
        images = images.permute(0, 2, 3, 1)
    batch, height, width, _ = images.shape
    t = transform.to(images.dtype)
    rows = torch.arange(height, dtype=t.dtype, device=t.device).view(1, height, 1)
    cols = torch.arange(width, dtype=t.dtype, device=t.device).view(1, 1, width)
    a0, a1, a2, b0, b1, b2 = (t[:, k].view(batch, 1, 1) for k in range(6))
    y = rows * b1 + cols * b0 + b2
    x = rows * a1 + cols * a0 + a2
    out = sample(images, y, x, interpolation, fill_mode, fill_value)
    return out.permute(0, 3, 1, 2) if data_format == "channels_first" else out


# --------------------------------------------------------------------------------------------------- the base
class _ImageAugmentation(Layer):
    """What every random image layer shares: the training gate, seeding, batched and single images, dict
    inputs, dtype, data format, shape rule, config and cost rule. See the module docstring for the API.

    Subclasses set ``_DICT_KEYS`` to the dict keys they transform (``("images", "labels")`` by default).
    """

    _DICT_KEYS = ("images", "labels")

    def __init__(self, *, seed=None, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        checks.unsupported(self, "Augment the images alone; transform boxes outside the model.",
                           bounding_box_format=bounding_box_format)
        self.seed = check_seed(self, seed)
        self.data_format = checks.data_format(self, data_format)
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)

    # ---------------------------------------------------------------- random draws (CPU, then the images' device)
    def _uniform(self, shape, low=0.0, high=1.0, device=None) -> torch.Tensor:
        u = torch.rand(tuple(shape), generator=self._generator)
        return (u * (high - low) + low).to(device)

    def _normal(self, shape, mean=0.0, stddev=1.0, device=None) -> torch.Tensor:
        return (torch.randn(tuple(shape), generator=self._generator) * stddev + mean).to(device)

    def _randint(self, shape, low: int, high: int, device=None) -> torch.Tensor:
        return torch.randint(low, high, tuple(shape), generator=self._generator).to(device)

    def _beta(self, shape, concentration, device=None) -> torch.Tensor:
        """Beta(c, c) draws (torch's gamma sampler reads only the global generator: a seeded layer runs it on a
        fork of that generator, seeded from its own stream, so the global stream is left alone)."""
        c = torch.as_tensor(float(concentration), dtype=torch.float32)
        beta = torch.distributions.Beta(c, c)
        if self._generator is None:
            return beta.sample(tuple(shape)).to(device)
        seed = int(torch.randint(0, 2 ** 62, (), generator=self._generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return beta.sample(tuple(shape)).to(device)

    # ---------------------------------------------------------------- what a subclass writes
    def get_random_transformation(self, images: torch.Tensor):
        """What one call draws for the batch ``images`` (a dict of tensors, or None)."""
        return None

    def transform_images(self, images: torch.Tensor, transformation) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define transform_images")

    def transform_labels(self, labels: torch.Tensor, transformation) -> torch.Tensor:
        return labels

    @property
    def _work(self) -> tuple[int, str]:
        """(element-wise operations per output element in training, None if unknown; "what the layer does")."""
        raise NotImplementedError(f"{type(self).__name__} does not define _work")

    # ---------------------------------------------------------------- shared machinery
    def _spatial_axes(self, rank: int = 4) -> tuple[int, int]:
        """The height and width axes of a batch (rank 4) or a single image (rank 3)."""
        first = rank - 3
        return (first, first + 1) if self.data_format == "channels_last" else (first + 1, first + 2)

    def _image_size(self, images) -> tuple[int, int]:
        h, w = self._spatial_axes(images.ndim)
        return images.shape[h], images.shape[w]

    def _unpack(self, inputs):
        if not isinstance(inputs, dict):
            return inputs, None
        refused = sorted(set(inputs) - set(self._DICT_KEYS))
        if refused or "images" not in inputs:
            raise ConfigError(self._error(
                f"augments dicts with the keys {', '.join(repr(k) for k in self._DICT_KEYS)} only",
                f"keys={sorted(inputs)}", "Pass the images (and labels) alone; transform bounding boxes and "
                "segmentation masks outside the model."))
        return inputs["images"], inputs

    def call(self, inputs, training=False):
        images, data = self._unpack(inputs)
        dtype = self.dtype_policy.torch_compute_dtype
        images = images if images.dtype == dtype else images.to(dtype)
        if training:
            single = images.ndim == 3
            batch = images.unsqueeze(0) if single else images
            transformation = self.get_random_transformation(batch)
            batch = self.transform_images(batch, transformation)
            images = batch.squeeze(0) if single else batch
            if data is not None and "labels" in data:
                labels = data["labels"]
                labels = self.transform_labels(labels.unsqueeze(0) if single else labels, transformation)
                data = {**data, "labels": labels.squeeze(0) if single else labels}
        return images if data is None else {**data, "images": images}

    def _check_shape(self, shape):
        if len(shape) not in (3, 4):
            layout = "height, width, channels" if self.data_format == "channels_last" else "channels, height, width"
            raise ShapeError(self._error(f"expects a batch of images (batch, {layout}) or a single image ({layout})",
                                         f"input shape {tuple(shape)}"))

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            self._check_shape(input_shape.get("images", ()))
            return dict(input_shape)
        self._check_shape(input_shape)
        return tuple(input_shape)

    def compute_output_dtype(self, inputs):
        return self.dtype_policy.compute_dtype

    def cost(self, input_shape, output_shape):
        flops, what = self._work
        return Cost(other_flops=None if flops is None else per_sample(output_shape) * flops,
                    reads=f"{what} in training only (the work counted); at inference it passes its input through")

    def get_config(self):
        """Keras's base keys and ``seed`` — left out for a layer whose constructor takes no seed (Keras's
        AutoContrast, Equalization); a subclass whose Keras config omits a seed it takes pops it."""
        config = {**super().get_config(), "data_format": self.data_format}
        if "seed" in inspect.signature(type(self).__init__).parameters:
            config["seed"] = self.seed
        return config
