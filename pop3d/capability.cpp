// pop3d/capability.cpp: see capability.hpp.
#include "pop3d/capability.hpp"

#include "pop3d/replies.hpp"

namespace pop3d {

std::string capability_reply(const CapaContext& c) {
  std::string out;
  out.reserve(256);
  auto line = [&out](std::string_view text) {
    out.append(text);
    out.append("\r\n");
  };
  line(reply::capa_ok);
  if (c.authorization) {
    if (!c.sasl.empty() || c.external) {
      std::string sasl = "SASL";
      for (auto name : c.sasl) {
        sasl += ' ';
        sasl += name;
      }
      if (c.external) sasl += " EXTERNAL";
      line(sasl);
    }
    if (c.stls) line("STLS");
    if (c.user_allowed) line("USER");
  }
  line("TOP");
  line("UIDL");
  line("PIPELINING");
  line("RESP-CODES");       // RFC 2449 section 6.4
  line("AUTH-RESP-CODE");   // RFC 3206 section 6
  line(c.authorization ? "UTF8 USER" : "UTF8");  // RFC 6856 section 2
  out.append("IMPLEMENTATION ");
  line(reply::implementation);
  line(".");
  return out;
}

}  // namespace pop3d
