# SPDX-License-Identifier: Apache-2.0
# Type stub of the private extension module attnkit._C (python/src/attnkit_ext.cc).
# Checked against the built module by python/tests/test_package.py.
"""attnkit's C++ core (private: use the attnkit package)"""

from collections.abc import Sequence
from typing import Annotated

from numpy.typing import NDArray

__version__: str

class Plan:
    def __init__(self, num_q_heads: int, num_kv_heads: int, head_dim_qk: int, head_dim_v: int,
                 scale: float | None = None, causal: bool = False, window_left: int = -1,
                 window_right: int = -1, softcap: float = 0.0, alibi: bool = False,
                 alibi_slopes: Sequence[float] = [], has_sinks: bool = False,
                 has_bias: bool = False, return_lse: bool = False, threads: int = 0,
                 layout: str = "bnhd", kernel: str = "", block_q: int = 0,
                 block_k: int = 0, autotune: bool = False) -> None: ...
    def plan(self, batch: int = 1, seqlen_q: int = 0, seqlen_k: int = 0,
             cu_seqlens_q: Sequence[int] = [], cu_seqlens_k: Sequence[int] = [],
             dtype: str = "f32", out_dtype: str = "f32") -> None: ...
    def run(self, q: Annotated[NDArray, dict(writable=False)],
            k: Annotated[NDArray, dict(writable=False)],
            v: Annotated[NDArray, dict(writable=False)], out: NDArray,
            lse: NDArray | None = None,
            sinks: Annotated[NDArray, dict(writable=False)] | None = None,
            bias: Annotated[NDArray, dict(writable=False)] | None = None) -> None: ...
    def explain(self) -> str: ...
    @property
    def workspace_bytes(self) -> int: ...
    @property
    def kernel_name(self) -> str: ...
    @property
    def num_threads(self) -> int: ...
    @property
    def planned(self) -> bool: ...
    @property
    def varlen(self) -> bool: ...
    @property
    def layout(self) -> str: ...

def alibi_slopes(num_heads: int) -> list[float]: ...
def cpu_info() -> str: ...
def hardware_threads() -> int: ...
def list_kernels() -> list[dict[str, object]]: ...
