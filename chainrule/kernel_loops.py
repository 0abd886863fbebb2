"""The loops of :mod:`chainrule.kernels`, compiled by numba: imported only when numba is installed and asked for.

Each is the rule its layer states, as a loop over one slice of the batch, or a convolution's helper (padding, dout
turned channels-last with db); :mod:`chainrule.kernels` says when they run and the tests check them against
NumPy's version bit for bit (db, summed in float64, to rounding). At module level, so that numba's disk cache
finds them again in the next process instead of compiling (and storing) them anew.
"""
from __future__ import annotations

import numba
import numpy as np

jit = numba.njit(nogil=True, cache=True)


@jit
def relu_forward(x, out, mask):
    """y = max(x, 0) and mask = [x > 0] in one pass; NaN stays NaN, −0 and below give +0 (as np.maximum)."""
    xs, ys, ms = x.ravel(), out.ravel(), mask.ravel()
    for i in range(xs.size):
        v = xs[i]
        m = v > 0
        ms[i] = m
        ys[i] = v if (m | (v != v)) else 0      # | and not or: no branch, so the loop vectorises


@jit
def relu_in_place(y, mask):
    """relu_forward with the output written over the input (one array: its own loop, which vectorises)."""
    ys, ms = y.ravel(), mask.ravel()
    for i in range(ys.size):
        v = ys[i]
        m = v > 0
        ms[i] = m
        ys[i] = v if (m | (v != v)) else 0


@jit
def relu_backward(dout, mask, dx):
    """dx = dout ∘ [x > 0], a product as NumPy's (∞ · 0 is NaN)."""
    ds, ms, out = dout.ravel(), mask.ravel(), dx.ravel()
    for i in range(ds.size):
        out[i] = ds[i] * ms[i]


@jit
def relu_backward_in_place(dout, mask):
    """relu_backward with dx written over dout (one array: its own loop, which vectorises)."""
    ds, ms = dout.ravel(), mask.ravel()
    for i in range(ds.size):
        ds[i] = ds[i] * ms[i]


@jit
def pick(va, ia, vb, ib):
    """One match of max pooling's tournament: b's position wins only if b is larger (the first maximum wins);
    the value is np.maximum(va, vb) exactly (NaN spreads; of two equal values, −0 and +0 too, b's)."""
    return (va if ((va > vb) | (va != va)) else vb), (ib if vb > va else ia)


@jit
def max_pool_2x2(x, out, arg):
    """The book's 2×2 max pooling, stride 2: each window's maximum, and which of its 4 positions won. An odd last
    row or column belongs to no window (OH = H // 2) and is not read."""
    n, c = x.shape[:2]
    oh, ow = out.shape[2:]
    for i in range(n):
        for j in range(c):
            for r in range(oh):
                top, bottom = x[i, j, 2 * r], x[i, j, 2 * r + 1]
                o, a = out[i, j, r], arg[i, j, r]
                for s in range(ow):
                    m0, i0 = pick(top[2 * s], 0, top[2 * s + 1], 1)
                    m1, i1 = pick(bottom[2 * s], 2, bottom[2 * s + 1], 3)
                    m, k = pick(m0, i0, m1, i1)
                    o[s] = m
                    a[s] = k


@jit
def max_unpool_2x2(dout, arg, dx):
    """Its backward: dout to each window's winner, times 0 elsewhere (a product: ∞ · 0 is NaN, as NumPy's); an odd
    last row or column, in no window, gets 0."""
    n, c, oh, ow = dout.shape
    h, w = dx.shape[2:]
    for i in range(n):
        for j in range(c):
            if h > 2 * oh:
                dx[i, j, h - 1] = 0
            if w > 2 * ow:
                for r in range(2 * oh):
                    dx[i, j, r, w - 1] = 0
            for r in range(oh):
                top, bottom = dx[i, j, 2 * r], dx[i, j, 2 * r + 1]
                d, a = dout[i, j, r], arg[i, j, r]
                for s in range(ow):
                    k, v = a[s], d[s]
                    top[2 * s] = v * (k == 0)
                    top[2 * s + 1] = v * (k == 1)
                    bottom[2 * s] = v * (k == 2)
                    bottom[2 * s + 1] = v * (k == 3)


@jit
def pad_into(x, out, top, left):
    """out = x placed at row ``top`` and column ``left`` of zeros (rows and columns outside dropped): one pass.
    The copy's indices are unsigned: numba then checks no negative index, which would keep it from vectorising
    (3× slower)."""
    m, c, h, w = x.shape
    height, width = out.shape[2:]
    c0, c1 = max(left, 0), min(w + left, width)
    r0, r1 = max(top, 0), min(h + top, height)
    if c1 <= c0:                                     # no column of x falls inside: every row is zeros
        r1 = r0
    for n in range(m):
        for k in range(c):
            plane = out[n, k]
            for r in range(height):
                row = plane[r]
                if r < r0 or r >= r1:
                    for t in range(width):
                        row[t] = 0
                    continue
                source = x[n, k, r - top]
                for t in range(c0):
                    row[t] = 0
                into, start = np.uint64(c0), np.uint64(c0 - left)
                for t in range(np.uint64(c1 - c0)):
                    row[into + t] = source[start + t]
                for t in range(c1, width):
                    row[t] = 0


