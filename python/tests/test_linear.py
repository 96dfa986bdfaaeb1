# SPDX-License-Identifier: Apache-2.0
# attnkit.linear_attention / attnkit.delta_rule against a float64 NumPy reference written here
# from the definitions (issue 8, flash-linear-attention's conventions): every form, decay, gates,
# feature maps, norms, the hybrid window, GQA, layouts, varlen, split calls, dtypes and errors.
import math

import numpy as np
import pytest

import attnkit
from reference import BF16

rng = np.random.default_rng(8)
TOL = 1e-5  # rel-L2 of the f32 kernels vs float64


def rel_l2(x, ref):
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(x - ref) / max(np.linalg.norm(ref), 1e-300))


# ---------------------------------------------------------------- the float64 reference


def l2n(x):
    return x / np.sqrt((x * x).sum(-1, keepdims=True) + 1e-6)


def phi(x, feature_map, query, scale, hedgehog=None):
    """Feature rows of x [..., Dk] in float64; query rows carry the scale."""
    s = scale if query else 1.0
    if feature_map == "identity":
        return s * x
    if feature_map == "elu+1":
        return s * np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))
    if feature_map == "relu":
        return s * np.maximum(x, 0)
    if feature_map == "hedgehog":
        w, b = hedgehog
        y = x @ w.T + b
        e = np.concatenate([np.exp(y), np.exp(-y)], -1)
        return s * e / e.sum(-1, keepdims=True)
    if feature_map == "based":
        x = s * x
        outer = (x[..., :, None] * x[..., None, :]).reshape(*x.shape[:-1], -1) / math.sqrt(2)
        return np.concatenate([np.ones(x.shape[:-1] + (1,)), x, outer], -1)
    raise ValueError(feature_map)


def ref(q, k, v, *, decay=None, gate=None, beta=None, feature_map="identity", scale=None,
        state=None, norm="none", eps=1e-6, hedgehog=None, l2norm=False, window=0,
        weights=(0.5, 0.5)):
    """out [B, H, N, Dv] and final state [B, Hkv, F, Dv(+1)] from [B, H, N, D] float64 inputs.

    S_t = diag(a_t) S_{t-1} + phi(k_t) v_t^T           (delta: + beta (v - S^T phi(k)) instead)
    a_t = lambda_g * exp(gate_t),  o_t = scale phi(q_t)^T S_t.
    """
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    b, hq, n, dk = q.shape
    hkv, dv = k.shape[1], v.shape[3]
    group = hq // hkv
    scale = 1 / math.sqrt(dk) if scale is None else scale
    qx, kx = (l2n(q), l2n(k)) if l2norm else (q, k)
    hh = None if hedgehog is None else (hedgehog[0], hedgehog[1])
    hk = hh if hedgehog is None or len(hedgehog) < 4 else (hedgehog[2], hedgehog[3])
    fq = phi(qx, feature_map, True, scale, hh)
    fk = phi(kx, feature_map, False, scale, hk)
    f = fk.shape[-1]
    vv = np.concatenate([v, np.ones(v.shape[:-1] + (1,))], -1) if norm == "denominator" else v
    cols = vv.shape[-1]
    out = np.zeros((b, hq, n, cols))
    final = np.zeros((b, hkv, f, cols))
    for bi in range(b):
        for g in range(hkv):
            S = np.zeros((f, cols)) if state is None else np.array(state[bi, g], np.float64)
            for t in range(n):
                lg = np.zeros(f)
                if decay is not None:
                    lg += math.log(decay[g])
                if gate is not None:
                    lg = lg + np.asarray(gate[bi, g, t], np.float64)
                S = np.exp(lg)[:, None] * S
                x = vv[bi, g, t]
                if beta is not None:
                    x = beta[bi, g, t] * (x - S.T @ fk[bi, g, t])
                S = S + np.outer(fk[bi, g, t], x)
                for h in range(g * group, (g + 1) * group):
                    out[bi, h, t] = fq[bi, h, t] @ S
            final[bi, g] = S
    o = out[..., :dv]
    if norm == "denominator":
        o = o / (out[..., dv:] + eps)
    elif norm == "rmsnorm":
        o = o / np.sqrt((o * o).mean(-1, keepdims=True) + eps)
    elif norm == "layernorm":
        o = o - o.mean(-1, keepdims=True)
        o = o / np.sqrt((o * o).mean(-1, keepdims=True) + eps)
    if window:
        sm = np.zeros_like(o)
        for h in range(hq):
            g = h // group
            logits = q[:, h] @ k[:, g].transpose(0, 2, 1) / math.sqrt(dk)
            i, j = np.arange(n)[:, None], np.arange(n)[None, :]
            logits = np.where((j <= i) & (j > i - window), logits, -np.inf)
            p = np.exp(logits - logits.max(-1, keepdims=True))
            sm[:, h] = (p / p.sum(-1, keepdims=True)) @ v[:, g]
        o = weights[0] * o + weights[1] * sm
    return o, final


