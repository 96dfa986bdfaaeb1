# SPDX-License-Identifier: Apache-2.0
# The public Python API: attention(), attention_varlen(), Plan, thread-count control.
# Names and arguments follow FlashAttention; conventions follow docs/conventions.md.
"""attnkit's Python API (re-exported by ``attnkit``).

Shapes use these letters: B batch, Nq / Nk query / key tokens, Hq / Hkv query / key-value
heads, Dqk / Dv head dims, T total tokens of a varlen batch. ``layout="bnhd"`` (the default,
FlashAttention's) means q is (B, Nq, Hq, Dqk); ``layout="bhnd"`` (PyTorch SDPA's) means
(B, Hq, Nq, Dqk).
"""

from __future__ import annotations

import contextlib
import contextvars
import operator
from typing import Any, Iterator, Optional, Tuple

from . import _C
from . import _arrays as arr

ArrayLike = Any  # numpy.ndarray, torch.Tensor, or any DLPack / buffer-protocol object
Window = Tuple[Optional[int], Optional[int]]

# ---------------------------------------------------------------- threads

_default_threads = 0  # 0 = all hardware threads
_scoped_threads: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar(
    "attnkit_threads", default=None)


def _check_threads(n: Any) -> int:
    n = _int(n, "threads")
    if n < 0:
        raise ValueError(f"threads must be >= 0 (0 = all cores), got {n}")
    return n


def set_num_threads(n: int) -> None:
    """Sets the process-wide default thread count (0 = all hardware threads)."""
    global _default_threads
    _default_threads = _check_threads(n)


def get_num_threads() -> int:
    """The thread count attention calls use here (inside ``threads()`` if any); 0 = all."""
    scoped = _scoped_threads.get()
    return _default_threads if scoped is None else scoped


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Context manager: calls in this thread (or asyncio task) use ``n`` threads (0 = all).

    >>> with attnkit.threads(1):
    ...     out = attnkit.attention(q, k, v)
    """
    token = _scoped_threads.set(_check_threads(n))
    try:
        yield
    finally:
        _scoped_threads.reset(token)


def _resolve_threads(threads_arg: Optional[int]) -> int:
    return get_num_threads() if threads_arg is None else _check_threads(threads_arg)

# ---------------------------------------------------------------- argument checks


def _int(x: Any, name: str) -> int:
    if isinstance(x, bool):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(x).__name__}") from None


def _float(x: Any, name: str) -> float:
    if isinstance(x, (str, bytes)) or not hasattr(x, "__float__"):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}")
    return float(x)


def _layout(layout: Any) -> str:
    if not isinstance(layout, str):
        raise TypeError(f"layout must be 'bnhd' or 'bhnd', got {type(layout).__name__}")
    if layout.lower() not in ("bnhd", "bhnd"):
        raise ValueError(f"unknown layout '{layout}' (allowed: 'bnhd' = (batch, seqlen, heads, "
                         "dim) as FlashAttention, 'bhnd' = (batch, heads, seqlen, dim) as SDPA)")
    return layout.lower()


def _window(window: Any) -> Tuple[int, int]:
    """FlashAttention's window_size=(left, right): -1 (or None) = unbounded."""
    if isinstance(window, (str, bytes)) or not hasattr(window, "__len__") or len(window) != 2:
        raise TypeError(f"window must be a pair (left, right), got {window!r}")
    sides = []
    for side in window:
        if side is None:
            sides.append(-1)
            continue
        v = _int(side, "window")
        if v < -1:
            raise ValueError(f"window=({window[0]}, {window[1]}): each side must be >= 0, or -1 "
                             "for unbounded (FlashAttention's convention)")
        sides.append(v)
    return sides[0], sides[1]


def _fa_aliases(window: Any, window_size: Any, scale: Any, softmax_scale: Any) -> Tuple[Any, Any]:
    """Accepts FlashAttention's names window_size= and softmax_scale= (not both spellings)."""
    if window_size is not None:
        if not (isinstance(window, tuple) and window == (-1, -1)):
            raise TypeError("give window= or its FlashAttention name window_size=, not both")
        window = window_size
    if softmax_scale is not None:
        if scale is not None:
            raise TypeError("give scale= or its FlashAttention name softmax_scale=, not both")
        scale = softmax_scale
    return window, scale