@jit
def channels_last_and_sum(d, out, total):
    """out[n, y, x, k] = d[n, k, y, x] (dout channels-last), and total[k] = Σ_n,y,x d[n, k, y, x] (db), in one pass;
    the sums are taken in float64. Each filter's row of dout is read in order (its stores go 16 or more apart),
    which is 1.75× faster for 16 filters than reading one position's filters 784 values apart; each filter's sum
    is still taken in the order n, y, x, so db has the same bits either way."""
    m, c, h, w = d.shape
    sums = np.zeros(c)
    for n in range(m):
        for r in range(h):
            o = out[n, r]
            for k in range(c):
                row, s = d[n, k, r], sums[k]
                for j in range(w):
                    v = row[j]
                    o[j, k] = v
                    s += v
                sums[k] = s
    for k in range(c):
        total[k] = sums[k]


# --- softmax with cross-entropy (chainrule.layers.SoftmaxWithLoss, labels given as class indices) -----------------
# NumPy takes about ten passes over the (N, C) scores, and for C = 10 each pass costs more to call than to run.

@jit
def softmax_cross_entropy(x, t, y):
    """y = softmax of each row of x (N, C), exp(x − max) / Σ exp(x − max), written into y; returns Σ over the rows
    of log Σ exp(x − max) − (x − max) at the row's label t: the cross-entropy −Σ log y[t] before the division by N,
    summed in float64 (array_math.softmax_and_loss's rule; its sums in another order, so equal to rounding).
    NaN in a row, or +∞ (∞ − ∞), makes that row NaN as in NumPy."""
    n, c = x.shape
    total = 0.0
    for i in range(n):
        row, out = x[i], y[i]
        m = row[0]
        for j in range(1, c):
            v = row[j]
            m = v if ((v > m) | (v != v)) & (m == m) else m    # the maximum; a NaN, once met, stays
        e = np.exp(row[0] - m)
        out[0] = e
        s = e
        for j in range(1, c):
            e = np.exp(row[j] - m)
            out[j] = e
            s += e
        for j in range(c):
            out[j] /= s
        total += np.log(s) - (row[t[i]] - m)
    return total


@jit
def softmax_cross_entropy_backward(y, t, scale, dx):
    """dx = (y − t)·scale with t the one-hot rows of the labels: y·scale, then scale subtracted at each row's label
    (the same operations as SoftmaxWithLoss.backward's NumPy path, so the same bits)."""
    n, c = y.shape
    for i in range(n):
        for j in range(c):
            dx[i, j] = y[i, j] * scale
        dx[i, t[i]] -= scale


# --- the optimizers' updates (chainrule.optimizers), each in one pass over flat, C-contiguous arrays ------------
# Each element goes through the same operations, in the same order and dtype, as in the optimizer's NumPy
# passes (no fused multiply-add: numba does not contract without fastmath), so the results are the same bits. A
# state that decays below the smallest normal number is set to 0 in both (chainrule.optimizers: why).

@jit
def sgd_update(p, g, lr):
    """W ← W − lr·g: lr·g rounded, then subtracted."""
    for i in range(p.size):
        p[i] -= lr * g[i]


@jit
def momentum_update(p, g, v, lr, momentum, tiny):
    """v ← momentum·v − lr·g, 0 where |v| < ``tiny`` (the smallest normal number);  W ← W + v."""
    zero = tiny - tiny                          # 0 in p's dtype
    for i in range(p.size):
        vi = v[i] * momentum
        vi -= lr * g[i]
        vi = zero if abs(vi) < tiny else vi
        v[i] = vi
        p[i] += vi


@jit
def adam_update(p, g, m, v, lr_t, keep1, keep2, eps, tiny):
    """m ← m + (1−β₁)(g − m);  v ← v + (1−β₂)(g² − v), each 0 where below ``tiny`` (the smallest normal number);
    W ← W − lr_t·m / (√v + ε); ``keep1`` = 1−β₁, ``keep2`` = 1−β₂."""
    zero = tiny - tiny                          # 0 in p's dtype
    for i in range(p.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * keep1
        vi = v[i] + (gi * gi - v[i]) * keep2
        mi = zero if abs(mi) < tiny else mi
        vi = zero if abs(vi) < tiny else vi
        m[i] = mi
        v[i] = vi
        p[i] -= mi / (np.sqrt(vi) + eps) * lr_t


# --- batch normalisation over channels (chainrule.layers.BatchNormalization on images, (N, C, L) views) ----------
# NumPy broadcasts a per-channel constant over rows of L = H·W values, a short inner loop per (image, channel)
# for each of its passes. Each element here goes through the same operations, in the same order and dtype, as
# in the layer's NumPy passes (no fused multiply-add: numba does not contract without fastmath): the same bits.
# The batch statistics (means, sums of products) stay NumPy's.

@jit
def subtract_per_channel(x, out, mu):
    """out[n, c, l] = x[n, c, l] − μ[c] (the centred x, from which the batch variance is summed)."""
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            m = mu[c]
            for j in range(x.shape[2]):
                out[i, c, j] = x[i, c, j] - m


@jit
def normalize_and_scale(xc, out, std, gamma, beta):
    """x̂ = xc / σ written over xc, and y = x̂ ∘ γ + β, per channel in one pass."""
    for i in range(xc.shape[0]):
        for c in range(xc.shape[1]):
            s, g, b = std[c], gamma[c], beta[c]
            for j in range(xc.shape[2]):
                v = xc[i, c, j] / s
                xc[i, c, j] = v
                out[i, c, j] = v * g + b


@jit
def batch_norm_dx(xn, d, dx, a, scale, e):
    """dx = x̂ ∘ a + dout ∘ (γ/σ) − e per channel (a = (γ/σ)·(−dγ/N), e = (γ/σ)·dβ/N): the layer's three passes."""
    for i in range(xn.shape[0]):
        for c in range(xn.shape[1]):
            ac, sc, ec = a[c], scale[c], e[c]
            for j in range(xn.shape[2]):
                dx[i, c, j] = (xn[i, c, j] * ac + d[i, c, j] * sc) - ec