def qkv(b=2, hq=4, hkv=2, n=45, dk=16, dv=12, dtype=np.float32):
    q = rng.standard_normal((b, hq, n, dk)).astype(dtype)
    k = rng.standard_normal((b, hkv, n, dk)).astype(dtype)
    v = rng.standard_normal((b, hkv, n, dv)).astype(dtype)
    return q, k, v


MODES = ["chunk", "recurrent", "parallel"]

# ---------------------------------------------------------------- linear_attention


@pytest.mark.parametrize("mode", MODES)
def test_plain_matches_reference_in_every_form(mode):
    q, k, v = qkv()
    out = attnkit.linear_attention(q, k, v, mode=mode)
    assert out.shape == (2, 4, 45, 12) and out.dtype == np.float32
    assert rel_l2(out, ref(q, k, v)[0]) <= TOL


def test_default_scale_is_one_over_sqrt_dk():
    q, k, v = qkv(dk=25)
    a = attnkit.linear_attention(q, k, v)
    b = attnkit.linear_attention(q, k, v, scale=0.2)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_decay_semantics_by_hand():
    """S_t = lambda S_{t-1} + k_t^T v_t and o_t = scale q_t S_t, spelled out for one head."""
    q, k, v = qkv(b=1, hq=1, hkv=1, n=6, dk=3, dv=2)
    lam, scale = 0.8, 0.5
    S, want = np.zeros((3, 2)), []
    for t in range(6):
        S = lam * S + np.outer(k[0, 0, t], v[0, 0, t])
        want.append(scale * q[0, 0, t] @ S)
    out = attnkit.linear_attention(q, k, v, decay=lam, scale=scale)
    assert rel_l2(out[0, 0], np.array(want)) <= TOL


@pytest.mark.parametrize("decay", [0.9, [0.95, 0.7], "lightning", "retnet"])
@pytest.mark.parametrize("mode", MODES)
def test_decay(decay, mode):
    q, k, v = qkv()
    table = {"lightning": list(np.exp(-attnkit.alibi_slopes(2).astype(np.float64))),
             "retnet": [1 - 2.0 ** (-5 - h) for h in range(2)]}
    lam = table.get(decay, decay) if isinstance(decay, str) else (
        [decay] * 2 if isinstance(decay, float) else decay)
    out = attnkit.linear_attention(q, k, v, decay=decay, mode=mode)
    assert rel_l2(out, ref(q, k, v, decay=lam)[0]) <= TOL


@pytest.mark.parametrize("kind,lo", [("scalar", -2.0), ("channel", -0.2), ("channel", -4.0)])
@pytest.mark.parametrize("mode", MODES)
def test_gates(kind, lo, mode):
    q, k, v = qkv()
    shape = (2, 2, 45) if kind == "scalar" else (2, 2, 45, 16)
    gate = rng.uniform(lo, 0, shape).astype(np.float32)
    gate.flat[::17] = -np.inf  # resets
    gate.flat[5::19] = 0.0
    out = attnkit.linear_attention(q, k, v, gate=gate, mode=mode, chunk=16 if mode == "chunk" else None)
    assert rel_l2(out, ref(q, k, v, gate=gate)[0]) <= TOL


@pytest.mark.parametrize("fmap", ["elu+1", "relu", "based", "hedgehog"])
def test_feature_maps_with_denominator(fmap):
    q, k, v = qkv(dk=8)
    kw, rk = {}, {}
    if fmap == "hedgehog":
        w = [rng.standard_normal((8, 8)).astype(np.float32) * 0.3 for _ in range(2)]
        bq = rng.standard_normal(8).astype(np.float32) * 0.1
        kw["hedgehog_weights"] = (w[0], bq, w[1], None)
        rk["hedgehog"] = (w[0].astype(np.float64), bq.astype(np.float64),
                          w[1].astype(np.float64), np.zeros(8))
    want, want_state = ref(q, k, v, feature_map=fmap, norm="denominator", **rk)
    for mode in MODES:
        out, state = attnkit.linear_attention(q, k, v, feature_map=fmap, norm="denominator",
                                              mode=mode, return_state=True, **kw)
        f = {"based": 1 + 8 + 64, "hedgehog": 16}.get(fmap, 8)
        assert state.shape == (2, 2, f, 13)  # Dv + the normaliser column
        assert rel_l2(out, want) <= TOL, mode
        assert rel_l2(state, want_state) <= TOL, mode