def _alibi(alibi_slopes: Any) -> Tuple[bool, list]:
    if alibi_slopes is None or alibi_slopes is False:
        return False, []
    if alibi_slopes is True:
        return True, []  # the standard table for Hq heads
    return True, [float(s) for s in arr.float_vector(alibi_slopes, "alibi_slopes")]

# ---------------------------------------------------------------- Plan


class Plan:
    """A reusable attention problem: the spec now, a shape with ``plan()``, ``run()`` many times.

    The plan owns its workspace (allocated once in ``plan()``), so repeated ``run()`` calls
    allocate only their outputs. ``run()`` releases the GIL; concurrent ``run()`` calls on one
    plan are safe (all but one use a temporary workspace).

    Args:
      num_q_heads: Hq.
      num_kv_heads: Hkv (Hq must be a multiple; query head h reads KV head h // (Hq // Hkv)).
      head_dim: Dqk, 1..1024.
      head_dim_v: Dv, 1..1024 (default: head_dim).
      causal: bottom-right aligned causal mask (query i sits at position Nk - Nq + i).
      window: (left, right) sliding window, inclusive bounds, -1 = unbounded.
      softcap: logit soft-cap (0 = off), applied to the scaled logits.
      alibi_slopes: None, True (the standard table) or Hq slopes.
      has_sinks: run() takes ``sinks`` (Hq,) float32 logits (gpt-oss).
      has_bias: run() takes an additive ``bias`` broadcastable to (B, Hq, Nq, Nk).
      scale: logit scale (default 1 / sqrt(head_dim)); must be finite.
      return_lse: run() also returns the log-sum-exp, float32 (B, Hq, Nq) (varlen: (Hq, T)).
      layout: 'bnhd' (FlashAttention, the default) or 'bhnd' (SDPA).
      threads: thread count (None = ``get_num_threads()``, 0 = all cores).
      kernel, block_q, block_k: force a registry kernel / tile sizes (expert use).
      autotune: time the cost model's best tilings in plan() and keep the fastest (a few kernel
        runs once per shape; cached in-process and in $ATTNKIT_AUTOTUNE_CACHE).

    Example::

      p = attnkit.Plan(32, 8, 128, causal=True).plan(batch=1, seqlen_q=4096, dtype="bf16")
      out = p.run(q, k, v)          # q (1, 4096, 32, 128), k and v (1, 4096, 8, 128)
      print(p.explain())
    """

    def __init__(self, num_q_heads: int, num_kv_heads: Optional[int] = None,
                 head_dim: Optional[int] = None, head_dim_v: Optional[int] = None, *,
                 causal: bool = False, window: Window = (-1, -1), softcap: float = 0.0,
                 alibi_slopes: Any = None, has_sinks: bool = False, has_bias: bool = False,
                 scale: Optional[float] = None, return_lse: bool = False, layout: str = "bnhd",
                 threads: Optional[int] = None, kernel: Optional[str] = None,
                 block_q: int = 0, block_k: int = 0, autotune: bool = False) -> None:
        hq = _int(num_q_heads, "num_q_heads")
        hkv = hq if num_kv_heads is None else _int(num_kv_heads, "num_kv_heads")
        if head_dim is None:
            raise TypeError("Plan() needs head_dim")
        dqk = _int(head_dim, "head_dim")
        dv = dqk if head_dim_v is None else _int(head_dim_v, "head_dim_v")
        left, right = _window(window)
        alibi, slopes = _alibi(alibi_slopes)
        if kernel is not None and not isinstance(kernel, str):
            raise TypeError(f"kernel must be a string, got {type(kernel).__name__}")
        self._layout = _layout(layout)
        self._return_lse = bool(return_lse)
        self._has_sinks = bool(has_sinks)
        self._has_bias = bool(has_bias)
        self._hq, self._hkv, self._dqk, self._dv = hq, hkv, dqk, dv
        self._c = _C.Plan(
            hq, hkv, dqk, dv, scale=None if scale is None else _float(scale, "scale"),
            causal=bool(causal), window_left=left, window_right=right,
            softcap=_float(softcap if softcap is not None else 0.0, "softcap"), alibi=alibi,
            alibi_slopes=slopes, has_sinks=self._has_sinks, has_bias=self._has_bias,
            return_lse=self._return_lse, threads=_resolve_threads(threads), layout=self._layout,
            kernel=kernel or "", block_q=_int(block_q, "block_q"), block_k=_int(block_k, "block_k"),
            autotune=bool(autotune))
        self._shape: Optional[Tuple[int, ...]] = None  # (B, Nq, Nk) or (total_q, total_k)
        self._dtype = self._out_dtype = ""

    # -- planning

    def plan(self, batch: Optional[int] = None, seqlen_q: Optional[int] = None,
             seqlen_k: Optional[int] = None, *, cu_seqlens_q: Optional[ArrayLike] = None,
             cu_seqlens_k: Optional[ArrayLike] = None, dtype: Any = "f32",
             out_dtype: Any = None) -> "Plan":
        """Plans one shape: (batch, seqlen_q, seqlen_k) or varlen offsets. Returns self.

        Args:
          batch, seqlen_q, seqlen_k: a fixed-length batch (seqlen_k defaults to seqlen_q).
          cu_seqlens_q, cu_seqlens_k: instead, a varlen batch: (batch + 1,) non-decreasing
            offsets starting at 0 (FlashAttention's); sequence b owns rows cu[b]:cu[b+1].
          dtype: q/k/v dtype: 'f32' | 'bf16' | 'f16' (or a NumPy / torch dtype).
          out_dtype: output dtype (default: dtype).
        """
        dt = arr.dtype_name(dtype, "dtype")
        odt = dt if out_dtype is None else arr.dtype_name(out_dtype, "out_dtype")
        if cu_seqlens_q is not None or cu_seqlens_k is not None:
            if batch is not None or seqlen_q is not None or seqlen_k is not None:
                raise ValueError("give (batch, seqlen_q, seqlen_k) or cu_seqlens_q/cu_seqlens_k, "
                                 "not both")
            if cu_seqlens_q is None or cu_seqlens_k is None:
                raise ValueError("give both cu_seqlens_q and cu_seqlens_k, or neither")
            cq = arr.offsets(cu_seqlens_q, "cu_seqlens_q")
            ck = arr.offsets(cu_seqlens_k, "cu_seqlens_k")
            self._c.plan(cu_seqlens_q=cq, cu_seqlens_k=ck, dtype=dt, out_dtype=odt)
            self._shape = (cq[-1], ck[-1])
        else:
            if batch is None or seqlen_q is None:
                raise TypeError("plan() needs batch and seqlen_q (or cu_seqlens_q/cu_seqlens_k)")
            b, nq = _int(batch, "batch"), _int(seqlen_q, "seqlen_q")
            nk = nq if seqlen_k is None else _int(seqlen_k, "seqlen_k")
            self._c.plan(batch=b, seqlen_q=nq, seqlen_k=nk, dtype=dt, out_dtype=odt)
            self._shape = (b, nq, nk)
        self._dtype, self._out_dtype = dt, odt
        return self

    # -- running

    def _out_shape(self) -> Tuple[int, ...]:
        assert self._shape is not None
        if self.varlen:
            t = self._shape[0]
            return (t, self._hq, self._dv) if self._layout == "bnhd" else (self._hq, t, self._dv)
        b, nq, _ = self._shape
        return ((b, nq, self._hq, self._dv) if self._layout == "bnhd"
                else (b, self._hq, nq, self._dv))

    def _lse_shape(self) -> Tuple[int, ...]:
        assert self._shape is not None
        if self.varlen:
            return (self._hq, self._shape[0])
        return (self._shape[0], self._hq, self._shape[1])

    def run(self, q: ArrayLike, k: ArrayLike, v: ArrayLike, *, out: Optional[ArrayLike] = None,
            lse: Optional[ArrayLike] = None, sinks: Optional[ArrayLike] = None,
            bias: Optional[ArrayLike] = None) -> Any:
        """Runs the plan. Returns out, or (out, lse) when the plan has return_lse.

        Shapes (bnhd; bhnd swaps the token and head axes; varlen drops B, tokens packed):
          q (B, Nq, Hq, Dqk), k (B, Nk, Hkv, Dqk), v (B, Nk, Hkv, Dv) -> out (B, Nq, Hq, Dv),
          lse float32 (B, Hq, Nq) (varlen: (Hq, T)), sinks (Hq,), bias (B|1, Hq|1, Nq|1, Nk).
        Inputs may be NumPy arrays, torch CPU tensors or any DLPack / buffer object; the output
        is a torch tensor if q is one, else a NumPy array. ``out`` / ``lse`` may be given
        (written in place).
        """
        if self._shape is None:
            raise ValueError("Plan.run: the plan has no shape yet; call plan() first")
        pq, pk, pv = arr.prepare(q, "q"), arr.prepare(k, "k"), arr.prepare(v, "v")
        if out is None:
            po = arr.empty(pq.framework, self._out_shape(), self._out_dtype)
        else:
            po = arr.prepare_out(out, "out", self._out_shape(), self._out_dtype)
        pl = None
        if self._return_lse:
            pl = (arr.empty(pq.framework, self._lse_shape(), "f32") if lse is None
                  else arr.prepare_out(lse, "lse", self._lse_shape(), "f32"))
        elif lse is not None:
            raise ValueError("lse= was given but the plan was made with return_lse=False")
        ps = None
        if self._has_sinks:
            if sinks is None:
                raise ValueError("this plan has has_sinks=True: pass sinks= ((num_q_heads,) floats)")
            ps = arr.float_vector(sinks, "sinks")
        elif sinks is not None:
            raise ValueError("sinks= was given but the plan was made with has_sinks=False")
        pb = None
        if self._has_bias:
            if bias is None:
                raise ValueError("this plan has has_bias=True: pass bias= (broadcastable to "
                                 "(batch, num_q_heads, seqlen_q, seqlen_k))")
            pb = arr.bias_view(bias).kernel
        elif bias is not None:
            raise ValueError("bias= was given but the plan was made with has_bias=False")
        self._c.run(pq.kernel, pk.kernel, pv.kernel, po.kernel,
                    None if pl is None else pl.kernel, ps, pb)
        return (po.user, pl.user) if pl is not None else po.user

    __call__ = run

    # -- introspection

    def explain(self) -> str:
        """Kernel, ISA, tiles, work partition, workspace and the alternatives considered."""
        return self._c.explain()

    @property
    def workspace_bytes(self) -> int:
        """Bytes of the workspace this plan owns (0 before plan())."""
        return self._c.workspace_bytes

    @property
    def kernel_name(self) -> str:
        return self._c.kernel_name

    @property
    def num_threads(self) -> int:
        return self._c.num_threads

    @property
    def planned(self) -> bool:
        return self._shape is not None

    @property
    def varlen(self) -> bool:
        return self._shape is not None and len(self._shape) == 2

    @property
    def layout(self) -> str:
        return self._layout

    def __repr__(self) -> str:
        shape = "not planned" if self._shape is None else (
            f"varlen total_q={self._shape[0]} total_k={self._shape[1]}" if self.varlen else
            f"batch={self._shape[0]} seqlen_q={self._shape[1]} seqlen_k={self._shape[2]}")
        return (f"attnkit.Plan(Hq={self._hq}, Hkv={self._hkv}, Dqk={self._dqk}, Dv={self._dv}, "
                f"layout={self._layout}, {shape}, dtype={self._dtype or '-'}, "
                f"kernel={self.kernel_name or '-'})")

