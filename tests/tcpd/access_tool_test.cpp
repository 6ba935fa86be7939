// tests/tcpd/access_tool_test.cpp: makesmtpaccess / -msa / makeimapaccess settings.
#include "tcpd/access_tool.hpp"

#include <gtest/gtest.h>

#include "tests/lib/test_util.hpp"

namespace tcpd {
namespace {

TEST(AccessToolTest, DefaultsWithoutConfigFiles) {
  testutil::TempDir etc;
  auto smtp = plan_access_tool("/usr/sbin/makesmtpaccess", etc.path(), {});
  ASSERT_TRUE(smtp) << smtp.error().message;
  EXPECT_EQ(smtp->source, etc / "smtpaccess");
  EXPECT_EQ(smtp->dat, etc / "smtpaccess.dat");
  EXPECT_TRUE(smtp->pid_files.empty());
  auto imap = plan_access_tool("makeimapaccess", etc.path(), {});
  ASSERT_TRUE(imap);
  EXPECT_EQ(imap->source, etc / "imapaccess");
}

TEST(AccessToolTest, ReadsCourierConfigFiles) {
  testutil::TempDir etc;
  testutil::write_file(etc / "esmtpd", "ACCESSFILE=${sysconfdir}/smtpaccess\nPIDFILE=/run/esmtpd.pid\n");
  testutil::write_file(etc / "esmtpd-msa", "ACCESSFILE=${sysconfdir}/msaaccess\nPIDFILE=/run/esmtpd-msa.pid\n");
  testutil::write_file(etc / "imapd", "IMAPACCESSFILE=${sysconfdir}/imapaccess\nPIDFILE=/run/imapd.pid\n");
  testutil::write_file(etc / "imapd-ssl", "SSLPIDFILE=/run/imapd-ssl.pid\n");
  auto smtp = plan_access_tool("makesmtpaccess", etc.path(), {});
  ASSERT_TRUE(smtp) << smtp.error().message;
  EXPECT_EQ(smtp->source, etc / "smtpaccess");
  EXPECT_EQ(smtp->pid_files, std::vector<std::string>{"/run/esmtpd.pid"});
  auto msa = plan_access_tool("makesmtpaccess-msa", etc.path(), {});
  ASSERT_TRUE(msa);
  EXPECT_EQ(msa->source, etc / "msaaccess");
  EXPECT_EQ(msa->pid_files, std::vector<std::string>{"/run/esmtpd-msa.pid"});
  auto imap = plan_access_tool("makeimapaccess", etc.path(), {});
  ASSERT_TRUE(imap);
  EXPECT_EQ(imap->pid_files, (std::vector<std::string>{"/run/imapd.pid", "/run/imapd-ssl.pid"}));
  std::vector<std::string> args{"-src=/x/src", "-file=/y/out.dat", "-nohup"};
  auto over = plan_access_tool("makesmtpaccess", etc.path(), args);
  ASSERT_TRUE(over);
  EXPECT_EQ(over->source, "/x/src");
  EXPECT_EQ(over->dat, "/y/out.dat");
  EXPECT_TRUE(over->pid_files.empty());
}

TEST(AccessToolTest, Errors) {
  testutil::TempDir etc;
  auto wrong_name = plan_access_tool("makeaccess", etc.path(), {});
  ASSERT_FALSE(wrong_name);
  EXPECT_NE(wrong_name.error().message.find("makesmtpaccess-msa"), std::string::npos);
  std::vector<std::string> bad{"-frobnicate"};
  auto bad_arg = plan_access_tool("makesmtpaccess", etc.path(), bad);
  ASSERT_FALSE(bad_arg);
  EXPECT_NE(bad_arg.error().message.find("-frobnicate"), std::string::npos);
  testutil::write_file(etc / "esmtpd", "ACCESSFILE=\"unterminated\n");
  auto broken = plan_access_tool("makesmtpaccess", etc.path(), {});
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("esmtpd"), std::string::npos) << broken.error().message;
  testutil::write_file(etc / "esmtpd", "ACCESSFILE=\n");
  auto empty = plan_access_tool("makesmtpaccess", etc.path(), {});
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("ACCESSFILE is empty"), std::string::npos);
}

}  // namespace
}  // namespace tcpd
