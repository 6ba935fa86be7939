// tests/imapd/maildir_folder_test.hpp: a test fixture with one empty Maildir
// (folder_) in a temporary directory, and deliver() to put a message in cur/.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "lib/maildir.hpp"
#include "tests/lib/test_util.hpp"

namespace imapd {

class MaildirFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = dir_.path() + "/m";
    ASSERT_TRUE(lib::maildir::create_maildir(folder_).ok());
  }
  // A small message named base with the Maildir flag letters `flags`.
  void deliver(const std::string& base, const std::string& flags = "") {
    testutil::write_file(folder_ + "/cur/" + base + ":2," + flags, "Subject: x\n\nbody\n");
  }
  testutil::TempDir dir_;
  std::string folder_;
};

}  // namespace imapd
