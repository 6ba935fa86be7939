#include <gtest/gtest.h>

#include "courierd/dsn.hpp"
#include "courierd/smtp_client.hpp"
#include "lib/mime.hpp"

namespace {
courierd::DsnInput sample() {
  courierd::DsnInput in;
  in.kind = courierd::DsnKind::failure;
  in.reporting_mta = "mail.example.com";
  in.from = "\"Courier mail server at mail.example.com\" <@>";
  in.to = "sender@example.org";
  in.envid = "env-1";
  in.qid = "6756a2c1.3f2a.0.9c1e";
  in.arrival = 1700000000;
  in.now = 1700000100;
  in.original = "Subject: hello\nFrom: sender@example.org\n\nbody line\n";
  courierd::DsnRecipient r;
  r.address = "bob@remote.example";
  r.orcpt = "rfc822;bob@remote.example";
  r.action = "failed";
  r.status = "5.1.1";
  r.diagnostic = "smtp; 550 5.1.1 no such user\r\nX-Injected: yes";
  r.remote_mta = "dns; mx.remote.example";
  in.recipients.push_back(r);
  return in;
}
}  // namespace

TEST(Dsn, FailureReportHasTheThreeParts) {
  auto in = sample();
  std::string m = courierd::build_dsn(in);
  EXPECT_NE(m.find("Content-Type: multipart/report; report-type=delivery-status;"), std::string::npos);
  EXPECT_NE(m.find("Content-Type: message/delivery-status"), std::string::npos);
  EXPECT_NE(m.find("Original-Envelope-Id: env-1"), std::string::npos);
  EXPECT_NE(m.find("Reporting-MTA: dns; mail.example.com"), std::string::npos);
  EXPECT_NE(m.find("Original-Recipient: rfc822;bob@remote.example"), std::string::npos);
  EXPECT_NE(m.find("Final-Recipient: rfc822; bob@remote.example"), std::string::npos);
  EXPECT_NE(m.find("Action: failed\nStatus: 5.1.1\n"), std::string::npos);
  EXPECT_NE(m.find("Content-Type: message/rfc822\n\nSubject: hello"), std::string::npos);
  EXPECT_NE(m.find("body line"), std::string::npos);
  // A remote reply cannot start a new header line.
  EXPECT_EQ(m.find("\nX-Injected"), std::string::npos);
}

TEST(Dsn, RetHdrsAndOversizedOriginalsReturnOnlyHeaders) {
  auto in = sample();
  in.ret = "HDRS";
  std::string m = courierd::build_dsn(in);
  EXPECT_NE(m.find("Content-Type: text/rfc822-headers\n\nSubject: hello"), std::string::npos);
  EXPECT_EQ(m.find("body line"), std::string::npos);
  in.ret = "FULL";
  in.max_full_bytes = 10;
  m = courierd::build_dsn(in);
  EXPECT_EQ(m.find("body line"), std::string::npos);
}

TEST(Dsn, DelayAndSuccessKinds) {
  auto in = sample();
  in.kind = courierd::DsnKind::delay;
  in.retry_until = 1700600000;
  in.recipients[0].action = "delayed";
  std::string m = courierd::build_dsn(in);
  EXPECT_NE(m.find("(Delay)"), std::string::npos);
  EXPECT_NE(m.find("Will-Retry-Until:"), std::string::npos);
  EXPECT_EQ(m.find("body line"), std::string::npos);  // never the body in a delay notice
}

TEST(Dsn, NotifyRules) {
  using courierd::DsnKind;
  EXPECT_TRUE(courierd::notify_wants("", DsnKind::failure));
  EXPECT_TRUE(courierd::notify_wants("", DsnKind::delay));
  EXPECT_FALSE(courierd::notify_wants("", DsnKind::success));
  EXPECT_FALSE(courierd::notify_wants("NEVER", DsnKind::failure));
  EXPECT_TRUE(courierd::notify_wants("SUCCESS,FAILURE", DsnKind::success));
  EXPECT_FALSE(courierd::notify_wants("SUCCESS", DsnKind::delay));
}

TEST(Dsn, XtextAndDowngrade) {
  EXPECT_EQ(courierd::xtext("a+b=c d"), "a+2Bb+3Dc+20d");
  std::string msg = "Subject: x\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9 ok \n";
  auto d = courierd::downgrade_8bit(msg);
  ASSERT_TRUE(d);
  EXPECT_NE(d->find("Content-Transfer-Encoding: quoted-printable"), std::string::npos);
  EXPECT_EQ(d->find("8bit"), std::string::npos);
  EXPECT_NE(d->find("caf=C3=A9 ok=20\n"), std::string::npos);
  EXPECT_FALSE(courierd::has_8bit(*d));
  EXPECT_FALSE(courierd::downgrade_8bit("Content-Type: multipart/mixed; boundary=x\n\n\xff\n"));
}
