# SPDX-License-Identifier: Apache-2.0
# PyTorch interop (skipped without torch): torch in / torch out for f32, bf16, f16, zero-copy
# views, SDPA agreement and its documented causal difference, device errors, custom ops.
import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch is not installed: PyTorch tests skipped (pip install torch to run them)")

import attnkit  # noqa: E402
from attnkit import _arrays  # noqa: E402
from reference import (assert_lse_close, assert_out_close, attention_ref, to_f64,  # noqa: E402
                       varlen_ref)

F = torch.nn.functional
TORCH_DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def randn(*shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(dtype)


def bhnd(x):
    """A bnhd tensor as logical [B, H, N, D] float64 NumPy."""
    return to_f64(x).transpose(0, 2, 1, 3)


@pytest.mark.parametrize("layout", ["bnhd", "bhnd"])
@pytest.mark.parametrize("dtype", list(TORCH_DTYPES))
def test_torch_in_torch_out(dtype, layout):
    td = TORCH_DTYPES[dtype]
    shape_q, shape_kv = ((2, 19, 6, 40), (2, 33, 2, 40)) if layout == "bnhd" else \
        ((2, 6, 19, 40), (2, 2, 33, 40))
    q, k, v = randn(*shape_q, dtype=td, seed=1), randn(*shape_kv, dtype=td, seed=2), \
        randn(*shape_kv, dtype=td, seed=3)
    sinks = randn(6, seed=4)
    out, lse = attnkit.attention(q, k, v, causal=True, window=(9, -1), sinks=sinks,
                                 alibi_slopes=True, return_lse=True, layout=layout)
    assert isinstance(out, torch.Tensor) and out.dtype == td and out.shape == q.shape[:3] + (40,)
    assert isinstance(lse, torch.Tensor) and lse.dtype == torch.float32
    logical = bhnd if layout == "bnhd" else to_f64
    ref_out, ref_lse = attention_ref(logical(q), logical(k), logical(v), causal=True,
                                     window=(9, -1), sinks=to_f64(sinks),
                                     alibi=attnkit.alibi_slopes(6))
    assert_out_close(logical(out), ref_out, dtype)
    assert_lse_close(lse, ref_lse)


def test_views_are_zero_copy_and_strided_copies_are_correct():
    base = randn(2, 6, 40, 48, seed=5)               # [B, H, N, D] memory
    q = base[:, :, ::2, :32].transpose(1, 2)          # bnhd view: token step 2, head-dim prefix
    k = base[:, :2, 1::2, 8:40].transpose(1, 2)
    v = base[:, 2:4, ::2, :32].transpose(1, 2)
    for x in (q, k, v):
        assert not x.is_contiguous() and not _arrays.prepare(x, "x").copied
    awkward = randn(2, 20, 6, 64, seed=6)[..., ::2]   # last axis stride 2: one copy
    assert _arrays.prepare(awkward, "q").copied
    for qq in (q, awkward):
        out = attnkit.attention(qq, k, v, causal=True)
        assert_out_close(bhnd(out), attention_ref(bhnd(qq), bhnd(k), bhnd(v), causal=True)[0],
                         "f32")


def test_float64_and_requires_grad_inputs():
    q = randn(1, 8, 2, 16, seed=7).double().requires_grad_()
    out = attnkit.attention(q, q.detach(), q.detach())
    assert out.dtype == torch.float32 and not out.requires_grad
    ref = attention_ref(bhnd(q), bhnd(q), bhnd(q))[0]
    assert_out_close(bhnd(out), ref, "f32")


def test_out_buffer_and_out_dtype():
    q = randn(1, 8, 4, 16, dtype=torch.bfloat16, seed=8)
    out = torch.empty(1, 8, 4, 16, dtype=torch.float32)
    res = attnkit.attention(q, q[:, :, :2], q[:, :, :2], out=out)
    assert res is out or res.data_ptr() == out.data_ptr()
    assert attnkit.attention(q, q, q, out_dtype=torch.float16).dtype == torch.float16
    with pytest.raises(ValueError, match=r"out has dtype torch.float16, expected f32"):
        attnkit.attention(q, q, q, out_dtype="f32", out=torch.empty(1, 8, 4, 16).half())


def test_non_cpu_tensors_are_rejected_clearly():
    meta = torch.empty(1, 8, 4, 16, device="meta")
    cpu = torch.zeros(1, 8, 4, 16)
    with pytest.raises(ValueError, match=r"q: attnkit runs on the CPU, but this torch tensor is "
                                         r"on device 'meta'; move it with q.cpu\(\)"):
        attnkit.attention(meta, cpu, cpu)
    with pytest.raises(ValueError, match=r"device 'meta'"):
        attnkit.attention(cpu, cpu, cpu, out=torch.empty(1, 8, 4, 16, device="meta"))
    with pytest.raises(ValueError, match=r"sinks: .* device 'meta'"):
        attnkit.attention(cpu, cpu, cpu, sinks=torch.zeros(4, device="meta"))
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        with pytest.raises(ValueError, match=r"device 'cuda"):
            attnkit.attention(cpu.cuda(), cpu, cpu)
    with pytest.raises(TypeError, match=r"q has dtype torch.int32"):
        attnkit.attention(cpu.int(), cpu, cpu)
    with pytest.raises(TypeError, match=r"dense"):
        attnkit.attention(cpu.to_sparse(), cpu, cpu)


# ---------------------------------------------------------------- SDPA (layout bhnd)


def sdpa(q, k, v, **kw):
    hq, hkv = q.shape[1], k.shape[1]
    if hq != hkv:
        k, v = k.repeat_interleave(hq // hkv, dim=1), v.repeat_interleave(hq // hkv, dim=1)
    return F.scaled_dot_product_attention(q, k, v, **kw)


@pytest.mark.parametrize("hq,hkv", [(4, 4), (8, 2)])
def test_matches_sdpa(hq, hkv):
    q, k, v = randn(2, hq, 30, 32, seed=9), randn(2, hkv, 30, 32, seed=10), \
        randn(2, hkv, 30, 32, seed=11)
    close = dict(rtol=0, atol=2e-5)
    torch.testing.assert_close(attnkit.attention(q, k, v, layout="bhnd"), sdpa(q, k, v), **close)
    torch.testing.assert_close(attnkit.attention(q, k, v, causal=True, layout="bhnd"),
                               sdpa(q, k, v, is_causal=True), **close)  # Nq == Nk: same mask
    torch.testing.assert_close(attnkit.attention(q, k, v, scale=0.3, layout="bhnd"),
                               sdpa(q, k, v, scale=0.3), **close)
    bias = randn(2, 1, 30, 30, seed=12)
    torch.testing.assert_close(attnkit.attention(q, k, v, bias=bias, layout="bhnd"),
                               sdpa(q, k, v, attn_mask=bias), **close)
    mask = randn(30, 30, seed=13) > -0.5  # bool: True = take part (SDPA's meaning)
    torch.testing.assert_close(attnkit.attention(q, k, v, bias=mask, layout="bhnd"),
                               sdpa(q, k, v, attn_mask=mask), **close)


@pytest.mark.parametrize("nq,nk", [(7, 40), (40, 7)])
def test_causal_with_nq_ne_nk_is_bottom_right_unlike_sdpa_is_causal(nq, nk):
    """docs/conventions.md: query i sits at position Nk - Nq + i (FlashAttention >= 2.1).

    SDPA's is_causal=True is top-left aligned (query i sees keys j <= i) when Nq != Nk, so the
    two differ; attnkit equals SDPA with a lower-right mask, and SDPA's top-left result is
    attnkit with an explicit boolean mask.
    """
    q, k, v = randn(1, 4, nq, 16, seed=14), randn(1, 4, nk, 16, seed=15), randn(1, 4, nk, 16, seed=16)
    ours = attnkit.attention(q, k, v, causal=True, layout="bhnd")
    top_left = sdpa(q, k, v, is_causal=True)
    diff = (ours - top_left).abs().max().item()
    assert diff > 0.1, "bottom-right and top-left causal masks must differ when Nq != Nk"

    lower_right = torch.ones(nq, nk, dtype=torch.bool).tril(diagonal=nk - nq)
    masked_rows = ~lower_right.any(dim=1)  # Nq > Nk: rows that see no key
    expect = sdpa(q, k, v, attn_mask=lower_right)
    torch.testing.assert_close(ours[:, :, ~masked_rows], expect[:, :, ~masked_rows],
                               rtol=0, atol=2e-5)
    # attnkit's fully masked rows are exactly 0 (SDPA gives NaN or 0 there, by version).
    assert torch.all(ours[:, :, masked_rows] == 0)
    assert int(masked_rows.sum()) == max(0, nq - nk)
    if nq <= nk and hasattr(torch.nn.attention, "bias"):
        from torch.nn.attention.bias import causal_lower_right
        torch.testing.assert_close(ours, F.scaled_dot_product_attention(
            q, k, v, attn_mask=causal_lower_right(nq, nk)), rtol=0, atol=2e-5)

    top_left_mask = torch.ones(nq, nk, dtype=torch.bool).tril()
    torch.testing.assert_close(attnkit.attention(q, k, v, bias=top_left_mask, layout="bhnd"),
                               top_left, rtol=0, atol=2e-5)


def test_varlen_with_torch_offsets():
    cu_q = torch.tensor([0, 4, 4, 11], dtype=torch.int32)
    cu_k = torch.tensor([0, 9, 12, 12], dtype=torch.int32)
    q, k, v = randn(11, 4, 16, seed=17), randn(12, 2, 16, seed=18), randn(12, 2, 16, seed=19)
    out, lse = attnkit.attention_varlen(q, k, v, cu_q, cu_k, 7, 9, causal=True, return_lse=True)
    assert isinstance(out, torch.Tensor) and lse.shape == (4, 11)
    tr = lambda x: to_f64(x).transpose(1, 0, 2)  # noqa: E731
    ref_out, ref_lse = varlen_ref(tr(q), tr(k), tr(v), cu_q.tolist(), cu_k.tolist(), causal=True)
    assert_out_close(tr(out), ref_out, "f32")
    assert_lse_close(lse, ref_lse)


# ---------------------------------------------------------------- torch.library custom ops


def test_custom_op_eager_compile_and_opcheck():
    import attnkit.torch_ops as ak

    q, k, v = randn(2, 12, 4, 16, seed=20), randn(2, 20, 2, 16, seed=21), randn(2, 20, 2, 16, seed=22)
    sinks = randn(4, seed=23)
    expect, expect_lse = attnkit.attention(q, k, v, causal=True, sinks=sinks, return_lse=True)
    out, lse = ak.attention(q, k, v, causal=True, sinks=sinks, return_lse=True)
    torch.testing.assert_close(out, expect, rtol=0, atol=0)
    torch.testing.assert_close(lse, expect_lse, rtol=0, atol=0)

    def f(q, k, v):
        return ak.attention(q, k, v, causal=True, window=(6, 0), alibi_slopes=True) * 2 + 1

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v), f(q, k, v), rtol=0, atol=0)

    torch.library.opcheck(torch.ops.attnkit.attention.default, (q, k, v),
                          dict(causal=True, layout="bnhd"),
                          test_utils=("test_schema", "test_faketensor"))
    qb = q.transpose(1, 2).to(torch.bfloat16)
    torch.library.opcheck(torch.ops.attnkit.attention.default,
                          (qb, k.transpose(1, 2).to(torch.bfloat16),
                           v.transpose(1, 2).to(torch.bfloat16)),
                          dict(layout="bhnd", out_dtype=torch.float32),
                          test_utils=("test_schema", "test_faketensor"))


