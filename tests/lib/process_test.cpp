// tests/lib/process_test.cpp: child processes (lib/process.hpp).
#include "lib/process.hpp"

#include <csignal>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/lib/test_util.hpp"

namespace {

using namespace std::chrono_literals;

lib::ChildProcess spawn_sh(const std::string& script, std::vector<std::string> env = {}, int out = -1) {
  lib::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  o.env = std::move(env);
  o.stdout_fd = out;
  auto c = lib::ChildProcess::spawn(o);
  if (!c) throw std::runtime_error(c.error().message);
  return std::move(*c);
}

TEST(Process, ExitCodeIsReported) {
  auto c = spawn_sh("exit 75");
  auto s = c.wait();
  EXPECT_TRUE(s.exited);
  EXPECT_EQ(s.code, 75);
  EXPECT_FALSE(s.success());
  EXPECT_EQ(s.describe(), "exit 75");
}

TEST(Process, EnvironmentIsExactlyWhatWasGiven) {
  testutil::TempDir dir;
  auto out_path = dir / "out";
  int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::setenv("SUITE_TEST_LEAK", "yes", 1);
  auto c = spawn_sh("echo \"[$AUTHENTICATED][$SUITE_TEST_LEAK]\"", {"AUTHENTICATED=alice"}, fd);
  ::close(fd);
  EXPECT_TRUE(c.wait().success());
  EXPECT_EQ(testutil::read_file(out_path), "[alice][]\n");
}

TEST(Process, InheritedEnvironmentIsOverridden) {
  testutil::TempDir dir;
  auto out_path = dir / "out";
  int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::setenv("SUITE_TEST_A", "old", 1);
  lib::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo $SUITE_TEST_A"};
  o.inherit_env = true;
  o.env = {"SUITE_TEST_A=new"};
  o.stdout_fd = fd;
  auto c = lib::ChildProcess::spawn(o);
  ::close(fd);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->wait().success());
  EXPECT_EQ(testutil::read_file(out_path), "new\n");
}

TEST(Process, MissingProgramIsAnErrorNotExit127) {
  lib::SpawnOptions o;
  o.argv = {"/nonexistent/maildrop"};
  auto c = lib::ChildProcess::spawn(o);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("/nonexistent/maildrop"), std::string::npos);
  EXPECT_NE(c.error().message.find("No such file"), std::string::npos);
}

TEST(Process, MissingWorkingDirectoryIsNamed) {
  lib::SpawnOptions o;
  o.argv = {"/bin/true"};
  o.cwd = "/nonexistent/home/alice";
  auto c = lib::ChildProcess::spawn(o);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("/nonexistent/home/alice"), std::string::npos) << c.error().message;
}

TEST(Process, WaitForTimesOutThenTerminate) {
  auto c = spawn_sh("sleep 30");
  EXPECT_FALSE(c.wait_for(50ms).has_value());
  EXPECT_TRUE(c.running());
  auto s = c.terminate(2s);
  EXPECT_FALSE(s.exited);
  EXPECT_EQ(s.signal, SIGTERM);
}

TEST(Process, TerminateEscalatesToKill) {
  auto c = spawn_sh("trap '' TERM; sleep 30");
  // Give the shell time to install its trap; wait_for returns early if it dies.
  EXPECT_FALSE(c.wait_for(200ms).has_value());
  auto s = c.terminate(100ms);
  EXPECT_EQ(s.signal, SIGKILL);
}

TEST(Process, DestructorKillsAndReaps) {
  pid_t pid;
  {
    auto c = spawn_sh("sleep 30");
    pid = c.pid();
  }
  // Reaped: the pid no longer names our child.
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
}

// Whether pid is gone or a zombie (killed, not yet reaped by init).
bool dead(pid_t pid) {
  auto stat = testutil::read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && stat.compare(paren + 2, 1, "Z") == 0);
}

TEST(Process, ProcessGroupKillReachesGrandchildren) {
  testutil::TempDir dir;
  lib::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "sleep 30 & echo $! > " + (dir / "pid") + "; wait"};
  o.new_process_group = true;
  auto c = lib::ChildProcess::spawn(o);
  ASSERT_TRUE(c);
  std::string pid_text;
  for (int i = 0; i < 500 && pid_text.find('\n') == std::string::npos; ++i) {
    ::usleep(10000);
    pid_text = testutil::read_file(dir / "pid");
  }
  pid_t grandchild = std::stoi(pid_text);
  EXPECT_FALSE(dead(grandchild));
  c->kill(SIGKILL);
  c->wait();
  for (int i = 0; i < 200 && !dead(grandchild); ++i) ::usleep(10000);
  EXPECT_TRUE(dead(grandchild));
}

TEST(Process, MoveKeepsOwnership) {
  auto a = spawn_sh("exit 3");
  lib::ChildProcess b = std::move(a);
  EXPECT_EQ(b.wait().code, 3);
  EXPECT_FALSE(a.running());
}

}  // namespace
