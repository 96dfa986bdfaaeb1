# SPDX-License-Identifier: Apache-2.0
# attnkit: efficient, exactly specified attention for CPUs, with FlashAttention-style names.
# NumPy arrays and PyTorch CPU tensors in (zero-copy where strides allow), the same kind out.
"""attnkit: efficient, exactly specified attention for CPUs.

>>> import numpy as np, attnkit
>>> q = np.random.randn(2, 128, 8, 64).astype(np.float32)      # (batch, seqlen, heads, dim)
>>> k = v = np.random.randn(2, 128, 2, 64).astype(np.float32)  # GQA 4:1
>>> out = attnkit.attention(q, k, v, causal=True)             # (2, 128, 8, 64) float32

See docs/python.md for layouts, dtypes, copies, errors, threads and Plan objects.
"""

from ._C import __version__
from ._api import (
    Plan,
    alibi_slopes,
    attention,
    attention_varlen,
    cpu_info,
    get_num_threads,
    list_kernels,
    set_num_threads,
    threads,
)
from .decode import KVCache, attention_with_kvcache
from .linear import delta_rule, linear_attention
from .sparse import (
    block_sparse_attention,
    na1d,
    na2d,
    na3d,
    neighborhood_attention,
    predict_block_mask,
    window_attention,
)

__all__ = [
    "KVCache",
    "Plan",
    "__version__",
    "alibi_slopes",
    "attention",
    "attention_with_kvcache",
    "attention_varlen",
    "block_sparse_attention",
    "cpu_info",
    "delta_rule",
    "get_num_threads",
    "linear_attention",
    "list_kernels",
    "na1d",
    "na2d",
    "na3d",
    "neighborhood_attention",
    "predict_block_mask",
    "set_num_threads",
    "threads",
    "window_attention",
]
