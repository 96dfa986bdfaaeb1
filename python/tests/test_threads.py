# SPDX-License-Identifier: Apache-2.0
# The GIL is released while kernels run: concurrent Python threads get correct results, one
# shared Plan may be run from several threads, and other Python code keeps running meanwhile.
import threading
import time

import numpy as np

import attnkit
from reference import assert_out_close, attention_ref, from_layout


def _inputs(seed, nq=48, nk=64, hq=4, hkv=2, d=32):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((2, nq, hq, d)).astype(np.float32)
    k = rng.standard_normal((2, nk, hkv, d)).astype(np.float32)
    v = rng.standard_normal((2, nk, hkv, d)).astype(np.float32)
    return q, k, v


def _run_in_threads(fns):
    errors, barrier = [], threading.Barrier(len(fns))

    def wrap(fn):
        try:
            barrier.wait()
            fn()
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_two_threads_compute_correct_results():
    problems = [_inputs(s) for s in (1, 2)]
    refs = [attention_ref(*(from_layout(x, "bnhd") for x in p), causal=True)[0] for p in problems]
    results = [[], []]

    def worker(i):
        def fn():
            for _ in range(20):
                results[i].append(attnkit.attention(*problems[i], causal=True, threads=1))
        return fn

    _run_in_threads([worker(0), worker(1)])
    for i in range(2):
        assert len(results[i]) == 20
        for out in results[i]:
            assert_out_close(from_layout(out, "bnhd"), refs[i], "f32")


def test_one_plan_shared_by_two_threads():
    """All runs of one Plan at once: the busy workspace is never shared (a temporary is used)."""
    problems = [_inputs(s) for s in (3, 4)]
    expect = [attnkit.attention(*p, causal=True) for p in problems]
    plan = attnkit.Plan(4, 2, 32, causal=True, threads=2).plan(2, 48, 64)
    mismatches = []

    def worker(i):
        def fn():
            for _ in range(30):
                if not np.array_equal(plan.run(*problems[i]), expect[i]):
                    mismatches.append(i)
        return fn

    _run_in_threads([worker(0), worker(1), worker(0)])
    assert not mismatches


def test_gil_is_released_while_a_kernel_runs():
    """A Python loop keeps ticking while another thread is inside a long attention call."""
    q, k, v = _inputs(5, nq=2048, nk=2048, hq=8, hkv=8, d=64)
    plan = attnkit.Plan(8, 8, 64, threads=1).plan(2, 2048, 2048)
    plan.run(q, k, v)  # warm up
    t0 = time.perf_counter()
    plan.run(q, k, v)
    one_call = time.perf_counter() - t0

    go, done = threading.Event(), threading.Event()

    def worker():
        go.wait()
        plan.run(q, k, v)
        done.set()

    ticks, max_gap = 0, 0.0
    t = threading.Thread(target=worker)
    t.start()
    last = time.perf_counter()
    go.set()
    while not done.is_set():
        now = time.perf_counter()
        max_gap, last = max(max_gap, now - last), now
        ticks += 1
    t.join()
    # Holding the GIL for the whole call would stall this loop for about one_call seconds.
    assert ticks > 100, ticks
    assert max_gap < max(0.5 * one_call, 0.05), (max_gap, one_call)
