"""Data augmentation: new training images from the ones there are, drawn afresh for every batch.

``random_shift`` moves each image by a random whole number of pixels: a
handwritten digit or a garment moved by a pixel or two is still the same
class, and a network that sees every position learns less of the training
set by heart. ``random_flip`` mirrors half of the images left to right: right
for classes that look the same in a mirror (a shirt, a shoe), wrong for digits
and letters (a mirrored 2 is no 2). Only training batches are changed;
evaluation sees the images as they are.
"""
from __future__ import annotations


from ..backend import get_array_module


def _images(x, image_shape, what):
    images = x.reshape((x.shape[0], *image_shape)) if image_shape is not None else x
    if images.ndim != 4:
        raise ValueError(f"{what}: x has shape {x.shape}; expected images (N, C, H, W) or rows with an "
                         "image_shape (C, H, W)")
    return images


def random_flip(x, rng, image_shape=None):
    """Each image of the batch ``x`` mirrored left to right with probability ½ (``rng``, a NumPy Generator,
    decides); shapes as for :func:`random_shift`."""
    xp = get_array_module(x)
    images = _images(x, image_shape, "random_flip")
    flip = xp.asarray(rng.random(images.shape[0]) < 0.5)
    out = xp.where(flip[:, None, None, None], images[..., ::-1], images)
    return out.reshape(x.shape)


def random_shift(x, max_shift, rng, image_shape=None):
    """Each image of the batch ``x`` moved by (dy, dx), each drawn uniformly from −max_shift…max_shift; what moves
    out is dropped, what comes in is 0.

    ``x`` is (N, C, H, W), or (N, C·H·W) rows with ``image_shape`` (C, H, W); the result has x's shape and dtype.
    ``rng`` is a NumPy Generator (the offsets are drawn on the CPU, so the same seed gives the same run on any
    device).
    """
    if max_shift == 0:
        return x
    xp = get_array_module(x)
    shape = x.shape
    images = _images(x, image_shape, "random_shift")
    n, c, h, w = images.shape
    s = int(max_shift)
    if s < 0 or s >= min(h, w):
        raise ValueError(f"random_shift: max_shift must be in 0…{min(h, w) - 1} for {h}×{w} images, got {max_shift}")
    padded = xp.zeros((n, c, h + 2 * s, w + 2 * s), dtype=x.dtype)
    padded[:, :, s:s + h, s:s + w] = images
    top, left = (xp.asarray(rng.integers(0, 2 * s + 1, size=n)) for _ in range(2))
    rows = (top[:, None] + xp.arange(h))[:, None, :, None]          # (N, 1, H, 1): each image's window rows
    cols = (left[:, None] + xp.arange(w))[:, None, None, :]         # (N, 1, 1, W): and columns
    out = padded[xp.arange(n)[:, None, None, None], xp.arange(c)[None, :, None, None], rows, cols]
    return out.reshape(shape)