@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
def test_output_norms(norm):
    q, k, v = qkv()
    out = attnkit.linear_attention(q, k, v, decay="lightning", feature_map="elu+1", norm=norm)
    assert rel_l2(out, ref(q, k, v, decay=list(np.exp(-attnkit.alibi_slopes(2).astype(float))),
                           feature_map="elu+1", norm=norm)[0]) <= TOL


def test_hybrid_window():
    q, k, v = qkv()
    gate = rng.uniform(-0.3, 0, (2, 2, 45, 16)).astype(np.float32)
    out = attnkit.linear_attention(q, k, v, gate=gate, window=8, linear_weight=0.6,
                                   window_weight=0.3)
    assert rel_l2(out, ref(q, k, v, gate=gate, window=8, weights=(0.6, 0.3))[0]) <= TOL


def test_state_carried_across_split_calls():
    q, k, v = qkv(b=1)
    gate = rng.uniform(-0.5, 0, (1, 2, 45)).astype(np.float32)
    s0 = rng.standard_normal((1, 2, 16, 12)).astype(np.float32)
    whole, s_whole = attnkit.linear_attention(q, k, v, gate=gate, initial_state=s0,
                                              return_state=True)
    _, s_ref = ref(q, k, v, gate=gate, state=s0)
    assert rel_l2(s_whole, s_ref) <= TOL
    parts, s = [], s0
    for a, b, mode in ((0, 20, "chunk"), (20, 21, "recurrent"), (21, 45, "parallel")):
        o, s = attnkit.linear_attention(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b],
                                        gate=gate[:, :, a:b], initial_state=s, return_state=True,
                                        mode=mode)
        parts.append(o)
    assert rel_l2(np.concatenate(parts, 2), whole) <= TOL
    assert rel_l2(s, s_whole) <= TOL


def test_gqa_layouts_and_varlen():
    q, k, v = qkv(b=1, hq=6, hkv=2, n=50)
    want = ref(q, k, v, decay=[0.9, 0.99])[0]
    # bnhd views of the same data
    out = attnkit.linear_attention(q.transpose(0, 2, 1, 3), k.transpose(0, 2, 1, 3),
                                   v.transpose(0, 2, 1, 3), decay=[0.9, 0.99], layout="bnhd")
    assert out.shape == (1, 50, 6, 12)
    assert rel_l2(out.transpose(0, 2, 1, 3), want) <= TOL
    # varlen: each sequence from zero state
    cu = np.array([0, 13, 13, 50])
    out = attnkit.linear_attention(q, k, v, decay=[0.9, 0.99], cu_seqlens=cu)
    for a, b in ((0, 13), (13, 50)):
        sl = slice(a, b)
        assert rel_l2(out[:, :, sl], ref(q[:, :, sl], k[:, :, sl], v[:, :, sl],
                                         decay=[0.9, 0.99])[0]) <= TOL


@pytest.mark.skipif(BF16 is None, reason="bfloat16 NumPy arrays need ml_dtypes")
def test_bf16_inputs():
    q, k, v = (x.astype(BF16) for x in qkv())
    out = attnkit.linear_attention(q, k, v, decay=0.95, out_dtype="f32")
    assert out.dtype == np.float32
    want = ref(*(x.astype(np.float64) for x in (q, k, v)), decay=[0.95, 0.95])[0]
    assert rel_l2(out, want) <= TOL
    out16 = attnkit.linear_attention(q, k, v, decay=0.95)
    assert out16.dtype == BF16 and rel_l2(out16.astype(np.float64), want) <= 3e-3


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    q, k, v = qkv()
    out, state = attnkit.linear_attention(torch.from_numpy(q), torch.from_numpy(k),
                                          torch.from_numpy(v), decay=0.9, return_state=True)
    assert isinstance(out, torch.Tensor) and isinstance(state, torch.Tensor)
    assert rel_l2(out.numpy(), ref(q, k, v, decay=[0.9, 0.9])[0]) <= TOL


# ---------------------------------------------------------------- delta_rule


@pytest.mark.parametrize("gated", [None, "scalar", "channel"])
@pytest.mark.parametrize("mode", MODES)
def test_delta_rule(gated, mode):
    q, k, v = qkv(dk=32, dv=24)
    beta = rng.uniform(0, 1, (2, 2, 45)).astype(np.float32)
    gate = None
    if gated == "scalar":
        gate = rng.uniform(-1, 0, (2, 2, 45)).astype(np.float32)
    elif gated == "channel":
        gate = rng.uniform(-0.5, 0, (2, 2, 45, 32)).astype(np.float32)
    s0 = rng.standard_normal((2, 2, 32, 24)).astype(np.float32) * 0.3
    out, state = attnkit.delta_rule(q, k, v, beta, gate=gate, initial_state=s0,
                                    return_state=True, mode=mode, qk_l2norm=True)
    want, want_state = ref(q, k, v, beta=beta, gate=gate, state=s0, l2norm=True)
    assert rel_l2(out, want) <= TOL
    assert rel_l2(state, want_state) <= TOL


