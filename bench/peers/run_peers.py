#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# attnkit against the CPU attention a Python user would otherwise call: PyTorch's
# scaled_dot_product_attention and ONNX Runtime's attention contrib ops, same shapes, same threads.
"""Runs bench/shapes/*.txt cases through attnkit, PyTorch SDPA and ONNX Runtime.

    python3 bench/peers/run_peers.py --shapes llama3-8b --threads 2
    python3 bench/peers/run_peers.py --install          # pip-installs torch, onnxruntime, onnx

One table: case, attnkit ms, each peer's ms, peer_ms / attnkit_ms (above 1: attnkit is faster),
and each peer's max |difference| from attnkit's output (results must agree; a peer whose
semantics differ for a case is marked, not silently compared). Peers that are not installed are
skipped with the reason. --plot PNG draws effective GFLOP/s against N for every implementation.

Peers, as a user would call them:
  torch: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=..., scale=...,
         enable_gqa=True) on (B, H, N, D) float32/bfloat16 tensors (PyTorch's CPU flash kernel);
         windows and soft-cap are not expressible there without a materialised mask: such cases
         pass an explicit boolean mask (what a user would do) and say so.
  ort:   a one-node ONNX model with com.microsoft GroupQueryAttention (causal, GQA, sliding
         window via local_window_size, softcap) or MultiHeadAttention (non-causal; K/V heads
         repeated for GQA), intra_op_num_threads = --threads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES_DIR = os.path.join(HERE, "..", "shapes")


# ------------------------------------------------------------------ shape files

@dataclass
class Case:
    name: str
    b: int = 1
    hq: int = 0
    hkv: int = 0
    nq: int = 0
    nk: int = 0
    dqk: int = 0
    dv: int = 0
    causal: bool = False
    window: Optional[tuple] = None  # (left, right), -1 = unbounded
    softcap: float = 0.0
    dtype: str = "f32"
    unsupported: List[str] = field(default_factory=list)  # options this script does not run

    def flops(self) -> float:
        """Effective FLOPs: 2 (Dqk + Dv) per visible (query, key) pair (docs/benchmarks.md)."""
        pairs = 0
        right = self.window[1] if self.window else -1
        if self.causal:
            right = 0 if right < 0 else min(right, 0)
        left = self.window[0] if self.window else -1
        for i in range(self.nq):
            p = self.nk - self.nq + i
            lo = 0 if left < 0 else max(0, p - left)
            hi = self.nk - 1 if right < 0 else min(self.nk - 1, p + right)
            pairs += max(0, hi - lo + 1)
        return 2.0 * pairs * self.hq * self.b * (self.dqk + self.dv)


def parse_shape_file(path: str) -> List[Case]:
    """The format of src/harness/shape_file.h (the subset this script runs)."""
    cases = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            c = Case(name="")
            for tok in line.split():
                key, _, val = tok.partition("=")
                where = f"{path}:{lineno}"
                if key == "name":
                    c.name = val
                elif key in ("b", "hq", "hkv", "nq", "nk", "dqk", "dv"):
                    setattr(c, key, int(val))
                elif key == "d":
                    c.dqk = c.dv = int(val)
                elif key == "causal":
                    c.causal = True
                elif key == "window":
                    lo, hi = (int(x) if x != "inf" else -1 for x in val.split(","))
                    c.window = (lo, hi)
                elif key == "softcap":
                    c.softcap = float(val)
                elif key == "dtype":
                    c.dtype = val
                elif key in ("alibi", "sinks", "varlen", "out_dtype"):
                    c.unsupported.append(key)
                else:
                    raise ValueError(f"{where}: unknown key '{key}'")
            if not c.name or not c.hq or not c.nq or not c.dqk:
                raise ValueError(f"{path}:{lineno}: name, hq, nq and d are required")
            c.hkv = c.hkv or c.hq
            c.nk = c.nk or c.nq
            c.dv = c.dv or c.dqk
            cases.append(c)
    return cases


def resolve(name: str) -> str:
    if os.path.exists(name):
        return name
    path = os.path.join(SHAPES_DIR, name if name.endswith(".txt") else name + ".txt")
    if not os.path.exists(path):
        raise SystemExit(f"run_peers: no shape file '{name}' (looked in {SHAPES_DIR})")
    return path


# ------------------------------------------------------------------ implementations

def window_mask(c: Case) -> np.ndarray:
    """Boolean (Nq, Nk) mask, True = attend, with attnkit's bottom-right conventions."""
    i = np.arange(c.nq)[:, None] + (c.nk - c.nq)
    j = np.arange(c.nk)[None, :]
    ok = np.ones((c.nq, c.nk), dtype=bool)
    left, right = c.window if c.window else (-1, -1)
    if c.causal:
        right = 0 if right < 0 else min(right, 0)
    if left >= 0:
        ok &= j >= i - left
    if right >= 0:
        ok &= j <= i + right
    return ok


