// tests/tcpd/pidfile_test.cpp: the locked pid file, -stop and -restart.
#include "tcpd/pidfile.hpp"

#include <csignal>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/test_util.hpp"

namespace tcpd {
namespace {

TEST(PidFileTest, NotRunning) {
  testutil::TempDir dir;
  auto owner = pid_file_owner(dir / "none.pid");
  ASSERT_TRUE(owner);
  EXPECT_FALSE(*owner);
  // A stale file with someone's pid in it, but no lock: not running, nothing is signalled.
  testutil::write_file(dir / "stale.pid", std::to_string(::getpid()) + "\n");
  auto r = stop_daemon(dir / "stale.pid", std::chrono::seconds(1));
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST(PidFileTest, LockedByAChildIsStoppedAndSecondAcquireFails) {
  testutil::TempDir dir;
  std::string path = dir / "d.pid";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto p = PidFile::acquire(path);
    if (!p || !p->write_pid(::getpid())) _exit(3);
    (void)!::write(ready[1], "R", 1);
    ::pause();  // until SIGTERM
    _exit(0);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);

  auto owner = pid_file_owner(path);
  ASSERT_TRUE(owner);
  ASSERT_TRUE(*owner);
  EXPECT_EQ(**owner, child);
  auto second = PidFile::acquire(path);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("already running as pid " + std::to_string(child)), std::string::npos)
      << second.error().message;
  EXPECT_EQ(testutil::read_file(path), std::to_string(child) + "\n");

  auto stopped = stop_daemon(path, std::chrono::seconds(20));
  ASSERT_TRUE(stopped) << stopped.error().message;
  ASSERT_TRUE(*stopped);
  EXPECT_EQ(**stopped, child);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_TRUE(PidFile::acquire(path));
}

TEST(PidFileTest, UnwritableDirectory) {
  auto p = PidFile::acquire("/nonexistent-dir/x.pid");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-pid=/nonexistent-dir/x.pid"), std::string::npos);
}

}  // namespace
}  // namespace tcpd