def test_delta_rule_scalar_beta_and_reference_mode():
    q, k, v = qkv()
    a = attnkit.delta_rule(q, k, v, 0.5, qk_l2norm=True)
    b = attnkit.delta_rule(q, k, v, 0.5, qk_l2norm=True, mode="reference")
    assert rel_l2(a, ref(q, k, v, beta=np.full((2, 2, 45), 0.5), l2norm=True)[0]) <= TOL
    assert rel_l2(a, b) <= TOL


# ---------------------------------------------------------------- errors

Q, K, V = qkv(b=1, n=8)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(gate=np.full((1, 2, 8), 0.5, np.float32)), ValueError,
     r"gate\[0, 0, 0\] = 0.5: gates are log-gates and must be <= 0"),
    (dict(gate=np.zeros((1, 2), np.float32)), ValueError, r"gate must have 3 dimensions"),
    (dict(gate=np.zeros((1, 2, 7), np.float32)), ValueError, r"tensor 'gate' has shape"),
    (dict(decay=0.0), ValueError, r"decay\[0\] must be in \(0, 1\]"),
    (dict(decay=[0.5, 0.5, 0.5]), ValueError, r"decay must have num_kv_heads \(2\) entries"),
    (dict(decay="alibi"), ValueError, r"unknown decay table 'alibi'"),
    (dict(feature_map="softmax"), ValueError, r"unknown feature_map 'softmax'"),
    (dict(feature_map=3), TypeError, r"feature_map must be a string"),
    (dict(mode="fast"), ValueError, r"unknown mode 'fast'"),
    (dict(norm="l2"), ValueError, r"unknown norm 'l2'"),
    (dict(feature_map="hedgehog"), ValueError, r"hedgehog_weight_q must have head_dim_k\^2"),
    (dict(hedgehog_weights=(np.eye(16),)), ValueError, r"hedgehog_weights given but feature_map"),
    (dict(scale=float("nan")), ValueError, r"scale must be finite"),
    (dict(chunk=0, mode="recurrent"), None, None),
    (dict(chunk=5000), ValueError, r"chunk must be in \[1, 1024\]"),
    (dict(initial_state=np.zeros((1, 2, 16, 11), np.float32)), ValueError,
     r"tensor 'initial_state' has shape"),
    (dict(window=-2), ValueError, r"window must be >= 0"),
    (dict(layout="nhd"), ValueError, r"unknown layout 'nhd'"),
    (dict(cu_seqlens=[0, 9]), ValueError, r"tensor 'q' has shape|cu_seqlens"),
])
def test_linear_errors(kwargs, exc, match):
    if exc is None:
        attnkit.linear_attention(Q, K, V, **kwargs)  # valid
        return
    with pytest.raises(exc, match=match):
        attnkit.linear_attention(Q, K, V, **kwargs)


@pytest.mark.parametrize("args,kwargs,exc,match", [
    ((Q[0], K, V), {}, ValueError, r"q must have 4 dimensions \(batch, heads, seqlen, head_dim\)"),
    ((Q, K, V[:, :, :5]), {}, ValueError, r"must agree on all but the last axis"),
    ((Q[:, :3], K, V), {}, ValueError, r"num_q_heads \(3\) must be a multiple of num_kv_heads"),
    ((Q.astype(np.int32), K, V), {}, TypeError, r"q has dtype int32"),
])
def test_shape_and_type_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        attnkit.linear_attention(*args, **kwargs)


@pytest.mark.parametrize("beta,kwargs,match", [
    (2.5, {}, r"beta\[0, 0, 0\] = 2.5: the delta rule's write strength must be in \[0, 2\]"),
    (np.full((1, 2, 8), -0.1, np.float32), {}, r"beta\[0, 0, 0\] = -0.1"),
    (np.zeros((1, 2, 9), np.float32), {}, r"tensor 'beta' has shape"),
    (0.5, dict(norm="denominator"), r"norm=denominator is not defined for the delta rule"),
])
def test_delta_rule_errors(beta, kwargs, match):
    with pytest.raises(ValueError, match=match):
        attnkit.delta_rule(Q, K, V, beta, **kwargs)
    with pytest.raises(TypeError, match=r"needs beta"):
        attnkit.delta_rule(Q, K, V, None)
