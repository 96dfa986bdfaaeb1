#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Decode (one new token against a long KV cache) through attnkit and PyTorch SDPA, same shape,
# same threads, same process: what a Python user would otherwise call on a CPU.
"""attnkit.attention_with_kvcache vs torch.nn.functional.scaled_dot_product_attention on decode.

    python3 bench/peers/decode_peers.py --context 32768 --threads 2

PyTorch has no KV-cache attention on the CPU: the peer is SDPA on (1, H, N, D) bf16 tensors with
enable_gqa=True (no causal mask is needed for the newest token), i.e. a contiguous cache. attnkit
reads its paged bf16 cache. Prints the median ms of each, the K/V GB/s they reach and the max
|difference| of their outputs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def timed_pair(fn_a, fn_b, min_time: float) -> tuple[float, float]:
    """Median ms of fn_a and fn_b, called alternately (load drift hits both alike)."""
    fn_a()
    fn_b()
    ta, tb, start = [], [], time.perf_counter()
    while len(ta) < 3 or time.perf_counter() - start < 2 * min_time:
        for fn, times in ((fn_a, ta), (fn_b, tb)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(ta) * 1e3, statistics.median(tb) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--context", type=int, default=32768)
    ap.add_argument("--hq", type=int, default=32)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=2.0)
    a = ap.parse_args()

    import torch
    import attnkit

    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    n, hq, hkv, d = a.context, a.hq, a.hkv, a.dim
    k = torch.from_numpy(rng.standard_normal((n, hkv, d), dtype=np.float32)).to(torch.bfloat16)
    v = torch.from_numpy(rng.standard_normal((n, hkv, d), dtype=np.float32)).to(torch.bfloat16)
    q = torch.from_numpy(rng.standard_normal((1, 1, hq, d), dtype=np.float32)).to(torch.bfloat16)

    cache = attnkit.KVCache(hkv, d, dtype="bf16", page_size=64, max_seq_len=n)
    s = cache.add_sequence()
    cache.append(s, k, v)
    out_a = torch.empty(1, 1, hq, d, dtype=torch.bfloat16)

    def run_attnkit():
        attnkit.attention_with_kvcache(q, cache, [s], out=out_a, threads=a.threads)

    qt = q.transpose(1, 2).contiguous()                 # (1, Hq, 1, D)
    kt = k.permute(1, 0, 2).unsqueeze(0).contiguous()   # (1, Hkv, N, D)
    vt = v.permute(1, 0, 2).unsqueeze(0).contiguous()
    out_t = {}

    def run_torch():
        out_t["o"] = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, enable_gqa=True)

    ms_a, ms_t = timed_pair(run_attnkit, run_torch, a.min_time)
    diff = (out_a.float() - out_t["o"].transpose(1, 2).float()).abs().max().item()
    gb = 2 * n * hkv * d * 2 / 1e9
    print(f"decode 1 token, Hq {hq} / Hkv {hkv} / D {d}, bf16 KV, context {n}, {a.threads} threads "
          f"(torch {torch.__version__}, attnkit {attnkit.__version__})")
    print(f"attnkit paged bf16 cache : {ms_a:8.3f} ms  {gb / ms_a * 1e3:6.1f} GB/s")
    print(f"torch SDPA (enable_gqa)  : {ms_t:8.3f} ms  {gb / ms_t * 1e3:6.1f} GB/s")
    print(f"torch / attnkit          : {ms_t / ms_a:8.2f}x   max |diff| {diff:.3g}")


if __name__ == "__main__":
    main()
