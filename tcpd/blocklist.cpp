// tcpd/blocklist.cpp: applying DNS access list answers, in the order and
// with the variables Courier's couriertcpd uses.
#include "tcpd/blocklist.hpp"

namespace tcpd {

namespace {

// The custom message with its first "@" replaced by the client's address.
std::string with_address(std::string_view msg, std::string_view remote_ip) {
  std::string out;
  size_t at = msg.find('@');
  if (at == std::string_view::npos) return env_safe(msg);
  out.append(msg.substr(0, at));
  out.append(remote_ip);
  out.append(msg.substr(at + 1));
  return env_safe(out);
}

std::string dotted(const std::array<uint8_t, 4>& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

}  // namespace

std::string env_safe(std::string_view v) {
  std::string out(v);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

bool apply_blocklist_answer(const BlocklistSpec& spec, const DnsAnswer& answer, std::string_view remote_ip,
                            EnvVars& vars, int& allow_count) {
  const std::string& var = spec.variable;
  if (vars.count(var) || answer.status != DnsAnswer::Status::ok) return false;
  auto set = [&](const std::string& name, std::string value) { vars[name] = std::move(value); };
  auto set_allowed = [&] {
    set(var, "");
    set("ALLOW_" + std::to_string(allow_count++), var);
  };
  const bool custom_message = !spec.allow && spec.message && !spec.message->empty() && *spec.message != "*";

  bool found = false;
  for (const auto& a : answer.a) {
    if (spec.want_address && *spec.want_address != a) continue;
    set(var + "_ZONE", spec.display_zone);
    set(var + "_IP", dotted(a));
    if (custom_message) {
      // Courier keeps looking at the other A records here, so the last
      // matching one ends up in VAR_IP.
      set(var, with_address(*spec.message, remote_ip));
      found = true;
      continue;
    }
    if (spec.allow) set_allowed();
    if (!answer.txt.empty()) {
      std::string txt = env_safe(answer.txt.front());
      if (!spec.allow) set(var, txt);
      set(var + "_TXT", txt);
    } else if (!spec.allow) {
      set(var, with_address("Blacklisted by " + spec.zone, remote_ip));
    }
    return true;
  }
  if (found) return true;

  // Only TXT records, and no particular A record asked for: take the TXT.
  if (!spec.want_address && !answer.txt.empty()) {
    std::string txt = env_safe(answer.txt.front());
    if (spec.allow)
      set_allowed();
    else
      set(var, txt);
    set(var + "_TXT", txt);
    set(var + "_ZONE", spec.display_zone);
    return true;
  }
  return false;
}

}  // namespace tcpd
