# SPDX-License-Identifier: Apache-2.0
# Every error path of the Python API: attnkit::Error becomes ValueError with the core's message,
# wrong argument types become TypeError; nothing crashes or returns garbage.
import numpy as np
import pytest

import attnkit
from attnkit import _C

rng = np.random.default_rng(0)


def qkv(b=1, nq=8, nk=8, hq=4, hkv=2, d=16, dv=None, dtype=np.float32):
    """bnhd inputs."""
    q = rng.standard_normal((b, nq, hq, d)).astype(dtype)
    k = rng.standard_normal((b, nk, hkv, d)).astype(dtype)
    v = rng.standard_normal((b, nk, hkv, dv or d)).astype(dtype)
    return q, k, v


Q, K, V = qkv()


def raises(exc, match, fn, *args, **kwargs):
    with pytest.raises(exc, match=match) as info:
        fn(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------- shapes (ValueError)

@pytest.mark.parametrize("args,match", [
    ((Q[0], K, V), r"q must have 4 dimensions \(batch, seqlen, heads, head_dim\), got shape"),
    ((Q, K[0], V), r"k must have 4 dimensions"),
    ((Q, K, V[:, :5]), r"k \(1, 8, 2, 16\) and v \(1, 5, 2, 16\) must agree"),
    ((Q, K[:, :, :1], V), r"must agree on all but the last axis"),
    ((np.concatenate([Q, Q]), K, V), r"same batch size"),
    ((Q[..., :8], K, V), r"same head_dim"),
    ((Q[:, :, :3], K, V), r"num_q_heads \(3\) must be a multiple of num_kv_heads \(2\)"),
    ((Q[:, :0], K, V), r"seqlen_q must be >= 1"),
    ((np.zeros((1, 4, 2, 0), np.float32),) * 3, r"head_dim_qk must be in \[1, 1024\], got 0"),
    ((np.zeros((1, 2, 1, 1025), np.float32),) * 3, r"head_dim_qk must be in \[1, 1024\]"),
])
def test_shape_errors(args, match):
    raises(ValueError, match, attnkit.attention, *args)


def test_bhnd_messages_name_the_bhnd_axes():
    raises(ValueError, r"\(batch, heads, seqlen, head_dim\)", attnkit.attention, Q[0], K, V,
           layout="bhnd")


# ---------------------------------------------------------------- options (ValueError / TypeError)

@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(window=(-2, 0)), ValueError, r"window=\(-2, 0\): each side must be >= 0, or -1"),
    (dict(window=(0, -5)), ValueError, r"-1 for unbounded"),
    (dict(window=(1.5, 0)), TypeError, r"window must be an integer"),
    (dict(window=3), TypeError, r"window must be a pair"),
    (dict(window="ab"), TypeError, r"window must be a pair"),
    (dict(window=(1, 2), window_size=(1, 2)), TypeError, r"window_size=, not both"),
    (dict(scale=0.1, softmax_scale=0.1), TypeError, r"softmax_scale=, not both"),
    (dict(scale=float("nan")), ValueError, r"scale must be finite, got nan"),
    (dict(scale=float("inf")), ValueError, r"scale must be finite"),
    (dict(scale="0.1"), TypeError, r"scale must be a number"),
    (dict(softcap=-1.0), ValueError, r"softcap must be finite and >= 0"),
    (dict(softcap=float("nan")), ValueError, r"softcap must be finite"),
    (dict(softcap=[1]), TypeError, r"softcap must be a number"),
    (dict(alibi_slopes=[0.5, 0.25]), ValueError, r"alibi_slopes must have num_q_heads \(4\)"),
    (dict(alibi_slopes=[0.5, np.nan, 1, 1]), ValueError, r"alibi_slopes must be finite"),
    (dict(alibi_slopes=np.ones((2, 4))), ValueError, r"alibi_slopes must be 1-D"),
    (dict(alibi_slopes=["a", "b", "c", "d"]), TypeError, r"alibi_slopes must be a 1-D array"),
    (dict(sinks=np.zeros(3, np.float32)), ValueError, r"tensor 'sinks' has shape \[3\]"),
    (dict(sinks=np.zeros((4, 1), np.float32)), ValueError, r"sinks must be 1-D"),
    (dict(bias=np.zeros((1, 4, 8, 7), np.float32)), ValueError, r"axis 3 \(keys\) must be 8"),
    (dict(bias=np.zeros((3, 1, 1, 8), np.float32)), ValueError, r"axis 0 \(batch\) must be 1 or 1"),
    (dict(bias=np.zeros((1, 3, 1, 8), np.float32)), ValueError, r"query heads\) must be 1 or 4"),
    (dict(bias=np.zeros((1, 1, 1, 1, 8), np.float32)), ValueError, r"bias must have 1 to 4"),
    (dict(bias=np.zeros((1, 1, 8), np.int32)), TypeError, r"bias has dtype int32"),
    (dict(layout="nhd"), ValueError, r"unknown layout 'nhd'"),
    (dict(layout=1), TypeError, r"layout must be"),
    (dict(out_dtype="f64"), ValueError, r"out_dtype 'f64' is not supported \(allowed: f32, bf16"),
    (dict(out_dtype=np.int8), ValueError, r"out_dtype int8 is not supported"),
    (dict(out_dtype=3.5), TypeError, r"out_dtype must be a dtype"),
    (dict(threads=-1), ValueError, r"threads must be >= 0"),
    (dict(threads=5000), ValueError, r"1024"),
    (dict(threads=1.5), TypeError, r"threads must be an integer"),
    (dict(causal=True, bogus=1), TypeError, r"bogus"),
])
def test_option_errors(kwargs, exc, match):
    raises(exc, match, attnkit.attention, Q, K, V, **kwargs)


