// courierd/smtp_reply.cpp: see smtp_reply.hpp.
#include "courierd/smtp_reply.hpp"

#include <cctype>
#include <charconv>

namespace courierd {

namespace {
bool digits(std::string_view s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}
std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

bool is_enhanced_status(std::string_view t) {
  if (t.size() < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.') return false;
  auto rest = t.substr(2);
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) return false;
  return digits(rest.substr(0, dot), 1, 3) && digits(rest.substr(dot + 1), 1, 3);
}

std::string SmtpReply::text() const {
  std::string out = std::to_string(code);
  for (size_t i = 0; i < lines.size(); ++i) {
    out += i == 0 ? " " : " / ";
    out += lines[i];
  }
  return out;
}

std::string SmtpReply::status() const {
  if (!enhanced.empty() && enhanced[0] == static_cast<char>('0' + code / 100)) return enhanced;
  return std::to_string(code / 100) + ".0.0";
}

SmtpReplyParser::Step SmtpReplyParser::feed(std::string_view line) {
  if (!in_progress_) {
    reply_ = SmtpReply{};
    error_.clear();
  }
  auto fail = [&](std::string why) {
    error_ = std::move(why);
    in_progress_ = false;
    return Step::error;
  };
  if (line.size() > smtp_reply_max_line_bytes)
    return fail("reply line longer than " + std::to_string(smtp_reply_max_line_bytes) + " bytes");
  if (line.size() < 3 || !digits(line.substr(0, 3), 3, 3))
    return fail("malformed reply line (no 3-digit code)");
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-')
    return fail("malformed reply line (code not followed by space or hyphen)");
  int code = 0;
  std::from_chars(line.data(), line.data() + 3, code);
  if (code < 200 || code > 599) return fail("reply code " + std::to_string(code) + " out of range");
  if (in_progress_ && code != reply_.code) return fail("reply lines with different codes");
  if (reply_.lines.size() >= smtp_reply_max_lines)
    return fail("reply of more than " + std::to_string(smtp_reply_max_lines) + " lines");
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
  if (!in_progress_) {
    reply_.code = code;
    auto sp = text.find(' ');
    auto first = text.substr(0, sp);
    if (is_enhanced_status(first)) reply_.enhanced = std::string(first);
  }
  reply_.lines.emplace_back(text);
  if (line.size() > 3 && line[3] == '-') {
    in_progress_ = true;
    return Step::more;
  }
  in_progress_ = false;
  return Step::done;
}

EhloCapabilities parse_ehlo(const SmtpReply& reply) {
  EhloCapabilities caps;
  for (size_t i = 1; i < reply.lines.size(); ++i) {
    std::string_view l = reply.lines[i];
    auto sp = l.find(' ');
    std::string key = upper(l.substr(0, sp));
    std::string_view params = sp == std::string_view::npos ? std::string_view{} : l.substr(sp + 1);
    if (key == "STARTTLS") caps.starttls = true;
    else if (key == "8BITMIME") caps.eightbitmime = true;
    else if (key == "DSN") caps.dsn = true;
    else if (key == "PIPELINING") caps.pipelining = true;
    else if (key == "SMTPUTF8") caps.smtputf8 = true;
    else if (key == "SIZE") {
      unsigned long long n = 0;
      auto [p, ec] = std::from_chars(params.data(), params.data() + params.size(), n);
      if (ec == std::errc() && !params.empty()) caps.size = n;
    } else if (key == "AUTH" || key == "AUTH=") {
      size_t pos = 0;
      while (pos < params.size()) {
        auto end = params.find(' ', pos);
        if (end == std::string_view::npos) end = params.size();
        if (end > pos) caps.auth.push_back(upper(params.substr(pos, end - pos)));
        pos = end + 1;
      }
    }
  }
  return caps;
}

}  // namespace courierd
