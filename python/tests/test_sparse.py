# SPDX-License-Identifier: Apache-2.0
# attnkit.block_sparse_attention / predict_block_mask / neighborhood_attention (na1d, na2d,
# na3d) / window_attention (issue 7) against float64 NumPy references written here from the
# definitions: the block mask materialised as a -inf bias, NATTEN's window rule per axis, and
# Swin's roll + window partition + region mask; plus the predictors' documented shapes and
# every invalid argument.
import math

import numpy as np
import pytest

import attnkit
from reference import attention_ref

rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def rel_l2(x, ref):
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(x - ref) / max(np.linalg.norm(ref), 1e-300))


# ---------------------------------------------------------------- block-sparse


def block_bias(mask, bs, nq, nk):
    """[B, Hq, nqb, nkb] booleans -> [B, Hq, Nq, Nk] bias (0 kept, -inf skipped)."""
    full = np.repeat(np.repeat(mask, bs, axis=2), bs, axis=3)[:, :, :nq, :nk]
    return np.where(full, 0.0, -np.inf)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("bs", [32, 64, 128])
def test_block_sparse_matches_materialised_mask(causal, bs):
    b, hq, hkv, nq, nk, d = 2, 4, 2, 150, 190, 32
    q, k, v = randn(b, hq, nq, d), randn(b, hkv, nk, d), randn(b, hkv, nk, d)
    mask = rng.random((b, hq, -(-nq // bs), -(-nk // bs))) < 0.5
    mask[0, 1, 0, :] = False  # an empty row
    out, lse = attnkit.block_sparse_attention(q, k, v, mask, block_size=bs, causal=causal,
                                              return_lse=True)
    ref, ref_lse = attention_ref(q, k, v, causal=causal, bias=block_bias(mask, bs, nq, nk))
    assert out.shape == (b, hq, nq, d) and out.dtype == np.float32
    assert np.abs(out - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())
    finite = np.isfinite(ref_lse)
    assert np.all(np.isneginf(lse[~finite])) and np.all(out[~finite] == 0)
    assert np.abs(lse[finite] - ref_lse[finite]).max() <= 1e-5 * max(1.0, np.abs(ref_lse[finite]).max())


def test_block_sparse_all_kept_is_dense_and_bnhd_layout():
    q, k, v = randn(1, 100, 4, 16), randn(1, 130, 2, 16), randn(1, 130, 2, 24)  # (B, N, H, D)
    mask = np.ones((1, 4, 2, 3), bool)
    out = attnkit.block_sparse_attention(q, k, v, mask, causal=True, layout="bnhd")
    dense = attnkit.attention(q, k, v, causal=True)
    assert out.shape == (1, 100, 4, 24)
    assert np.abs(out - dense).max() < 1e-5


def test_block_sparse_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    q, k, v = (torch.randn(1, 2, 64, 16) for _ in range(3))
    mask = torch.ones(1, 2, 2, 2, dtype=torch.bool)
    out = attnkit.block_sparse_attention(q, k, v, mask, block_size=32)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 2, 64, 16)


def test_block_sparse_errors():
    q, k, v = randn(1, 2, 64, 16), randn(1, 1, 64, 16), randn(1, 1, 64, 16)
    with pytest.raises(ValueError, match="block_size must be 32, 64 or 128, got 48"):
        attnkit.block_sparse_attention(q, k, v, np.ones((1, 2, 2, 2), bool), block_size=48)
    with pytest.raises(ValueError, match=r"block_mask has shape \[1, 2, 2, 2\], expected"):
        attnkit.block_sparse_attention(q, k, v, np.ones((1, 2, 2, 2), bool), block_size=64)
    with pytest.raises(ValueError, match="block_mask must have 4 dimensions"):
        attnkit.block_sparse_attention(q, k, v, np.ones((2, 2), bool))
    with pytest.raises(TypeError, match="block_mask must be boolean"):
        attnkit.block_sparse_attention(q, k, v, np.ones((1, 2, 1, 1), np.float32))


# ---------------------------------------------------------------- predictors


def visible_blocks(nq, nk, bs, causal):
    nqb, nkb = -(-nq // bs), -(-nk // bs)
    vis = np.ones((nqb, nkb), bool)
    if causal:
        for iq in range(nqb):
            pmax = nk - nq + min(nq, (iq + 1) * bs) - 1
            vis[iq, pmax // bs + 1:] = False
    return vis


@pytest.mark.parametrize("method", ["xattention", "minference", "flexprefill", "power",
                                    "sliding_window", "topk", "sampled"])
def test_every_predictor_gives_a_usable_mask(method):
    b, hq, hkv, n, d = 1, 4, 2, 512, 32
    q, k, v = randn(b, hq, n, d), randn(b, hkv, n, d), randn(b, hkv, n, d)
    params = {"min_budget": 128} if method == "flexprefill" else {}
    mask = attnkit.predict_block_mask(q, k, method, causal=True, **params)
    bs = 128 if method in ("xattention", "flexprefill", "sampled") else 64
    assert mask.dtype == bool and mask.shape == (b, hq, n // bs, n // bs)
    assert not np.any(mask & ~visible_blocks(n, n, bs, True))  # never beyond the causal mask
    assert np.all(mask.any(axis=-1))  # every query block keeps something
    out = attnkit.block_sparse_attention(q, k, v, mask, block_size=bs, causal=True)
    ref, _ = attention_ref(q, k, v, causal=True, bias=block_bias(mask, bs, n, n))
    assert np.abs(out - ref).max() < 1e-5 * max(1.0, np.abs(ref).max())


def test_xattention_threshold_one_keeps_every_visible_block():
    q, k = randn(1, 2, 256, 16), randn(1, 2, 256, 16)
    mask = attnkit.predict_block_mask(q, k, "xattention", threshold=1.0, block_size=64)
    assert np.array_equal(mask[0, 0], visible_blocks(256, 256, 64, True))
    per_head = attnkit.predict_block_mask(q, k, "xattention", threshold=[0.1, 1.0], block_size=64)
    assert per_head[0, 0].sum() <= per_head[0, 1].sum()


def test_power_and_sliding_window_patterns():
    q = randn(1, 1, 64 * 9, 8)
    power = attnkit.predict_block_mask(q, None, "power", sink_blocks=1, local_blocks=1)
    for i in range(9):
        want = {0, i} | {i - (1 << e) for e in range(4) if (1 << e) <= i}
        assert set(np.flatnonzero(power[0, 0, i])) == want
    sw = attnkit.predict_block_mask(q, None, "sliding_window", sink_blocks=1, window_blocks=3)
    for i in range(9):
        assert set(np.flatnonzero(sw[0, 0, i])) == {0} | set(range(max(0, i - 2), i + 1))


def test_minference_per_head_patterns():
    q, k = randn(1, 3, 512, 16), randn(1, 3, 512, 16)
    mask = attnkit.predict_block_mask(q, k, "minference",
                                      pattern=["a_shape", "block_sparse", "vertical_slash"],
                                      vertical_size=[64, 2, 30], slash_size=[128, 0, 50])
    # A-shape: the first 64 keys (block 0) and the 128 diagonals nearest the main one.
    for i in range(8):
        assert set(np.flatnonzero(mask[0, 0, i])) == {0, max(0, i - 2), max(0, i - 1), i}
    assert np.all(mask[0, 1].sum(axis=-1) == np.minimum(2, np.arange(1, 9)))


def test_predictor_errors():
    q, k = randn(1, 2, 256, 16), randn(1, 2, 256, 16)
    with pytest.raises(ValueError, match="unknown method 'dense'"):
        attnkit.predict_block_mask(q, k, "dense")
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\], got 1.5"):
        attnkit.predict_block_mask(q, k, "xattention", threshold=1.5)
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\], got 0"):
        attnkit.predict_block_mask(q, k, "flexprefill", gamma=0.0)
    with pytest.raises(ValueError, match=r"max_fraction must be in \(0, 1\]"):
        attnkit.predict_block_mask(q, k, "sampled", max_fraction=0.0)
    with pytest.raises(TypeError, match="unknown parameter"):
        attnkit.predict_block_mask(q, k, "sampled", gamma=0.5)
    with pytest.raises(ValueError, match="stride must divide block_size"):
        attnkit.predict_block_mask(q, k, "xattention", stride=7)
    with pytest.raises(ValueError, match="needs a causal mask"):
        attnkit.predict_block_mask(q, k, "minference", causal=False)
    with pytest.raises(ValueError, match="unknown MInference pattern 'x'"):
        attnkit.predict_block_mask(q, k, "minference", pattern="x")
    with pytest.raises(TypeError, match="unknown parameter"):
        attnkit.predict_block_mask(q, k, "topk", threshold=0.5)
    with pytest.raises(ValueError, match="block_size must be 32, 64 or 128"):
        attnkit.predict_block_mask(q, k, "topk", block_size=16)


# ---------------------------------------------------------------- neighbourhood attention


def axis_window(length, kernel, dilation, stride, causal, i):
    """Key indices along one axis that query index i sees (NATTEN's rule, from its docs)."""
    rho, x = i % dilation, i // dilation
    ls = len(range(rho, length, dilation))
    if causal:
        leader = min(x - x % stride + stride - 1, ls - 1)
        lo, hi = max(0, leader - kernel + 1), min(x + 1, ls)
    else:
        left, right = kernel // 2, kernel - kernel // 2 - 1
        leader = min(x - x % stride + stride // 2, ls - 1)
        lo = max(0, leader - left)
        if leader + right >= ls:
            lo += ls - right - leader - 1
        hi = lo + kernel
    return {y * dilation + rho for y in range(lo, hi)}


def na_bias(spatial, kernel, dilation, stride, causal):
    coords = list(np.ndindex(*spatial))
    n = len(coords)
    bias = np.full((n, n), -np.inf)
    for a, ci in enumerate(coords):
        sets = [axis_window(spatial[ax], kernel[ax], dilation[ax], stride[ax], causal[ax], ci[ax])
                for ax in range(len(spatial))]
        for bidx, cj in enumerate(coords):
            if all(cj[ax] in sets[ax] for ax in range(len(spatial))):
                bias[a, bidx] = 0.0
    return bias


NA_CASES = [
    ((23,), (5,), (1,), (1,), (False,)),
    ((23,), (4,), (3,), (2,), (True,)),
    ((9, 11), (3, 5), (2, 1), (1, 1), (False, True)),
    ((8, 10), (4, 3), (1, 3), (2, 3), (True, False)),
    ((4, 5, 6), (3, 3, 3), (1, 1, 2), (1, 1, 1), (False, True, False)),
]


@pytest.mark.parametrize("spatial,kernel,dilation,stride,causal", NA_CASES)
def test_neighborhood_matches_brute_force(spatial, kernel, dilation, stride, causal):
    b, hq, hkv, d = 2, 4, 2, 16
    q, k, v = (randn(b, h, *spatial, d) for h in (hq, hkv, hkv))
    out, lse = attnkit.neighborhood_attention(q, k, v, kernel, dilation, causal, stride=stride,
                                              return_lse=True)
    n = int(np.prod(spatial))
    flat = lambda x: x.reshape(x.shape[0], x.shape[1], n, d)  # noqa: E731
    ref, ref_lse = attention_ref(flat(q), flat(k), flat(v),
                                 bias=na_bias(spatial, kernel, dilation, stride, causal))
    assert out.shape == (b, hq, *spatial, d) and lse.shape == (b, hq, *spatial)
    assert rel_l2(out.reshape(ref.shape), ref) < 1e-5
    assert np.abs(lse.reshape(ref_lse.shape) - ref_lse).max() < 1e-4


def test_na_wrappers_and_scalar_arguments():
    q = randn(1, 2, 6, 7, 16)
    a = attnkit.na2d(q, q, q, 3, dilation=2)
    bb = attnkit.neighborhood_attention(q, q, q, (3, 3), (2, 2))
    assert np.array_equal(a, bb)
    x = randn(1, 2, 30, 8)
    assert attnkit.na1d(x, x, x, 5).shape == (1, 2, 30, 8)
    y = randn(1, 1, 4, 5, 6, 8)
    assert attnkit.na3d(y, y, y, (3, 3, 3), causal=(True, False, False)).shape == y.shape
    with pytest.raises(ValueError, match="na2d: q must have 5 dimensions"):
        attnkit.na2d(x, x, x, 3)


def test_neighborhood_errors():
    q = randn(1, 2, 9, 6, 16)
    with pytest.raises(ValueError, match=r"kernel_size\[1\] x dilation\[1\] = 7 x 1 is larger"):
        attnkit.neighborhood_attention(q, q, q, (3, 7))
    with pytest.raises(ValueError, match=r"stride\[0\] must be in \[1, kernel_size\[0\] = 3\]"):
        attnkit.neighborhood_attention(q, q, q, 3, stride=(4, 1))
    with pytest.raises(ValueError, match="one value or 2"):
        attnkit.neighborhood_attention(q, q, q, (3, 3, 3))
    with pytest.raises(ValueError, match="4 to 6 dimensions"):
        attnkit.neighborhood_attention(randn(2, 3, 4), randn(2, 3, 4), randn(2, 3, 4), 3)


# ---------------------------------------------------------------- Swin


def swin_ref(q, k, v, window, shift, table):
    """Swin's own recipe: roll by -shift, partition, masked window attention, roll back."""
    b, h, hh, ww, d = q.shape
    (my, mx), (sy, sx) = window, shift
    roll = lambda x: np.roll(x, (-sy, -sx), axis=(2, 3))  # noqa: E731
    qr, kr, vr = roll(q).astype(np.float64), roll(k).astype(np.float64), roll(v).astype(np.float64)
    group = h // k.shape[1]
    kr, vr = np.repeat(kr, group, axis=1), np.repeat(vr, group, axis=1)
    label = np.zeros((hh, ww), int)
    if sy or sx:
        cnt = 0
        for ys in (slice(0, -my), slice(-my, -sy if sy else None), slice(-sy, None) if sy else slice(0, 0)):
            for xs in (slice(0, -mx), slice(-mx, -sx if sx else None), slice(-sx, None) if sx else slice(0, 0)):
                label[ys, xs] = cnt
                cnt += 1
    out = np.zeros((b, h, hh, ww, v.shape[-1]))
    yy, xx = np.meshgrid(np.arange(my), np.arange(mx), indexing="ij")
    yy, xx = yy.reshape(-1), xx.reshape(-1)
    for y0 in range(0, hh, my):
        for x0 in range(0, ww, mx):
            ys, xs = y0 + yy, x0 + xx
            s = np.einsum("bhid,bhjd->bhij", qr[:, :, ys, xs], kr[:, :, ys, xs]) / math.sqrt(d)
            if table is not None:
                s = s + table[:, yy[:, None] - yy[None, :] + my - 1, xx[:, None] - xx[None, :] + mx - 1]
            lab = label[ys, xs]
            s = np.where(lab[:, None] == lab[None, :], s, -np.inf)
            p = np.exp(s - s.max(-1, keepdims=True))
            out[:, :, ys, xs] = np.einsum("bhij,bhjd->bhid", p / p.sum(-1, keepdims=True),
                                          vr[:, :, ys, xs])
    return np.roll(out, (sy, sx), axis=(2, 3))


@pytest.mark.parametrize("window,shift,rpb", [((7, 7), (0, 0), False), ((7, 7), (3, 3), True),
                                              ((4, 5), (2, 1), True), ((4, 4), (0, 2), False)])
def test_window_attention_matches_swin(window, shift, rpb):
    h, hkv, hh, ww, d = 4, 2, 2 * window[0], 3 * window[1], 16
    q, k, v = randn(2, h, hh, ww, d), randn(2, hkv, hh, ww, d), randn(2, hkv, hh, ww, d)
    table = randn(h, 2 * window[0] - 1, 2 * window[1] - 1) if rpb else None
    out = attnkit.window_attention(q, k, v, window, shift, rel_pos_bias=table)
    assert out.shape == q.shape
    assert rel_l2(out, swin_ref(q, k, v, window, shift, table)) < 1e-5


def test_window_attention_errors():
    q = randn(1, 2, 14, 20, 16)
    with pytest.raises(ValueError, match=r"width \(20\) must be a multiple of window\[1\] \(7\)"):
        attnkit.window_attention(q, q, q, 7)
    q = randn(1, 2, 14, 14, 16)
    with pytest.raises(ValueError, match=r"shift\[0\] must be in \[0, window\[0\] = 7\), got 7"):
        attnkit.window_attention(q, q, q, 7, shift=(7, 0))
    with pytest.raises(ValueError, match="rel_pos_bias must have"):
        attnkit.window_attention(q, q, q, 7, rel_pos_bias=np.zeros(10, np.float32))


# ---------------------------------------------------------------- docs/sparse.md


def test_docs_sparse_python_example_runs():
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "sparse.md"
    if not doc.exists():
        pytest.skip("docs/sparse.md is not beside this test tree")
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/sparse.md", "exec"), {"__name__": "__doc_example__"})
