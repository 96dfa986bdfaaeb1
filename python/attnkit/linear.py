# SPDX-License-Identifier: Apache-2.0
# The Python API of the linear family: linear_attention() and delta_rule(), over
# attnkit::LinearAttention. Conventions: docs/linear.md (flash-linear-attention's where they exist).
"""Linear attention on the CPU (re-exported by ``attnkit``).

Shapes use these letters: B batch, N tokens, H query heads, Hkv key/value (state) heads,
Dk / Dv head dims, F feature dim (Dk for identity / elu+1 / relu, 2 Dk for hedgehog,
1 + Dk + Dk^2 for based). ``layout="bhnd"`` (the default, as in the issue and fla's
``head_first``) means q is (B, H, N, Dk); ``layout="bnhd"`` means (B, N, H, Dk). States are
always float32 (B, Hkv, F, Dv) (Dv + 1 with ``norm="denominator"``: the last column is the
running normaliser), independent of the layout.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from . import _C
from . import _arrays as arr
from ._api import _float, _int, _layout, _out_dtype, _resolve_threads

ArrayLike = Any  # numpy.ndarray, torch.Tensor, or any DLPack / buffer-protocol object

_MODES = ("chunk", "recurrent", "parallel", "auto", "reference")
_NORMS = ("none", "denominator", "rmsnorm", "layernorm")
_MAPS = ("identity", "elu+1", "relu", "hedgehog", "based")


def _logical(x: Any, framework: str, layout: str) -> Any:
    """A (B, H, N, ...) view of an array given in `layout` (a transposed view for bnhd)."""
    if layout == "bhnd":
        return x
    return x.transpose(1, 2) if framework == arr.TORCH else x.swapaxes(1, 2)


def _f32(x: Any, name: str) -> arr.Prepared:
    """x as a kernel-ready float32 array (gates, beta and states are float32 in the core)."""
    p = arr.prepare(x, name)
    if p.dtype == "f32":
        return p
    user = p.user.float() if p.framework == arr.TORCH else np.asarray(p.user, dtype=np.float32)
    return arr.prepare(user, name)


def _choice(value: Any, name: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"unknown {name} '{value}' (allowed: {', '.join(allowed)})")
    return value


def _decay(decay: Any, hkv: int) -> list:
    """None, 'lightning', 'retnet', one lambda for every head, or (Hkv,) lambdas."""
    if decay is None:
        return []
    if isinstance(decay, str):
        table = {"lightning": _C._lightning_decays, "retnet": _C._retnet_decays}.get(decay)
        if table is None:
            raise ValueError(f"unknown decay table '{decay}' (allowed: 'lightning', 'retnet', "
                             "a number in (0, 1], or one per head)")
        return list(table(hkv))
    if isinstance(decay, (int, float)) and not isinstance(decay, bool):
        return [float(decay)] * hkv
    return [float(x) for x in arr.float_vector(decay, "decay")]


def _hedgehog(weights: Any, feature_map: str) -> list:
    """(W, b) or (Wq, bq, Wk, bk) -> four flat float lists (empty = absent / tied)."""
    if weights is None:
        return [[], [], [], []]
    if feature_map != "hedgehog":
        raise ValueError(f"hedgehog_weights given but feature_map is '{feature_map}'")
    if not isinstance(weights, (tuple, list)) or len(weights) not in (1, 2, 4):
        raise TypeError("hedgehog_weights must be (W,), (W, b) or (W_q, b_q, W_k, b_k) with W "
                        "(Dk, Dk) as torch.nn.Linear.weight and b (Dk,); None entries are absent")
    out = []
    for i, w in enumerate(list(weights) + [None] * (4 - len(weights))):
        if w is None:
            out.append([])
            continue
        if arr.is_torch(w):
            w = w.detach().float().numpy()
        out.append([float(x) for x in np.asarray(w, dtype=np.float32).reshape(-1)])
    return out


def _run(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, rule: str, beta: Any, decay: Any,
         gate: Any, feature_map: str, scale: Optional[float], initial_state: Any,
         return_state: bool, mode: str, norm: str, norm_eps: float, hedgehog_weights: Any,
         qk_l2norm: bool, window: int, linear_weight: float, window_weight: float,
         window_scale: Optional[float], cu_seqlens: Any, chunk: Optional[int], layout: str,
         out: Any, out_dtype: Any, threads: Optional[int]) -> Any:
    lay = _layout(layout)
    mode = _choice(mode, "mode", _MODES)
    norm = _choice(norm, "norm", _NORMS)
    feature_map = _choice(feature_map, "feature_map", _MAPS)
    pq, pk, pv = arr.prepare(q, "q"), arr.prepare(k, "k"), arr.prepare(v, "v")
    axes = "(batch, heads, seqlen, head_dim)" if lay == "bhnd" else "(batch, seqlen, heads, head_dim)"
    for p, name in ((pq, "q"), (pk, "k"), (pv, "v")):
        if len(p.user.shape) != 4:
            raise ValueError(f"{name} must have 4 dimensions {axes}, got shape {tuple(p.user.shape)}")
    fw = pq.framework
    lq, lk, lv = (_logical(p.kernel, p.framework, lay) for p in (pq, pk, pv))
    b, hq, n, _ = lq.shape
    hkv = lk.shape[1]
    if tuple(lk.shape[:3]) != tuple(lv.shape[:3]):
        raise ValueError(f"k {tuple(pk.user.shape)} and v {tuple(pv.user.shape)} must agree on "
                         f"all but the last axis {axes}")
    odt = _out_dtype(out, out_dtype, pq.dtype)
    out_shape = tuple(pq.user.shape[:3]) + (lv.shape[3],)
    po = (arr.empty(fw, out_shape, odt) if out is None
          else arr.prepare_out(out, "out", out_shape, odt))
    pg = gate_kind = None
    if gate is not None:
        pg = _f32(gate, "gate")
        gate_kind = {3: "scalar", 4: "channel"}.get(len(pg.user.shape))
        if gate_kind is None:
            raise ValueError(f"gate must have 3 dimensions (per token and head: log-gates of a "
                             f"scalar decay) or 4 (per channel), got shape {tuple(pg.user.shape)}")
    pb = None
    if beta is not None:
        if isinstance(beta, (int, float)) and not isinstance(beta, bool):
            beta = np.full(tuple(pk.user.shape[:3]), float(beta), np.float32)
        pb = _f32(beta, "beta")
    ps = None if initial_state is None else _f32(initial_state, "initial_state")
    cu = [] if cu_seqlens is None else arr.offsets(cu_seqlens, "cu_seqlens")
    n_seq = len(cu) - 1 if cu else b
    f = {"hedgehog": 2 * lq.shape[3], "based": 1 + lq.shape[3] + lq.shape[3] ** 2}.get(
        feature_map, lq.shape[3])
    state = None
    if return_state:
        cols = lv.shape[3] + (1 if norm == "denominator" else 0)
        state = arr.empty(fw, (n_seq, hkv, f, cols), "f32")
    hw = _hedgehog(hedgehog_weights, feature_map)
    _C._linear_attention(
        lq, lk, lv, _logical(po.kernel, fw, lay),
        gate=None if pg is None else _logical(pg.kernel, pg.framework, lay),
        beta=None if pb is None else _logical(pb.kernel, pb.framework, lay),
        initial_state=None if ps is None else ps.kernel,
        final_state=None if state is None else state.kernel, num_kv_heads=hkv,
        scale=None if scale is None else _float(scale, "scale"), rule=rule, decay=_decay(decay, hkv),
        gate_kind=gate_kind or "none", feature_map=feature_map, hedgehog_weight_q=hw[0],
        hedgehog_bias_q=hw[1], hedgehog_weight_k=hw[2], hedgehog_bias_k=hw[3],
        qk_l2norm=bool(qk_l2norm), norm=norm, norm_eps=_float(norm_eps, "norm_eps"),
        window=_int(window, "window"), linear_weight=_float(linear_weight, "linear_weight"),
        window_weight=_float(window_weight, "window_weight"),
        window_scale=None if window_scale is None else _float(window_scale, "window_scale"),
        cu_seqlens=cu, mode=mode, chunk=0 if chunk is None else _int(chunk, "chunk"),
        threads=_resolve_threads(threads))
    return (po.user, state.user) if return_state else po.user


def linear_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, decay: Any = None,
                     gate: Optional[ArrayLike] = None, feature_map: str = "identity",
                     scale: Optional[float] = None, initial_state: Optional[ArrayLike] = None,
                     return_state: bool = False, mode: str = "chunk", *, norm: str = "none",
                     norm_eps: float = 1e-6, hedgehog_weights: Any = None,
                     qk_l2norm: bool = False, window: int = 0, linear_weight: float = 0.5,
                     window_weight: float = 0.5, window_scale: Optional[float] = None,
                     cu_seqlens: Optional[ArrayLike] = None, chunk: Optional[int] = None,
                     layout: str = "bhnd", out: Optional[ArrayLike] = None, out_dtype: Any = None,
                     threads: Optional[int] = None) -> Any:
    """Causal linear attention: S_t = diag(a_t) S_{t-1} + phi(k_t)^T v_t, o_t = scale phi(q_t) S_t.

    Args:
      q: (B, H, N, Dk) (layout='bhnd', the default) or (B, N, H, Dk) ('bnhd'); float32,
        bfloat16 or float16 (float64 is converted to float32).
      k: (B, Hkv, N, Dk); H must be a multiple of Hkv (query head h reads state head h // (H // Hkv)).
      v: (B, Hkv, N, Dv).
      decay: per-head lambda in (0, 1]: one number for all heads, (Hkv,) values, or the tables
        'lightning' (exp(-ALiBi slope), Lightning Attention-2) / 'retnet' (1 - 2^(-5-h)).
      gate: log-gates (<= 0; -inf resets the state): (B, Hkv, N) scalar per token and head
        (Mamba-2) or (B, Hkv, N, Dk) per channel (GLA); token and head axes in `layout` order.
        a_t = lambda * exp(gate_t).
      feature_map: 'identity' | 'elu+1' | 'relu' | 'hedgehog' (needs hedgehog_weights) | 'based'.
      scale: default 1 / sqrt(Dk) (flash-linear-attention's); multiplies phi(q) (Based: q.k
        inside its Taylor map 1 + x + x^2 / 2).
      initial_state: float32 (B, Hkv, F, Dv) (varlen: one per sequence); default zeros.
      return_state: also return the final state, float32 (B, Hkv, F, Dv).
      mode: 'chunk' (prefill) | 'recurrent' (token by token, decode) | 'parallel' (the masked
        O(N^2) form) | 'auto' | 'reference' (the C++ fp64 oracle). All give the same result.
      norm: 'none' | 'denominator' (o / (phi(q) z + norm_eps); the state gets a normaliser
        column) | 'rmsnorm' / 'layernorm' (TransNormer's output norm, no gain).
      hedgehog_weights: (W, b) or (W_q, b_q, W_k, b_k): phi(x) = softmax([y, -y]), y = W x + b,
        W (Dk, Dk) in torch.nn.Linear's layout (fla's map is W = 2 W_fla, b = 2 b_fla).
      qk_l2norm: L2-normalise q and k rows first.
      window, linear_weight, window_weight, window_scale: hybrid layer (Liger / Based style):
        out = linear_weight * linear + window_weight * causal softmax attention over the last
        `window` tokens of this call.
      cu_seqlens: varlen batch: (S + 1,) offsets; q is (1, H, T, Dk) and each sequence starts
        from its own initial state.
      chunk: chunk length of mode='chunk' (default: the planner's).
      layout: 'bhnd' or 'bnhd' (q, k, v, out, gate, beta).
      out, out_dtype, threads: as in attention().

    Returns:
      out (same layout as q, Dv last), or (out, final_state) with return_state. NumPy in,
      NumPy out; torch in, torch out.

    Raises:
      ValueError: invalid shapes, ranges (gates > 0, decay outside (0, 1]) or options;
      TypeError: arguments of the wrong type.
    """
    return _run(q, k, v, rule="additive", beta=None, decay=decay, gate=gate,
                feature_map=feature_map, scale=scale, initial_state=initial_state,
                return_state=return_state, mode=mode, norm=norm, norm_eps=norm_eps,
                hedgehog_weights=hedgehog_weights, qk_l2norm=qk_l2norm, window=window,
                linear_weight=linear_weight, window_weight=window_weight,
                window_scale=window_scale, cu_seqlens=cu_seqlens, chunk=chunk, layout=layout,
                out=out, out_dtype=out_dtype, threads=threads)


def delta_rule(q: ArrayLike, k: ArrayLike, v: ArrayLike, beta: Any, gate: Optional[ArrayLike] = None,
               decay: Any = None, scale: Optional[float] = None,
               initial_state: Optional[ArrayLike] = None, return_state: bool = False,
               mode: str = "chunk", *, qk_l2norm: bool = False, feature_map: str = "identity",
               norm: str = "none", norm_eps: float = 1e-6, cu_seqlens: Optional[ArrayLike] = None,
               chunk: Optional[int] = None, layout: str = "bhnd", out: Optional[ArrayLike] = None,
               out_dtype: Any = None, threads: Optional[int] = None) -> Any:
    """(Gated) DeltaNet: S_t = a_t S_{t-1} + beta_t k_t (v_t - a_t S_{t-1}^T k_t)^T, o_t = scale S_t^T q_t.

    Args:
      q, k, v: as in linear_attention() (DeltaNet wants unit-norm keys: pass qk_l2norm=True,
        flash-linear-attention's use_qk_l2norm_in_kernel, or normalise them yourself).
      beta: write strengths in [0, 2]: (B, Hkv, N) in `layout` order, or one number.
      gate: log-gates (<= 0): (B, Hkv, N) gives Gated DeltaNet, (B, Hkv, N, Dk) per channel
        gives Kimi Delta Attention; None gives DeltaNet.
      decay, scale, initial_state, return_state, mode, feature_map, cu_seqlens, chunk,
        layout, out, out_dtype, threads: as in linear_attention().
      norm: 'none' | 'rmsnorm' | 'layernorm' (no denominator for the delta rule).

    Returns:
      out, or (out, final_state) with final_state float32 (B, Hkv, Dk, Dv).

    The chunked form is the WY / UT-transform one of flash-linear-attention
    (naive_chunk_gated_delta_rule); the recurrent form is the definition above.
    """
    if beta is None:
        raise TypeError("delta_rule() needs beta (write strengths in [0, 2])")
    return _run(q, k, v, rule="delta", beta=beta, decay=decay, gate=gate,
                feature_map=feature_map, scale=scale, initial_state=initial_state,
                return_state=return_state, mode=mode, norm=norm, norm_eps=norm_eps,
                hedgehog_weights=None, qk_l2norm=qk_l2norm, window=0, linear_weight=0.5,
                window_weight=0.5, window_scale=None, cu_seqlens=cu_seqlens, chunk=chunk,
                layout=layout, out=out, out_dtype=out_dtype, threads=threads)

