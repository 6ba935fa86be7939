// tcpd/options.cpp: couriertcpd's command line.
#include "tcpd/options.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netdb.h>

#include "lib/config.hpp"
#include "tcpd/address.hpp"

namespace tcpd {

namespace {

std::optional<long long> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

lib::Result<uint16_t> parse_port(std::string_view text, std::string_view entry) {
  if (auto n = parse_int(text)) {
    if (*n < 1 || *n > 65535)
      return lib::permanent_error("port list: \"" + std::string(entry) + "\": port must be 1 to 65535");
    return static_cast<uint16_t>(*n);
  }
  std::string name(text);
  servent result;
  servent* found = nullptr;
  char buf[1024];
  if (!name.empty() && getservbyname_r(name.c_str(), "tcp", &result, buf, sizeof buf, &found) == 0 && found)
    return static_cast<uint16_t>(ntohs(static_cast<uint16_t>(found->s_port)));
  return lib::permanent_error("port list: \"" + std::string(entry) +
                              "\": not a port number or a TCP service name from /etc/services");
}

lib::Result<int> positive(std::string_view name, std::string_view value, long long max_value) {
  auto n = parse_int(value);
  if (!n || *n < 1 || *n > max_value)
    return lib::permanent_error("-" + std::string(name) + "=" + std::string(value) + ": expected a number from 1 to " +
                                std::to_string(max_value));
  return static_cast<int>(*n);
}

lib::Result<std::chrono::milliseconds> seconds(std::string_view name, std::string_view value) {
  // Whole or fractional seconds, e.g. 10 or 2.5; at most a day.
  char* end = nullptr;
  std::string copy(value);
  double v = copy.empty() ? -1 : std::strtod(copy.c_str(), &end);
  if (copy.empty() || end == nullptr || *end != 0 || !(v > 0) || v > 86400)
    return lib::permanent_error("-" + std::string(name) + "=" + std::string(value) +
                                ": expected a number of seconds greater than 0 (e.g. 10 or 2.5)");
  return std::chrono::milliseconds(static_cast<long long>(v * 1000));
}

bool valid_zone(std::string_view zone) {
  if (zone.empty() || zone.size() > 200) return false;
  size_t label = 0;
  for (char c : zone) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0 || zone.back() == '.';
}

}  // namespace

lib::Result<BlocklistSpec> parse_blocklist_spec(std::string_view value, bool allow) {
  const std::string opt = allow ? "-allow=" : "-block=";
  auto fail = [&](const std::string& what) {
    return lib::permanent_error(opt + std::string(value) + ": " + what + " (the form is " + opt +
                                "zone[=display_zone][,VAR[/a.b.c.d][,message]])");
  };
  BlocklistSpec spec;
  spec.allow = allow;
  // zone[=display] up to the first comma; then VAR[/ip] up to the next comma; then the message.
  size_t comma = value.find(',');
  std::string_view zone_part = value.substr(0, comma);
  std::string_view rest = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
  bool has_rest = comma != std::string_view::npos;
  // Courier also allows zone[=display]/ip without a variable name.
  std::string_view zone_ip;
  if (size_t slash = zone_part.find('/'); slash != std::string_view::npos) {
    zone_ip = zone_part.substr(slash + 1);
    zone_part = zone_part.substr(0, slash);
  }
  if (size_t eq = zone_part.find('='); eq != std::string_view::npos) {
    spec.zone = std::string(zone_part.substr(0, eq));
    spec.display_zone = std::string(zone_part.substr(eq + 1));
  } else {
    spec.zone = std::string(zone_part);
  }
  while (!spec.zone.empty() && spec.zone.back() == '.') spec.zone.pop_back();
  if (!valid_zone(spec.zone)) return fail("\"" + spec.zone + "\" is not a DNS zone name");
  if (spec.display_zone.empty()) spec.display_zone = spec.zone;

  std::string_view ip_text = zone_ip;
  if (has_rest) {
    size_t comma2 = rest.find(',');
    std::string_view var_part = rest.substr(0, comma2);
    if (comma2 != std::string_view::npos) spec.message = std::string(rest.substr(comma2 + 1));
    if (size_t slash = var_part.find('/'); slash != std::string_view::npos) {
      ip_text = var_part.substr(slash + 1);
      var_part = var_part.substr(0, slash);
    }
    if (!var_part.empty()) {
      if (!lib::valid_setting_name(var_part))
        return fail("\"" + std::string(var_part) + "\" is not a variable name");
      spec.variable = std::string(var_part);
    }
  }
  if (!ip_text.empty()) {
    auto ip = IpAddress::parse(ip_text);
    if (!ip || !ip->v4()) return fail("\"" + std::string(ip_text) + "\" is not an IPv4 address such as 127.0.0.2");
    std::array<uint8_t, 4> a{};
    std::memcpy(a.data(), ip->bytes.data(), 4);
    spec.want_address = a;
  }
  if (!allow && spec.message && *spec.message == "*" && spec.want_address)
    return fail("a message of \"*\" (use the TXT record) cannot be combined with an explicit /address");
  if (spec.message && spec.message->size() > 1000) return fail("the message is longer than 1000 bytes");
  return spec;
}

lib::Result<std::vector<ListenSpec>> parse_port_list(std::string_view list) {
  std::vector<ListenSpec> out;
  if (list.empty()) return lib::permanent_error("the port list is empty (e.g. 143 or 127.0.0.1.143,993)");
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string_view entry = list.substr(start, comma == std::string_view::npos ? list.npos : comma - start);
    start = comma == std::string_view::npos ? list.size() + 1 : comma + 1;
    if (entry.empty()) return lib::permanent_error("port list: empty entry in \"" + std::string(list) + "\"");
    ListenSpec spec;
    size_t dot = entry.rfind('.');
    std::string_view port_text = entry;
    if (dot != std::string_view::npos) {
      spec.address = std::string(entry.substr(0, dot));
      port_text = entry.substr(dot + 1);
      if (spec.address == "0") spec.address.clear();
      if (!spec.address.empty() && !IpAddress::parse(spec.address))
        return lib::permanent_error("port list: \"" + std::string(entry) + "\": \"" + spec.address +
                                    "\" is not an IP address (write ADDRESS.PORT, e.g. 127.0.0.1.143 or ::1.143)");
    }
    auto port = parse_port(port_text, entry);
    if (!port) return port.error();
    spec.port = *port;
    out.push_back(std::move(spec));
  }
  return out;
}

