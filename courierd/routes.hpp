// courierd/routes.hpp: esmtproutes (COURIER-COMPAT.md section 4), read top to bottom,
// first match wins:
//   domain: relay[,port] [/SECURITY=STARTTLS|SMTPS|REQUIRED] [/IPV4ONLY|/IPV6ONLY]
// A leading "." on the domain matches any subdomain; an empty domain matches every
// domain (the smarthost); an empty relay means "look the domain up in DNS". The relay
// is a host name (MX, then A) or a literal "[ip]".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace courierd {

enum class RouteSecurity { none, starttls, smtps, required };
enum class RouteFamily { any, ipv4, ipv6 };

struct Route {
  std::string domain;   // lower case; "" matches everything; ".x.y" matches subdomains
  std::string relay;    // "" = DNS for the recipient domain; a host name or an IP literal
  bool literal = false; // relay was written "[ip]": connect to it, no MX lookup
  int port = 25;
  RouteSecurity security = RouteSecurity::none;
  RouteFamily family = RouteFamily::any;
  std::string origin;   // "file:line", for logs
};

// Parses the file's text; errors name origin:line and what is wrong.
lib::Result<std::vector<Route>> parse_routes(std::string_view text, const std::string& origin);
// The first route matching domain (any case), or nullopt (use DNS).
std::optional<Route> find_route(const std::vector<Route>& routes, std::string_view domain);

// esmtpauthclient: "relay userid password" lines.
struct AuthClientEntry {
  std::string relay;  // as written in esmtproutes, lower case (host name or "[ip]")
  std::string user;
  std::string password;
};
lib::Result<std::vector<AuthClientEntry>> parse_auth_client(std::string_view text, const std::string& origin);


}  // namespace courierd
