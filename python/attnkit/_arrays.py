# SPDX-License-Identifier: Apache-2.0
# Array interop: NumPy arrays, PyTorch CPU tensors and any DLPack / buffer-protocol object
# become kernel-ready arrays (zero-copy where strides allow); outputs are made in the caller's kind.
"""Private helpers of attnkit: turning caller arrays into arrays the C++ core can read.

Copy rules (documented in docs/python.md):

* float32, bfloat16 and float16 arrays whose last axis is contiguous and whose strides are
  non-negative are passed to the kernels as they are: no copy, any other strides allowed;
* float64 arrays are converted to float32 (a copy), as are non-native byte orders;
* a non-contiguous last axis or a negative stride costs one contiguous copy;
* other dtypes (integers, bool, complex) raise ``TypeError``.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple, Optional, Tuple

import numpy as np

try:  # NumPy has no bfloat16; ml_dtypes (used by JAX and TensorFlow) provides one.
    import ml_dtypes as _ml_dtypes

    NP_BF16: Optional[np.dtype] = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    NP_BF16 = None

NUMPY = "numpy"
TORCH = "torch"

_KERNEL_DTYPES = ("f32", "bf16", "f16")
_DTYPE_ALIASES = {
    "f32": "f32", "float32": "f32", "float": "f32",
    "bf16": "bf16", "bfloat16": "bf16",
    "f16": "f16", "float16": "f16", "half": "f16",
}
_ALLOWED = "float32, bfloat16, float16 (float64 is converted to float32)"


class Prepared(NamedTuple):
    """An input ready for the kernels."""

    user: Any        # the array in the caller's framework (after any conversion)
    kernel: Any      # what is handed to attnkit._C (NumPy bfloat16 travels as a uint16 view)
    dtype: str       # "f32" | "bf16" | "f16"
    framework: str   # NUMPY | TORCH
    copied: bool     # True when a copy or conversion was needed


def _torch() -> Any:
    return sys.modules.get("torch")


def is_torch(x: Any) -> bool:
    """True for a torch.Tensor (without importing torch)."""
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_kernel_dtype(torch: Any, dt: Any) -> Optional[str]:
    return {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}.get(dt)


def _numpy_kernel_dtype(dt: np.dtype) -> Optional[str]:
    if NP_BF16 is not None and dt == NP_BF16:
        return "bf16"
    if dt.kind == "f" and dt.isnative:
        return {4: "f32", 2: "f16"}.get(dt.itemsize)
    return None


def check_torch_device(x: Any, name: str) -> None:
    if x.device.type != "cpu":
        raise ValueError(
            f"{name}: attnkit runs on the CPU, but this torch tensor is on device "
            f"'{x.device}'; move it with {name}.cpu() (and the result back with .to(device))")


def _prepare_torch(x: Any, name: str) -> Prepared:
    torch = _torch()
    check_torch_device(x, name)
    if x.layout != torch.strided:
        raise TypeError(f"{name}: only dense (strided) torch tensors are supported, got {x.layout}")
    x = x.detach()  # attnkit computes the forward pass only
    copied = False
    dtype = _torch_kernel_dtype(torch, x.dtype)
    if dtype is None:
        if x.dtype != torch.float64:
            raise TypeError(f"{name} has dtype {x.dtype} (allowed: {_ALLOWED})")
        x, dtype, copied = x.to(torch.float32), "f32", True
    if x.dim() > 0 and x.shape[-1] > 1 and x.stride(-1) != 1:
        x, copied = x.contiguous(), True
    return Prepared(x, x, dtype, TORCH, copied)


def as_numpy(x: Any, name: str) -> np.ndarray:
    """x as a NumPy array without copying (DLPack or the buffer protocol), else TypeError."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (str, bytes, bool, int, float, complex, list, tuple, dict)) or x is None:
        raise TypeError(f"{name} must be an array (NumPy, PyTorch, or any object with __dlpack__ "
                        f"or the buffer protocol), got {type(x).__name__}")
    if hasattr(x, "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except (BufferError, RuntimeError, TypeError, ValueError) as e:
            raise TypeError(f"{name}: cannot read this {type(x).__name__} through DLPack "
                            f"(CPU memory is required): {e}") from None
    try:
        memoryview(x)
    except TypeError:
        raise TypeError(f"{name} must be an array (NumPy, PyTorch, or any object with __dlpack__ "
                        f"or the buffer protocol), got {type(x).__name__}") from None
    return np.asarray(x)


def _prepare_numpy(x: Any, name: str) -> Prepared:
    a = as_numpy(x, name)
    copied = False
    dtype = _numpy_kernel_dtype(a.dtype)
    if dtype is None:
        if a.dtype.kind == "f" and a.dtype.itemsize in (2, 4, 8):  # float64 or a foreign byte order
            target = np.float16 if a.dtype.itemsize == 2 else np.float32
            a, copied = a.astype(target), True
            dtype = _numpy_kernel_dtype(a.dtype)
        else:
            raise TypeError(f"{name} has dtype {a.dtype} (allowed: {_ALLOWED})")
    isz = a.itemsize
    if a.ndim > 0 and (any(s < 0 or s % isz for s in a.strides)
                       or (a.shape[-1] > 1 and a.strides[-1] != isz)):
        a, copied = np.ascontiguousarray(a), True
    kernel = a.view(np.uint16) if dtype == "bf16" else a
    return Prepared(a, kernel, dtype, NUMPY, copied)


def prepare(x: Any, name: str) -> Prepared:
    """Turns any supported array into a kernel-ready one (see the module docstring)."""
    if is_torch(x):
        return _prepare_torch(x, name)
    return _prepare_numpy(x, name)


def prepare_out(x: Any, name: str, shape: Tuple[int, ...], dtype: str) -> Prepared:
    """Checks a caller-provided output: writable, the right shape and dtype, stride-1 last axis."""
    if is_torch(x):
        torch = _torch()
        check_torch_device(x, name)
        got = _torch_kernel_dtype(torch, x.dtype)
        ok_strides = x.dim() == 0 or x.shape[-1] <= 1 or x.stride(-1) == 1
        user = kernel = x.detach()
        shape_got = tuple(x.shape)
    else:
        a = as_numpy(x, name)
        if not a.flags.writeable:
            raise ValueError(f"{name} is read-only")
        got = _numpy_kernel_dtype(a.dtype)
        ok_strides = a.ndim == 0 or (all(s >= 0 and s % a.itemsize == 0 for s in a.strides)
                                     and (a.shape[-1] <= 1 or a.strides[-1] == a.itemsize))
        user, kernel = a, (a.view(np.uint16) if got == "bf16" else a)
        shape_got = a.shape
    if shape_got != tuple(shape):
        raise ValueError(f"{name} has shape {shape_got}, expected {tuple(shape)}")
    if got != dtype:
        raise ValueError(f"{name} has dtype {getattr(x, 'dtype', '?')}, expected {dtype}")
    if not ok_strides:
        raise ValueError(f"{name} must be contiguous along its last axis and have non-negative "
                         "strides (attnkit writes it in place)")
    return Prepared(user, kernel, dtype, TORCH if is_torch(x) else NUMPY, False)


def empty(framework: str, shape: Tuple[int, ...], dtype: str) -> Prepared:
    """A new output array of `shape` and `dtype` in `framework`."""
    if framework == TORCH:
        torch = _torch()
        tdt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype]
        t = torch.empty(shape, dtype=tdt)
        return Prepared(t, t, dtype, TORCH, False)
    if dtype == "bf16":
        if NP_BF16 is None:
            raise ValueError("a bfloat16 NumPy output needs the ml_dtypes package "
                             "(pip install ml_dtypes), or pass out_dtype='f32'")
        a = np.empty(shape, NP_BF16)
        return Prepared(a, a.view(np.uint16), dtype, NUMPY, False)
    a = np.empty(shape, np.float32 if dtype == "f32" else np.float16)
    return Prepared(a, a, dtype, NUMPY, False)


