// SPDX-License-Identifier: Apache-2.0
// Throughput probes of ISA features whose speed varies between CPUs that
// support them (not the cache sizes or feature flags: see cpu_info.cc).
#ifndef ATTNKIT_PLAN_CPU_PROBE_H_
#define ATTNKIT_PLAN_CPU_PROBE_H_

namespace attnkit {

// FLOP rate of AVX512-BF16 vdpbf16ps divided by that of f32 FMA on this core
// (2 = twice as fast, as the instruction's 2 multiply-adds per lane promise;
// < 1 = slower). 0 when the CPU lacks the instructions.
double ProbeBf16DotFlopsRatio(bool has_avx512f, bool has_avx512_bf16);

// `env` is $ATTNKIT_BF16_DOT_RATIO: when set, it replaces the measured ratio
// (e.g. 2.0 as on Zen 4/5, 0.5 as on some Intel cores) so that a plan made on
// another machine can be reproduced; unset or empty keeps `measured`. Throws
// attnkit::Error unless it is a number in (0, 100).
double Bf16DotRatioOrOverride(const char* env, double measured);

}  // namespace attnkit

#endif  // ATTNKIT_PLAN_CPU_PROBE_H_
