// SPDX-License-Identifier: Apache-2.0
// Shape files (bench/shapes/*.txt): lists of named attention cases, one per
// line, parsed into harness::Case for `attnkit bench`.
#ifndef ATTNKIT_HARNESS_SHAPE_FILE_H_
#define ATTNKIT_HARNESS_SHAPE_FILE_H_

#include <string>
#include <string_view>
#include <vector>

#include "src/harness/cases.h"

namespace attnkit::harness {

// A case with the name it has in its shape file.
struct NamedCase {
  std::string name;    // e.g. "llama3-8b/prefill-4096"
  std::string origin;  // "file:line" it came from
  Case c;
};

// Format: one case per line; '#' starts a comment; blank lines are ignored.
// Tokens are separated by blanks and are either key=value or a flag:
//
//   name=llama3-8b/prefill-4096 b=1 hq=32 hkv=8 nq=4096 d=128 causal
//
//   name=S       required, unique within the file, no blanks
//   hq=N         required: query heads
//   nq=N         required: query tokens per sequence (unless varlen=)
//   d=N | dqk=N  required (one of): d sets both head dims; dqk the q/k dim
//   dv=N         value head dim (default: dqk)
//   b=N          batch (default 1)
//   hkv=N        key/value heads (default: hq); hq must be a multiple
//   nk=N         key tokens per sequence (default: nq)
//   varlen=N,N,..  a varlen batch of these sequence lengths (q = k), instead of b/nq/nk
//   window=L,R   sliding window, each side an integer >= 0 or 'inf'
//   softcap=C    logit soft-cap, finite and > 0
//   dtype=T      q/k/v dtype f32 | bf16 | f16 (default f32)
//   out_dtype=T  output dtype (default f32)
//   causal, alibi, sinks   flags
//
// Every error (unknown key, bad number, missing or repeated key, a problem the
// library would reject) is an attnkit::Error whose message starts "origin:line: ".
std::vector<NamedCase> ParseShapes(std::string_view text, const std::string& origin);

// Reads and parses a shape file; throws Error if it cannot be read or is empty.
std::vector<NamedCase> ReadShapeFile(const std::string& path);

// The directory holding the shipped shape files: the first of
// <exe dir>/../share/attnkit/shapes and bench/shapes in the executable's
// directory or any of its 5 parents, then <source dir>/bench/shapes (baked in
// at build time). Returns "" if none exists.
std::string ShapesDir();

// Resolves a --shapes argument: an existing path as given, else
// ShapesDir()/arg, else ShapesDir()/arg.txt. Throws Error listing what was tried.
std::string ResolveShapeFile(const std::string& arg);

}  // namespace attnkit::harness

#endif  // ATTNKIT_HARNESS_SHAPE_FILE_H_
