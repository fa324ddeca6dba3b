"""Colour and intensity operations on batches of images, written as Keras 3's torch backend computes them.

Pure functions of torch tensors, batched, with no Python loop over pixels, images or channels: the colour
layers (``color.py``, ``histogram.py``) and their compositions (``composite.py``) call these. Images are
``(batch, height, width, channels)`` (``channels_first``: ``(batch, channels, height, width)``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["channel_axis", "spatial_axes", "grayscale", "rgb_to_hsv", "hsv_to_rgb", "adjust_contrast",
           "sharpen", "posterize", "solarize", "gaussian_kernel", "gaussian_blur", "auto_contrast", "equalize",
           "clahe"]


def channel_axis(data_format: str) -> int:
    return -1 if data_format == "channels_last" else -3


def spatial_axes(data_format: str) -> tuple[int, int]:
    return (-3, -2) if data_format == "channels_last" else (-2, -1)


def grayscale(images: torch.Tensor, data_format: str) -> torch.Tensor:
    """ITU-R 601 luma ``0.2989·R + 0.587·G + 0.114·B`` as one channel, in the images' dtype (a one-channel
    image is returned as it is)."""
    axis = channel_axis(data_format)
    if images.shape[axis] == 1:
        return images.clone()
    red, green, blue = images.unbind(dim=axis)
    return (0.2989 * red + 0.587 * green + 0.114 * blue).to(images.dtype).unsqueeze(axis)


def rgb_to_hsv(images: torch.Tensor, data_format: str) -> torch.Tensor:
    """RGB to hue, saturation, value; hue in [0, 1), value in the images' own units (dm_pix's formulas)."""
    axis = channel_axis(data_format)
    eps = torch.finfo(images.dtype).eps
    images = torch.where(torch.abs(images) < eps, 0.0, images)
    red, green, blue = images.unbind(dim=axis)
    value = torch.maximum(torch.maximum(red, green), blue)
    spread = value - torch.minimum(torch.minimum(red, green), blue)
    saturation = torch.where(value > 0, spread / torch.where(value > 0, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * torch.where(spread > 0, spread, 1.0))
    hue = torch.where(value == green, norm * (blue - red) + 2.0 / 6.0, norm * (red - green) + 4.0 / 6.0)
    hue = torch.where(value == red, norm * (green - blue), hue)
    hue = torch.where(spread > 0, hue, 0.0) + (hue < 0.0).to(hue.dtype)
    return torch.stack((hue, saturation, value), dim=axis)


def hsv_to_rgb(images: torch.Tensor, data_format: str) -> torch.Tensor:
    """The inverse of :func:`rgb_to_hsv`."""
    axis = channel_axis(data_format)
    hue, saturation, value = images.unbind(dim=axis)
    sixths = torch.remainder(hue, 1.0) * 6.0
    red = torch.clip(torch.abs(sixths - 3.0) - 1.0, 0.0, 1.0)
    green = torch.clip(2.0 - torch.abs(sixths - 2.0), 0.0, 1.0)
    blue = torch.clip(2.0 - torch.abs(sixths - 4.0), 0.0, 1.0)
    grey = 1.0 - saturation
    return torch.stack([value * (grey + saturation * c) for c in (red, green, blue)], dim=axis)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor, data_format: str) -> torch.Tensor:
    """``(x − mean)·factor + mean`` with each image's per-channel mean over height and width."""
    h_axis, w_axis = spatial_axes(data_format)
    mean = images.mean(dim=h_axis, keepdim=True).mean(dim=w_axis, keepdim=True)
    return (images - mean) * factor + mean


