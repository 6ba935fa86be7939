// tcpd/dns_message.cpp: DNS query encoding and reply decoding (RFC 1035
// sections 4.1.1-4.1.4, name compression 4.1.4; TXT 3.3.14; CNAME 3.6.2).
#include "tcpd/dns_message.hpp"

#include <set>

namespace tcpd {

namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view strip_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

std::string lower_name(std::string_view s) {
  s = strip_dot(s);
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> p) : p_(p) {}
  bool u8(uint8_t& v) {
    if (pos_ + 1 > p_.size()) return false;
    v = p_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) {
    if (pos_ + 2 > p_.size()) return false;
    v = static_cast<uint16_t>((p_[pos_] << 8) | p_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    uint16_t hi, lo;
    if (!u16(hi) || !u16(lo)) return false;
    v = (static_cast<uint32_t>(hi) << 16) | lo;
    return true;
  }
  bool skip(size_t n) {
    if (pos_ + n > p_.size()) return false;
    pos_ += n;
    return true;
  }
  // Reads a possibly compressed name at the current position.
  bool name(std::string& out) { return read_name_at(pos_, out, true); }
  bool name_at(size_t offset, std::string& out) {
    size_t off = offset;
    return read_name_at(off, out, false);
  }
  size_t pos() const { return pos_; }
  std::span<const uint8_t> packet() const { return p_; }

 private:
  bool read_name_at(size_t& pos, std::string& out, bool advance) {
    out.clear();
    size_t cur = pos;
    bool jumped = false;
    int jumps = 0;
    size_t wire_len = 0;
    for (;;) {
      if (cur >= p_.size()) return false;
      uint8_t len = p_[cur];
      if ((len & 0xc0) == 0xc0) {
        if (cur + 1 >= p_.size() || ++jumps > 32) return false;
        size_t target = static_cast<size_t>((len & 0x3f) << 8) | p_[cur + 1];
        if (!jumped && advance) pos = cur + 2;
        jumped = true;
        if (target >= p_.size()) return false;
        cur = target;
        continue;
      }
      if ((len & 0xc0) != 0) return false;  // 0x40 and 0x80 label types are obsolete
      if (len == 0) {
        if (!jumped && advance) pos = cur + 1;
        return true;
      }
      wire_len += len + 1u;
      if (wire_len > 255 || cur + 1 + len > p_.size()) return false;
      if (!out.empty()) out += '.';
      out.append(reinterpret_cast<const char*>(p_.data() + cur + 1), len);
      cur += 1 + len;
    }
  }

  std::span<const uint8_t> p_;
  size_t pos_ = 0;
};

}  // namespace

bool dns_names_equal(std::string_view a, std::string_view b) {
  a = strip_dot(a);
  b = strip_dot(b);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::optional<std::string> encode_dns_query(uint16_t id, std::string_view name, uint16_t qtype) {
  name = strip_dot(name);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string q;
  q.reserve(18 + name.size());
  auto put16 = [&](uint16_t v) {
    q += static_cast<char>(v >> 8);
    q += static_cast<char>(v & 0xff);
  };
  put16(id);
  put16(0x0100);  // standard query, recursion desired
  put16(1);       // QDCOUNT
  put16(0);
  put16(0);
  put16(0);
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    size_t end = dot == std::string_view::npos ? name.size() : dot;
    size_t len = end - start;
    if (len == 0 || len > 63) return std::nullopt;
    q += static_cast<char>(len);
    q.append(name.substr(start, len));
    start = end + 1;
    if (dot == std::string_view::npos) break;
  }
  q += '\0';
  put16(qtype);
  put16(1);  // class IN
  return q;
}

std::optional<DnsAnswer> decode_dns_reply(std::span<const uint8_t> packet, uint16_t id, std::string_view qname,
                                          uint16_t qtype) {
  Reader r(packet);
  uint16_t rid, flags, qd, an, ns, ar;
  if (!r.u16(rid) || !r.u16(flags) || !r.u16(qd) || !r.u16(an) || !r.u16(ns) || !r.u16(ar)) return std::nullopt;
  if (rid != id || !(flags & 0x8000) || ((flags >> 11) & 0xf) != 0 || qd != 1) return std::nullopt;
  std::string question;
  uint16_t qt, qc;
  if (!r.name(question) || !r.u16(qt) || !r.u16(qc)) return std::nullopt;
  if (!dns_names_equal(question, qname) || qt != qtype || qc != 1) return std::nullopt;

  DnsAnswer answer;
  unsigned rcode = flags & 0xf;
  if (flags & 0x0200) return answer;  // truncated: failed (no TCP fallback for blocklists)
  if (rcode == 3) {
    answer.status = DnsAnswer::Status::not_found;
    return answer;
  }
  if (rcode != 0) return answer;

  struct Rr {
    std::string owner;
    uint16_t type;
    size_t rdata;
    uint16_t rdlen;
  };
  std::vector<Rr> rrs;
  for (unsigned i = 0; i < an; ++i) {
    Rr rr;
    uint16_t cls;
    uint32_t ttl;
    if (!r.name(rr.owner) || !r.u16(rr.type) || !r.u16(cls) || !r.u32(ttl) || !r.u16(rr.rdlen)) return answer;
    rr.rdata = r.pos();
    if (!r.skip(rr.rdlen)) return answer;
    if (cls == 1 && rrs.size() < 256) rrs.push_back(std::move(rr));
  }

  // The query name and the CNAME targets it leads to (a few steps at most).
  std::set<std::string> names{lower_name(qname)};
  for (int step = 0; step < 8; ++step) {
    bool added = false;
    for (const auto& rr : rrs) {
      if (rr.type != dns_type_cname || !names.count(lower_name(rr.owner))) continue;
      std::string target;
      if (!r.name_at(rr.rdata, target)) return answer;
      added |= names.insert(lower_name(target)).second;
    }
    if (!added) break;
  }

  for (const auto& rr : rrs) {
    if (rr.type != qtype || !names.count(lower_name(rr.owner))) continue;
    const uint8_t* d = packet.data() + rr.rdata;
    if (qtype == dns_type_a) {
      if (rr.rdlen != 4) return answer;
      answer.a.push_back({d[0], d[1], d[2], d[3]});
    } else if (qtype == dns_type_txt) {
      std::string text;
      size_t i = 0;
      while (i < rr.rdlen) {
        size_t len = d[i];
        if (i + 1 + len > rr.rdlen) return answer;
        text.append(reinterpret_cast<const char*>(d + i + 1), len);
        i += 1 + len;
      }
      if (text.size() > dns_max_txt_bytes) text.resize(dns_max_txt_bytes);
      if (answer.txt.size() < 16) answer.txt.push_back(std::move(text));
    } else if (qtype == dns_type_mx) {
      std::string exchange;
      if (rr.rdlen < 3 || !r.name_at(rr.rdata + 2, exchange)) return answer;
      if (answer.mx.size() < 16) answer.mx.push_back(lower_name(exchange));
    }
  }
  answer.status = (answer.a.empty() && answer.txt.empty() && answer.mx.empty()) ? DnsAnswer::Status::not_found
                                                                                : DnsAnswer::Status::ok;
  return answer;
}

}  // namespace tcpd
