// tls/couriertls_options.cpp: see couriertls_options.hpp.
#include "tls/couriertls_options.hpp"

#include <charconv>

#include "lib/log.hpp"

namespace tls {

namespace {

lib::Result<int> parse_fd(std::string_view option, std::string_view value) {
  int fd = -1;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), fd);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || fd < 0 || fd > 65535) {
    return lib::permanent_error("-" + std::string(option) + "=" + lib::log::sanitize(value, 40) +
                                ": expected a file descriptor number, e.g. -" + std::string(option) + "=3");
  }
  return fd;
}

}  // namespace

lib::Result<CouriertlsOptions> parse_couriertls_args(std::span<const std::string> args) {
  CouriertlsOptions o;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.empty() || arg[0] != '-') break;
    if (arg == "--") {
      ++i;
      break;
    }
    arg.remove_prefix(arg.substr(0, 2) == "--" ? 2 : 1);
    size_t eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : arg.substr(eq + 1);
    bool has_value = eq != std::string_view::npos;
    auto need_value = [&]() -> lib::Result<void> {
      if (!has_value || value.empty()) {
        return lib::permanent_error("-" + std::string(name) + " needs a value: -" + std::string(name) + "=...");
      }
      return {};
    };
    int* fd_target = nullptr;
    if (name == "server") {
      o.server = true;
    } else if (name == "check") {
      o.check = true;
    } else if (name == "tcpd") {
      o.tcpd = true;
    } else if (name == "remotefd") {
      fd_target = &o.remote_fd;
    } else if (name == "localfd") {
      fd_target = &o.local_fd;
    } else if (name == "statusfd") {
      fd_target = &o.status_fd;
    } else if (name == "printx509") {
      fd_target = &o.printx509_fd;
    } else if (name == "envfd") {
      fd_target = &o.env_fd;
    } else if (name == "verify" || name == "user" || name == "host" || name == "port") {
      auto ok = need_value();
      if (!ok) return ok.error();
      std::string* target = name == "verify" ? &o.verify_domain
                            : name == "user" ? &o.user
                            : name == "host" ? &o.host
                                             : &o.port;
      *target = std::string(value);
    } else if (name == "protocol") {
      if (value == "smtp") o.protocol = StartProtocol::smtp;
      else if (value == "imap") o.protocol = StartProtocol::imap;
      else if (value == "pop3") o.protocol = StartProtocol::pop3;
      else {
        return lib::permanent_error("-protocol=" + lib::log::sanitize(value, 40) +
                                    ": unknown protocol; use smtp, imap or pop3");
      }
    } else {
      return lib::permanent_error("unknown option -" + lib::log::sanitize(name, 40) +
                                  " (see couriertls(8)); a program to run comes after the options");
    }
    if (fd_target) {
      auto fd = parse_fd(name, value);
      if (!fd) return fd.error();
      *fd_target = *fd;
    }
  }
  for (; i < args.size(); ++i) o.program.push_back(args[i]);

  int ways = (o.tcpd ? 1 : 0) + (o.remote_fd >= 0 ? 1 : 0) + (!o.host.empty() || !o.port.empty() ? 1 : 0);
  if (o.check) {
    if (ways != 0 || !o.program.empty())
      return lib::permanent_error("-check takes no connection and no program: couriertls -server -check");
    return o;
  }
  if (ways == 0) {
    return lib::permanent_error("no connection given: use -tcpd (from couriertcpd), -remotefd=n, or "
                                "-host=name -port=n");
  }
  if (ways > 1) {
    return lib::permanent_error("give the connection one way only: -tcpd, -remotefd=n, or -host/-port");
  }
  if (o.host.empty() != o.port.empty()) return lib::permanent_error("-host and -port go together");
  if (o.protocol != StartProtocol::none && o.host.empty()) {
    return lib::permanent_error("-protocol is for the debug client mode: use it with -host and -port");
  }
  if (o.local_fd >= 0 && !o.program.empty()) {
    return lib::permanent_error("-localfd=" + std::to_string(o.local_fd) + " and a program to run (" +
                                lib::log::sanitize(o.program[0], 80) + ") exclude each other: the "
                                "plaintext goes to one of them");
  }
  if (o.tcpd && o.program.empty() && o.local_fd < 0) {
    return lib::permanent_error("-tcpd needs a program to run (couriertls -server -tcpd /path/imaplogin ...) "
                                "or -localfd=n");
  }
  return o;
}

}  // namespace tls