def dtype_name(d: Any, what: str) -> str:
    """'f32' | 'bf16' | 'f16' from a string, a NumPy dtype (or type) or a torch dtype."""
    if isinstance(d, str):
        name = _DTYPE_ALIASES.get(d.lower())
        if name is None:
            raise ValueError(f"{what} '{d}' is not supported (allowed: f32, bf16, f16)")
        return name
    torch = _torch()
    if torch is not None and isinstance(d, torch.dtype):
        name = _torch_kernel_dtype(torch, d)
        if name is None:
            raise ValueError(f"{what} {d} is not supported (allowed: f32, bf16, f16)")
        return name
    try:
        nd = np.dtype(d)
    except TypeError:
        raise TypeError(f"{what} must be a dtype or one of 'f32', 'bf16', 'f16', "
                        f"got {type(d).__name__}") from None
    name = _numpy_kernel_dtype(nd)
    if name is None:
        raise ValueError(f"{what} {nd} is not supported (allowed: f32, bf16, f16)")
    return name


def float_vector(x: Any, name: str) -> np.ndarray:
    """A small 1-D parameter vector (sinks, ALiBi slopes) as a contiguous float32 array."""
    if is_torch(x):
        check_torch_device(x, name)
        x = x.detach().to(dtype=_torch().float32).numpy()
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:  # ragged lists and the like
        raise TypeError(f"{name} must be a 1-D array of floats: {e}") from None
    if a.dtype.kind not in "fiu" and not (NP_BF16 is not None and a.dtype == NP_BF16):
        raise TypeError(f"{name} must be a 1-D array of floats, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (num_q_heads,), got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def offsets(x: Any, name: str) -> list:
    """cu_seqlens as a list of Python ints (accepts lists, NumPy and torch integer arrays)."""
    if is_torch(x):
        check_torch_device(x, name)
        x = x.detach().numpy()
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (batch + 1,), got shape {a.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"{name} must have batch + 1 >= 2 entries, got {a.shape[0]}")
    return [int(v) for v in a]


def bias_view(x: Any) -> Prepared:
    """bias broadcast to 4-D [B|1, Hq|1, Nq|1, Nk] (a view); a boolean mask becomes 0 / -inf."""
    if is_torch(x):
        torch = _torch()
        check_torch_device(x, "bias")
        if x.dtype == torch.bool:
            x = torch.zeros(x.shape, dtype=torch.float32).masked_fill_(~x.detach(), float("-inf"))
    else:
        a = as_numpy(x, "bias")
        if a.dtype == np.bool_:
            a = np.where(a, np.float32(0), np.float32(-np.inf))
        x = a
    if x.ndim > 4 or x.ndim < 1:
        raise ValueError(f"bias must have 1 to 4 dimensions (broadcastable to "
                         f"[batch, num_q_heads, seqlen_q, seqlen_k]), got shape {tuple(x.shape)}")
    x = x.reshape((1,) * (4 - x.ndim) + tuple(x.shape))
    return prepare(x, "bias")
