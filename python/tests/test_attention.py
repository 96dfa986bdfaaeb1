# SPDX-License-Identifier: Apache-2.0
# attnkit.attention / attention_varlen / Plan against the float64 NumPy reference: every option,
# dtype and layout (sampled), non-contiguous inputs, varlen with empty sequences, out_dtype.
import zlib

import numpy as np
import pytest

import attnkit
from attnkit import _arrays
from reference import (BF16, assert_lse_close, assert_out_close, attention_ref, from_layout,
                       random_qkv, standard_alibi, to_f64, to_layout, varlen_ref)

DTYPES = ["f32", "f16", pytest.param("bf16", marks=pytest.mark.skipif(
    BF16 is None, reason="bfloat16 NumPy arrays need ml_dtypes (pip install ml_dtypes)"))]
LAYOUTS = ["bnhd", "bhnd"]
# The f32-products kernel: the 1e-5 contract below holds for it on every CPU. (Left to the
# planner, bf16 inputs on a CPU with fast AVX512-BF16 get the kernel that rounds P to bf16;
# see test_bf16_kernels_keep_their_precision.)
EXACT = "dense_fwd_f32acc_tiled"
BF16_PRODUCTS = "dense_fwd_bf16_f32acc_avx512bf16"

# Each case: sizes (b, hq, hkv, nq, nk, dqk, dv) and options. Options are sampled so that each
# appears alone and in combination; sizes cover odd dims, GQA ratios and Nq != Nk.
BASE = dict(b=2, hq=4, hkv=2, nq=23, nk=31, dqk=32, dv=32)
CASES = {
    "plain": dict(),
    "mha_square": dict(hkv=4, nq=31),
    "mqa_8_1": dict(hq=8, hkv=1),
    "gqa_6_2": dict(hq=6, hkv=2),
    "dqk_ne_dv": dict(dqk=48, dv=24),
    "odd_dims": dict(dqk=5, dv=7, nq=13, nk=17),
    "dim_1": dict(dqk=1, dv=1),
    "dim_80": dict(dqk=80, dv=80, nq=9, nk=70),
    "causal_square": dict(causal=True, nq=31),
    "causal_nq_lt_nk": dict(causal=True, nq=9, nk=40),
    "causal_nq_gt_nk": dict(causal=True, nq=40, nk=9),  # rows with p < 0: 0 and -inf
    "causal_decode": dict(causal=True, nq=1, nk=50),
    "window": dict(window=(7, 3)),
    "window_left_only": dict(window=(5, -1)),
    "window_right_only": dict(window=(-1, 2)),
    "window_causal": dict(window=(6, 4), causal=True),
    "window_zero": dict(window=(0, 0), nq=40, nk=9),  # some rows see nothing
    "softcap": dict(softcap=2.5, scale=1.0),
    "softcap_causal": dict(softcap=30.0, causal=True),
    "alibi_standard": dict(alibi="standard", hq=6, hkv=3, causal=True),
    "alibi_standard_pow2": dict(alibi="standard", hq=8, hkv=2),
    "alibi_custom": dict(alibi="custom"),
    "sinks": dict(sinks=True),
    "sinks_causal_gt": dict(sinks=True, causal=True, nq=40, nk=9),  # masked rows: lse = sink
    "bias_full": dict(bias=(2, 4, 23, 31)),
    "bias_broadcast_rows": dict(bias=(1, 4, 1, 31)),
    "bias_2d": dict(bias=(23, 31)),
    "bias_keys_only": dict(bias=(31,)),
    "bias_bool": dict(bias="bool"),
    "scale_zero": dict(scale=0.0),
    "scale_custom": dict(scale=0.37, causal=True),
    "everything": dict(causal=True, window=(12, 0), softcap=8.0, alibi="custom", sinks=True,
                       bias=(2, 1, 23, 31), hq=6, hkv=2, dqk=24, dv=40),
}


