"""Convolution and pooling (book §7.2–7.4), and Flatten between them and Affine.

A convolution is a matrix product over windows (book §7.4.3): ``col =
im2col(x)`` holds every FH×FW window of every image as a column, each filter is
a row of ``W``, and ``Y = W · col + b``. Its backward rule is the matrix rule of
that product, with ``col2im`` (adding the windows back) for dx.

Here the product is taken image by image (:func:`chainrule.im2col.image_columns`:
image n's windows as a (C·FH·FW, OH·OW) matrix, and W times it is image n's
output in (FN, OH, OW) order, nothing to transpose), on slices of the batch
that run on all cores at once (:mod:`chainrule.parallel`). A slice's windows are
copied, multiplied and dropped while they are in the core's cache; backward
copies them again instead of keeping them. The numbers are the same products,
so the same gradients; only the time changes.
"""
from __future__ import annotations

import numpy as np

from .. import kernels, mode, parallel
from ..backend import get_array_module
from ..im2col import add_image_columns, image_columns, output_size, pad_images, wide_columns
from .base import Layer, ndim_of, parameter, shape_of


#: stride-1 windows of at least this many values (C·FH·FW), or whose wide rows add at most a tenth more
#: positions, are copied as long runs (:func:`~chainrule.im2col.wide_columns`). Measured (benchmarks/cnn_profile.py):
#: otherwise, as for the book's SimpleConvNet (1×5×5 filters on 28×28, 4 extra positions per 24), the extra
#: positions cost more than the faster copy saves
WIDE_MIN_WINDOW = 64
#: dW of windows of at least this many values is one product of a slice's columns with its dout as rows; of
#: smaller windows (a first layer's 1×3×3), one product per image, which needs no transposed copy of dout:
#: measured 2–2.5× faster there, and 1.4–1.7× slower for 16 or 32 channels
ONE_PRODUCT_MIN_WINDOW = 64