class Impl:
    """One implementation: prepare(case, q, k, v) returns a zero-argument runner."""
    name = ""
    why_unavailable = ""

    def prepare(self, c: Case, q, k, v, threads: int) -> Callable[[], np.ndarray]:
        raise NotImplementedError


class Attnkit(Impl):
    name = "attnkit"

    def __init__(self):
        try:
            import attnkit  # noqa: F401
            self.ak = attnkit
        except ImportError as e:
            self.why_unavailable = f"attnkit is not installed ({e}): run scripts/setup.sh"

    def prepare(self, c, q, k, v, threads):
        ak = self.ak
        plan = ak.Plan(num_q_heads=c.hq, num_kv_heads=c.hkv, head_dim=c.dqk, head_dim_v=c.dv,
                       causal=c.causal, window=c.window or (-1, -1), softcap=c.softcap,
                       threads=threads, layout="bhnd")
        plan.plan(batch=c.b, seqlen_q=c.nq, seqlen_k=c.nk, dtype=q.dtype.name, out_dtype="float32")
        out = np.empty((c.b, c.hq, c.nq, c.dv), dtype=np.float32)
        return lambda: plan.run(q, k, v, out=out)


class TorchSdpa(Impl):
    name = "torch"

    def __init__(self):
        try:
            import torch
            self.torch = torch
        except ImportError as e:
            self.why_unavailable = f"torch is not installed ({e}): run with --install"

    def prepare(self, c, q, k, v, threads):
        torch = self.torch
        torch.set_num_threads(threads)
        def to_torch(x):
            x = np.ascontiguousarray(x)
            if c.dtype == "bf16":  # ml_dtypes.bfloat16 -> torch.bfloat16, bit for bit
                return torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
            return torch.from_numpy(x)

        tq, tk, tv = (to_torch(x) for x in (q, k, v))
        scale = 1.0 / math.sqrt(c.dqk)
        if c.softcap:
            return None  # SDPA has no soft-cap
        mask = None
        is_causal = c.causal
        if c.window or (c.causal and c.nq != c.nk):
            mask = torch.from_numpy(window_mask(c))  # bottom-right conventions, materialised
            is_causal = False

        def run():
            with torch.no_grad():
                o = torch.nn.functional.scaled_dot_product_attention(
                    tq, tk, tv, attn_mask=mask, is_causal=is_causal, scale=scale,
                    enable_gqa=c.hq != c.hkv)
            return o.float().numpy()
        return run