def make_problem(name, dtype, **over):
    """(numpy inputs [B,H,N,D] in dtype, float64 copies, attnkit kwargs, reference kwargs)."""
    c = {**BASE, **CASES[name], **over}
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    (q, k, v), (q64, k64, v64) = random_qkv(rng, c["b"], c["hq"], c["hkv"], c["nq"], c["nk"],
                                            c["dqk"], c["dv"], dtype)
    kw, ref = {}, {}
    for opt in ("causal", "window", "softcap", "scale"):
        if opt in c:
            kw[opt] = ref[opt] = c[opt]
    if c.get("alibi") == "standard":
        kw["alibi_slopes"] = True
        ref["alibi"] = standard_alibi(c["hq"])
    elif c.get("alibi") == "custom":
        slopes = rng.uniform(0.0, 0.5, c["hq"]).astype(np.float32)
        kw["alibi_slopes"], ref["alibi"] = slopes, slopes
    if c.get("sinks"):
        sinks = rng.standard_normal(c["hq"]).astype(np.float32)
        kw["sinks"], ref["sinks"] = sinks, sinks
    if c.get("bias") == "bool":
        mask = rng.random((c["b"], 1, c["nq"], c["nk"])) < 0.7
        mask[0, 0, 3] = False  # one fully masked row
        kw["bias"], ref["bias"] = mask, np.where(mask, 0.0, -np.inf)
    elif c.get("bias") is not None:
        bias = (2 * rng.standard_normal(c["bias"])).astype(np.float32)
        if len(c["bias"]) == 4 and c["bias"][2] > 3:
            bias[0, 0, 2, :] = -np.inf      # a fully masked row
            bias[..., 1, ::3] = -np.inf     # scattered masked keys
        kw["bias"] = bias
        ref["bias"] = bias.reshape((1,) * (4 - bias.ndim) + bias.shape)
    return (q, k, v), (q64, k64, v64), kw, ref


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_matches_reference(name, dtype, layout):
    (q, k, v), (q64, k64, v64), kw, ref = make_problem(name, dtype)
    out, lse = attnkit.attention(to_layout(q, layout), to_layout(k, layout), to_layout(v, layout),
                                 layout=layout, return_lse=True, kernel=EXACT, **kw)
    ref_out, ref_lse = attention_ref(q64, k64, v64, **ref)
    assert out.dtype == q.dtype, "the output dtype defaults to the input dtype"
    assert lse.dtype == np.float32 and lse.shape == ref_lse.shape
    got = from_layout(out, layout)
    assert_out_close(got, ref_out, dtype)
    assert_lse_close(lse, ref_lse)
    masked = np.isneginf(ref_lse)
    assert np.all(got[masked] == 0.0), "fully masked rows must be exactly 0"


@pytest.mark.parametrize("dtype,out_dtype", [("f32", "bf16"), ("f32", "f16"), ("f16", "f32"),
                                             ("bf16", "f32"), ("bf16", "f16")])
def test_out_dtype(dtype, out_dtype):
    if "bf16" in (dtype, out_dtype) and BF16 is None:
        pytest.skip("bfloat16 NumPy arrays need ml_dtypes")
    (q, k, v), (q64, k64, v64), kw, ref = make_problem("causal_nq_lt_nk", dtype)
    out = attnkit.attention(to_layout(q, "bnhd"), to_layout(k, "bnhd"), to_layout(v, "bnhd"),
                            out_dtype=out_dtype, kernel=EXACT, **kw)
    assert _arrays.dtype_name(out.dtype, "out") == out_dtype
    assert_out_close(from_layout(out, "bnhd"), attention_ref(q64, k64, v64, **ref)[0], out_dtype)


def test_float64_inputs_are_converted_to_float32():
    (q, k, v), _, kw, ref = make_problem("causal_square", "f32")
    q64, k64, v64 = (to_layout(x, "bnhd").astype(np.float64) for x in (q, k, v))
    out = attnkit.attention(q64, k64, v64, **kw)
    assert out.dtype == np.float32
    expect = attention_ref(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), **ref)
    assert_out_close(from_layout(out, "bnhd"), expect[0], "f32")