# ---------------------------------------------------------------- types and dtypes

@pytest.mark.parametrize("bad,match", [
    ([[1.0]], r"q must be an array .* got list"),
    (None, r"q must be an array .* got NoneType"),
    ("abc", r"q must be an array .* got str"),
    (3.0, r"q must be an array .* got float"),
    (object(), r"q must be an array .* got object"),
    (Q.astype(np.int32), r"q has dtype int32 \(allowed: float32, bfloat16, float16"),
    (Q.astype(np.complex64), r"q has dtype complex64"),
    (Q > 0, r"q has dtype bool"),
])
def test_wrong_types_raise_type_error(bad, match):
    raises(TypeError, match, attnkit.attention, bad, K, V)


def test_mixed_kernel_dtypes():
    raises(ValueError, r"q, k and v must all have dtype f32, got q f32, k f16, v f32",
           attnkit.attention, Q, K.astype(np.float16), V)


def test_bad_out_buffers():
    raises(ValueError, r"out has shape \(1, 8, 4, 8\), expected \(1, 8, 4, 16\)",
           attnkit.attention, Q, K, V, out=np.empty((1, 8, 4, 8), np.float32))
    raises(ValueError, r"out has dtype float16, expected f32", attnkit.attention, Q, K, V,
           out_dtype="f32", out=np.empty(Q.shape, np.float16))
    ro = np.empty(Q.shape, np.float32)
    ro.flags.writeable = False
    raises(ValueError, r"out is read-only", attnkit.attention, Q, K, V, out=ro)
    raises(ValueError, r"contiguous along its last axis", attnkit.attention, Q, K, V,
           out=np.empty((1, 8, 4, 32), np.float32)[..., ::2])
    raises(TypeError, r"out must be an array", attnkit.attention, Q, K, V, out=[0.0])
    bcast = np.broadcast_to(np.empty((1, 1, 4, 16), np.float32), Q.shape)
    raises(ValueError, r"read-only|overlap", attnkit.attention, Q, K, V, out=bcast)


# ---------------------------------------------------------------- varlen

@pytest.mark.parametrize("cu_q,cu_k,exc,match", [
    ([1, 8], [0, 8], ValueError, r"cu_seqlens_q\[0\] must be 0, got 1"),
    ([0, 5, 3, 8], [0, 2, 4, 8], ValueError, r"cu_seqlens_q must be non-decreasing"),
    ([0, 8], [0, 4, 8], ValueError, r"cu_seqlens_k must have batch \+ 1 = 2 entries, got 3"),
    ([0, 7], [0, 8], ValueError, r"tensor 'q' has shape"),
    ([0], [0], ValueError, r"cu_seqlens_q must have batch \+ 1 >= 2 entries"),
    ([0.0, 8.0], [0, 8], TypeError, r"cu_seqlens_q must be integers"),
    ([[0, 8]], [0, 8], ValueError, r"cu_seqlens_q must be 1-D"),
])
def test_varlen_errors(cu_q, cu_k, exc, match):
    raises(exc, match, attnkit.attention_varlen, Q[0], K[0], V[0], cu_q, cu_k)


def test_varlen_other_errors():
    raises(ValueError, r"q must have 3 dimensions \(total_tokens, heads, head_dim\)",
           attnkit.attention_varlen, Q, K, V, [0, 8], [0, 8])
    raises(ValueError, r"max_seqlen_q=4 is shorter than the longest sequence \(8\)",
           attnkit.attention_varlen, Q[0], K[0], V[0], [0, 8], [0, 8], max_seqlen_q=4)
    raises(TypeError, r"bias", attnkit.attention_varlen, Q[0], K[0], V[0], [0, 8], [0, 8],
           bias=np.zeros(8))
    p = attnkit.Plan(4, 2, 16, has_bias=True)
    raises(ValueError, r"an additive bias is not supported with varlen batches", p.plan,
           cu_seqlens_q=[0, 8], cu_seqlens_k=[0, 8])