# ---------------------------------------------------------------- one-call functions


def _dims(x: Any, name: str, ndim: int, axes: str) -> Tuple[int, ...]:
    shape = tuple(x.shape)
    if len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions {axes}, got shape {shape}")
    return shape


def _out_dtype(out: Any, out_dtype: Any, default: str) -> str:
    if out_dtype is not None:
        return arr.dtype_name(out_dtype, "out_dtype")
    if out is not None and hasattr(out, "dtype"):
        try:
            return arr.dtype_name(out.dtype, "out")
        except (TypeError, ValueError):
            return default  # prepare_out reports the mismatch
    return default


def attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, causal: bool = False,
              window: Window = (-1, -1), softcap: float = 0.0, alibi_slopes: Any = None,
              sinks: Optional[ArrayLike] = None, bias: Optional[ArrayLike] = None,
              scale: Optional[float] = None, return_lse: bool = False, layout: str = "bnhd",
              out: Optional[ArrayLike] = None, out_dtype: Any = None,
              threads: Optional[int] = None, window_size: Optional[Window] = None,
              softmax_scale: Optional[float] = None, kernel: Optional[str] = None) -> Any:
    """Exact (FlashAttention-2 style) attention on the CPU; plans and runs in one call.

    Args:
      q: (B, Nq, Hq, Dqk) with layout='bnhd' (FlashAttention's order, the default), or
         (B, Hq, Nq, Dqk) with layout='bhnd' (PyTorch SDPA's order).
      k: (B, Nk, Hkv, Dqk) / (B, Hkv, Nk, Dqk); Hq must be a multiple of Hkv (GQA / MQA).
      v: (B, Nk, Hkv, Dv) / (B, Hkv, Nk, Dv).
      causal: causal mask, bottom-right aligned: query i sits at position Nk - Nq + i
        (FlashAttention >= 2.1; PyTorch SDPA's is_causal is top-left when Nq != Nk).
      window: (left, right) sliding window, inclusive, -1 = unbounded (alias: window_size).
        causal + (L, R) is (L, min(R, 0)).
      softcap: soft-cap of the scaled logits, softcap * tanh(s / softcap) (0 = off).
      alibi_slopes: True for the standard ALiBi table, or (Hq,) slopes; bias -slope * |p_i - j|.
      sinks: (Hq,) learned sink logits (gpt-oss); the LSE includes them.
      bias: additive float bias broadcastable to (B, Hq, Nq, Nk) (always in this order; fewer
        dims are broadcast from the right); a boolean mask (True = attend) becomes 0 / -inf.
      scale: logit scale, default 1 / sqrt(Dqk) (alias: softmax_scale).
      return_lse: also return the log-sum-exp (natural log), float32 (B, Hq, Nq).
      layout: 'bnhd' or 'bhnd' (applies to q, k, v and out).
      out: optional output array to write (same layout, dtype out_dtype).
      out_dtype: default: the input dtype (float64 inputs are computed and returned as float32).
      threads: thread count for this call (default get_num_threads(); 0 = all cores).
      kernel: force a registry kernel (list_kernels()); default: the planner's choice. For bf16
        inputs on a CPU with fast AVX512-BF16 that is the kernel that rounds P to bf16 like
        FlashAttention (about 1e-3 relative error); 'dense_fwd_f32acc_tiled' keeps f32 products.

    Returns:
      out (B, Nq, Hq, Dv) / (B, Hq, Nq, Dv), or (out, lse) with return_lse. NumPy in, NumPy out;
      torch in, torch out. Rows that see no key are 0 with lse -inf.

    Raises:
      ValueError: invalid shapes, options or values (the C++ core's message);
      TypeError: arguments of the wrong type (e.g. integer arrays).
    """
    window, scale = _fa_aliases(window, window_size, scale, softmax_scale)
    lay = _layout(layout)
    pq, pk, pv = arr.prepare(q, "q"), arr.prepare(k, "k"), arr.prepare(v, "v")
    axes = "(batch, seqlen, heads, head_dim)" if lay == "bnhd" else "(batch, heads, seqlen, head_dim)"
    qs, ks, vs = (_dims(p.user, n, 4, axes) for p, n in ((pq, "q"), (pk, "k"), (pv, "v")))
    n_ax, h_ax = (1, 2) if lay == "bnhd" else (2, 1)
    if ks[:3] != vs[:3]:
        raise ValueError(f"k {ks} and v {vs} must agree on all but the last axis {axes}")
    if qs[0] != ks[0]:
        raise ValueError(f"q {qs} and k {ks} must have the same batch size (axis 0)")
    if qs[3] != ks[3]:
        raise ValueError(f"q {qs} and k {ks} must have the same head_dim (last axis)")
    plan = Plan(qs[h_ax], ks[h_ax], qs[3], vs[3], causal=causal, window=window, softcap=softcap,
                alibi_slopes=alibi_slopes, has_sinks=sinks is not None, has_bias=bias is not None,
                scale=scale, return_lse=return_lse, layout=lay, threads=threads, kernel=kernel)
    plan.plan(qs[0], qs[n_ax], ks[n_ax], dtype=pq.dtype,
              out_dtype=_out_dtype(out, out_dtype, pq.dtype))
    return plan.run(pq.user, pk.user, pv.user, out=out, sinks=sinks, bias=bias)


