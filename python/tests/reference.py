# SPDX-License-Identifier: Apache-2.0
# A float64 NumPy reference of attention, written from docs/conventions.md and independent of
# the C++ oracle, plus the tolerance checks of the accuracy contract and test-input helpers.
"""Float64 reference attention on logical [B, H, N, D] arrays, and test helpers."""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np

try:
    import ml_dtypes

    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    ml_dtypes = None
    BF16 = None

NP_DTYPES = {"f32": np.dtype(np.float32), "f16": np.dtype(np.float16), "bf16": BF16}
HALF_ULP = {"f32": 0.0, "bf16": 2.0 ** -8, "f16": 2.0 ** -11}


def standard_alibi(h: int) -> np.ndarray:
    """Press et al.'s slope table, computed here from the paper's recipe."""
    def pow2(n):
        return [2.0 ** (-8.0 * (i + 1) / n) for i in range(n)]
    p = 2 ** int(math.floor(math.log2(h)))
    slopes = pow2(p)
    if p < h:
        slopes += pow2(2 * p)[0::2][: h - p]
    return np.array(slopes, dtype=np.float64)


def attention_ref(q, k, v, *, causal=False, window=(-1, -1), softcap=0.0, alibi=None,
                  sinks=None, bias=None, scale=None) -> Tuple[np.ndarray, np.ndarray]:
    """out [B, Hq, Nq, Dv], lse [B, Hq, Nq] in float64, from float64 [B, H, N, D] inputs.

    window: (left, right), -1 = unbounded; alibi: (Hq,) slopes or None; sinks: (Hq,) or None;
    bias: broadcastable to [B, Hq, Nq, Nk] or None.
    """
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    b, hq, nq, d = q.shape
    hkv, nk = k.shape[1], k.shape[2]
    group = hq // hkv
    kk = np.repeat(k, group, axis=1)
    vv = np.repeat(v, group, axis=1)
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    s = scale * np.einsum("bhid,bhjd->bhij", q, kk)
    if softcap > 0:
        s = softcap * np.tanh(s / softcap)
    pos = (nk - nq + np.arange(nq))[:, None]
    j = np.arange(nk)[None, :]
    if alibi is not None:
        s = s - np.asarray(alibi, np.float64)[None, :, None, None] * np.abs(pos - j)
    if bias is not None:
        s = s + np.asarray(bias, np.float64)
    visible = np.ones((nq, nk), dtype=bool)
    if causal:
        visible &= j <= pos
    left, right = window
    if left >= 0:
        visible &= j >= pos - left
    if right >= 0:
        visible &= j <= pos + right
    s = np.where(visible, s, -np.inf)
    if sinks is not None:
        sink_col = np.broadcast_to(np.asarray(sinks, np.float64)[None, :, None, None],
                                   (b, hq, nq, 1))
        s_all = np.concatenate([s, sink_col], axis=-1)
    else:
        s_all = s
    m = s_all.max(axis=-1, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(s_all - m_safe)
    l = e.sum(axis=-1)
    num = np.einsum("bhij,bhjd->bhid", e[..., :nk], vv)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(l[..., None] > 0, num / np.where(l > 0, l, 1.0)[..., None], 0.0)
        lse = np.where(l > 0, m_safe[..., 0] + np.log(np.where(l > 0, l, 1.0)), -np.inf)
    return out, lse


def varlen_ref(q, k, v, cu_q: Sequence[int], cu_k: Sequence[int], **kw):
    """q [Hq, Tq, D], k/v [Hkv, Tk, D] (float64) -> out [Hq, Tq, Dv], lse [Hq, Tq]."""
    hq, tq = q.shape[0], q.shape[1]
    out = np.zeros((hq, tq, v.shape[2]))
    lse = np.full((hq, tq), -np.inf)
    for i in range(len(cu_q) - 1):
        a, bq = cu_q[i], cu_q[i + 1]
        c, bk = cu_k[i], cu_k[i + 1]
        if bq == a:
            continue
        if bk == c:  # no keys: every row fully masked (sinks still count)
            sinks = kw.get("sinks")
            if sinks is not None:
                lse[:, a:bq] = np.asarray(sinks, np.float64)[:, None]
            continue
        o, l = attention_ref(q[None, :, a:bq], k[None, :, c:bk], v[None, :, c:bk], **kw)
        out[:, a:bq] = o[0]
        lse[:, a:bq] = l[0]
    return out, lse


def rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    """x stored in `dtype` (a NumPy array of that dtype)."""
    return x.astype(NP_DTYPES[dtype])


def to_f64(x) -> np.ndarray:
    """Any array (NumPy of any float dtype, or torch) as float64 NumPy."""
    if hasattr(x, "detach"):
        return x.detach().float().numpy().astype(np.float64)
    return np.asarray(x).astype(np.float64)


def assert_out_close(out, ref: np.ndarray, out_dtype: str, what: str = "out") -> None:
    """The accuracy contract: 1e-5 * max|ref|, plus half an ulp of a 16-bit output dtype."""
    got = to_f64(out)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    peak = max(float(np.abs(ref).max(initial=0.0)), 1e-30)
    tol = (1e-5 + HALF_ULP[out_dtype]) * peak + 1e-7
    err = np.abs(got - ref)
    assert np.all(np.isfinite(got)), f"{what}: non-finite values"
    assert err.max(initial=0.0) <= tol, f"{what}: max error {err.max()} > {tol}"


def assert_lse_close(lse, ref: np.ndarray) -> None:
    got = to_f64(lse)
    assert got.shape == ref.shape, f"lse: shape {got.shape} != {ref.shape}"
    ninf = np.isneginf(ref)
    assert np.array_equal(np.isneginf(got), ninf), "lse: -inf rows differ"
    fin = ~ninf
    tol = 1e-5 * np.maximum(1.0, np.abs(ref[fin])) + 1e-6
    assert np.all(np.abs(got[fin] - ref[fin]) <= tol), \
        f"lse: max error {np.abs(got[fin] - ref[fin]).max(initial=0.0)}"


def to_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """A logical [B, H, N, D] array laid out as `layout` (a contiguous copy)."""
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3) if layout == "bnhd" else x)


def from_layout(x, layout: str) -> np.ndarray:
    """An array in `layout` as logical [B, H, N, D] float64."""
    a = to_f64(x)
    return a.transpose(0, 2, 1, 3) if layout == "bnhd" else a


def random_qkv(rng, b, hq, hkv, nq, nk, dqk, dv, dtype="f32"):
    """Logical [B, H, N, D] inputs in `dtype` (NumPy) and their exact float64 values."""
    q = rng.standard_normal((b, hq, nq, dqk)).astype(np.float32)
    k = rng.standard_normal((b, hkv, nk, dqk)).astype(np.float32)
    v = rng.standard_normal((b, hkv, nk, dv)).astype(np.float32)
    q, k, v = (rounded(x, dtype) for x in (q, k, v))
    return (q, k, v), tuple(x.astype(np.float64) for x in (q, k, v))
