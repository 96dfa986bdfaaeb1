// SPDX-License-Identifier: Apache-2.0
// Shared problem flags of the CLI (see problem_flags.h).
#include "tools/cli/problem_flags.h"

#include <cstdlib>

#include "attnkit/error.h"
#include "tools/cli/commands.h"

namespace attnkit::cli {

int& ExitCode() {
  static int code = 0;
  return code;
}

namespace {
int64_t ParseSide(const std::string& text, const std::string& whole) {
  if (text == "inf" || text == "-1") {
    // -1 is FlashAttention's spelling of "unbounded"; accept it only spelled exactly.
    return kUnbounded;
  }
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  ATTNKIT_CHECK(!text.empty() && end == text.c_str() + text.size(), "--window '", whole,
                "': '", text, "' is not an integer (expected L,R with L, R >= 0 or 'inf')");
  ATTNKIT_CHECK(v >= 0, "--window '", whole, "': window sides must be >= 0 (or 'inf'), got ", v);
  return v;
}
}  // namespace

void ParseWindow(const std::string& text, MaskSpec& mask) {
  const size_t comma = text.find(',');
  ATTNKIT_CHECK(comma != std::string::npos, "--window '", text, "': expected L,R (e.g. 128,0)");
  mask.window_left = ParseSide(text.substr(0, comma), text);
  mask.window_right = ParseSide(text.substr(comma + 1), text);
}

void AddProblemFlags(CLI::App* cmd, ProblemFlags& f) {
  cmd->add_option("--batch,-b", f.batch, "batch size")->capture_default_str();
  cmd->add_option("--hq", f.hq, "query heads")->capture_default_str();
  cmd->add_option("--hkv", f.hkv, "key/value heads (Hq must be a multiple)")->capture_default_str();
  cmd->add_option("--nq", f.nq, "query tokens per sequence")->capture_default_str();
  cmd->add_option("--nk", f.nk, "key tokens per sequence (default: nq)");
  cmd->add_option("--dqk,-d", f.dqk, "head dim of q and k")->capture_default_str();
  cmd->add_option("--dv", f.dv, "head dim of v (default: dqk)");
  cmd->add_flag("--causal", f.causal, "causal mask, bottom-right aligned");
  cmd->add_option("--window", f.window, "sliding window L,R (keys p-L..p+R; 'inf' = unbounded)");
  cmd->add_option("--softcap", f.softcap, "logit soft-cap c: s = c tanh(s / c)");
  cmd->add_flag("--alibi", f.alibi, "ALiBi with the standard slope table");
  cmd->add_flag("--sinks", f.sinks, "learned per-head sink logits");
  cmd->add_flag("--bias", f.bias, "additive bias tensor [B, Hq, Nq, Nk]");
  cmd->add_option("--dtype", f.dtype, "q/k/v dtype: f32 | bf16 | f16")->capture_default_str();
  cmd->add_option("--out-dtype", f.out_dtype, "output dtype: f32 | bf16 | f16")->capture_default_str();
  cmd->add_option("--threads,-t", f.threads, "threads (0 = all hardware threads)");
  cmd->add_option("--kernel", f.kernel, "force a registry kernel by name");
  cmd->add_option("--block-q", f.block_q, "force the query tile (rows)");
  cmd->add_option("--block-k", f.block_k, "force the key tile (multiple of 16)");
  cmd->add_flag("--autotune", f.autotune,
                "time the cost model's best tilings on this shape and keep the fastest (cached)");
}

harness::Case ToCase(const ProblemFlags& f) {
  harness::Case c;
  c.batch = f.batch;
  c.seqlen_q = f.nq;
  c.seqlen_k = f.nk > 0 ? f.nk : f.nq;
  c.spec.num_q_heads = f.hq;
  c.spec.num_kv_heads = f.hkv;
  c.spec.head_dim_qk = f.dqk;
  c.spec.head_dim_v = f.dv > 0 ? f.dv : f.dqk;
  c.spec.mask.causal = f.causal;
  if (!f.window.empty()) ParseWindow(f.window, c.spec.mask);
  c.spec.softcap = f.softcap;
  c.spec.alibi = f.alibi;
  c.spec.has_sinks = f.sinks;
  c.spec.has_bias = f.bias;
  c.dtype = ParseDType(f.dtype);
  c.out_dtype = ParseDType(f.out_dtype);
  c.threads = f.threads > 0 ? f.threads : ThreadingContext().num_threads();
  c.kernel = f.kernel;
  c.block_q = f.block_q;
  c.block_k = f.block_k;
  c.autotune = f.autotune;
  return c;
}

}  // namespace attnkit::cli
