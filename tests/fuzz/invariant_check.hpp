// One invariant check for every fuzz target: a violated invariant names the
// target's source file and line and aborts, so the fuzzer keeps the input
// that broke it as a crash file.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
  std::abort();
}

}  // namespace fuzz

#define CHECK(cond)                                         \
  do {                                                      \
    if (!(cond)) ::fuzz::fail(#cond, __FILE__, __LINE__);   \
  } while (0)
