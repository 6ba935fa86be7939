// tests/tls/couriertls_options_test.cpp: couriertls's command line.
#include <gtest/gtest.h>

#include "tls/couriertls_options.hpp"

namespace {

lib::Result<tls::CouriertlsOptions> parse(std::vector<std::string> args) {
  return tls::parse_couriertls_args(args);
}

TEST(CouriertlsOptions, CourierCommandLines) {
  auto tcpd = parse({"-server", "-tcpd", "/usr/lib/courier/imaplogin", "/usr/bin/imapd", "Maildir"});
  ASSERT_TRUE(tcpd) << tcpd.error().message;
  EXPECT_TRUE(tcpd->server);
  EXPECT_TRUE(tcpd->tcpd);
  EXPECT_EQ(tcpd->program, (std::vector<std::string>{"/usr/lib/courier/imaplogin", "/usr/bin/imapd", "Maildir"}));

  auto starttls = parse({"-server", "-remotefd=3", "-localfd=4", "--statusfd=5", "-envfd=6", "-printx509=7"});
  ASSERT_TRUE(starttls) << starttls.error().message;
  EXPECT_EQ(starttls->remote_fd, 3);
  EXPECT_EQ(starttls->local_fd, 4);
  EXPECT_EQ(starttls->status_fd, 5);
  EXPECT_EQ(starttls->env_fd, 6);
  EXPECT_EQ(starttls->printx509_fd, 7);
  EXPECT_TRUE(starttls->program.empty());

  auto client = parse({"-host=mail.example.com", "-port=143", "-protocol=imap", "-verify=mail.example.com"});
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_FALSE(client->server);
  EXPECT_EQ(client->protocol, tls::StartProtocol::imap);
  EXPECT_EQ(client->verify_domain, "mail.example.com");

  auto dashdash = parse({"-server", "-tcpd", "--", "-weird-program"});
  ASSERT_TRUE(dashdash);
  EXPECT_EQ(dashdash->program, std::vector<std::string>{"-weird-program"});
}

TEST(CouriertlsOptions, CheckTakesNoConnection) {
  auto check = parse({"-server", "-check"});
  ASSERT_TRUE(check) << check.error().message;
  EXPECT_TRUE(check->check);
  EXPECT_TRUE(check->server);
  auto with_connection = parse({"-server", "-check", "-tcpd", "/bin/true"});
  ASSERT_FALSE(with_connection);
  EXPECT_NE(with_connection.error().message.find("-check takes no connection"), std::string::npos);
}

TEST(CouriertlsOptions, Errors) {
  struct Case {
    const char* label;
    std::vector<std::string> args;
    const char* error;
  } cases[] = {
      {"no connection", {"-server", "prog"}, "no connection given"},
      {"two connections", {"-tcpd", "-remotefd=3", "prog"}, "one way only"},
      {"fd not a number", {"-remotefd=x"}, "expected a file descriptor number"},
      {"negative fd", {"-remotefd=-1"}, "expected a file descriptor number"},
      {"empty fd", {"-remotefd="}, "expected a file descriptor number"},
      {"host without port", {"-host=a"}, "go together"},
      {"unknown protocol", {"-host=a", "-port=1", "-protocol=http"}, "unknown protocol"},
      {"protocol without host", {"-remotefd=3", "-protocol=imap"}, "debug client mode"},
      {"unknown option", {"-servr", "-tcpd", "prog"}, "unknown option -servr"},
      {"localfd and program", {"-remotefd=3", "-localfd=4", "prog"}, "exclude each other"},
      {"tcpd without program", {"-server", "-tcpd"}, "needs a program"},
      {"user without value", {"-user", "-tcpd", "prog"}, "needs a value"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args);
    ASSERT_FALSE(r) << c.label;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos) << c.label << ": " << r.error().message;
  }
}

}  // namespace