def test_custom_varlen_op():
    import attnkit.torch_ops as ak

    cu = torch.tensor([0, 5, 12], dtype=torch.int32)
    q, k = randn(12, 4, 16, seed=24), randn(12, 1, 16, seed=25)
    expect = attnkit.attention_varlen(q, k, k, cu, cu, causal=True)
    torch.testing.assert_close(ak.attention_varlen(q, k, k, cu, cu, causal=True), expect,
                               rtol=0, atol=0)
    torch.library.opcheck(torch.ops.attnkit.attention_varlen.default, (q, k, k, cu, cu),
                          dict(causal=True), test_utils=("test_schema", "test_faketensor"))
    compiled = torch.compile(lambda q, k: ak.attention_varlen(q, k, k, cu, cu, causal=True),
                             backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(q, k), expect, rtol=0, atol=0)


def test_custom_op_wrapper_arguments():
    import attnkit.torch_ops as ak

    for h in (1, 5, 8, 12, 33):
        np.testing.assert_allclose(ak._standard_slopes(h), attnkit.alibi_slopes(h), rtol=1e-6)
    q = randn(1, 6, 9, 8, seed=26)  # bhnd
    bias = randn(1, 1, 9, 9, seed=27)
    slopes = [0.1 * (i + 1) for i in range(6)]
    kw = dict(layout="bhnd", bias=bias, alibi_slopes=slopes, softcap=3.0, scale=0.5,
              window=(2, 1), out_dtype="bf16")
    expect = attnkit.attention(q, q, q, **kw)
    got = ak.attention(q, q, q, **kw)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, expect, rtol=0, atol=0)