# ---------------------------------------------------------------- Plan

def test_plan_errors():
    raises(TypeError, r"needs head_dim", attnkit.Plan, 4, 2)
    raises(TypeError, r"num_q_heads must be an integer", attnkit.Plan, 4.0, 2, 16)
    raises(TypeError, r"num_kv_heads must be an integer, got bool", attnkit.Plan, 4, True, 16)
    p = attnkit.Plan(4, 2, 16, return_lse=True)
    raises(ValueError, r"call plan\(\) first", p.run, Q, K, V)
    raises(TypeError, r"needs batch and seqlen_q", p.plan)
    raises(ValueError, r"batch must be >= 1, got 0", p.plan, 0, 8)
    raises(ValueError, r"not both", p.plan, 1, 8, cu_seqlens_q=[0, 8], cu_seqlens_k=[0, 8])
    raises(ValueError, r"give both cu_seqlens_q and cu_seqlens_k", p.plan, cu_seqlens_q=[0, 8])
    raises(ValueError, r"dtype 'f64' is not supported", p.plan, 1, 8, dtype="f64")
    p.plan(1, 8, 8, dtype="f16")
    raises(ValueError, r"q, k and v must all have dtype f16, got q f32", p.run, Q, K, V)
    p.plan(1, 8, 8)
    raises(ValueError, r"tensor 'q' has shape \[1, 4, 8, 16\], expected \[B, H, N, D\] with "
           r"axis 2 = 9|seqlen", attnkit.Plan(4, 2, 16).plan(1, 9, 8).run, Q, K, V)
    raises(ValueError, r"lse has shape \(1, 4, 7\), expected \(1, 4, 8\)", p.run, Q, K, V,
           lse=np.empty((1, 4, 7), np.float32))
    raises(ValueError, r"lse has dtype float16, expected f32", p.run, Q, K, V,
           lse=np.empty((1, 4, 8), np.float16))
    raises(ValueError, r"plan was made with has_sinks=False", p.run, Q, K, V, sinks=np.zeros(4))
    raises(ValueError, r"plan was made with has_bias=False", p.run, Q, K, V, bias=np.zeros(8))
    raises(ValueError, r"return_lse=False", attnkit.Plan(4, 2, 16).plan(1, 8).run, Q, K, V,
           lse=np.empty((1, 4, 8), np.float32))
    raises(ValueError, r"has_sinks=True: pass sinks=",
           attnkit.Plan(4, 2, 16, has_sinks=True).plan(1, 8).run, Q, K, V)
    raises(ValueError, r"has_bias=True: pass bias=",
           attnkit.Plan(4, 2, 16, has_bias=True).plan(1, 8).run, Q, K, V)
    raises(ValueError, r"unknown kernel 'nope' \(registered: .*reference_f64",
           attnkit.Plan(4, 2, 16, kernel="nope").plan, 1, 8)
    raises(TypeError, r"kernel must be a string", attnkit.Plan, 4, 2, 16, kernel=1)


def test_private_module_errors_are_clear():
    """attnkit._C validates too: wrong ranks and dtypes never reach a kernel."""
    p = _C.Plan(4, 2, 16, 16)
    p.plan(1, 8, 8)
    out = np.empty(Q.shape, np.float32)
    raises(ValueError, r"tensor 'q' must have 4 dimensions", p.run, Q[0], K, V, out)
    raises(TypeError, r"tensor 'q' has dtype float64", p.run, Q.astype(np.float64), K, V, out)
    raises(TypeError, r"incompatible function arguments", p.run, "q", K, V, out)
    raises(ValueError, r"unknown layout 'x'", _C.Plan, 4, 2, 16, 16, layout="x")
    raises(ValueError, r"AlibiSlopes: num_heads must be >= 1", attnkit.alibi_slopes, 0)


def test_errors_leave_the_module_usable():
    for _ in range(3):
        with pytest.raises(ValueError):
            attnkit.attention(Q, K, V, window=(-3, 0))
    assert attnkit.attention(Q, K, V).shape == Q.shape


def test_threads_context_rejects_bad_values():
    with pytest.raises(ValueError, match=r"threads must be >= 0"):
        with attnkit.threads(-2):
            pass
    with pytest.raises(TypeError, match=r"threads must be an integer"):
        attnkit.set_num_threads("2")
    assert attnkit.get_num_threads() == 0
