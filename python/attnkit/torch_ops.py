# SPDX-License-Identifier: Apache-2.0
# Optional torch.library custom ops attnkit::attention and attnkit::attention_varlen, with fake
# (meta) implementations, so torch.compile graphs can call attnkit. Importing this needs torch.
"""PyTorch custom ops over attnkit (forward only; CPU tensors).

``import attnkit.torch_ops`` registers ``torch.ops.attnkit.attention`` and
``torch.ops.attnkit.attention_varlen``; both return ``(out, lse)``. The wrappers
:func:`attention` and :func:`attention_varlen` here take the same arguments as
:func:`attnkit.attention` / :func:`attnkit.attention_varlen` and call the ops, so that
``torch.compile(fullgraph=True)`` traces them as single graph nodes::

    import attnkit.torch_ops as ak
    f = torch.compile(lambda q, k, v: ak.attention(q, k, v, causal=True), fullgraph=True)

The ops have no autograd formula (attnkit has no backward pass yet).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

try:
    import torch
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("attnkit.torch_ops needs PyTorch (pip install torch); the rest of attnkit "
                      "works without it") from e

from . import _api

__all__ = ["attention", "attention_varlen"]


def _out_dtype(q: torch.Tensor, out_dtype: Optional[torch.dtype]) -> torch.dtype:
    if out_dtype is not None:
        return out_dtype
    return torch.float32 if q.dtype == torch.float64 else q.dtype


@torch.library.custom_op("attnkit::attention", mutates_args=(), device_types="cpu")
def _attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                  window_left: int = -1, window_right: int = -1, softcap: float = 0.0,
                  scale: Optional[float] = None, alibi_slopes: Optional[torch.Tensor] = None,
                  sinks: Optional[torch.Tensor] = None, bias: Optional[torch.Tensor] = None,
                  layout: str = "bnhd",
                  out_dtype: Optional[torch.dtype] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    return _api.attention(q, k, v, causal=causal, window=(window_left, window_right),
                          softcap=softcap, scale=scale, alibi_slopes=alibi_slopes,
                          sinks=sinks, bias=bias, layout=layout, return_lse=True,
                          out_dtype=_out_dtype(q, out_dtype))


@_attention_op.register_fake
def _attention_fake(q, k, v, causal=False, window_left=-1, window_right=-1, softcap=0.0,
                    scale=None, alibi_slopes=None, sinks=None, bias=None, layout="bnhd",
                    out_dtype=None):
    torch._check(q.dim() == 4, lambda: f"q must have 4 dimensions, got {q.dim()}")
    if layout == "bnhd":
        b, nq, hq, _ = q.shape
        out_shape = (b, nq, hq, v.shape[-1])
    else:
        b, hq, nq, _ = q.shape
        out_shape = (b, hq, nq, v.shape[-1])
    return (q.new_empty(out_shape, dtype=_out_dtype(q, out_dtype)),
            q.new_empty((b, hq, nq), dtype=torch.float32))


@torch.library.custom_op("attnkit::attention_varlen", mutates_args=(), device_types="cpu")
def _attention_varlen_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
                         causal: bool = False, window_left: int = -1, window_right: int = -1,
                         softcap: float = 0.0, scale: Optional[float] = None,
                         alibi_slopes: Optional[torch.Tensor] = None,
                         sinks: Optional[torch.Tensor] = None, layout: str = "bnhd",
                         out_dtype: Optional[torch.dtype] = None
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    return _api.attention_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=causal,
                                 window=(window_left, window_right), softcap=softcap,
                                 scale=scale, alibi_slopes=alibi_slopes,
                                 sinks=sinks, layout=layout, return_lse=True,
                                 out_dtype=_out_dtype(q, out_dtype))


@_attention_varlen_op.register_fake
def _attention_varlen_fake(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window_left=-1,
                           window_right=-1, softcap=0.0, scale=None, alibi_slopes=None,
                           sinks=None, layout="bnhd", out_dtype=None):
    torch._check(q.dim() == 3, lambda: f"q must have 3 dimensions, got {q.dim()}")
    if layout == "bnhd":
        t, hq, _ = q.shape
        out_shape = (t, hq, v.shape[-1])
    else:
        hq, t, _ = q.shape
        out_shape = (hq, t, v.shape[-1])
    return (q.new_empty(out_shape, dtype=_out_dtype(q, out_dtype)),
            q.new_empty((hq, t), dtype=torch.float32))


def _standard_slopes(h: int) -> list:
    """attnkit.alibi_slopes(h) (Press et al.'s table), computed in Python."""
    def pow2(n: int) -> list:
        return [2.0 ** (-8.0 * (i + 1) / n) for i in range(n)]
    p = 1
    while p * 2 <= h:
        p *= 2
    return pow2(p) + pow2(2 * p)[0::2][: h - p]


def _slopes(alibi_slopes: Any, num_q_heads: int) -> Optional[torch.Tensor]:
    if alibi_slopes is None or alibi_slopes is False:
        return None
    if alibi_slopes is True:  # the standard table, in Python so that torch.compile traces it
        return torch.tensor(_standard_slopes(num_q_heads), dtype=torch.float32)
    return torch.as_tensor(alibi_slopes, dtype=torch.float32)


def _as_tensor(x: Any) -> Optional[torch.Tensor]:
    return x if x is None or isinstance(x, torch.Tensor) else torch.as_tensor(x)


def _torch_dtype(out_dtype: Any) -> Optional[torch.dtype]:
    if out_dtype is None or isinstance(out_dtype, torch.dtype):
        return out_dtype
    from . import _arrays

    name = _arrays.dtype_name(out_dtype, "out_dtype")
    return {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[name]


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
              window: Tuple[int, int] = (-1, -1), softcap: float = 0.0, alibi_slopes: Any = None,
              sinks: Any = None, bias: Any = None, scale: Optional[float] = None,
              return_lse: bool = False, layout: str = "bnhd", out_dtype: Any = None) -> Any:
    """attnkit.attention through the torch.ops.attnkit.attention custom op (same arguments)."""
    left, right = _api._window(window)
    lay = _api._layout(layout)
    hq = q.shape[2] if lay == "bnhd" else q.shape[1]
    out, lse = torch.ops.attnkit.attention(
        q, k, v, causal, left, right, float(softcap), scale, _slopes(alibi_slopes, hq),
        _as_tensor(sinks), _as_tensor(bias), lay, _torch_dtype(out_dtype))
    return (out, lse) if return_lse else out


def attention_varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: Any,
                     cu_seqlens_k: Any, max_seqlen_q: Optional[int] = None,
                     max_seqlen_k: Optional[int] = None, *, causal: bool = False,
                     window: Tuple[int, int] = (-1, -1), softcap: float = 0.0,
                     alibi_slopes: Any = None, sinks: Any = None, scale: Optional[float] = None,
                     return_lse: bool = False, layout: str = "bnhd", out_dtype: Any = None) -> Any:
    """attnkit.attention_varlen through torch.ops.attnkit.attention_varlen (max_seqlen_* unused)."""
    left, right = _api._window(window)
    lay = _api._layout(layout)
    hq = q.shape[1] if lay == "bnhd" else q.shape[0]
    out, lse = torch.ops.attnkit.attention_varlen(
        q, k, v, torch.as_tensor(cu_seqlens_q), torch.as_tensor(cu_seqlens_k), causal, left,
        right, float(softcap), scale, _slopes(alibi_slopes, hq), _as_tensor(sinks), lay,
        _torch_dtype(out_dtype))
    return (out, lse) if return_lse else out
