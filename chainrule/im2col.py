"""Sliding windows for convolution and pooling (book §7.4): ``im2col`` and ``col2im``, and their fast forms.

``im2col(input_data, filter_h, filter_w, stride, pad)`` turns every window of a
batch of images (N, C, H, W) into one row, (N·OH·OW, C·FH·FW), so that a
convolution becomes one matrix product; ``col2im`` adds the rows back into the
images' shape, the backward of im2col. Both are the book's names and layout.

The layers use the same idea image by image: :func:`windows` (a strided view of
every window, no copy), :func:`image_columns` (each image's windows copied as
the columns of a (C·FH·FW, OH·OW) matrix, whose innermost axis runs along image
rows, which NumPy copies fastest; W times it is that image's output, already
in (FN, OH, OW) order), and :func:`add_image_columns` (the sum back into the
images, one strided addition per filter position).
"""
from __future__ import annotations


from .backend import get_array_module


def output_size(size, filter_size, stride, pad):
    """(size + 2·pad − filter) // stride + 1: how many window positions fit along one axis."""
    return (size + 2 * pad - filter_size) // stride + 1


def pad_images(x, pad, value=0.0):
    """x (N, C, H, W) with ``pad`` rows and columns of ``value`` around every image."""
    if not pad:
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=value)


def windows(x, filter_h, filter_w, stride=1):
    """A view (N, C, OH, OW, FH, FW) of every window of x (already padded): nothing is copied."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    oh, ow = (h - filter_h) // stride + 1, (w - filter_w) // stride + 1
    s = x.strides
    return xp.lib.stride_tricks.as_strided(x, (n, c, oh, ow, filter_h, filter_w),
                                           (s[0], s[1], s[2] * stride, s[3] * stride, s[2], s[3]))


def _copied(view):
    """A contiguous copy of a strided view, in the view's own axis order."""
    out = get_array_module(view).empty(view.shape, dtype=view.dtype)
    out[...] = view
    return out


def image_columns(x, filter_h, filter_w, stride=1, pad=0, by_image=True):
    """Every window of x (N, C, H, W) as a column, contiguous: (N, C·FH·FW, OH·OW) with ``by_image``, else
    (C·FH·FW, N·OH·OW), the book's im2col transposed.

    By image, image n's matrix is its windows as columns: W (FN, C·FH·FW) times it is image n's output, already in
    (FN, OH, OW) order. All images as one matrix is the layout of dW's product: dWᵀ = columns · dout as rows.
    """
    n, c = x.shape[:2]
    v = windows(pad_images(x, pad), filter_h, filter_w, stride)                     # (N, C, OH, OW, FH, FW)
    oh, ow = v.shape[2:4]
    if by_image:
        return _copied(v.transpose(0, 1, 4, 5, 2, 3)).reshape(n, c * filter_h * filter_w, oh * ow)
    return _copied(v.transpose(1, 4, 5, 0, 2, 3)).reshape(c * filter_h * filter_w, n * oh * ow)


def wide_columns(x, filter_h, filter_w, pad=0, by_image=True):
    """Stride 1's windows, copied fast: each output row extended to the padded width W + 2·pad.

    The padded images are laid out flat, one row after another, so that the window at (i, j) of every position
    of a row is one contiguous run starting at i·(W + 2·pad) + j: a copy of long runs instead of OW-long pieces.
    The price is FW − 1 extra positions per output row, whose windows wrap into the next row; the caller drops
    their results. Returns (N, C·FH·FW, OH·(W + 2·pad)) with ``by_image``, else (C·FH·FW, N·OH·(W + 2·pad)).
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    hp, wp = h + 2 * pad, w + 2 * pad
    oh = hp - filter_h + 1
    flat = xp.zeros((n, c, hp * wp + filter_w - 1), dtype=x.dtype)    # the tail keeps the last wrap in bounds
    flat[:, :, :hp * wp].reshape(n, c, hp, wp)[:, :, pad:pad + h, pad:pad + w] = x
    s0, s1, s2 = flat.strides
    length = oh * wp
    if by_image:
        view = xp.lib.stride_tricks.as_strided(flat, (n, c, filter_h, filter_w, length), (s0, s1, wp * s2, s2, s2))
        return _copied(view).reshape(n, c * filter_h * filter_w, length)
    view = xp.lib.stride_tricks.as_strided(flat, (c, filter_h, filter_w, n, length), (s1, wp * s2, s2, s0, s2))
    return _copied(view).reshape(c * filter_h * filter_w, n * length)


def add_image_columns(dcols, shape, filter_h, filter_w, stride=1, pad=0):
    """The backward of :func:`image_columns`: (N, C·FH·FW, OH·OW) added back into images of ``shape`` (N, C, H, W).

    Each filter position (i, j) adds its columns to the entries its windows covered: one strided addition each.
    """
    n, c, h, w = shape
    oh, ow = output_size(h, filter_h, stride, pad), output_size(w, filter_w, stride, pad)
    xp = get_array_module(dcols)
    d = dcols.reshape(n, c, filter_h, filter_w, oh, ow)
    out = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    for i in range(filter_h):
        for j in range(filter_w):
            out[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += d[:, :, i, j]
    return out[:, :, pad:pad + h, pad:pad + w] if pad else out


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """The book's im2col: images (N, C, H, W) → rows (N·OH·OW, C·FH·FW), one row per window."""
    n, c, h, w = input_data.shape
    v = windows(pad_images(input_data, pad), filter_h, filter_w, stride)
    oh, ow = v.shape[2:4]
    return v.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * filter_h * filter_w)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The book's col2im: rows (N·OH·OW, C·FH·FW) added back into images of ``input_shape`` (N, C, H, W)."""
    n, c, h, w = input_shape
    oh, ow = output_size(h, filter_h, stride, pad), output_size(w, filter_w, stride, pad)
    dcols = col.reshape(n, oh * ow, c * filter_h * filter_w).transpose(0, 2, 1)
    return add_image_columns(dcols, input_shape, filter_h, filter_w, stride, pad)
