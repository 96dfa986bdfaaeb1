// SPDX-License-Identifier: Apache-2.0
// Placeholder: Google Benchmark micro-benchmarks of the dense kernel (being written).
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