def _positive(owner, name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer ≥ {low}, got {value!r}")
    return int(value)


def _slices(task, x, sample_bytes):
    """task(lo, hi) over slices of x's batch: on all cores for NumPy arrays, once over the whole batch on a GPU."""
    if get_array_module(x) is not np:
        return [task(0, x.shape[0])]
    return parallel.over_batch(task, x.shape[0], sample_bytes)


def _lanes(loops, filters, row):
    """Positions per forward block for rows of ``row`` outputs: 16 (one 512-bit vector of float32) where the CPU
    has them, the block has 16 filters (16 × 16 sums fill the registers) and the row is longer than 8; else 8."""
    return 16 if loops and 16 in loops.widths and filters == 16 and row > 8 else 8


#: rows of at most this many outputs are computed channels-last by the compiled loops. Measured on 13 images of
#: 32–64 channels, in float32 and in float64 (on AVX-512): blocks of 2 rows are 1.1–1.3× faster on rows of 6 and
#: 8, alike on 7, slower on 5
CHANNELS_LAST_MAX_ROW = 5
#: the same where a block's 8 positions take two vector registers (float64 without AVX-512): channels-last was
#: 1.8× faster up to 8 (measured in float64 on numba's 256-bit target)
CHANNELS_LAST_MAX_ROW_SPLIT = 8
#: longer rows are computed this many at a time where the output has as many (conv_loops_writer.FORWARD_ROWS_BLOCKS)
FORWARD_ROWS = 2
#: rows of exactly 8 outputs, 4 rows or more, in vectors of 2 rows where a vector holds 16 positions
#: (conv_loops_writer.FORWARD_ROW8_BLOCKS)
ROW8_BLOCKS = True


class _CompiledForward:
    """Y = b + W ⊛ X at stride 1 by a compiled loop (:mod:`chainrule.conv_loops`), slice by slice; the filters are
    packed once for the loop. ``loop`` is None where no compiled loop applies.

    Rows of exactly 8 outputs, 4 rows or more, where a vector holds 16 positions: blocks of 8 filters × 2 vectors of
    2 rows each. Two output rows or more, longer than ``CHANNELS_LAST_MAX_ROW``: blocks of 8 filters × 2 rows × 16
    (or 8) positions, Y written as it is. One row: blocks of 16 (or 8) filters × 16 (or 8) positions. Shorter rows:
    blocks of 8 positions × 16 (or 8) filters, Y written channels-last and turned back, so that a short row does
    not leave most of a vector empty. Each output's sum is taken in the same order in all of them (b, then
    channel by channel, row by row, tap by tap): the same bits whichever block computes it. FN ≥ 8; where it is
    not a multiple of the block's filters, the last block overlaps the one before (those filters computed twice,
    alike)."""

    def __init__(self, loops, W, b, out_height, out_width):
        fn = W.shape[0]
        self.loop = None
        if not loops or fn < 8:
            return
        widest = CHANNELS_LAST_MAX_ROW if loops.one_vector(8) else CHANNELS_LAST_MAX_ROW_SPLIT
        self.channels_last = out_width <= widest
        self.rows = FORWARD_ROWS if out_height >= FORWARD_ROWS and not self.channels_last else 1
        filters = 16 if fn % 16 == 0 else 8
        self.row8 = (out_width == 8 and out_height >= 4 and 16 in loops.widths and ROW8_BLOCKS
                     and not self.channels_last)
        if self.row8:                               # 2 rows of 8 in each vector of 16
            self.loop, positions = loops.forward_row8(8, 2), 8
            self.weights = _packed(W, 8)
            self.tail = 0
        elif self.channels_last:
            self.loop, positions = loops.forward_channels_last(filters), 8
            self.weights = np.ascontiguousarray(W.transpose(1, 2, 3, 0)).ravel()
            self.tail = 0
        elif self.rows > 1:
            positions = 16 if 16 in loops.widths and out_width > 8 else 8
            self.loop = loops.forward_rows(8, self.rows, positions)
            self.weights = _packed(W, 8)
            self.tail = 8 * self.rows * positions          # where a block of rows' last, partial block is stored
        else:
            positions = _lanes(loops, filters, out_width)
            self.loop = loops.forward(filters, positions)
            self.weights = _packed(W, filters)
            self.tail = filters * positions                 # where a row's last, partial block is stored
        self.bias = np.ascontiguousarray(b)
        self.fh, self.fw = W.shape[2:]
        self.width = _blocks(out_width, positions) + self.fw - 1        # of the padded rows it reads

    def __call__(self, x, out, top, left):
        """out (m, FN, OH, OW) = b + W ⊛ X, X (m, C, H, W) C-contiguous, placed at row ``top`` and column ``left``
        of zeros (the pad; negative: rows and columns cropped). The loop pads row by row in a scratch of its own."""
        m, fn, oh, ow = out.shape
        c, h, wd = x.shape[1:]
        direct = out.flags.c_contiguous and not self.channels_last
        y = out if direct else np.empty((m, oh, ow, fn) if self.channels_last else out.shape, out.dtype)
        if self.row8:                                   # the image's rows, once per tap column, 8 values each
            scratch = np.empty(c * self.fw * (oh + self.fh - 1) * 8, x.dtype)
        else:                                           # the rows of a block of rows, then a partial block
            scratch = np.empty(c * (self.fh + self.rows - 1) * self.width + self.tail, x.dtype)
        self.loop(x.ravel(), self.weights, self.bias, y.ravel(), scratch, m, c, fn, h, wd, self.fh, self.fw, oh, ow,
                  top, left, self.width)
        if not direct:
            out[...] = y.transpose(0, 3, 1, 2) if self.channels_last else y


def _loop_ready(a):
    """a as the compiled loops were compiled for: C-contiguous and writable (a read-only array would make numba
    compile the loop again, for that type, and without the vectorizer)."""
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


def _blocks(n, lanes):
    """n rounded up to a whole number of the compiled loops' blocks of ``lanes`` positions."""
    return -(-n // lanes) * lanes


def _padded(x, top, left, height, width, out=None):
    """x (N, C, H, W) placed at row ``top`` and column ``left`` of an array (N, C, height, width) of zeros (``out``,
    or a new one); rows and columns of x that fall outside (a negative ``top`` or ``left``) are dropped. Only
    the border is zeroed: each value is written once."""
    if out is None:
        out = np.empty(x.shape[:2] + (height, width), dtype=x.dtype)
    compiled = kernels.get(x, out)
    if compiled:                                      # one pass (NumPy takes five, the border's in short pieces)
        compiled["pad_into"](x, out, top, left)
        return out
    h0, w0 = max(-top, 0), max(-left, 0)
    h1, w1 = min(x.shape[2], height - top), min(x.shape[3], width - left)
    if h1 <= h0 or w1 <= w0:                          # nothing of x falls inside
        out[...] = 0
        return out
    r0, r1, c0, c1 = h0 + top, h1 + top, w0 + left, w1 + left
    out[:, :, :r0] = 0
    out[:, :, r1:] = 0
    out[:, :, r0:r1, :c0] = 0
    out[:, :, r0:r1, c1:] = 0
    out[:, :, r0:r1, c0:c1] = x[:, :, h0:h1, w0:w1]
    return out


def _packed(w, block):
    """Filters W (FN, C, FH, FW) as the compiled loops read them: (⌈FN / block⌉, C, FH, FW, block), flat. Where FN
    is not a multiple of ``block`` the last block holds the last ``block`` filters, as the loops' last block of
    filters overlaps the one before (conv_loops_writer._filter_blocks)."""
    fn = w.shape[0]
    if fn % block:
        w = np.concatenate([w[:fn - fn % block], w[fn - block:]])  # the last block: the last ``block`` filters
    return np.ascontiguousarray(w.reshape(-1, block, *w.shape[1:]).transpose(0, 2, 3, 4, 1)).ravel()


class Convolution(Layer):
    """Y = W ⊛ X + b: FN filters W (FN, C, FH, FW) slide over images X (N, C, H, W) with ``stride`` after ``pad``
    rows and columns of zeros; Y is (N, FN, OH, OW) with OH = (H + 2·pad − FH) // stride + 1.

    As a product over windows, col = im2col(X) and Y = W · col + b (book §7.4.3). Backward:

        dX = col2im(dout · W)        dW = doutᵀ · im2col(X)        db = Σ_rows dout

    (dout and W flattened to (N·OH·OW, FN) and (FN, C·FH·FW); Σ_rows sums over N, OH, OW).
    """

    symbol = "conv"
    splits_batch = True
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
        self.x = None
        self.dW = self.db = None

    @property
    def x_shape(self):
        """The shape of the last input (N, C, H, W), None before the first forward."""
        return None if self.x is None else self.x.shape

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

    def _compiled(self, x):
        """The compiled convolution loops (:func:`chainrule.kernels.convolution`), at stride 1, when they apply."""
        if self.stride != 1:
            return None
        return kernels.convolution(x, self.W, self.b)

    def _wide(self, ow):
        """Stride 1, and windows large enough or few extra positions: windows copied as long runs."""
        _, c, fh, fw = self.W.shape
        return self.stride == 1 and (c * fh * fw >= WIDE_MIN_WINDOW or 10 * (fw - 1 - 2 * self.pad) <= ow)

    def _window_bytes(self, oh, ow):
        return int(np.prod(self.W.shape[1:])) * oh * ow * self.W.dtype.itemsize

    def forward(self, x, *, then=None):
        """Y = W ⊛ X + b. ``then``: the next layer's rule, to apply in place to each slice of Y as soon as it is
        computed, while it is still in the cache (a following ReLU's :meth:`~chainrule.layers.Relu.rectifier`;
        ``then(Y)`` gives ``rows(lo, hi)``); a network passes it, and the next layer's forward then has nothing
        left to do."""
        if ndim_of(x) != 4:
            raise self.error(f"x has shape {shape_of(x)}; expected images of shape (N, C, H, W)")
        if shape_of(x)[0] == 0:
            raise self.error(f"x has shape {shape_of(x)}, an empty batch; expected at least one image")
        fn, oh, ow = self.output_shape(shape_of(x)[1:], shape_of(x)[0])
        if x.dtype != self.W.dtype:
            x = x.astype(self.W.dtype)
        self.x = x                                   # backward copies its windows again, slice by slice
        xp = get_array_module(x)
        out = xp.empty((x.shape[0], fn, oh, ow), dtype=x.dtype)
        _, c, fh, fw = self.W.shape
        w = self.W.reshape(fn, -1)
        forward = _CompiledForward(self._compiled(x), self.W, self.b, oh, ow)
        next_rule = then(out) if then is not None else None
        if forward.loop is not None:                 # the compiled loops: Y = b + W ⊛ X, padded row by row
            xc = _loop_ready(x)

            def slice_of(lo, hi):
                forward(xc[lo:hi], out[lo:hi], self.pad, self.pad)
                if next_rule is not None:
                    next_rule(lo, hi)
            _slices(slice_of, x, x[0].nbytes)
            return out
        wide = self._wide(ow)
        wp = x.shape[3] + 2 * self.pad if wide else ow

        def images(lo, hi):                          # Y_n = W · col_n + b, written straight into (N, FN, OH, OW)
            m = hi - lo
            if wide:                                 # rows as wide as the padded image: drop the extra positions
                y = xp.matmul(w, wide_columns(x[lo:hi], fh, fw, self.pad)).reshape(m, fn, oh, wp)
                xp.add(y[..., :ow], self.b[:, None, None], out=out[lo:hi])
            else:
                y = out[lo:hi].reshape(m, fn, oh * ow)
                xp.matmul(w, image_columns(x[lo:hi], fh, fw, self.stride, self.pad), out=y)
                y += self.b[:, None]
            if next_rule is not None:
                next_rule(lo, hi)

        _slices(images, x, self._window_bytes(oh, wp))
        return out

    def backward(self, dout, *, before=None):
        """dX, dW and db from dout. ``before``: the next layer's backward, to apply in place to each slice of
        dout as this layer reads it (a following ReLU's :meth:`~chainrule.layers.Relu.masker`; ``before(dout)``
        gives ``rows(lo, hi)``); a network passes it instead of calling that layer's backward."""
        fn, c, fh, fw = self.W.shape
        n, _, oh, ow = dout.shape
        xp = get_array_module(dout)
        h, w = self.x.shape[2:]
        p, wide = self.pad, self._wide(ow)
        wp = w + 2 * p if wide else ow
        dx = xp.empty(self.x.shape, dtype=dout.dtype) if self.input_grad else None
        loops = self._compiled(dout)
        dw_lanes = 8
        # dW of 3×3 and 5×5 filters with dout channels-last: a vector of 8 or 16 filters per position (2.0–2.6×
        # faster than blocks over positions)
        # faster still, 32 filters (two vectors) × 1 channel for 3×3 filters where FN allows
        # FN not a multiple of 8 (the book's 30 filters): the last block of filters overlaps the one before, in
        # vectors of 16 where FN ≥ 16 (30 as 2 blocks of 16, 32 filters' work)
        wide = bool(loops) and 16 in loops.widths
        taps_lanes = 32 if wide and fn % 32 == 0 and fh == 3 else \
            16 if wide and (fn % 16 == 0 or fn % 8 and fn >= 16) else 8
        taps_channels = 2 if c % 2 == 0 and fh == 3 and taps_lanes != 32 else 1
        weight_grad_taps = loops.weight_grad_taps(taps_channels, taps_lanes, fh) \
            if loops and (fh, fw) in ((3, 3), (5, 5)) and fn >= taps_lanes else None
        weight_grad = loops.weight_grad(4 if c % 4 == 0 else 1, dw_lanes) \
            if loops and fn % 4 == 0 and weight_grad_taps is None else None
        loop_dw = weight_grad is not None
        if dx is not None and self.stride == 1:
            # col2im(Wᵀ · dout) at stride 1 is a convolution too: dout, padded by FH − 1 − pad (cropped where that
            # is negative), with the filters turned 180° and channels and filters swapped. The same sums, taken
            # as one product per image instead of FH·FW additions of windows.
            turned = self.W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            flipped = turned.reshape(c, -1)
            q = fh - 1 - p, fw - 1 - p
            forward = _CompiledForward(loops, turned, np.zeros(c, dout.dtype), h, w)
        loop_dx = dx is not None and self.stride == 1 and forward.loop is not None
        if loop_dw:
            owq = _blocks(ow, dw_lanes)
            hp, wq = h + 2 * p, owq + fw - 1
        if loop_dx or weight_grad_taps is not None:
            dout = _loop_ready(dout)
        next_rule = before(dout) if before is not None else None

        def images(lo, hi):
            m = hi - lo
            if next_rule is not None:
                next_rule(lo, hi)
            d = dout[lo:hi]
            db = None
            if weight_grad_taps is not None:                           # dW = Σ dout · Xpad, channels-last
                dwt, dt = np.empty((c, fh, fw, fn), dout.dtype), np.empty((m, oh, ow, fn), dout.dtype)
                db = np.empty(fn, dout.dtype)
                kernels.get()["channels_last_and_sum"](d, dt, db)
                weight_grad_taps(dt.ravel(), _padded(self.x[lo:hi], p, p, h + 2 * p, w + 2 * p).ravel(), dwt.ravel(),
                                 m, c, fn, h + 2 * p, w + 2 * p, oh, ow, dout.dtype.type(0))
                dw = dwt.transpose(3, 0, 1, 2)
            elif loop_dw:                                              # dW = Σ dout · Xpad, compiled
                dw = np.empty(self.W.shape, dout.dtype)
                xs = _padded(self.x[lo:hi], p, p, hp, wq)
                weight_grad(_padded(d, 0, 0, oh, owq).ravel(), xs.ravel(), dw.ravel(), m, c, fn, hp, wq, fh, fw,
                            oh, owq, dout.dtype.type(0))
            elif c * fh * fw < ONE_PRODUCT_MIN_WINDOW:                # dW = Σ_n dout_n · col_nᵀ, image by image
                cols = image_columns(self.x[lo:hi], fh, fw, self.stride, p)
                dw = xp.matmul(d.reshape(m, fn, oh * ow), cols.transpose(0, 2, 1)).sum(axis=0)
            else:                                                      # dWᵀ = im2col(X)ᵀ · dout, one product
                rows = xp.zeros((m, oh, wp, fn), dout.dtype) if wide else xp.empty((m, oh, ow, fn), dout.dtype)
                rows[:, :, :ow] = d.transpose(0, 2, 3, 1)             # dout as rows (0 at the extra positions)
                windows = (wide_columns(self.x[lo:hi], fh, fw, p, by_image=False) if wide
                           else image_columns(self.x[lo:hi], fh, fw, self.stride, p, by_image=False))
                dw = (windows @ rows.reshape(-1, fn)).T
            if loop_dx:                                                # the turned filters over padded dout
                forward(d, dx[lo:hi], q[0], q[1])
            elif dx is not None and self.stride == 1:
                dq = d[:, :, max(-q[0], 0):oh - max(-q[0], 0), max(-q[1], 0):ow - max(-q[1], 0)]
                if q[0] != q[1] and max(q) > 0:
                    dq = xp.pad(dq, ((0, 0), (0, 0), (max(q[0], 0),) * 2, (max(q[1], 0),) * 2))
                pad_q = max(q[0], 0) if q[0] == q[1] else 0
                y = xp.matmul(flipped, wide_columns(dq, fh, fw, pad_q))
                dx[lo:hi] = y.reshape(m, c, h, -1)[..., :w]
            elif dx is not None:                                        # col2im(Wᵀ · dout_n)
                dcols = xp.matmul(self.W.reshape(fn, -1).T, d.reshape(m, fn, oh * ow))
                dx[lo:hi] = add_image_columns(dcols, dx[lo:hi].shape, fh, fw, self.stride, p)
            return dw.reshape(self.W.shape), d.sum(axis=(0, 2, 3)) if db is None else db

        parts = _slices(images, dout, self._window_bytes(oh, wp))
        dw, db = parts[0]
        for more_dw, more_db in parts[1:]:           # in slice order: the same sums on any number of cores
            dw = dw + more_dw
            db = db + more_db
        self.dW = xp.ascontiguousarray(dw)
        self.db = db
        return dx

    def matrix_shapes(self):
        """dout as rows of positions (N·OH·OW, FN) and W as rows of filters (FN, C·FH·FW), as the rules use them."""
        if self.x is None:
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
    splits_batch = True
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
        self._prepared = None   # (input, output) the layer before pooled for this one (pooler)
        self.symbol = "max pool" if mode == "max" else "avg pool"
        if mode == "average":
            self.rules = ("{dout} / (pool_h·pool_w) to every entry of the window",)
        self.arg = self.x_shape = self.x = None

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
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] is x:   # the layer before pooled it slice by slice (pooler)
            return prepared[1]
        out, rows = self._prepare(x)
        _slices(rows, x, x[0].nbytes)
        return out

    def pooler(self, x):
        """This layer's forward, for the layer before it to apply to its own output ``x`` slice by slice while
        each slice is still in the cache: returns ``rows(lo, hi)``, which pools x[lo:hi]. Once every slice is
        done, ``forward(x)`` returns the pooled batch. The same numbers, one pass over the batch fewer (a
        network uses it after a convolution and its ReLU: :meth:`chainrule.layers.Convolution.forward`)."""
        out, rows = self._prepare(x)
        self._prepared = (x, out)
        return rows

    def _prepare(self, x):
        """Check x, keep what backward needs, and return the output array and ``rows(lo, hi)`` that fills it."""
        if ndim_of(x) != 4:
            raise self.error(f"x has shape {shape_of(x)}; expected images of shape (N, C, H, W)")
        if 0 in shape_of(x):
            raise self.error(f"x has shape {shape_of(x)}, an empty batch; expected at least one image")
        xp = get_array_module(x)
        self.x_shape = shape_of(x)
        c, oh, ow = self.output_shape(self.x_shape[1:])
        out = xp.empty((x.shape[0], c, oh, ow), dtype=x.dtype)
        # which position won each window is kept for backward; in inference it is found only if backward asks
        training = mode.is_training()
        compiled = self._compiled(x)
        arg = self.arg = self._new_arg(out.shape, xp) if self.mode == "max" and (training or compiled) else None
        self.x = None if arg is not None else x
        if compiled:                                    # the book's 2×2 pooling in one pass (chainrule.kernels)
            return out, lambda lo, hi: compiled["max_pool_2x2"](x[lo:hi], out[lo:hi], arg[lo:hi])
        return out, self._pool_rows(x, out, arg)

    def _compiled(self, *arrays):
        """The compiled loops for the book's 2×2 max pooling (stride 2, no pad; an odd last row or column is in no
        window), when they apply."""
        if (self.mode, self.pool_h, self.pool_w, self.stride, self.pad) != ("max", 2, 2, 2, 0):
            return None
        return kernels.get(*arrays)

    def _new_arg(self, shape, xp):
        return xp.zeros(shape, dtype=np.int8 if self.pool_h * self.pool_w < 128 else np.int32)

    def _winners(self):
        """Which position of each window won (max pooling): kept by forward, or found now from the kept input."""
        if self.arg is None and self.mode == "max" and self.x is not None:
            xp = get_array_module(self.x)
            out = xp.empty((self.x.shape[0],) + self.output_shape(self.x_shape[1:]), dtype=self.x.dtype)
            self.arg = self._new_arg(out.shape, xp)
            self._pool(self.x, out, self.arg)
        return self.arg

    def _pool(self, x, out, arg):
        """out = each window's max or mean, slice by slice; with ``arg``, also which position won."""
        _slices(self._pool_rows(x, out, arg), x, x[0].nbytes)

    def _pool_rows(self, x, out, arg):
        """``images(lo, hi)``: out[lo:hi] = each window's max or mean of x[lo:hi] (with ``arg``, which won)."""
        xp = get_array_module(x)
        oh, ow = out.shape[2:]
        size = self.pool_h * self.pool_w
        fill = -np.inf if self.mode == "max" else 0.0

        def images(lo, hi):
            views = self._positions(pad_images(x[lo:hi], self.pad, fill), oh, ow)
            if self.mode == "average":
                o = out[lo:hi]
                xp.copyto(o, views[0])
                for v in views[1:]:
                    o += v
                o /= size
                return
            # a tournament over the window's positions: pairs in row-major order, the left one keeps a tie (the
            # first maximum wins, as the book's argmax), NaN spreads through np.maximum as it should
            dtype = None if arg is None else arg.dtype
            entries = [(v, None if arg is None else dtype.type(k)) for k, v in enumerate(views)]
            while len(entries) > 1:
                merged = []
                for (va, ia), (vb, ib) in zip(entries[::2], entries[1::2]):
                    if arg is None:
                        merged.append((xp.maximum(va, vb), None))
                        continue
                    better = (vb > va).view(np.int8) if dtype == np.int8 else (vb > va).astype(dtype)
                    merged.append((xp.maximum(va, vb), ia + better * (ib - ia)))  # b's index where b is larger
                if len(entries) % 2:
                    merged.append(entries[-1])
                entries = merged
            out[lo:hi] = entries[0][0]
            if arg is not None:
                arg[lo:hi] = entries[0][1]

        return images

    def backward(self, dout):
        xp = get_array_module(dout)
        n, c, oh, ow = dout.shape
        p, (h, w) = self.pad, self.x_shape[2:]
        dx = xp.empty(self.x_shape, dtype=dout.dtype)
        size = self.pool_h * self.pool_w
        apart = self.stride >= max(self.pool_h, self.pool_w)      # windows do not overlap: one value per entry
        winners = self._winners()
        compiled = self._compiled(dout)
        if compiled:
            _slices(lambda lo, hi: compiled["max_unpool_2x2"](dout[lo:hi], winners[lo:hi], dx[lo:hi]), dout,
                    dx[0].nbytes)
            return dx

        def images(lo, hi):
            d = dout[lo:hi]
            padded = xp.zeros((hi - lo, c, h + 2 * p, w + 2 * p), dtype=dout.dtype) if p else dx[lo:hi]
            if not p:
                padded[...] = 0
            targets = self._positions(padded, oh, ow)
            if self.mode == "average":
                share = d / size
                for t in targets:
                    t += share
            else:
                arg = winners[lo:hi]
                for k, t in enumerate(targets):
                    if apart:
                        xp.multiply(d, arg == k, out=t)
                    else:
                        t += xp.where(arg == k, d, 0)
            if p:
                dx[lo:hi] = padded[:, :, p:p + h, p:p + w]

        _slices(images, dout, dx[0].nbytes)
        return dx

    def kink_state(self):
        return self._winners()  # which entry won each window: a numerical gradient across a change is meaningless

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
