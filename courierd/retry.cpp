// courierd/retry.cpp: see retry.hpp.
#include "courierd/retry.hpp"

#include <algorithm>

namespace courierd {

std::chrono::seconds retry_delay(int failures, const RetrySettings& s) {
  int beta = std::max(1, s.beta);
  int n = std::max(0, failures - 1);
  if (n < beta) return s.alpha;
  int group = (n - beta) / beta;  // 0: gamma, 1: 2*gamma, ...
  int doublings = std::min(group, std::max(0, s.max_delta));
  return s.gamma * (1LL << doublings);
}

}  // namespace courierd
