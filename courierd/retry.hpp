// courierd/retry.hpp: Courier's retry schedule (courier(8), "retryalpha"...):
// after a temporary failure the next attempt comes retryalpha later, retrybeta
// times; then retrygamma later, retrybeta times; then the gap doubles
// (2*retrygamma, 4*retrygamma, ...) at most retrymaxdelta times, and stays there.
// The message is given up at queuetime after it was accepted; a delay warning goes
// out once at warntime.
#pragma once

#include <chrono>

namespace courierd {

struct RetrySettings {
  std::chrono::seconds alpha{300};     // retryalpha, default 5 minutes
  int beta = 3;                        // retrybeta
  std::chrono::seconds gamma{900};     // retrygamma, default 15 minutes
  int max_delta = 3;                   // retrymaxdelta
  std::chrono::seconds queuetime{7 * 24 * 3600};  // queuetime, default 1 week
  std::chrono::seconds warntime{4 * 3600};        // warntime, default 4 hours; 0 = never
};

// The wait after the n-th temporary failure (n = 1 for the first).
std::chrono::seconds retry_delay(int failures, const RetrySettings& s);

}  // namespace courierd
