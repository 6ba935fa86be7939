// tests/tcpd/options_test.cpp: couriertcpd's command line.
#include "tcpd/options.hpp"

#include <gtest/gtest.h>

namespace tcpd {
namespace {

lib::Result<Options> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "couriertcpd");
  return parse_options(args);
}

TEST(OptionsTest, CourierStartScriptLine) {
  auto o = parse({"-pid=/run/imapd.pid", "-stderrlogger=/usr/sbin/courierlogger", "-stderrloggername=imapd",
                  "-maxprocs=40", "-maxperip=20", "-maxperc=30", "-warn=35", "-nodnslookup", "-noidentlookup",
                  "-address=0", "-access=/etc/courier/imapaccess.dat", "-denymsg=go away", "-listen=64", "143",
                  "/usr/lib/courier/imaplogin", "/usr/bin/imapd", "Maildir"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->command, Command::run);
  EXPECT_EQ(o->pid_file, "/run/imapd.pid");
  EXPECT_EQ(o->stderr_mode, StderrMode::logger);
  EXPECT_EQ(o->stderr_logger_name, "imapd");
  EXPECT_EQ(o->max_procs, 40);
  EXPECT_EQ(o->max_per_ip, 20);
  EXPECT_EQ(o->effective_max_per_c(), 30);
  EXPECT_EQ(o->effective_warn(), 35);
  EXPECT_FALSE(o->dns_lookup);
  EXPECT_FALSE(o->ident_lookup);
  EXPECT_EQ(o->default_address, "");
  EXPECT_EQ(o->access_file, "/etc/courier/imapaccess.dat");
  EXPECT_TRUE(o->has_deny_message);
  EXPECT_EQ(o->deny_message, "go away");
  EXPECT_EQ(o->listen_backlog, 64);
  ASSERT_EQ(o->listen.size(), 1u);
  EXPECT_EQ(o->listen[0], (ListenSpec{"", 143}));
  EXPECT_EQ(o->program, "/usr/lib/courier/imaplogin");
  EXPECT_EQ(o->program_args,
            (std::vector<std::string>{"/usr/lib/courier/imaplogin", "/usr/bin/imapd", "Maildir"}));
}

TEST(OptionsTest, Defaults) {
  auto o = parse({"25", "/bin/true"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->max_procs, 40);
  EXPECT_EQ(o->max_per_ip, 4);
  EXPECT_EQ(o->effective_max_per_c(), 40);
  EXPECT_EQ(o->effective_warn(), 35);  // 40 - (4 + 1), Courier's formula
  EXPECT_TRUE(o->dns_lookup);
  EXPECT_TRUE(o->ident_lookup);
  EXPECT_FALSE(o->has_deny_message);
  EXPECT_TRUE(o->drop_variables.empty());
  EXPECT_EQ(o->program_args, std::vector<std::string>{"/bin/true"});
}

TEST(OptionsTest, PortLists) {
  struct Case {
    const char* label;
    const char* list;
    std::vector<ListenSpec> want;
    const char* error_part;
  } cases[] = {
      {"one port", "143", {{"", 143}}, nullptr},
      {"courier example", "127.0.0.1.25,999", {{"127.0.0.1", 25}, {"", 999}}, nullptr},
      {"ipv6 address", "::1.587", {{"::1", 587}}, nullptr},
      {"address 0 is wildcard", "0.110", {{"", 110}}, nullptr},
      {"service name", "smtp", {{"", 25}}, nullptr},
      {"empty", "", {}, "empty"},
      {"empty entry", "25,,26", {}, "empty entry"},
      {"trailing comma", "25,", {}, "empty entry"},
      {"port zero", "0", {}, "1 to 65535"},
      {"port too big", "65536", {}, "1 to 65535"},
      {"unknown service", "nosuchservice", {}, "service name"},
      {"bad address", "1.2.3.25", {}, "not an IP address"},
      {"hostname", "localhost.25", {}, "not an IP address"},
  };
  for (const auto& c : cases) {
    auto r = parse_port_list(c.list);
    if (!c.error_part) {
      ASSERT_TRUE(r) << c.label << ": " << r.error().message;
      EXPECT_EQ(*r, c.want) << c.label;
    } else {
      ASSERT_FALSE(r) << c.label;
      EXPECT_NE(r.error().message.find(c.error_part), std::string::npos) << c.label << ": " << r.error().message;
    }
  }
}

TEST(OptionsTest, AddressAppliesToPortsWithoutOne) {
  auto o = parse({"-address=127.0.0.1", "25,::1.26", "/bin/true"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->listen, (std::vector<ListenSpec>{{"127.0.0.1", 25}, {"::1", 26}}));
}

TEST(OptionsTest, Errors) {
  struct Case {
    const char* label;
    std::vector<std::string> args;
    const char* error_part;
  } cases[] = {
      {"unknown option", {"-maxprocz=4", "25", "/bin/true"}, "unknown option -maxprocz=4"},
      {"maxprocs zero", {"-maxprocs=0", "25", "/bin/true"}, "-maxprocs=0"},
      {"maxprocs text", {"-maxprocs=lots", "25", "/bin/true"}, "-maxprocs=lots"},
      {"maxperip negative", {"-maxperip=-1", "25", "/bin/true"}, "-maxperip=-1"},
      {"missing value", {"-access", "25", "/bin/true"}, "-access needs a value"},
      {"flag with value", {"-nodnslookup=1", "25", "/bin/true"}, "takes no value"},
      {"no program", {"25"}, "the program"},
      {"nothing", {}, "port list"},
      {"accesslocal without access", {"-accesslocal", "25", "/bin/true"}, "-accesslocal needs -access"},
      {"stop without pid", {"-stop"}, "needs -pid"},
      {"stop and restart", {"-pid=x", "-stop", "-restart"}, "cannot be used together"},
      {"bad address option", {"-address=nowhere", "25", "/bin/true"}, "-address=nowhere"},
      {"bad block", {"-block=", "25", "/bin/true"}, "needs a value"},
      {"bad block var", {"-block=bl.example,1BAD", "25", "/bin/true"}, "not a variable name"},
      {"bad drop var", {"-drop=A-B", "25", "/bin/true"}, "not a variable name"},
      {"denymsg newline", {"-denymsg=a\nb", "25", "/bin/true"}, "line breaks"},
      {"bad timeout", {"-dnstimeout=0", "25", "/bin/true"}, "-dnstimeout=0"},
      {"timeout text", {"-identtimeout=soon", "25", "/bin/true"}, "-identtimeout=soon"},
      {"bad port list", {"25x", "/bin/true"}, "port list"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args);
    ASSERT_FALSE(r) << c.label;
    EXPECT_NE(r.error().message.find(c.error_part), std::string::npos) << c.label << ": " << r.error().message;
  }
}

TEST(OptionsTest, StopRestartAndDrop) {
  auto stop = parse({"-pid=/run/x.pid", "-stop"});
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->command, Command::stop);
  auto restart = parse({"-restart", "-pid=/run/x.pid"});
  ASSERT_TRUE(restart);
  EXPECT_EQ(restart->command, Command::restart);
  auto drop = parse({"-drop", "25", "/bin/true"});
  ASSERT_TRUE(drop);
  EXPECT_EQ(drop->drop_variables, std::vector<std::string>{"BLOCK"});
  auto drop2 = parse({"-drop=BLOCK,BLOCK2", "25", "/bin/true"});
  ASSERT_TRUE(drop2);
  EXPECT_EQ(drop2->drop_variables, (std::vector<std::string>{"BLOCK", "BLOCK2"}));
  auto stderr_socket = parse({"-stderr=socket", "25", "/bin/true"});
  ASSERT_TRUE(stderr_socket);
  EXPECT_EQ(stderr_socket->stderr_mode, StderrMode::socket);
  auto stderr_file = parse({"-stderr=/var/log/x", "-dnstimeout=2.5", "-nameserver=127.0.0.1:5353", "25", "/bin/true"});
  ASSERT_TRUE(stderr_file);
  EXPECT_EQ(stderr_file->stderr_mode, StderrMode::file);
  EXPECT_EQ(stderr_file->stderr_file, "/var/log/x");
  EXPECT_EQ(stderr_file->dns_timeout.count(), 2500);
  EXPECT_EQ(stderr_file->nameservers, std::vector<std::string>{"127.0.0.1:5353"});
  EXPECT_FALSE(stderr_file->haproxy_timeout);
  auto haproxy = parse({"-haproxy", "25", "/bin/true"});
  ASSERT_TRUE(haproxy);
  ASSERT_TRUE(haproxy->haproxy_timeout);
  EXPECT_EQ(haproxy->haproxy_timeout->count(), 15000);
  auto haproxy2 = parse({"-haproxy=2", "25", "/bin/true"});
  ASSERT_TRUE(haproxy2);
  EXPECT_EQ(haproxy2->haproxy_timeout->count(), 2000);
  EXPECT_FALSE(parse({"-haproxy=never", "25", "/bin/true"}));
}

TEST(BlocklistSpecTest, Forms) {
  struct Case {
    const char* label;
    const char* value;
    bool allow;
    const char* zone;
    const char* display;
    const char* var;
    std::optional<std::array<uint8_t, 4>> ip;
    std::optional<std::string> msg;
    bool txt;
  } cases[] = {
      {"zone only", "dnsbl.example.com", false, "dnsbl.example.com", "dnsbl.example.com", "BLOCK", std::nullopt,
       std::nullopt, false},
      {"display zone", "dnsbl.example.com=Example", false, "dnsbl.example.com", "Example", "BLOCK", std::nullopt,
       std::nullopt, false},
      {"variable", "dnswl.example.com,BLOCK2", true, "dnswl.example.com", "dnswl.example.com", "BLOCK2",
       std::nullopt, std::nullopt, false},
      {"ip", "dnsbl.example.com/127.0.0.2", false, "dnsbl.example.com", "dnsbl.example.com", "BLOCK",
       std::array<uint8_t, 4>{127, 0, 0, 2}, std::nullopt, false},
      {"message", "dnsbl.example.com,BLOCK,Go away", false, "dnsbl.example.com", "dnsbl.example.com", "BLOCK",
       std::nullopt, std::string("Go away"), false},
      {"var ip message", "dnsbl.example.com,BLOCK/127.0.0.2,Go away @", false, "dnsbl.example.com",
       "dnsbl.example.com", "BLOCK", std::array<uint8_t, 4>{127, 0, 0, 2}, std::string("Go away @"), false},
      {"txt star", "dnsbl.example.com,BLOCK,*", false, "dnsbl.example.com", "dnsbl.example.com", "BLOCK",
       std::nullopt, std::string("*"), true},
      {"allow empty message asks txt", "dnswl.example.com,BLOCK,", true, "dnswl.example.com", "dnswl.example.com",
       "BLOCK", std::nullopt, std::string(""), true},
      {"display and ip", "bl.example=Shown/127.0.0.4", false, "bl.example", "Shown", "BLOCK",
       std::array<uint8_t, 4>{127, 0, 0, 4}, std::nullopt, false},
      {"trailing dot", "bl.example.", false, "bl.example", "bl.example", "BLOCK", std::nullopt, std::nullopt, false},
  };
  for (const auto& c : cases) {
    auto s = parse_blocklist_spec(c.value, c.allow);
    ASSERT_TRUE(s) << c.label << ": " << s.error().message;
    EXPECT_EQ(s->zone, c.zone) << c.label;
    EXPECT_EQ(s->display_zone, c.display) << c.label;
    EXPECT_EQ(s->variable, c.var) << c.label;
    EXPECT_EQ(s->want_address, c.ip) << c.label;
    EXPECT_EQ(s->message, c.msg) << c.label;
    EXPECT_EQ(s->wants_txt(), c.txt) << c.label;
  }
  struct Bad {
    const char* label;
    const char* value;
    const char* error_part;
  } bad[] = {
      {"empty zone", ",BLOCK", "not a DNS zone"},
      {"space in zone", "bl example", "not a DNS zone"},
      {"empty label", "bl..example", "not a DNS zone"},
      {"bad ip", "bl.example/127.0.0.256", "not an IPv4 address"},
      {"ipv6 ip", "bl.example/::1", "not an IPv4 address"},
      {"star with ip", "bl.example,BLOCK/127.0.0.2,*", "cannot be combined"},
      {"long label", (std::string(64, 'a') + ".example").c_str(), "not a DNS zone"},
  };
  for (const auto& b : bad) {
    auto s = parse_blocklist_spec(b.value, false);
    ASSERT_FALSE(s) << b.label;
    EXPECT_NE(s.error().message.find(b.error_part), std::string::npos) << b.label << ": " << s.error().message;
    EXPECT_NE(s.error().message.find("-block="), std::string::npos) << b.label;
  }
}

}  // namespace
}  // namespace tcpd
