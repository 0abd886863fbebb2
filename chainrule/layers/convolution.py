"""Convolution and pooling (book §7.2–7.4), and Flatten between them and Affine.

A convolution is a matrix product over windows (book §7.4.3): ``col =
im2col(x)`` holds every FH×FW window of every image as a column, each filter is
a row of ``W``, and ``Y = W · col + b``. Its backward rule is the matrix rule of
that product, with ``col2im`` (adding the windows back) for dx. Here the
windows are copied in the order (C·FH·FW, N·OH·OW), which NumPy copies fastest,
and only when a product needs them (:mod:`chainrule.im2col`).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..im2col import add_windows, columns, output_size, pad_images
from .base import Layer, ndim_of, parameter, shape_of


#: windows of at least this many values (C·FH·FW) are multiplied as shifted slices instead of copied columns
SHIFTED_MIN = 32


def _positive(owner, name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer ≥ {low}, got {value!r}")
    return int(value)


class Convolution(Layer):
    """Y = W ⊛ X + b: FN filters W (FN, C, FH, FW) slide over images X (N, C, H, W) with ``stride`` after ``pad``
    rows and columns of zeros; Y is (N, FN, OH, OW) with OH = (H + 2·pad − FH) // stride + 1.

    As a product over windows, col = im2col(X) and Y = W · col + b (book §7.4.3). Backward:

        dX = col2im(dout · W)        dW = doutᵀ · im2col(X)        db = Σ_rows dout

    (dout and W flattened to (N·OH·OW, FN) and (FN, C·FH·FW); Σ_rows sums over N, OH, OW).
    """

    symbol = "conv"
    rules = ("col2im({dout} · {W})", "{dout}ᵀ · im2col({x})", "Σ_rows {dout}")
    rule_symbols = {"x": "X"}
    decayed = ("W",)
    W = parameter()
    b = parameter()

    def __init__(self, W, b, stride=1, pad=0):
        if ndim_of(W) != 4:
            raise ValueError(f"Convolution: W must be 4-D (filters, channels, height, width), got shape {shape_of(W)}")
        if shape_of(b) != (shape_of(W)[0],):
            raise ValueError(f"Convolution: b has shape {shape_of(b)}; expected ({shape_of(W)[0]},), one per filter")
        self.stride = _positive("Convolution", "stride", stride)
        self.pad = _positive("Convolution", "pad", pad, low=0)
        self.W = W
        self.b = b
        self.x_shape = self.padded_shape = self.cols = self.flat = None
        self.shifted = False
        self.dW = self.db = None

    def output_shape(self, input_shape, n="N"):
        """(FN, OH, OW) for one sample of ``input_shape`` (C, H, W); a clear error when it does not fit."""
        fn, c, fh, fw = self.W.shape
        if len(input_shape) != 3 or input_shape[0] != c:
            raise self.error(f"x has shape ({n}, {', '.join(map(str, input_shape))}) but W has shape "
                             f"{shape_of(self.W)}; expected images of shape (N, {c}, H, W)")
        h, w = input_shape[1:]
        oh, ow = output_size(h, fh, self.stride, self.pad), output_size(w, fw, self.stride, self.pad)
        if oh < 1 or ow < 1:
            raise self.error(f"images of {h}×{w} with pad {self.pad} are smaller than the {fh}×{fw} filters")
        return fn, oh, ow

    def forward(self, x):
        if ndim_of(x) != 4:
            raise self.error(f"x has shape {shape_of(x)}; expected images of shape (N, C, H, W)")
        if shape_of(x)[0] == 0:
            raise self.error(f"x has shape {shape_of(x)}, an empty batch; expected at least one image")
        fn, oh, ow = self.output_shape(shape_of(x)[1:], shape_of(x)[0])
        if x.dtype != self.W.dtype:
            x = x.astype(self.W.dtype)
        self.x_shape = x.shape
        # two ways to the same product: shifted slices of the flat padded images (stride 1, windows of at least
        # SHIFTED_MIN values: no window is copied) or the window columns (im2col) otherwise
        self.shifted = self.stride == 1 and int(np.prod(self.W.shape[1:])) >= SHIFTED_MIN
        out = self._forward_shifted(x, oh, ow) if self.shifted else self._forward_columns(x, oh, ow)
        out += self.b[None, :, None, None]
        return out

    def _forward_columns(self, x, oh, ow):
        fn = self.W.shape[0]
        padded = pad_images(x, self.pad)
        self.padded_shape = padded.shape
        self.cols = columns(padded, self.W.shape[2], self.W.shape[3], self.stride)   # (C·FH·FW, N·OH·OW)
        out = self.W.reshape(fn, -1) @ self.cols                                       # (FN, N·OH·OW)
        # one copy into (N, FN, OH, OW) order: measured, the layers after it (ReLU, pooling and their backward)
        # gain more from contiguous images than this copy costs
        return get_array_module(out).ascontiguousarray(out.reshape(fn, x.shape[0], oh, ow).transpose(1, 0, 2, 3))

    def _offsets(self, wp):
        """Where each filter position's slice starts in a flat padded image: i·(W + 2·pad) + j."""
        _, _, fh, fw = self.W.shape
        return [i * wp + j for i in range(fh) for j in range(fw)]

    def _forward_shifted(self, x, oh, ow):
        """Y at every position of the padded grid as Σ over filter positions of W[:, :, i, j] · (X shifted)."""
        xp = get_array_module(x)
        fn, c = self.W.shape[:2]
        n, _, h, w = x.shape
        p = self.pad
        hp, wp = h + 2 * p, w + 2 * p
        offsets = self._offsets(wp)
        full = n * hp * wp
        flat = xp.zeros((c, full + offsets[-1]), dtype=x.dtype)            # zeros past the end: slices stay in bounds
        flat[:, :full].reshape(c, n, hp, wp)[:, :, p:p + h, p:p + w] = x.transpose(1, 0, 2, 3)
        self.flat = flat
        taps = self.W.reshape(fn, c, -1)
        out = taps[:, :, 0] @ flat[:, :full]
        tmp = xp.empty_like(out)
        for k, off in enumerate(offsets[1:], start=1):
            xp.matmul(taps[:, :, k], flat[:, off:off + full], out=tmp)
            out += tmp
        return xp.ascontiguousarray(out.reshape(fn, n, hp, wp)[:, :, :oh, :ow].transpose(1, 0, 2, 3))

    def backward(self, dout):
        fn = self.W.shape[0]
        n, _, oh, ow = dout.shape
        self.db = dout.sum(axis=(0, 2, 3))
        if self.shifted:
            return self._backward_shifted(dout)
        d = dout.transpose(1, 0, 2, 3).reshape(fn, n * oh * ow)               # (FN, N·OH·OW)
        self.dW = (d @ self.cols.T).reshape(self.W.shape)
        if not self.input_grad:
            return None
        dcols = self.W.reshape(fn, -1).T @ d
        dx = add_windows(dcols, self.padded_shape, self.W.shape[2], self.W.shape[3], self.stride)
        p = self.pad
        return dx[:, :, p:p + self.x_shape[2], p:p + self.x_shape[3]] if p else dx

    def _backward_shifted(self, dout):
        xp = get_array_module(dout)
        fn, c, fh, fw = self.W.shape
        n, _, h, w = self.x_shape
        oh, ow = dout.shape[2:]
        p = self.pad
        hp, wp = h + 2 * p, w + 2 * p
        offsets = self._offsets(wp)
        full = n * hp * wp
        d = xp.zeros((fn, n, hp, wp), dtype=dout.dtype)                   # dout on the padded grid, 0 elsewhere
        d[:, :, :oh, :ow] = dout.transpose(1, 0, 2, 3)
        d = d.reshape(fn, full)
        self.dW = xp.stack([d @ self.flat[:, off:off + full].T for off in offsets], axis=-1).reshape(self.W.shape)
        if not self.input_grad:
            return None
        taps = self.W.reshape(fn, c, -1)
        dflat = xp.zeros((c, full + offsets[-1]), dtype=dout.dtype)
        tmp = xp.empty((c, full), dtype=dout.dtype)
        for k, off in enumerate(offsets):                                  # each position sends its share back
            xp.matmul(taps[:, :, k].T, d, out=tmp)
            dflat[:, off:off + full] += tmp
        dx = dflat[:, :full].reshape(c, n, hp, wp)[:, :, p:p + h, p:p + w]
        return xp.ascontiguousarray(dx.transpose(1, 0, 2, 3))

    def matrix_shapes(self):
        """dout as rows of positions (N·OH·OW, FN) and W as rows of filters (FN, C·FH·FW), as the rules use them."""
        if self.x_shape is None:
            return {}
        fn, c, fh, fw = self.W.shape
        _, oh, ow = self.output_shape(self.x_shape[1:])
        return {"dout": (self.x_shape[0] * oh * ow, fn), "W": (fn, c * fh * fw)}

    def __repr__(self):
        fn, c, fh, fw = shape_of(self.W)
        return f"Convolution({fn} filters {c}×{fh}×{fw}, stride {self.stride}, pad {self.pad})"


