# SPDX-License-Identifier: Apache-2.0
# The Python API of the sparse and local families: block_sparse_attention(),
# predict_block_mask(), neighborhood_attention() / na1d / na2d / na3d and
# window_attention(), over attnkit/sparse.h and attnkit/local.h. docs/sparse.md.
"""Block-sparse, neighbourhood and window attention on the CPU (re-exported by ``attnkit``).

Tensors are (B, H, N, D) (``layout="bhnd"``, the default here, as in the issue and NATTEN's
heads-first form) or (B, N, H, D) (``"bnhd"``) for block-sparse attention, and
(B, H, *spatial, D) for neighbourhood and window attention. Block masks are boolean
(B, Hq, ceil(Nq / block_size), ceil(Nk / block_size)) arrays: True = compute that block.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _C
from . import _arrays as arr
from ._api import _float, _int, _layout, _out_dtype, _resolve_threads

ArrayLike = Any

_METHODS = ("xattention", "minference", "flexprefill", "power", "sliding_window", "topk", "sampled")
_MINF_PATTERNS = ("vertical_slash", "a_shape", "block_sparse")


def _logical(x: Any, framework: str, layout: str) -> Any:
    """A (B, H, N, D) view of an array given in `layout`."""
    if layout == "bhnd":
        return x
    return x.transpose(1, 2) if framework == arr.TORCH else x.swapaxes(1, 2)


def _qkv(q: Any, k: Any, v: Any, ndim: int, axes: str) -> Tuple[arr.Prepared, ...]:
    out = []
    for x, name in ((q, "q"), (k, "k"), (v, "v")):
        if x is None:
            out.append(None)
            continue
        p = arr.prepare(x, name)
        if len(p.user.shape) != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions {axes}, got shape "
                             f"{tuple(p.user.shape)}")
        out.append(p)
    return tuple(out)


def _block_size(block_size: Any) -> int:
    bs = _int(block_size, "block_size")
    if bs not in (32, 64, 128):
        raise ValueError(f"block_size must be 32, 64 or 128, got {bs}")
    return bs


def _mask_array(block_mask: Any) -> np.ndarray:
    if arr.is_torch(block_mask):
        block_mask = block_mask.detach().cpu().numpy()
    m = np.asarray(block_mask)
    if m.ndim != 4:
        raise ValueError(f"block_mask must have 4 dimensions (B, Hq, ceil(Nq/block_size), "
                         f"ceil(Nk/block_size)), got shape {m.shape}")
    if m.dtype != np.bool_ and m.dtype.kind not in "iu":
        raise TypeError(f"block_mask must be boolean (or integer 0/1), got dtype {m.dtype}")
    return np.ascontiguousarray(m != 0, dtype=np.uint8)


def block_sparse_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, block_mask: ArrayLike,
                           block_size: int = 64, causal: bool = False, return_lse: bool = False,
                           *, scale: Optional[float] = None, layout: str = "bhnd",
                           out: Optional[ArrayLike] = None, out_dtype: Any = None,
                           threads: Optional[int] = None) -> Any:
    """Exact attention restricted to the kept blocks of a block mask.

    Args:
      q: (B, Hq, Nq, Dqk) (layout='bhnd', the default) or (B, Nq, Hq, Dqk) ('bnhd'); float32,
        bfloat16 or float16 (float64 is converted to float32).
      k, v: (B, Hkv, Nk, Dqk) and (B, Hkv, Nk, Dv); Hq must be a multiple of Hkv (GQA).
      block_mask: boolean (B, Hq, ceil(Nq / block_size), ceil(Nk / block_size)); True keeps
        the (query block, key block) pair. Kept blocks are still masked elementwise by
        `causal` (bottom-right aligned). A row with nothing kept gives 0 (LSE -inf).
      block_size: 32, 64 or 128, for both axes.
      return_lse: also return the natural-log LSE, float32 (B, Hq, Nq).
      scale, layout, out, out_dtype, threads: as in attnkit.attention().

    Returns:
      out (q's layout, Dv last), or (out, lse). Cost is proportional to the kept blocks.
    """
    lay = _layout(layout)
    axes = "(batch, heads, seqlen, head_dim)" if lay == "bhnd" else "(batch, seqlen, heads, head_dim)"
    pq, pk, pv = _qkv(q, k, v, 4, axes)
    bs = _block_size(block_size)
    fw = pq.framework
    lq, lk, lv = (_logical(p.kernel, p.framework, lay) for p in (pq, pk, pv))
    odt = _out_dtype(out, out_dtype, pq.dtype)
    out_shape = tuple(pq.user.shape[:3]) + (lv.shape[3],)
    po = arr.empty(fw, out_shape, odt) if out is None else arr.prepare_out(out, "out", out_shape, odt)
    b, hq, nq = lq.shape[0], lq.shape[1], lq.shape[2]
    lse = arr.empty(fw, (b, hq, nq), "f32") if return_lse else None
    _C._block_sparse_attention(
        lq, lk, lv, _logical(po.kernel, fw, lay), lse=None if lse is None else lse.kernel,
        block_mask=_mask_array(block_mask), block_size=bs, causal=bool(causal),
        scale=None if scale is None else _float(scale, "scale"), threads=_resolve_threads(threads))
    return (po.user, lse.user) if return_lse else po.user


def predict_block_mask(q: ArrayLike, k: ArrayLike, method: str = "xattention", *,
                       causal: bool = True, scale: Optional[float] = None,
                       block_size: Optional[int] = None, seqlen_k: Optional[int] = None,
                       layout: str = "bhnd", threads: Optional[int] = None,
                       **params: Any) -> np.ndarray:
    """A block mask from one of the predictors, as a boolean NumPy array (B, Hq, nqb, nkb).

    Methods and their parameters (defaults are the papers'; docs/sparse.md):
      'xattention': stride=8, threshold=0.9 (or one per head), keep_sink, keep_recent;
        block_size 128.
      'minference': pattern='vertical_slash' | 'a_shape' | 'block_sparse' (or one per head),
        vertical_size=1000, slash_size=6096 (one number or one per head), last_q=64;
        block_size 64. Causal only.
      'flexprefill': gamma=0.9, tau=0.1, min_budget=512, max_budget=0 (unbounded);
        block_size 128. Causal only.
      'power': sink_blocks=1, local_blocks=1; block_size 64. Causal only; reads only shapes.
      'sliding_window': sink_blocks=1, window_blocks=16; block_size 64; reads only shapes.
      'topk': top_k=16, keep_sink=False, keep_diagonal=False; block_size 64.
      'sampled' (attnkit's sampled-mass predictor, docs/sparse.md): stride=16, threshold=0.95,
        entry_threshold=0.01, entry_ratio=64, sink_blocks=1, local_blocks=2, max_fraction=1.0;
        block_size 128.

    q is (B, Hq, Nq, D) and k (B, Hkv, Nk, D) in `layout`; for 'power' and 'sliding_window'
    k may be None (then Nk = seqlen_k or Nq).
    """
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"unknown method '{method}' (allowed: {', '.join(_METHODS)})")
    lay = _layout(layout)
    axes = "(batch, heads, seqlen, head_dim)" if lay == "bhnd" else "(batch, seqlen, heads, head_dim)"
    static = method in ("power", "sliding_window")
    pq, pk, _ = _qkv(q, None if static and k is None else k, None, 4, axes)
    if pk is None and not static:
        raise ValueError(f"method '{method}' needs k")
    lq = _logical(pq.kernel, pq.framework, lay)
    lk = None if pk is None else _logical(pk.kernel, pk.framework, lay)
    b, hq, nq = (int(x) for x in lq.shape[:3])
    nk = int(lk.shape[2]) if lk is not None else (nq if seqlen_k is None else _int(seqlen_k, "seqlen_k"))
    defaults = {"xattention": 128, "flexprefill": 128, "sampled": 128}
    bs = _block_size(defaults.get(method, 64) if block_size is None else block_size)
    causal = bool(causal)
    sc = None if scale is None else _float(scale, "scale")
    th = _resolve_threads(threads)

    def take(name: str, default: Any) -> Any:
        return params.pop(name, default)

    if method == "xattention":
        threshold = take("threshold", 0.9)
        per_head = [] if np.isscalar(threshold) else [float(x) for x in threshold]
        raw = _C._predict_xattention(
            lq, lk, causal, sc, bs, _int(take("stride", 8), "stride"),
            _float(threshold, "threshold") if not per_head else 0.9, per_head,
            bool(take("keep_sink", False)), bool(take("keep_recent", False)), th)
    elif method == "minference":
        pattern = take("pattern", "vertical_slash")
        patterns = [pattern] * hq if isinstance(pattern, str) else list(pattern)
        for p in patterns:
            if p not in _MINF_PATTERNS:
                raise ValueError(f"unknown MInference pattern '{p}' (allowed: "
                                 f"{', '.join(_MINF_PATTERNS)})")

        def per_head(x: Any, name: str) -> list:
            return [_int(x, name)] * hq if np.isscalar(x) else [_int(y, name) for y in x]

        raw = _C._predict_minference(
            lq, lk, causal, sc, bs, _int(take("last_q", 64), "last_q"), patterns,
            per_head(take("vertical_size", 1000), "vertical_size"),
            per_head(take("slash_size", 6096), "slash_size"), th)
    elif method == "flexprefill":
        raw = _C._predict_flexprefill(
            lq, lk, causal, sc, bs, _float(take("gamma", 0.9), "gamma"),
            _float(take("tau", 0.1), "tau"), _int(take("min_budget", 512), "min_budget"),
            _int(take("max_budget", 0), "max_budget"), th)
    elif method == "sampled":
        raw = _C._predict_sampled(
            lq, lk, causal, sc, bs, _int(take("stride", 16), "stride"),
            _float(take("threshold", 0.95), "threshold"),
            _float(take("entry_threshold", 0.01), "entry_threshold"),
            _float(take("entry_ratio", 64.0), "entry_ratio"),
            _int(take("sink_blocks", 1), "sink_blocks"), _int(take("local_blocks", 2), "local_blocks"),
            _float(take("max_fraction", 1.0), "max_fraction"), th)
    elif method == "topk":
        raw = _C._predict_topk(lq, lk, causal, sc, bs, _int(take("top_k", 16), "top_k"),
                               bool(take("keep_sink", False)), bool(take("keep_diagonal", False)),
                               th)
    elif method == "power":
        raw = _C._predict_power(b, hq, nq, nk, causal, bs,
                                _int(take("sink_blocks", 1), "sink_blocks"),
                                _int(take("local_blocks", 1), "local_blocks"))
    else:
        raw = _C._predict_sliding_window(b, hq, nq, nk, causal, bs,
                                         _int(take("sink_blocks", 1), "sink_blocks"),
                                         _int(take("window_blocks", 16), "window_blocks"))
    if params:
        raise TypeError(f"unknown parameter(s) for method '{method}': {', '.join(sorted(params))}")
    nqb, nkb = -(-nq // bs), -(-nk // bs)
    return np.frombuffer(raw, dtype=np.uint8).reshape(b, hq, nqb, nkb).astype(bool)


def _per_axis(x: Any, rank: int, name: str) -> list:
    if isinstance(x, (list, tuple)):
        if len(x) != rank:
            raise ValueError(f"{name} must be one value or {rank} (one per spatial axis), got {len(x)}")
        return list(x)
    return [x] * rank


def neighborhood_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, kernel_size: Any,
                           dilation: Any = 1, causal: Any = False, *, stride: Any = 1,
                           scale: Optional[float] = None, return_lse: bool = False,
                           out_dtype: Any = None, threads: Optional[int] = None) -> Any:
    """Neighbourhood attention (NATTEN semantics) over 1, 2 or 3 spatial axes.

    Args:
      q: (B, Hq, *spatial, Dqk) with 1 to 3 spatial axes; k, v: (B, Hkv, *spatial, D).
      kernel_size, dilation, stride, causal: one value for every axis or one per axis. Each
        query sees kernel_size keys per axis (its window is shifted, not truncated, at the
        borders); dilation r groups positions by index mod r; causal axes see no future.
      scale: default 1 / sqrt(Dqk); return_lse: also return float32 (B, Hq, *spatial).

    Returns:
      out (B, Hq, *spatial, Dv), or (out, lse).
    """
    pq, pk, pv = _qkv(q, k, v, len(np.shape(q)) if not arr.is_torch(q) else q.dim(),
                      "(batch, heads, *spatial, head_dim)")
    nd = len(pq.user.shape)
    if nd < 4 or nd > 6:
        raise ValueError(f"q must have 4 to 6 dimensions (batch, heads, *spatial (1-3 axes), "
                         f"head_dim), got shape {tuple(pq.user.shape)}")
    rank = nd - 3
    for p, name in ((pk, "k"), (pv, "v")):
        if len(p.user.shape) != nd:
            raise ValueError(f"{name} must have {nd} dimensions like q, got shape {tuple(p.user.shape)}")
    spatial = tuple(int(x) for x in pq.user.shape[2:2 + rank])
    for p, name in ((pk, "k"), (pv, "v")):
        if tuple(p.user.shape[2:2 + rank]) != spatial:
            raise ValueError(f"{name} has spatial shape {tuple(p.user.shape[2:2 + rank])}, q has {spatial}")
    kern = [_int(x, "kernel_size") for x in _per_axis(kernel_size, rank, "kernel_size")]
    dil = [_int(x, "dilation") for x in _per_axis(dilation, rank, "dilation")]
    st = [_int(x, "stride") for x in _per_axis(stride, rank, "stride")]
    cz = [1 if bool(x) else 0 for x in _per_axis(causal, rank, "causal")]
    return _grid_call(pq, pk, pv, rank, return_lse, out_dtype,
                      lambda lq, lk, lv, lo, ll: _C._neighborhood_attention(
                          lq, lk, lv, lo, lse=ll, extent=list(spatial), kernel_size=kern,
                          dilation=dil, stride=st, causal=cz,
                          scale=None if scale is None else _float(scale, "scale"),
                          threads=_resolve_threads(threads)))


def _flat(x: Any, rank: int) -> Any:
    """(B, H, *spatial, D) -> (B, H, N, D) (a view when strides allow)."""
    s = tuple(x.shape)
    n = int(np.prod(s[2:2 + rank]))
    return x.reshape(s[0], s[1], n, s[-1])


def _grid_call(pq: Any, pk: Any, pv: Any, rank: int, return_lse: bool, out_dtype: Any,
               call: Any) -> Any:
    fw = pq.framework
    odt = _out_dtype(None, out_dtype, pq.dtype)
    shape = tuple(pq.user.shape[:-1]) + (pv.user.shape[-1],)
    po = arr.empty(fw, shape, odt)
    lse = arr.empty(fw, tuple(pq.user.shape[:-1]), "f32") if return_lse else None
    call(_flat(pq.kernel, rank), _flat(pk.kernel, rank), _flat(pv.kernel, rank),
         _flat(po.kernel, rank),
         None if lse is None else lse.kernel.reshape(lse.kernel.shape[0], lse.kernel.shape[1], -1))
    return (po.user, lse.user) if return_lse else po.user


def _na(rank: int) -> Any:
    def na(q: ArrayLike, k: ArrayLike, v: ArrayLike, kernel_size: Any, dilation: Any = 1,
           causal: Any = False, **kwargs: Any) -> Any:
        nd = q.dim() if arr.is_torch(q) else np.ndim(q)
        if nd != rank + 3:
            raise ValueError(f"na{rank}d: q must have {rank + 3} dimensions (batch, heads, "
                             f"{rank} spatial, head_dim), got {nd}")
        return neighborhood_attention(q, k, v, kernel_size, dilation, causal, **kwargs)

    na.__name__ = f"na{rank}d"
    na.__doc__ = f"neighborhood_attention() on exactly {rank} spatial axis/axes."
    return na


na1d = _na(1)
na2d = _na(2)
na3d = _na(3)


def window_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, window_size: Any,
                     shift: Any = 0, *, rel_pos_bias: Optional[ArrayLike] = None,
                     scale: Optional[float] = None, return_lse: bool = False,
                     out_dtype: Any = None, threads: Optional[int] = None) -> Any:
    """Swin window attention (W-MSA, or SW-MSA when shift > 0) on (B, H, height, width, D).

    The map is rolled by -shift, split into window_size windows, attention runs inside each
    window (keys of another region of the rolled map masked when shifted), and the result is
    rolled back. rel_pos_bias: Swin's table (Hq, 2 Wy - 1, 2 Wx - 1), added to the logits.
    height and width must be multiples of the window; 0 <= shift < window.
    """
    pq, pk, pv = _qkv(q, k, v, 5, "(batch, heads, height, width, head_dim)")
    h, w = int(pq.user.shape[2]), int(pq.user.shape[3])
    for p, name in ((pk, "k"), (pv, "v")):
        if tuple(p.user.shape[2:4]) != (h, w):
            raise ValueError(f"{name} has spatial shape {tuple(p.user.shape[2:4])}, q has {(h, w)}")
    win = [_int(x, "window_size") for x in _per_axis(window_size, 2, "window_size")]
    sh = [_int(x, "shift") for x in _per_axis(shift, 2, "shift")]
    table: Sequence[float] = []
    if rel_pos_bias is not None:
        t = rel_pos_bias.detach().float().numpy() if arr.is_torch(rel_pos_bias) else rel_pos_bias
        table = [float(x) for x in np.asarray(t, np.float32).reshape(-1)]
    return _grid_call(pq, pk, pv, 2, return_lse, out_dtype,
                      lambda lq, lk, lv, lo, ll: _C._window_attention(
                          lq, lk, lv, lo, lse=ll, height=h, width=w, window_size=win, shift=sh,
                          rel_pos_bias=list(table),
                          scale=None if scale is None else _float(scale, "scale"),
                          threads=_resolve_threads(threads)))
