// courierd/routes.cpp: see routes.hpp.
#include "courierd/routes.hpp"

#include "courierd/text.hpp"
#include "lib/ascii.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <optional>

namespace courierd {

namespace {

bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

bool valid_ip(std::string_view ip) {
  std::string s(ip);
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

namespace {

// One line of esmtproutes: a route, nullopt for blank and comment lines, or an error.
lib::Result<std::optional<Route>> parse_route_line(std::string_view raw, const std::string& where) {
  auto fail = [&](const std::string& why) {
    return lib::permanent_error(where + ": " + why + " (expected \"domain: relay[,port] [/SECURITY=STARTTLS]\")");
  };
  if (raw.find('\0') != std::string_view::npos) return fail("NUL byte");
  std::string_view line = trim_view(raw);
  if (line.empty() || line.front() == '#') return std::optional<Route>{};
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return fail("no ':' after the domain");
  Route r;
  r.origin = where;
  r.domain = lib::ascii::to_lower(trim_view(line.substr(0, colon)));
  if (!r.domain.empty() && !valid_host_name(r.domain[0] == '.' ? std::string_view(r.domain).substr(1) : r.domain))
    return fail("\"" + r.domain + "\" is not a domain name");
  std::string_view rest = trim_view(line.substr(colon + 1));
  // Options after the relay start with '/'.
  std::string_view relay_part = rest;
  auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    relay_part = trim_view(rest.substr(0, slash));
    std::string_view opts = rest.substr(slash);
    while (!opts.empty()) {
      opts.remove_prefix(1);  // the '/'
      auto next = opts.find('/');
      std::string opt = lib::ascii::to_lower(trim_view(opts.substr(0, next)));
      opts = next == std::string_view::npos ? std::string_view{} : opts.substr(next);
      if (opt == "security=starttls") r.security = RouteSecurity::starttls;
      else if (opt == "security=smtps") r.security = RouteSecurity::smtps;
      else if (opt == "security=required") r.security = RouteSecurity::required;
      else if (opt == "security=none") r.security = RouteSecurity::none;
      else if (opt == "ipv4only") r.family = RouteFamily::ipv4;
      else if (opt == "ipv6only") r.family = RouteFamily::ipv6;
      else return fail("unknown option /" + opt);
    }
  }
  if (!relay_part.empty()) {
    std::string_view host = relay_part;
    auto comma = relay_part.rfind(',');
    if (comma != std::string_view::npos) {
      std::string_view port_text = trim_view(relay_part.substr(comma + 1));
      int port = 0;
      auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
      if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 1 || port > 65535)
        return fail("port \"" + std::string(port_text) + "\" is not a number from 1 to 65535");
      r.port = port;
      host = trim_view(relay_part.substr(0, comma));
    }
    if (!host.empty() && host.front() == '[') {
      if (host.back() != ']') return fail("unbalanced '[' in the relay");
      std::string_view ip = host.substr(1, host.size() - 2);
      if (ip.size() > 5 && lib::ascii::to_lower(ip.substr(0, 5)) == "ipv6:") ip.remove_prefix(5);
      if (!valid_ip(ip)) return fail("\"" + std::string(ip) + "\" is not an IP address");
      r.literal = true;
      r.relay = std::string(ip);
    } else if (!host.empty()) {
      if (!valid_host_name(host)) return fail("\"" + std::string(host) + "\" is not a host name");
      r.relay = lib::ascii::to_lower(host);
    }
  }
  return std::optional<Route>{std::move(r)};
}

}  // namespace

lib::Result<std::vector<Route>> parse_routes(std::string_view text, const std::string& origin) {
  std::vector<Route> routes;
  std::optional<lib::Error> error;
  for_each_line(text, [&](std::string_view line, int line_no) {
    if (error) return;
    auto r = parse_route_line(line, origin + ":" + std::to_string(line_no));
    if (!r) error = r.error();
    else if (*r) routes.push_back(std::move(**r));
  });
  if (error) return *error;
  return routes;
}

std::optional<Route> find_route(const std::vector<Route>& routes, std::string_view domain) {
  std::string d = lib::ascii::to_lower(domain);
  for (const auto& r : routes) {
    if (r.domain.empty() || r.domain == d) return r;
    if (r.domain[0] == '.' && d.size() > r.domain.size() &&
        d.compare(d.size() - r.domain.size(), r.domain.size(), r.domain) == 0)
      return r;
  }
  return std::nullopt;
}

lib::Result<std::vector<AuthClientEntry>> parse_auth_client(std::string_view text, const std::string& origin) {
  std::vector<AuthClientEntry> out;
  std::optional<lib::Error> error;
  for_each_line(text, [&](std::string_view raw, int line_no) {
    std::string_view line = trim_view(raw);
    if (error || line.empty() || line.front() == '#') return;
    std::vector<std::string_view> words;
    size_t p = 0;
    while (p < line.size()) {
      while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
      size_t start = p;
      while (p < line.size() && line[p] != ' ' && line[p] != '\t') ++p;
      if (p > start) words.push_back(line.substr(start, p - start));
    }
    if (words.size() != 3) {
      error = lib::permanent_error(origin + ":" + std::to_string(line_no) + ": expected \"relay userid password\" (" +
                                   std::to_string(words.size()) + " words)");
      return;
    }
    out.push_back({lib::ascii::to_lower(words[0]), std::string(words[1]), std::string(words[2])});
  });
  if (error) return *error;
  return out;
}

}  // namespace courierd