class Pooling(Layer):
    """Y = the max (``mode="max"``, the book's) or the mean (``mode="average"``) of each pool_h × pool_w window,
    moved by ``stride``, after ``pad`` rows and columns (−∞ for max, 0 for average).

    Backward (max): dx = dout at each window's maximum, 0 elsewhere; when several entries of a window are equal
    and largest, the first in row-major order gets it (as the book's argmax). Backward (average): dx = dout /
    (pool_h·pool_w) to every entry of the window. Entries shared by overlapping windows add up.
    """

    symbol = "pool"
    rules = ("{dout} at each window's maximum",)

    def __init__(self, pool_h, pool_w, stride=1, pad=0, mode="max"):
        self.pool_h = _positive("Pooling", "pool_h", pool_h)
        self.pool_w = _positive("Pooling", "pool_w", pool_w)
        self.stride = _positive("Pooling", "stride", stride)
        self.pad = _positive("Pooling", "pad", pad, low=0)
        if 2 * self.pad > min(self.pool_h, self.pool_w):
            # as PyTorch: a window could hold nothing but padding (max −inf, an average of zeros)
            raise ValueError(f"Pooling: pad {self.pad} is more than half the {self.pool_h}×{self.pool_w} window; "
                             "expected pad ≤ window / 2, so that every window covers part of the image")
        if mode not in ("max", "average"):
            raise ValueError(f"Pooling: mode must be 'max' or 'average', got {mode!r}")
        self.mode = mode
        self.symbol = "max pool" if mode == "max" else "avg pool"
        if mode == "average":
            self.rules = ("{dout} / (pool_h·pool_w) to every entry of the window",)
        self.arg = self.x_shape = self.padded = None

    def output_shape(self, input_shape):
        """One sample's output shape for one sample's ``input_shape`` (C, H, W)."""
        c, h, w = input_shape
        oh, ow = output_size(h, self.pool_h, self.stride, self.pad), output_size(w, self.pool_w, self.stride, self.pad)
        if oh < 1 or ow < 1:
            raise self.error(f"images of {h}×{w} with pad {self.pad} are smaller than the {self.pool_h}×{self.pool_w} "
                             "window")
        return c, oh, ow

    def _positions(self, padded, oh, ow):
        """One strided view (N, C, OH, OW) per position of the window, in row-major order: no copy."""
        s = self.stride
        return [padded[:, :, i:i + s * oh:s, j:j + s * ow:s] for i in range(self.pool_h) for j in range(self.pool_w)]

    def forward(self, x):
        if ndim_of(x) != 4:
            raise self.error(f"x has shape {shape_of(x)}; expected images of shape (N, C, H, W)")
        if 0 in shape_of(x):
            raise self.error(f"x has shape {shape_of(x)}, an empty batch; expected at least one image")
        xp = get_array_module(x)
        self.x_shape = shape_of(x)
        _, oh, ow = self.output_shape(self.x_shape[1:])
        padded = pad_images(x, self.pad, -np.inf if self.mode == "max" else 0.0)
        self.padded = padded  # backward allocates dx in the same memory order
        views = self._positions(padded, oh, ow)
        if self.mode == "average":
            out = views[0].copy()
            for v in views[1:]:
                out += v
            out /= len(views)
            return out
        # a tournament over the window's positions: pairs in row-major order, the left one keeps a tie (the
        # first maximum wins, as the book's argmax), NaN spreads through np.maximum as it should
        dtype = np.dtype(np.int8 if len(views) < 128 else np.int32)
        entries = [(v, dtype.type(k)) for k, v in enumerate(views)]
        while len(entries) > 1:
            merged = []
            for (va, ia), (vb, ib) in zip(entries[::2], entries[1::2]):
                better = (vb > va).view(np.int8) if dtype == np.int8 else (vb > va).astype(dtype)
                merged.append((xp.maximum(va, vb), ia + better * (ib - ia)))  # b's index where b is larger
            if len(entries) % 2:
                merged.append(entries[-1])
            entries = merged
        out, arg = entries[0]
        self.arg = arg if getattr(arg, "ndim", 0) else xp.zeros(out.shape, dtype=dtype)
        return out if out is not views[0] else out.copy()

    def backward(self, dout):
        xp = get_array_module(dout)
        n, c, oh, ow = dout.shape
        p, (h, w) = self.pad, self.x_shape[2:]
        dx = xp.zeros_like(self.padded, dtype=dout.dtype)  # the input's memory order: the next layers stay fast
        targets = self._positions(dx, oh, ow)
        if self.mode == "average":
            share = dout / len(targets)
            for t in targets:
                t += share
        elif self.stride >= max(self.pool_h, self.pool_w):  # windows do not overlap: each entry gets one value
            for k, t in enumerate(targets):
                xp.multiply(dout, self.arg == k, out=t)
        else:
            for k, t in enumerate(targets):
                t += xp.where(self.arg == k, dout, 0)
        return dx[:, :, p:p + h, p:p + w] if p else dx

    def kink_state(self):
        return self.arg  # which entry won each window: a numerical gradient across a change is meaningless

    def explain_fields(self):
        return {}

    def __repr__(self):
        return f"Pooling({self.mode} {self.pool_h}×{self.pool_w}, stride {self.stride}, pad {self.pad})"


class Flatten(Layer):
    """Y = X reshaped to (N, C·H·W): images become rows for Affine.   Backward: dx = dout reshaped to x's shape."""

    symbol = "flatten"
    rules = ("{dout} reshaped to x's shape",)

    def forward(self, x):
        if ndim_of(x) < 2:
            raise self.error(f"x has shape {shape_of(x)}; expected a batch (N, …)")
        self.x_shape = shape_of(x)
        return x.reshape(self.x_shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.x_shape)