std::string usage_text(std::string_view program_name) {
  std::string p(program_name);
  return "Usage: " + p + " [options] port[,port...] program [arg...]\n"
         "       " + p + " -pid=file -stop\n"
         "       " + p + " -pid=file -restart\n"
         "Options: -access=file.dat -accesslocal -address=ip -allow=zone... -block=zone... -denymsg=text\n"
         "  -drop[=VAR,...] -group=g -user=u -listen=n -maxprocs=n -maxperip=n -maxperc=n -warn=n\n"
         "  -nodnslookup -noidentlookup -pid=file -stderr=socket|file -stderrlogger=prog -stderrloggername=name\n"
         "  -haproxy[=s] -nameserver=ip[:port] -resolvconf=file -dnstimeout=s -identtimeout=s -identport=n -stopgrace=s\n"
         "See couriertcpd(8).\n";
}

lib::Result<Options> parse_options(std::span<const std::string> args) {
  Options o;
  size_t i = 1;
  bool stop = false, restart = false;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') break;
    std::string_view body = std::string_view(a).substr(1);
    if (!body.empty() && body[0] == '-') body.remove_prefix(1);  // --option works too
    size_t eq = body.find('=');
    std::string_view name = body.substr(0, eq);
    bool has_value = eq != std::string_view::npos;
    std::string_view value = has_value ? body.substr(eq + 1) : std::string_view();
    auto need_value = [&]() -> lib::Result<void> {
      if (!has_value || value.empty())
        return lib::permanent_error("-" + std::string(name) + " needs a value: -" + std::string(name) + "=...");
      return {};
    };
    auto no_value = [&]() -> lib::Result<void> {
      if (has_value) return lib::permanent_error("-" + std::string(name) + " takes no value");
      return {};
    };
#define TCPD_CHECK(expr)                 \
  do {                                   \
    if (auto r_ = (expr); !r_) return r_.error(); \
  } while (0)
#define TCPD_SET(target, expr)           \
  do {                                   \
    auto r_ = (expr);                    \
    if (!r_) return r_.error();          \
    target = *r_;                        \
  } while (0)

    if (name == "access") {
      TCPD_CHECK(need_value());
      o.access_file = value;
    } else if (name == "accesslocal") {
      TCPD_CHECK(no_value());
      o.access_local = true;
    } else if (name == "address") {
      TCPD_CHECK(need_value());
      o.default_address = value == "0" ? std::string() : std::string(value);
      if (!o.default_address.empty() && !IpAddress::parse(o.default_address))
        return lib::permanent_error("-address=" + std::string(value) + ": not an IP address");
    } else if (name == "block" || name == "allow") {
      TCPD_CHECK(need_value());
      auto spec = parse_blocklist_spec(value, name == "allow");
      if (!spec) return spec.error();
      o.blocklists.push_back(std::move(*spec));
    } else if (name == "denymsg") {
      if (!has_value) return lib::permanent_error("-denymsg needs a value: -denymsg=text");
      o.deny_message = value;
      o.has_deny_message = true;
      if (value.find_first_of("\r\n") != std::string_view::npos)
        return lib::permanent_error("-denymsg: the text may not contain line breaks (one line is sent)");
    } else if (name == "drop") {
      o.drop_variables.clear();
      std::string_view list = has_value && !value.empty() ? value : std::string_view("BLOCK");
      size_t s = 0;
      while (s <= list.size()) {
        size_t c = list.find(',', s);
        std::string_view v = list.substr(s, c == std::string_view::npos ? list.npos : c - s);
        s = c == std::string_view::npos ? list.size() + 1 : c + 1;
        if (v.empty()) continue;
        if (!lib::valid_setting_name(v))
          return lib::permanent_error("-drop=" + std::string(value) + ": \"" + std::string(v) +
                                      "\" is not a variable name");
        o.drop_variables.emplace_back(v);
      }
    } else if (name == "group") {
      TCPD_CHECK(need_value());
      o.group = value;
    } else if (name == "user") {
      TCPD_CHECK(need_value());
      o.user = value;
    } else if (name == "listen") {
      TCPD_CHECK(need_value());
      TCPD_SET(o.listen_backlog, positive(name, value, 65535));
    } else if (name == "maxperc") {
      TCPD_CHECK(need_value());
      TCPD_SET(o.max_per_c, positive(name, value, 1000000));
    } else if (name == "maxperip") {
      TCPD_CHECK(need_value());
      TCPD_SET(o.max_per_ip, positive(name, value, 1000000));
    } else if (name == "maxprocs") {
      TCPD_CHECK(need_value());
      TCPD_SET(o.max_procs, positive(name, value, 1000000));
    } else if (name == "warn") {
      TCPD_CHECK(need_value());
      auto n = parse_int(value);
      if (!n || *n > 1000000) return lib::permanent_error("-warn=" + std::string(value) + ": expected a number");
      o.warn_procs = static_cast<int>(*n);
    } else if (name == "nodnslookup") {
      TCPD_CHECK(no_value());
      o.dns_lookup = false;
    } else if (name == "noidentlookup") {
      TCPD_CHECK(no_value());
      o.ident_lookup = false;
    } else if (name == "pid") {
      TCPD_CHECK(need_value());
      o.pid_file = value;
    } else if (name == "stop") {
      TCPD_CHECK(no_value());
      stop = true;
    } else if (name == "restart") {
      TCPD_CHECK(no_value());
      restart = true;
    } else if (name == "stderr") {
      TCPD_CHECK(need_value());
      if (value == "socket") {
        o.stderr_mode = StderrMode::socket;
      } else {
        o.stderr_mode = StderrMode::file;
        o.stderr_file = value;
      }
    } else if (name == "stderrlogger") {
      TCPD_CHECK(need_value());
      o.stderr_logger = value;
    } else if (name == "stderrloggername") {
      TCPD_CHECK(need_value());
      o.stderr_logger_name = value;
    } else if (name == "nameserver") {
      TCPD_CHECK(need_value());
      o.nameservers.emplace_back(value);
    } else if (name == "resolvconf") {
      TCPD_CHECK(need_value());
      o.resolv_conf = value;
    } else if (name == "dnstimeout") {
      TCPD_CHECK(need_value());
      TCPD_SET(o.dns_timeout, seconds(name, value));
    } else if (name == "identtimeout") {
      TCPD_CHECK(need_value());
      TCPD_SET(o.ident_timeout, seconds(name, value));
    } else if (name == "identport") {
      TCPD_CHECK(need_value());
      TCPD_SET(o.ident_port, positive(name, value, 65535));
    } else if (name == "haproxy") {
      if (has_value) {
        TCPD_SET(o.haproxy_timeout, seconds(name, value));
      } else {
        o.haproxy_timeout = std::chrono::seconds(15);
      }
    } else if (name == "stopgrace") {
      TCPD_CHECK(need_value());
      TCPD_SET(o.stop_grace, seconds(name, value));
    } else {
      return lib::permanent_error("unknown option " + a + " (see couriertcpd(8) for the options)");
    }
#undef TCPD_CHECK
#undef TCPD_SET
  }

  if (stop && restart) return lib::permanent_error("-stop and -restart cannot be used together");
  if (stop || restart) {
    if (o.pid_file.empty())
      return lib::permanent_error(std::string(stop ? "-stop" : "-restart") +
                                  " needs -pid=file, the same one the daemon was started with");
    o.command = stop ? Command::stop : Command::restart;
    return o;
  }
  if (!o.stderr_logger.empty()) o.stderr_mode = StderrMode::logger;
  if (o.access_local && o.access_file.empty())
    return lib::permanent_error("-accesslocal needs -access=file.dat");
  if (args.size() - i < 2)
    return lib::permanent_error("missing " + std::string(i >= args.size() ? "the port list and " : "") +
                                "the program to run");
  auto ports = parse_port_list(args[i]);
  if (!ports) return ports.error();
  o.listen = std::move(*ports);
  for (auto& l : o.listen)
    if (l.address.empty()) l.address = o.default_address;
  ++i;
  o.program = args[i];
  for (; i < args.size(); ++i) o.program_args.push_back(args[i]);
  if (o.warn_procs > o.max_procs) o.warn_procs = -1;  // Courier ignores an out-of-range -warn
  return o;
}

}  // namespace tcpd