def test_flashattention_aliases():
    (q, k, v), (q64, k64, v64), _, _ = make_problem("plain", "f32")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    a = attnkit.attention(q, k, v, window_size=(4, 0), softmax_scale=0.2)
    b = attnkit.attention(q, k, v, window=(4, 0), scale=0.2)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- strides and copies


def _check(out, layout, q64, k64, v64, ref, dtype="f32"):
    assert_out_close(from_layout(out, layout), attention_ref(q64, k64, v64, **ref)[0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transposed_views_are_zero_copy(dtype):
    """Logical [B,H,N,D] memory passed as a bnhd view (and vice versa): any strides work."""
    (q, k, v), (q64, k64, v64), kw, ref = make_problem("causal_nq_lt_nk", dtype)
    views = [x.transpose(0, 2, 1, 3) for x in (q, k, v)]  # bnhd-shaped, bhnd memory
    for x in views:
        assert not x.flags.c_contiguous
        assert not _arrays.prepare(x, "x").copied
    _check(attnkit.attention(*views, layout="bnhd", **kw), "bnhd", q64, k64, v64, ref, dtype)
    bnhd_mem = [to_layout(x, "bnhd").transpose(0, 2, 1, 3) for x in (q, k, v)]
    _check(attnkit.attention(*bnhd_mem, layout="bhnd", **kw), "bhnd", q64, k64, v64, ref, dtype)


def test_token_slices_with_steps_and_head_dim_slices():
    rng = np.random.default_rng(7)
    big_q = rng.standard_normal((2, 50, 4, 40)).astype(np.float32)
    big_kv = rng.standard_normal((2, 70, 2, 40)).astype(np.float32)
    q = big_q[:, ::2, :, :32]          # tokens with step 2, head dim a prefix of each row
    k = big_kv[:, 1::3, :, :32]
    v = big_kv[:, ::3, :, 8:24][:, :k.shape[1]]
    for x in (q, k, v):
        assert not _arrays.prepare(x, "x").copied
    out, lse = attnkit.attention(q, k, v, causal=True, return_lse=True)
    ref_out, ref_lse = attention_ref(*(from_layout(x, "bnhd") for x in (q, k, v)), causal=True)
    assert_out_close(from_layout(out, "bnhd"), ref_out, "f32")
    assert_lse_close(lse, ref_lse)


@pytest.mark.parametrize("kind", ["last_axis_step", "negative_stride", "fortran_order",
                                  "broadcast_heads", "readonly"])
def test_awkward_strides(kind):
    """Inputs the kernels cannot read in place are copied once; the result is still exact."""
    (q, k, v), (q64, k64, v64), kw, ref = make_problem("gqa_6_2", "f32")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    if kind == "last_axis_step":
        wide = np.repeat(q, 2, axis=-1)
        q = wide[..., ::2]
        assert _arrays.prepare(q, "q").copied
    elif kind == "negative_stride":
        k = k[:, ::-1].copy()[:, ::-1]
        assert _arrays.prepare(k, "k").copied
    elif kind == "fortran_order":
        v = np.asfortranarray(v)
        assert _arrays.prepare(v, "v").copied
    elif kind == "broadcast_heads":  # stride 0 on the head axis: read in place
        k = np.broadcast_to(k[:, :, :1], k.shape)
        k64 = np.broadcast_to(k64[:, :1], k64.shape)
        assert not _arrays.prepare(k, "k").copied
    elif kind == "readonly":
        for x in (q, k, v):
            x.flags.writeable = False
    _check(attnkit.attention(q, k, v, **kw), "bnhd", q64, k64, v64, ref)


def test_buffer_protocol_and_dlpack_objects():
    (q, k, v), (q64, k64, v64), kw, ref = make_problem("plain", "f32")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    out = attnkit.attention(memoryview(q), k, v, **kw)  # buffer protocol: NumPy out
    assert isinstance(out, np.ndarray)
    _check(out, "bnhd", q64, k64, v64, ref)

    class OnlyDLPack:  # a foreign array type exposing only DLPack
        def __init__(self, a):
            self._a = a

        def __dlpack__(self, **kwargs):
            return self._a.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self._a.__dlpack_device__()

    _check(attnkit.attention(OnlyDLPack(q), OnlyDLPack(k), v, **kw), "bnhd", q64, k64, v64, ref)


def test_out_argument_is_written_in_place():
    (q, k, v), (q64, k64, v64), kw, ref = make_problem("causal_square", "f32")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    big = np.zeros((2, 31, 4, 48), np.float32)
    out = big[..., 8:40]  # a strided view: rows of 32 inside rows of 48
    res = attnkit.attention(q, k, v, out=out, **kw)
    assert res is out or np.shares_memory(res, big)
    _check(out, "bnhd", q64, k64, v64, ref)
    assert np.all(big[..., :8] == 0) and np.all(big[..., 40:] == 0)


def test_nan_propagates_to_rows_that_see_it():
    (q, k, v), _, kw, _ = make_problem("causal_square", "f32")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    v = v.copy()
    v[0, 5, 0, 0] = np.nan  # key 5 of KV head 0: seen by causal rows >= 5 of query heads 0, 1
    out = attnkit.attention(q, k, v, causal=True)
    assert np.all(np.isnan(out[0, 5:, 0:2, 0]))
    # Other sequences, other KV heads' groups and other value columns are untouched. (Rows that
    # do not see key 5 may still get NaN: a masked key's probability is 0 and 0 * NaN = NaN.)
    assert not np.any(np.isnan(out[1])) and not np.any(np.isnan(out[0, :, 2:]))
    assert not np.any(np.isnan(out[0, :, :, 1:]))


# ---------------------------------------------------------------- varlen

VARLEN = {
    "mixed": ([0, 5, 17, 18, 30], [0, 9, 20, 41, 41]),    # the last sequence has no keys
    "empty_queries": ([0, 0, 7, 7, 12], [0, 4, 13, 20, 31]),
    "all_empty_keys": ([0, 3], [0, 0]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("opts", [dict(), dict(causal=True), dict(causal=True, window=(3, 0)),
                                  dict(sinks=True, softcap=5.0), dict(alibi="standard")],
                         ids=["plain", "causal", "window", "sinks_softcap", "alibi"])
@pytest.mark.parametrize("lens", list(VARLEN))
def test_varlen(lens, opts, layout):
    cu_q, cu_k = VARLEN[lens]
    hq, hkv, d = 4, 2, 24
    rng = np.random.default_rng(3)
    q = rng.standard_normal((hq, cu_q[-1], d)).astype(np.float32)
    k = rng.standard_normal((hkv, cu_k[-1], d)).astype(np.float32)
    v = rng.standard_normal((hkv, cu_k[-1], d)).astype(np.float32)
    kw = {x: opts[x] for x in ("causal", "window", "softcap") if x in opts}
    ref = dict(kw)
    if opts.get("sinks"):
        kw["sinks"] = ref["sinks"] = rng.standard_normal(hq).astype(np.float32)
    if opts.get("alibi"):
        kw["alibi_slopes"], ref["alibi"] = True, standard_alibi(hq)
    tr = (lambda x: np.ascontiguousarray(x.transpose(1, 0, 2))) if layout == "bnhd" else (lambda x: x)
    out, lse = attnkit.attention_varlen(tr(q), tr(k), tr(v), np.array(cu_q, np.int32),
                                        cu_k, return_lse=True, layout=layout, **kw)
    ref_out, ref_lse = varlen_ref(q.astype(np.float64), k.astype(np.float64),
                                  v.astype(np.float64), cu_q, cu_k, **ref)
    got = to_f64(out).transpose(1, 0, 2) if layout == "bnhd" else to_f64(out)
    assert lse.shape == (hq, cu_q[-1])
    assert_out_close(got, ref_out, "f32")
    assert_lse_close(lse, ref_lse)


def test_varlen_matches_padded_batch():
    """Packing two equal-length sequences gives the fixed-batch result."""
    (q, k, v), _, _, _ = make_problem("causal_nq_lt_nk", "f32")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))  # (2, N, H, D)
    fixed = attnkit.attention(q, k, v, causal=True)
    packed = attnkit.attention_varlen(q.reshape(-1, *q.shape[2:]), k.reshape(-1, *k.shape[2:]),
                                      v.reshape(-1, *v.shape[2:]), [0, 9, 18], [0, 40, 80],
                                      max_seqlen_q=9, max_seqlen_k=40, causal=True)
    np.testing.assert_allclose(packed.reshape(fixed.shape), fixed, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- Plan objects and threads


def test_plan_reuse_out_and_lse_buffers():
    (q, k, v), (q64, k64, v64), kw, ref = make_problem("sinks", "f32")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    p = attnkit.Plan(4, 2, 32, has_sinks=True, return_lse=True, threads=2)
    assert not p.planned and p.workspace_bytes == 0
    assert p.plan(batch=2, seqlen_q=23, seqlen_k=31) is p
    assert p.planned and p.workspace_bytes > 0 and p.num_threads == 2
    text = p.explain()
    assert "kernel" in text and p.kernel_name in text and "Nq 23, Nk 31" in text
    assert "batch=2" in repr(p)
    out = np.empty((2, 23, 4, 32), np.float32)
    lse = np.empty((2, 4, 23), np.float32)
    ref_out, ref_lse = attention_ref(q64, k64, v64, **ref)
    for _ in range(3):
        o, l = p.run(q, k, v, sinks=kw["sinks"], out=out, lse=lse)
        assert o is out and l is lse
        assert_out_close(from_layout(out, "bnhd"), ref_out, "f32")
        assert_lse_close(lse, ref_lse)
    o2, l2 = p(q, k, v, sinks=kw["sinks"])  # __call__ = run, fresh outputs
    np.testing.assert_array_equal(o2, out)


def test_plan_varlen_and_replan():
    p = attnkit.Plan(2, 1, 16, causal=True, layout="bhnd")
    rng = np.random.default_rng(1)
    for cu in ([0, 3, 10], [0, 12]):
        p.plan(cu_seqlens_q=cu, cu_seqlens_k=cu, dtype="f32")
        assert p.varlen
        q = rng.standard_normal((2, cu[-1], 16)).astype(np.float32)
        k = rng.standard_normal((1, cu[-1], 16)).astype(np.float32)
        out = p.run(q, k, k)
        ref, _ = varlen_ref(q.astype(np.float64), k.astype(np.float64), k.astype(np.float64),
                            cu, cu, causal=True)
        assert_out_close(out, ref, "f32")
    p.plan(batch=1, seqlen_q=5)  # back to a fixed batch; seqlen_k defaults to seqlen_q
    assert not p.varlen
    q = rng.standard_normal((1, 2, 5, 16)).astype(np.float32)
    assert p.run(q, q[:, :1], q[:, :1]).shape == (1, 2, 5, 16)


@pytest.mark.skipif(BF16 is None, reason="bfloat16 NumPy arrays need ml_dtypes")
def test_plan_bf16_dtype_objects():
    p = attnkit.Plan(4, 2, 32, causal=True, kernel=EXACT).plan(2, 23, 31, dtype=BF16,
                                                              out_dtype=np.float32)
    (q, k, v), (q64, k64, v64), _, ref = make_problem("causal_nq_lt_nk", "bf16", nq=23, nk=31)
    out = p.run(*(to_layout(x, "bnhd") for x in (q, k, v)))
    assert out.dtype == np.float32
    _check(out, "bnhd", q64, k64, v64, ref)


@pytest.mark.skipif(BF16 is None, reason="bfloat16 NumPy arrays need ml_dtypes")
def test_bf16_kernels_keep_their_precision():
    """The planner's choice for bf16 (machine-dependent) and, where the CPU has AVX512-BF16,
    the kernel that rounds P to bf16: within 1e-2 of max |ref|, and that kernel really rounds."""
    (q, k, v), (q64, k64, v64), kw, ref = make_problem("causal_square", "bf16")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    expect = attention_ref(q64, k64, v64, **ref)[0]
    peak = np.abs(expect).max()
    chosen = attnkit.Plan(4, 2, 32, causal=True).plan(2, 31, 31, dtype="bf16").kernel_name
    kernels = {chosen}
    if any(k_["name"] == BF16_PRODUCTS for k_ in attnkit.list_kernels()):
        try:
            attnkit.Plan(4, 2, 32, kernel=BF16_PRODUCTS).plan(1, 16, 16, dtype="bf16")
            kernels.add(BF16_PRODUCTS)
        except ValueError:
            pass  # no AVX512-BF16 here
    for name in kernels:
        out = from_layout(attnkit.attention(q, k, v, out_dtype="f32", kernel=name, **kw), "bnhd")
        err = np.abs(out.astype(np.float64) - expect).max() / peak
        bound = 1e-2 if name == BF16_PRODUCTS else 1e-5
        assert err <= bound, f"{name}: relative max error {err} > {bound}"
        if name == BF16_PRODUCTS:
            assert err > 1e-5, f"{name}: error {err} is f32-exact: was P really rounded to bf16?"


def test_thread_count_does_not_change_results():
    (q, k, v), _, kw, _ = make_problem("everything", "f32", nq=64, nk=96, bias=None)
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    one = attnkit.attention(q, k, v, threads=1, **kw)
    with attnkit.threads(2):
        assert attnkit.get_num_threads() == 2
        two = attnkit.attention(q, k, v, **kw)
        assert attnkit.Plan(6, 2, 24).num_threads == 2
    np.testing.assert_array_equal(one, two)  # bitwise: one thread computes each row
    assert attnkit.get_num_threads() == 0
    attnkit.set_num_threads(1)
    try:
        assert attnkit.Plan(6, 2, 24).num_threads == 1
    finally:
        attnkit.set_num_threads(0)


def test_alibi_table_and_module_info():
    np.testing.assert_allclose(attnkit.alibi_slopes(12), standard_alibi(12), rtol=1e-6)
    assert attnkit.alibi_slopes(8).dtype == np.float32
    names = [k["name"] for k in attnkit.list_kernels()]
    assert "reference_f64" in names
    assert "threads" in attnkit.cpu_info() or "hw" in attnkit.cpu_info()
    assert attnkit.__version__


def test_forced_reference_kernel_agrees():
    (q, k, v), _, kw, _ = make_problem("window_causal", "f16")
    q, k, v = (to_layout(x, "bnhd") for x in (q, k, v))
    p = attnkit.Plan(4, 2, 32, kernel="reference_f64", **kw).plan(2, 23, 31, dtype="f16",
                                                                   out_dtype="f32")
    fast = attnkit.attention(q, k, v, out_dtype="f32", **kw)
    assert p.kernel_name == "reference_f64"
    np.testing.assert_allclose(p.run(q, k, v), fast, atol=2e-5)




def test_plan_autotune_picks_a_measured_tiling(monkeypatch):
    """Plan(autotune=True) times candidate tilings once and must still compute the same result."""
    monkeypatch.setenv("ATTNKIT_AUTOTUNE_CACHE", "off")
    rng = np.random.default_rng(7)
    q = rng.standard_normal((1, 90, 4, 32), dtype=np.float32)
    k = rng.standard_normal((1, 90, 2, 32), dtype=np.float32)
    v = rng.standard_normal((1, 90, 2, 32), dtype=np.float32)
    p = attnkit.Plan(num_q_heads=4, num_kv_heads=2, head_dim=32, causal=True, threads=1,
                     autotune=True).plan(batch=1, seqlen_q=90, dtype="float32")
    assert "autotune" in p.explain()
    np.testing.assert_allclose(p.run(q, k, v), attnkit.attention(q, k, v, causal=True),
                               rtol=0, atol=1e-5)