def attention_varlen(q: ArrayLike, k: ArrayLike, v: ArrayLike, cu_seqlens_q: ArrayLike,
                     cu_seqlens_k: ArrayLike, max_seqlen_q: Optional[int] = None,
                     max_seqlen_k: Optional[int] = None, *, causal: bool = False,
                     window: Window = (-1, -1), softcap: float = 0.0, alibi_slopes: Any = None,
                     sinks: Optional[ArrayLike] = None, scale: Optional[float] = None,
                     return_lse: bool = False, layout: str = "bnhd",
                     out: Optional[ArrayLike] = None, out_dtype: Any = None,
                     threads: Optional[int] = None, window_size: Optional[Window] = None,
                     softmax_scale: Optional[float] = None, kernel: Optional[str] = None) -> Any:
    """Attention over a batch of sequences of different lengths, packed (FlashAttention's varlen).

    Args:
      q: (Tq, Hq, Dqk) with layout='bnhd' (default), or (Hq, Tq, Dqk) with 'bhnd'.
      k: (Tk, Hkv, Dqk) / (Hkv, Tk, Dqk);  v: (Tk, Hkv, Dv) / (Hkv, Tk, Dv).
      cu_seqlens_q, cu_seqlens_k: (batch + 1,) integer offsets, non-decreasing, starting at 0,
        ending at Tq / Tk. Sequence b owns rows cu[b]:cu[b+1]; empty sequences are allowed.
      max_seqlen_q, max_seqlen_k: accepted for FlashAttention compatibility; when given they
        must be >= the longest sequence.
      Other arguments as in attention() (no bias with varlen).

    Returns:
      out (Tq, Hq, Dv) / (Hq, Tq, Dv), or (out, lse) with lse float32 (Hq, Tq).
    """
    window, scale = _fa_aliases(window, window_size, scale, softmax_scale)
    lay = _layout(layout)
    pq, pk, pv = arr.prepare(q, "q"), arr.prepare(k, "k"), arr.prepare(v, "v")
    axes = "(total_tokens, heads, head_dim)" if lay == "bnhd" else "(heads, total_tokens, head_dim)"
    qs, ks, vs = (_dims(p.user, n, 3, axes) for p, n in ((pq, "q"), (pk, "k"), (pv, "v")))
    h_ax = 1 if lay == "bnhd" else 0
    if ks[:2] != vs[:2]:
        raise ValueError(f"k {ks} and v {vs} must agree on all but the last axis {axes}")
    if qs[2] != ks[2]:
        raise ValueError(f"q {qs} and k {ks} must have the same head_dim (last axis)")
    cq, ck = arr.offsets(cu_seqlens_q, "cu_seqlens_q"), arr.offsets(cu_seqlens_k, "cu_seqlens_k")
    for name, cu, mx in (("max_seqlen_q", cq, max_seqlen_q), ("max_seqlen_k", ck, max_seqlen_k)):
        if mx is not None:
            longest = max(b - a for a, b in zip(cu[:-1], cu[1:]))
            if _int(mx, name) < longest:
                raise ValueError(f"{name}={mx} is shorter than the longest sequence ({longest})")
    plan = Plan(qs[h_ax], ks[h_ax], qs[2], vs[2], causal=causal, window=window, softcap=softcap,
                alibi_slopes=alibi_slopes, has_sinks=sinks is not None, scale=scale,
                return_lse=return_lse, layout=lay, threads=threads, kernel=kernel)
    plan.plan(cu_seqlens_q=cq, cu_seqlens_k=ck, dtype=pq.dtype,
              out_dtype=_out_dtype(out, out_dtype, pq.dtype))
    return plan.run(pq.user, pk.user, pv.user, out=out, sinks=sinks)


def alibi_slopes(num_heads: int) -> Any:
    """The standard ALiBi slope table for num_heads heads, float32 (num_heads,) NumPy array."""
    import numpy as np

    return np.asarray(_C.alibi_slopes(_int(num_heads, "num_heads")), dtype=np.float32)


def cpu_info() -> str:
    """What attnkit detected: hardware threads, cache sizes, best SIMD target."""
    return _C.cpu_info()


def list_kernels() -> list:
    """The registered kernels: dicts with name, family, dtypes, description."""
    return _C.list_kernels()