class OnnxRuntime(Impl):
    name = "ort"

    def __init__(self):
        try:
            import onnx  # noqa: F401
            import onnxruntime
            self.ort = onnxruntime
        except ImportError as e:
            self.why_unavailable = f"onnxruntime/onnx not installed ({e}): run with --install"

    def prepare(self, c, q, k, v, threads):
        import onnx
        from onnx import TensorProto, helper
        ort = self.ort
        if c.dtype != "f32":
            return None  # the CPU contrib ops take float32 (and float16 for GQA only)
        scale = 1.0 / math.sqrt(c.dqk)
        # (B, H, N, D) -> (B, N, H*D), the contrib ops' input layout.
        def pack(x):
            return np.ascontiguousarray(x.transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1))
        feeds = {}
        if c.causal:
            if c.nq != c.nk:
                return None  # GQA's prefill form needs Nq == Nk without a past
            attrs = dict(num_heads=c.hq, kv_num_heads=c.hkv, scale=scale)
            if c.window:
                attrs["local_window_size"] = c.window[0] + 1 if c.window[0] >= 0 else -1
            if c.softcap:
                attrs["softcap"] = c.softcap
            node = helper.make_node(
                "GroupQueryAttention",
                ["q", "k", "v", "", "", "seqlens_k", "total_seqlen"], ["out", "pk", "pv"],
                domain="com.microsoft", **attrs)
            inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in
                      (("q", [c.b, c.nq, c.hq * c.dqk]), ("k", [c.b, c.nk, c.hkv * c.dqk]),
                       ("v", [c.b, c.nk, c.hkv * c.dv]))]
            inputs += [helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [c.b]),
                       helper.make_tensor_value_info("total_seqlen", TensorProto.INT32, [])]
            outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, None),
                       helper.make_tensor_value_info("pk", TensorProto.FLOAT, None),
                       helper.make_tensor_value_info("pv", TensorProto.FLOAT, None)]
            feeds = {"q": pack(q), "k": pack(k), "v": pack(v),
                     "seqlens_k": np.full((c.b,), c.nk - 1, dtype=np.int32),
                     "total_seqlen": np.array(c.nk, dtype=np.int32)}
        else:
            if c.window or c.softcap or c.dqk != c.dv:
                return None
            g = c.hq // c.hkv
            k_rep, v_rep = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)  # MHA needs Hq K/V heads
            node = helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["out"],
                                    domain="com.microsoft", num_heads=c.hq, scale=scale)
            inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in
                      (("q", [c.b, c.nq, c.hq * c.dqk]), ("k", [c.b, c.nk, c.hq * c.dqk]),
                       ("v", [c.b, c.nk, c.hq * c.dv]))]
            outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)]
            feeds = {"q": pack(q), "k": pack(k_rep), "v": pack(v_rep)}
        graph = helper.make_graph([node], "attention", inputs, outputs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("com.microsoft", 1)])
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])

        def run():
            o = sess.run(["out"], feeds)[0]
            return o.reshape(c.b, c.nq, c.hq, c.dv).transpose(0, 2, 1, 3)
        return run


# ------------------------------------------------------------------ timing

def timed(run: Callable[[], np.ndarray], reps: int, min_time: float):
    out = run()  # warm-up (and the output for the comparison)
    times = []
    start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start < min_time and len(times) < 50):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if reps == 0 and len(times) >= 3 and time.perf_counter() - start >= min_time:
            break
    return out, 1e3 * float(np.median(times))


