# SPDX-License-Identifier: Apache-2.0
# The Python API of the decode family: KVCache and attention_with_kvcache(), over
# attnkit::KVCache and attnkit::Decode. Conventions: docs/decode.md.
"""Decode against a KV cache on the CPU (re-exported by ``attnkit``).

A :class:`KVCache` holds the keys and values of one attention layer (paged or contiguous;
f32 / bf16 / f16 / int8 / int4; ring and sink+recent retention; RoPE applied to keys on
append; fork with copy-on-write). :func:`attention_with_kvcache` attends 1..16 new query
tokens per sequence (FlashAttention's ``flash_attn_with_kvcache`` order: q is
(batch, seqlen_q, Hq, D)) against the cache's sequences, the new tokens being the newest ones
already appended (append first, then decode).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from . import _C
from . import _arrays as arr
from ._api import _alibi, _fa_aliases, _float, _int, _out_dtype, _resolve_threads, _window
from .linear import _choice

ArrayLike = Any

_DTYPES = ("f32", "bf16", "f16", "int8", "int4")


class KVCache:
    """One attention layer's KV cache (see docs/decode.md for every option).

    Args:
      num_kv_heads: Hkv.
      head_dim: Dqk of the keys; head_dim_v: Dv of the values (default head_dim).
      dtype: storage 'f32' | 'bf16' | 'f16' | 'int8' | 'int4' (asymmetric, f32 scales).
      layout: 'paged' (a pool of num_pages pages of page_size tokens, block tables, fork shares
        pages) or 'contiguous' (max_seqs slots of max_seq_len tokens).
      max_seq_len: tokens per sequence with retention='all' (appending more is a ValueError).
      num_pages: pages of a paged pool (default: enough for max_seqs full sequences).
      retention: 'all' | 'ring' (the newest window + 15 tokens are kept) | 'sink_recent'
        (StreamingLLM: sink_tokens first + recent_tokens newest, at cache-slot positions).
      k_scales: int8/int4 key scales 'channel' (KIVI groups of k_group tokens) or 'token'.
      residual: newest tokens kept in f32 before quantisation (-1: 128 for int4, 0 for int8).
      hadamard: rotate K/V (and Q) by a block Hadamard matrix before quantisation.
      rope: None | 'interleaved' | 'neox': RoPE applied to keys on append (and to queries by
        attention_with_kvcache) at positions position_offset + t; rope_start / rope_dims select
        the rotated dims (MLA: 512 / 64).
      v_from_k: MLA (absorbed): V is the first head_dim_v columns of K; append(seq, k) only.
    """

    def __init__(self, num_kv_heads: int, head_dim: int, head_dim_v: Optional[int] = None, *,
                 dtype: str = "bf16", layout: str = "paged", page_size: int = 16,
                 num_pages: Optional[int] = None, max_seqs: int = 1, max_seq_len: int = 0,
                 retention: str = "all", window: int = 0, sink_tokens: int = 4,
                 recent_tokens: int = 0, k_scales: str = "channel", k_group: int = 0,
                 v_group: int = 0, residual: int = -1, hadamard: bool = False,
                 rope: Optional[str] = None, rope_theta: float = 10000.0, rope_start: int = 0,
                 rope_dims: int = 0, v_from_k: bool = False) -> None:
        hd = _int(head_dim, "head_dim")
        hv = hd if head_dim_v is None else _int(head_dim_v, "head_dim_v")
        _choice(dtype, "dtype", _DTYPES)
        _choice(layout, "layout", ("paged", "contiguous"))
        _choice(retention, "retention", ("all", "ring", "sink_recent"))
        _choice(k_scales, "k_scales", ("channel", "token"))
        rope_name = "none" if rope is None else _choice(rope, "rope", ("interleaved", "neox"))
        page = _int(page_size, "page_size")
        seqs = _int(max_seqs, "max_seqs")
        length = _int(max_seq_len, "max_seq_len")
        if num_pages is None:
            if retention == "all":
                per_seq = -(-length // page) if page > 0 else 0
            else:  # enough pages for the ring of each sequence
                span = (_int(window, "window") + 15 if retention == "ring"
                        else _int(recent_tokens, "recent_tokens"))
                per_seq = -(-span // page) + 1 if page > 0 else 0
            num_pages = max(1, per_seq * seqs)
        self._c = _C.KVCache(
            _int(num_kv_heads, "num_kv_heads"), hd, hv, v_from_k=bool(v_from_k), dtype=dtype,
            k_scales=k_scales, k_group=_int(k_group, "k_group"), v_group=_int(v_group, "v_group"),
            residual=_int(residual, "residual"), hadamard=bool(hadamard), layout=layout,
            page_size=page, num_pages=_int(num_pages, "num_pages"), max_seqs=seqs,
            max_seq_len=length, retention=retention, window=_int(window, "window"),
            sink_tokens=_int(sink_tokens, "sink_tokens"),
            recent_tokens=_int(recent_tokens, "recent_tokens"), rope=rope_name,
            rope_theta=_float(rope_theta, "rope_theta"), rope_start=_int(rope_start, "rope_start"),
            rope_dims=_int(rope_dims, "rope_dims"))
        self.v_from_k = bool(v_from_k)

    # ------------------------------------------------------------ sequences

    def add_sequence(self, position_offset: int = 0) -> int:
        """A new empty sequence; its tokens get RoPE positions position_offset + t."""
        return self._c.add_sequence(_int(position_offset, "position_offset"))

    def fork(self, seq: int) -> int:
        """A new sequence with seq's tokens (paged: pages shared, copied on write)."""
        return self._c.fork(_int(seq, "seq"))

    def free(self, seq: int) -> None:
        """Releases a sequence; its pages return to the pool once no fork uses them."""
        self._c.free(_int(seq, "seq"))

    def append(self, seq: int, k: ArrayLike, v: Optional[ArrayLike] = None) -> None:
        """Appends n tokens: k (n, Hkv, Dqk), v (n, Hkv, Dv) (None with v_from_k).

        A 2-D (Hkv, D) array is one token. Nothing changes when they do not fit (ValueError).
        """
        def tokens(x: ArrayLike, name: str) -> Any:
            p = arr.prepare(x, name)
            kern = p.kernel
            if len(kern.shape) == 2:
                kern = kern[None]
            return kern
        if self.v_from_k and v is not None:
            raise ValueError("v must be None for a cache with v_from_k (V is the first head_dim_v "
                             "columns of K)")
        self._c.append(_int(seq, "seq"), tokens(k, "k"), None if v is None else tokens(v, "v"))

    def materialize(self, seq: int) -> tuple:
        """(k, v) float32 NumPy arrays (Hkv, kept, D) as attention sees them (dequantised,
        rotated back from the Hadamard basis, keys with RoPE applied). For tests and tools."""
        return self._c.materialize(_int(seq, "seq"))

    def length(self, seq: int) -> int:
        """Tokens appended to seq so far."""
        return self._c.length(_int(seq, "seq"))

    def kept(self, seq: int) -> int:
        """Keys that attention sees now (ring / sink_recent: fewer than length)."""
        return self._c.kept(_int(seq, "seq"))

    def block_table(self, seq: int) -> list:
        """Paged: the page id of each page of the sequence (-1 = none yet)."""
        return self._c.block_table(_int(seq, "seq"))

    def __contains__(self, seq: int) -> bool:
        return self._c.contains(_int(seq, "seq"))

    @property
    def sequences(self) -> list:
        return self._c.sequences

    @property
    def free_pages(self) -> int:
        return self._c.free_pages

    @property
    def num_pages(self) -> int:
        return self._c.num_pages

    @property
    def bytes_per_token(self) -> float:
        """Bytes of stored K/V (data and scales) per token of all heads."""
        return self._c.bytes_per_token

    @property
    def dtype(self) -> str:
        return self._c.dtype

    @property
    def num_kv_heads(self) -> int:
        return self._c.num_kv_heads

    @property
    def head_dim(self) -> int:
        return self._c.head_dim_k

    @property
    def head_dim_v(self) -> int:
        return self._c.head_dim_v

    def __repr__(self) -> str:
        return (f"attnkit.KVCache(Hkv={self.num_kv_heads}, D={self.head_dim}/{self.head_dim_v}, "
                f"dtype={self.dtype}, sequences={len(self.sequences)}, "
                f"free_pages={self.free_pages}/{self.num_pages})")


