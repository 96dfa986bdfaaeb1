# SPDX-License-Identifier: Apache-2.0
# bench/peers/run_peers.py without its peers (torch / ONNX Runtime are optional): shape-file
# parsing, the attnkit side of a run, and clean skipping of peers that are not installed.
import importlib.util
import io
import json
import os
import sys
import contextlib

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def load_script():
    spec = importlib.util.spec_from_file_location(
        "run_peers", os.path.join(ROOT, "bench", "peers", "run_peers.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["run_peers"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_parses_every_shipped_shape_file():
    rp = load_script()
    shapes = os.path.join(ROOT, "bench", "shapes")
    for name in sorted(os.listdir(shapes)):
        if name.endswith(".txt") and not name.startswith(("decode", "sparse", "local", "linear")):
            cases = rp.parse_shape_file(os.path.join(shapes, name))
            assert cases, name
            for c in cases:
                assert c.hq % c.hkv == 0 and c.flops() > 0, (name, c)


def test_rejects_unknown_keys(tmp_path):
    rp = load_script()
    bad = tmp_path / "bad.txt"
    bad.write_text("name=x hq=2 nq=4 d=8 frobnicate=1\n")
    with pytest.raises(ValueError, match="unknown key 'frobnicate'"):
        rp.parse_shape_file(str(bad))


def test_attnkit_only_run_prints_json(tmp_path):
    rp = load_script()
    shapes = tmp_path / "tiny.txt"
    shapes.write_text("name=tiny/causal b=1 hq=4 hkv=2 nq=64 d=32 causal\n"
                      "name=tiny/window b=1 hq=2 nq=50 d=16 causal window=7,0\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = rp.main(["--shapes", str(shapes), "--peers", "", "--reps", "1", "--min-time", "0",
                      "--threads", "1", "--format", "json"])
    assert rc == 0
    rows = json.loads(out.getvalue())
    assert [r["case"] for r in rows] == ["tiny/causal", "tiny/window"]
    assert all(r["attnkit_ms"] > 0 for r in rows)


def test_window_mask_matches_attnkit_conventions():
    rp = load_script()
    c = rp.Case(name="x", hq=1, hkv=1, nq=3, nk=5, dqk=4, dv=4, causal=True, window=(1, -1))
    m = rp.window_mask(c)
    # Row 0 sits at position 2 (bottom-right): keys 1 and 2 (window left 1, causal right 0).
    assert m[0].tolist() == [False, True, True, False, False]
    assert m[2].tolist() == [False, False, False, True, True]