def install_peers() -> None:
    pkgs = ["torch", "onnxruntime", "onnx", "matplotlib"]
    print(f"run_peers: pip install {' '.join(pkgs)} (torch from PyPI is several GB)")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *pkgs])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=["llama3-8b"],
                    help="shape files or names in bench/shapes (default: llama3-8b)")
    ap.add_argument("--filter", default="", help="regex on case names")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--dtype", choices=["f32", "bf16"], help="override every case's dtype")
    ap.add_argument("--reps", type=int, default=0, help="timed runs (0: fill --min-time, >= 3)")
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--peers", default="torch,ort", help="comma list of peers to run")
    ap.add_argument("--format", choices=["table", "csv", "json"], default="table")
    ap.add_argument("--plot", help="write a PNG of effective GFLOP/s against N")
    ap.add_argument("--install", action="store_true", help="pip-install the peers first")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    if args.install:
        install_peers()

    impls: List[Impl] = [Attnkit()]
    wanted = [p for p in args.peers.split(",") if p]
    for p in wanted:
        if p not in ("torch", "ort"):
            ap.error(f"unknown peer '{p}' (allowed: torch, ort)")
    impls += [cls() for cls, n in ((TorchSdpa, "torch"), (OnnxRuntime, "ort")) if n in wanted]
    if impls[0].why_unavailable:
        print(f"run_peers: {impls[0].why_unavailable}", file=sys.stderr)
        return 2
    for impl in impls[1:]:
        if impl.why_unavailable:
            print(f"run_peers: skipping {impl.name}: {impl.why_unavailable}", file=sys.stderr)
    impls = [i for i in impls if not i.why_unavailable]

    cases = [c for f in args.shapes for c in parse_shape_file(resolve(f))]
    rx = re.compile(args.filter)
    cases = [c for c in cases if rx.search(c.name) and not c.unsupported]
    if args.dtype:
        for c in cases:
            c.dtype = args.dtype
    if not cases:
        print("run_peers: no case matches", file=sys.stderr)
        return 2

    import attnkit
    print(f"threads {args.threads} | {attnkit.cpu_info()} | "
          + ", ".join(f"{i.name} {i.version() if hasattr(i, 'version') else ''}".strip() for i in impls),
          file=sys.stderr)
    rows: List[Dict] = []
    rng = np.random.default_rng(0)
    for c in cases:
        q = rng.standard_normal((c.b, c.hq, c.nq, c.dqk), dtype=np.float32)
        k = rng.standard_normal((c.b, c.hkv, c.nk, c.dqk), dtype=np.float32)
        v = rng.standard_normal((c.b, c.hkv, c.nk, c.dv), dtype=np.float32)
        if c.dtype == "bf16":
            import ml_dtypes
            q, k, v = (x.astype(ml_dtypes.bfloat16) for x in (q, k, v))
        row = {"case": c.name, "n": c.nk, "square": c.nq == c.nk, "gflop": c.flops() * 1e-9}
        ref = None
        for impl in impls:
            runner = impl.prepare(c, q, k, v, args.threads)
            if runner is None:
                row[f"{impl.name}_ms"] = None
                continue
            out, ms = timed(runner, args.reps, args.min_time)
            row[f"{impl.name}_ms"] = ms
            if impl.name == "attnkit":
                ref = np.asarray(out, dtype=np.float32)
            else:
                row[f"{impl.name}_maxdiff"] = float(np.max(np.abs(np.asarray(out, np.float32) - ref)))
                row[f"{impl.name}_ratio"] = ms / row["attnkit_ms"]
            print(f"  {c.name}: {impl.name} {ms:.2f} ms", file=sys.stderr)
        rows.append(row)
    print_rows(rows, [i.name for i in impls], args.format)
    if args.plot:
        plot(rows, [i.name for i in impls], args.plot)
    return 0


def print_rows(rows: List[Dict], names: List[str], fmt: str) -> None:
    cols = ["case", "attnkit_ms"]
    for n in names[1:]:
        cols += [f"{n}_ms", f"{n}_ratio", f"{n}_maxdiff"]
    if fmt == "json":
        print(json.dumps(rows, indent=1))
        return
    def cell(r, col):
        v = r.get(col)
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if "diff" in col else f"{v:.2f}"
        return str(v)
    table = [cols] + [[cell(r, col) for col in cols] for r in rows]
    if fmt == "csv":
        print("\n".join(",".join(r) for r in table))
        return
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    for j, r in enumerate(table):
        print("  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths))))
        if j == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print("\nratio = peer_ms / attnkit_ms (above 1: attnkit is faster); maxdiff = max |O_peer - O_attnkit|;"
          " '-' = the peer cannot express the case.")


def plot(rows: List[Dict], names: List[str], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    rows = [r for r in rows if r.get("square", True)]  # prefill (Nq == Nk) only: one point per N
    for n in names:
        pts = [(r["n"], r["gflop"] / (r[f"{n}_ms"] * 1e-3)) for r in rows if r.get(f"{n}_ms")]
        if pts:
            xs, ys = zip(*sorted(pts))
            ax.plot(xs, ys, marker="o", label=n)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length N")
    ax.set_ylabel("effective GFLOP/s")
    ax.set_title("causal prefill, " + (rows[0]["case"].split("/")[0] if rows else ""))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"run_peers: wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