def _tokens_view(x: Any, framework: str, total: int, h: int, d: int, written: bool = False) -> Any:
    """A [1, H, total, D] view of an array (total, H, D) (or (B, n, H, D) with B n = total).

    Inputs may be copied by the reshape; an output (`written`) must reshape to a view.
    """
    if framework == arr.TORCH:
        y = x.view(total, h, d) if written else x.reshape(total, h, d)
        return y.transpose(0, 1).unsqueeze(0)
    if written:
        y = x.view()
        try:
            y.shape = (total, h, d)
        except AttributeError:
            raise ValueError("out must be viewable as (total_q, num_q_heads, head_dim_v) without a "
                             "copy (attnkit writes it in place)") from None
    else:
        y = x.reshape(total, h, d)
    return y.transpose(1, 0, 2)[None]


def attention_with_kvcache(q: ArrayLike, cache: KVCache, seq_ids: Optional[Sequence[int]] = None,
                           *, cu_seqlens_q: Optional[ArrayLike] = None, causal: bool = True,
                           window: Any = (-1, -1), softcap: float = 0.0, alibi_slopes: Any = None,
                           sinks: Optional[ArrayLike] = None, scale: Optional[float] = None,
                           return_lse: bool = False, shared_prefix: Optional[int] = None,
                           partition: str = "auto", num_splits: int = 0, block_tokens: int = 0,
                           num_workers: int = 0, unified_max: Optional[float] = None,
                           kernel: str = "", out: Optional[ArrayLike] = None,
                           out_dtype: Any = None, threads: Optional[int] = None,
                           window_size: Any = None, softmax_scale: Optional[float] = None) -> Any:
    """Decode: the newest query tokens of each sequence attend to the cache's keys and values.

    Args:
      q: (B, Nq, Hq, Dqk): Nq (1..16) new tokens of each of B sequences; or, with cu_seqlens_q,
        (T, Hq, Dqk) packed (sequence b owns rows cu_seqlens_q[b]..cu_seqlens_q[b+1], 0..16
        each). Queries are before RoPE (the cache's RoPE is applied at their positions).
      cache: the KVCache; each sequence's newest Nq tokens must already be appended (their keys
        are the queries' own keys: append, then decode, as FlashAttention's
        flash_attn_with_kvcache does with k/v given).
      seq_ids: the cache sequences of the batch (default: cache.sequences, in order).
      causal: causal within the new tokens (bottom-right aligned); True by default.
      window, softcap, alibi_slopes, sinks, scale, return_lse, out, out_dtype, threads: as in
        attention() (window_size / softmax_scale are FlashAttention's names).
      shared_prefix: cascade: a cache sequence attended by every query before its own keys,
        read once for the batch (the batch's sequences were added with
        add_sequence(position_offset=length of the prefix)).
      partition: 'auto' | 'stream_k' | 'split_kv'; num_splits, block_tokens, num_workers: their
        knobs (0 = automatic).
      unified_max: FlashDecoding++'s fixed softmax max (natural log units); rows whose logits
        leave its safe window fall back to the exact online softmax.
      kernel: '' (best for this CPU) or a decode kernel name from list_kernels().

    Returns:
      out (B, Nq, Hq, Dv) (or (T, Hq, Dv)), or (out, lse) with return_lse: lse float32
      (B, Hq, Nq) (or (Hq, T)). NumPy in, NumPy out; torch in, torch out.
    """
    if not isinstance(cache, KVCache):
        raise TypeError(f"cache must be an attnkit.KVCache, got {type(cache).__name__}")
    window, scale = _fa_aliases(window, window_size, scale, softmax_scale)
    left, right = _window(window)
    pq = arr.prepare(q, "q")
    shape = tuple(pq.user.shape)
    if cu_seqlens_q is None:
        if len(shape) != 4:
            raise ValueError(f"q must be 4-D (batch, seqlen_q, num_q_heads, head_dim), got shape "
                             f"{shape} (packed 3-D q needs cu_seqlens_q)")
        b, nq, hq, d = shape
        cu = [i * nq for i in range(b + 1)]
    else:
        if len(shape) != 3:
            raise ValueError(f"with cu_seqlens_q, q must be 3-D (total_q, num_q_heads, head_dim), "
                             f"got shape {shape}")
        cu = arr.offsets(cu_seqlens_q, "cu_seqlens_q")
        b, (_, hq, d) = len(cu) - 1, shape
    total = shape[0] if cu_seqlens_q is not None else b * shape[1]
    if cu[-1] != total:
        raise ValueError(f"cu_seqlens_q ends at {cu[-1]} but q has {total} query tokens")
    ids = cache.sequences if seq_ids is None else [_int(s, "seq_ids") for s in seq_ids]
    if len(ids) != b:
        raise ValueError(f"seq_ids names {len(ids)} sequences but q has a batch of {b}")
    dv = cache.head_dim_v
    odt = _out_dtype(out, out_dtype, pq.dtype)
    out_shape = shape[:-1] + (dv,)
    po = (arr.empty(pq.framework, out_shape, odt) if out is None
          else arr.prepare_out(out, "out", out_shape, odt))
    if po.framework != pq.framework:
        raise TypeError("out must be the same kind of array as q (NumPy or torch)")
    plse = arr.empty(pq.framework, (hq, total), "f32") if return_lse else None
    has_alibi, slopes = _alibi(alibi_slopes)
    sink_arr = None if sinks is None else arr.float_vector(sinks, "sinks")
    _C._decode(
        _tokens_view(pq.kernel, pq.framework, total, hq, d),
        _tokens_view(po.kernel, po.framework, total, hq, dv, written=True),
        lse=None if plse is None else plse.kernel[None], sinks=sink_arr, cache=cache._c,
        seq_ids=ids, cu_seqlens_q=cu,
        shared_prefix=-1 if shared_prefix is None else _int(shared_prefix, "shared_prefix"),
        scale=None if scale is None else _float(scale, "scale"), causal=bool(causal),
        window_left=left, window_right=right, softcap=_float(softcap, "softcap"), alibi=has_alibi,
        alibi_slopes=slopes, partition=_choice(partition, "partition", ("auto", "stream_k", "split_kv")),
        num_splits=_int(num_splits, "num_splits"), block_tokens=_int(block_tokens, "block_tokens"),
        num_workers=_int(num_workers, "num_workers"),
        unified_max=None if unified_max is None else _float(unified_max, "unified_max"),
        kernel=kernel, threads=_resolve_threads(threads))
    if not return_lse:
        return po.user
    lse = plse.user
    if cu_seqlens_q is None:
        nq = shape[1]
        lse = (lse.reshape(hq, b, nq).permute(1, 0, 2) if pq.framework == arr.TORCH
               else lse.reshape(hq, b, nq).transpose(1, 0, 2))
    return po.user, lse
