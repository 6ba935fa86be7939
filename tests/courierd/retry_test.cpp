#include <gtest/gtest.h>

#include "courierd/retry.hpp"

using namespace std::chrono;

TEST(Retry, CourierScheduleAlphaBetaGammaMaxdelta) {
  courierd::RetrySettings s;  // 5m, 3, 15m, 3
  EXPECT_EQ(courierd::retry_delay(1, s), minutes(5));
  EXPECT_EQ(courierd::retry_delay(2, s), minutes(5));
  EXPECT_EQ(courierd::retry_delay(3, s), minutes(5));
  EXPECT_EQ(courierd::retry_delay(4, s), minutes(15));
  EXPECT_EQ(courierd::retry_delay(6, s), minutes(15));
  EXPECT_EQ(courierd::retry_delay(7, s), minutes(30));
  EXPECT_EQ(courierd::retry_delay(10, s), minutes(60));
  EXPECT_EQ(courierd::retry_delay(13, s), minutes(120));
  EXPECT_EQ(courierd::retry_delay(100, s), minutes(120));  // capped at 2^maxdelta * gamma
}

TEST(Retry, OddSettingsStaySane) {
  courierd::RetrySettings s;
  s.beta = 0;
  s.max_delta = -1;
  s.alpha = seconds(1);
  s.gamma = seconds(2);
  EXPECT_EQ(courierd::retry_delay(0, s), seconds(1));
  EXPECT_EQ(courierd::retry_delay(2, s), seconds(2));
  EXPECT_EQ(courierd::retry_delay(50, s), seconds(2));
}
