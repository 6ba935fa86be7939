// pop3d/capability.hpp: the CAPA reply (RFC 2449 section 5), which depends
// on the state and, before login, on TLS: USER and SASL are only listed when
// a login by that route would be accepted now, STLS only while it can be used.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pop3d {

struct CapaContext {
  bool authorization = true;  // false: TRANSACTION (after login)
  bool user_allowed = true;   // USER/PASS accepted now (not before a required STLS)
  // Names of the SASL mechanisms accepted now ("PLAIN"...). Names, not
  // authlib's enum: pop3d (which links no SASL code) uses this file too.
  std::vector<std::string_view> sasl;
  bool external = false;      // EXTERNAL accepted now (client certificate)
  bool stls = false;          // STLS available now
};

// The whole multi-line reply: "+OK ...", one capability a line, ".", each
// line ended by CRLF.
std::string capability_reply(const CapaContext& context);

}  // namespace pop3d