def sharpen(images: torch.Tensor, factor: torch.Tensor, data_format: str) -> torch.Tensor:
    """Blend with the 3×3 smoothing of each channel (weights 1/13, centre 5/13, zero padding):
    ``x + (1 − factor)·(smooth − x)`` — factor 1 keeps the image, 0 smooths it, 2 sharpens it."""
    x = images.movedim(-1, 1) if data_format == "channels_last" else images
    channels = x.shape[1]
    kernel = torch.full((3, 3), 1.0 / 13.0, dtype=x.dtype, device=x.device)
    kernel[1, 1] = 5.0 / 13.0
    smooth = F.conv2d(x, kernel.expand(channels, 1, 3, 3), padding=1, groups=channels)
    if data_format == "channels_last":
        smooth = smooth.movedim(1, -1)
    return images + (1.0 - factor) * (smooth - images)


def posterize(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Clears the low ``shift`` bits of each value in [0, 255] (truncated to an integer first, as Keras casts to
    uint8; values outside [0, 255] are clamped first rather than wrapped)."""
    as_bytes = images.clamp(0, 255).to(torch.uint8)
    shift = shift.to(torch.uint8)
    return torch.bitwise_left_shift(torch.bitwise_right_shift(as_bytes, shift), shift).to(images.dtype)


def solarize(images: torch.Tensor, additions: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """On values in [0, 255]: add ``additions``, clip to [0, 255], then invert (``255 − v``) every value at or
    above ``thresholds``."""
    results = torch.clip(images + additions, 0, 255)
    return torch.where(results < thresholds, results, 255 - results)


def gaussian_kernel(size: int, sigma: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A normalised 1-D Gaussian of ``size`` taps (centred) and standard deviation ``sigma``."""
    x = torch.arange(size, dtype=dtype, device=sigma.device) - (size - 1) / 2
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(images: torch.Tensor, size: int, sigma: torch.Tensor, data_format: str) -> torch.Tensor:
    """Each channel convolved with a ``size``×``size`` Gaussian (``sigma`` = (width σ, height σ)), zero padding,
    as Keras's torch backend blurs."""
    x = images.movedim(-1, 1) if data_format == "channels_last" else images
    channels = x.shape[1]
    kernel = torch.outer(gaussian_kernel(size, sigma[1], x.dtype), gaussian_kernel(size, sigma[0], x.dtype))
    # weights below the smallest normal float change no output visibly but slow the convolution ~25× (subnormal
    # arithmetic; a narrow Gaussian's corner weights are that small): they are set to 0
    kernel = torch.where(kernel < torch.finfo(kernel.dtype).tiny, 0.0, kernel)
    y = F.conv2d(x, kernel.expand(channels, 1, size, size), padding=size // 2, groups=channels)
    return y.movedim(1, -1) if data_format == "channels_last" else y


def auto_contrast(images: torch.Tensor) -> torch.Tensor:
    """Stretches each image's channels (``(batch, height, width, channels)``, values in [0, 255]) so that their
    minimum becomes 0 and their maximum 255; a constant channel is returned unchanged."""
    low = images.amin(dim=(1, 2), keepdim=True)
    high = images.amax(dim=(1, 2), keepdim=True)
    scale = 255.0 / (high - low)
    results = torch.clip(images * scale + (-low * scale), 0.0, 255.0)
    return results


def equalize(images: torch.Tensor, bins: int) -> torch.Tensor:
    """Histogram equalisation of channels-last images with values in [0, 255]. As Keras computes it, each
    channel has ONE histogram over the whole batch (``bins`` bins of width 255/(bins − 1)); a channel whose
    values all fall in one bin is returned unchanged."""
    channels = images.shape[-1]
    flat = images.reshape(-1, channels).transpose(0, 1)                       # (channels, values)
    index = torch.clip((flat * (bins - 1) / 255.0).to(torch.int32), 0, bins - 1).long()
    hist = torch.zeros(channels, bins, dtype=torch.int64, device=images.device)
    hist.scatter_add_(1, index, torch.ones_like(index))
    cdf = torch.cumsum(hist, dim=1)
    first = torch.argmax((cdf > 0).to(torch.int8), dim=1, keepdim=True)
    cdf_min = torch.gather(cdf, 1, first)
    denominator = cdf[:, -1:] - cdf_min
    denominator = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    table = torch.clip(torch.round((cdf - cdf_min) * 255 / denominator), 0, 255)   # float32, as Keras divides
    lookup = torch.clip(flat / 255.0 * (bins - 1), 0, bins - 1).to(torch.int32).long()
    equalized = torch.gather(table.to(images.dtype), 1, lookup)
    equalized = torch.where((torch.count_nonzero(hist, dim=1) <= 1)[:, None], flat, equalized)
    return equalized.transpose(0, 1).reshape(images.shape)


def clahe(images: torch.Tensor, clip_limit: float, grid: tuple[int, int]) -> torch.Tensor:
    """Contrast-limited adaptive histogram equalisation of channels-last images with values in [0, 255], as Keras
    computes it on torch. Each image is cut into ``grid`` tiles (padded at the bottom and right by repeating the
    last row and column); each tile and channel gets a 256-bin histogram, clipped at
    ``int(clip_limit·tile_area/256)`` counts with the excess spread evenly over the bins; each pixel's value is
    mapped through the equalisation curves of the four nearest tile centres, bilinearly weighted. Float32 out."""
    batch, height, width, channels = images.shape
    grid_h, grid_w = grid
    tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
    device = images.device
    rows = torch.arange(tile_h * grid_h, device=device).clamp(max=height - 1)
    cols = torch.arange(tile_w * grid_w, device=device).clamp(max=width - 1)
    padded = images[:, rows][:, :, cols]
    tiles = torch.clip(padded.to(torch.int32), 0, 255).long()
    tiles = tiles.reshape(batch, grid_h, tile_h, grid_w, tile_w, channels).permute(0, 1, 3, 5, 2, 4)
    tiles = tiles.reshape(batch, grid_h, grid_w, channels, tile_h * tile_w)
    hists = torch.zeros(batch, grid_h, grid_w, channels, 256, dtype=torch.int64, device=device)
    hists.scatter_add_(-1, tiles, torch.ones_like(tiles))
    area = tile_h * tile_w
    if clip_limit > 0:  # the limit is cast to the counts' integer type, as Keras does: truncated
        clipped = torch.clip(hists, 0, int(clip_limit * area / 256.0))
        hists = clipped + torch.sum(hists - clipped, dim=-1, keepdim=True) / 256.0
    cdf = torch.cumsum(hists, dim=-1)
    cdf_min = cdf.amin(dim=-1, keepdim=True)
    denominator = area - cdf_min
    denominator = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    curves = torch.clip((cdf - cdf_min) * 255.0 / denominator, 0, 255)       # (b, grid_h, grid_w, c, 256)

    def neighbours(length: int, tile: int, count: int):
        """For each pixel row (column): the two nearest tile centres (indices into the tiles) and the weight of
        the second; beyond the outer centres both are the outer tile."""
        position = (torch.arange(length, dtype=torch.float32, device=device) - tile / 2.0) / tile + 1.0
        low = torch.floor(position)
        first = (torch.clip(low, 0, count + 1) - 1).clamp(0, count - 1).long()
        second = (torch.clip(low + 1.0, 0, count + 1) - 1).clamp(0, count - 1).long()
        return first, second, position - low

    y0, y1, wy = neighbours(tile_h * grid_h, tile_h, grid_h)
    x0, x1, wx = neighbours(tile_w * grid_w, tile_w, grid_w)
    pixels = torch.clip(padded, 0, 255).to(torch.int32).long()
    b = torch.arange(batch, device=device)[:, None, None, None]
    c = torch.arange(channels, device=device)[None, None, None, :]
    ys, xs = (y0[None, :, None, None], y1[None, :, None, None]), (x0[None, None, :, None], x1[None, None, :, None])
    wy, wx = wy[None, :, None, None], wx[None, None, :, None]
    nw, ne, sw, se = (curves[b, y, x, c, pixels] for y in ys for x in xs)
    result = (nw * (1.0 - wx) + ne * wx) * (1.0 - wy) + (sw * (1.0 - wx) + se * wx) * wy
    return result[:, :height, :width, :]
