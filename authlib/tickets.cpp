// authlib/tickets.cpp: see tickets.hpp.
#include "authlib/tickets.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace authlib {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

bool decode_hex(std::string_view hex, unsigned char* out, size_t n) {
  if (hex.size() != 2 * n) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < n; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

void copy_field(char* dst, size_t cap, std::string_view src) {
  size_t n = std::min(src.size(), cap - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

}  // namespace

lib::Result<TicketTable> TicketTable::create() {
  void* p = ::mmap(nullptr, sizeof(Entry) * max_entries, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return lib::temporary_error("mmap of the login ticket table: " + lib::errno_text(errno));
  auto* entries = static_cast<Entry*>(p);
  for (size_t i = 0; i < max_entries; ++i) new (&entries[i]) Entry();
  return TicketTable(entries, ::geteuid());
}

TicketTable::TicketTable(TicketTable&& other) noexcept : entries_(other.entries_), owner_uid_(other.owner_uid_), skew_ms_(other.skew_ms_) {
  other.entries_ = nullptr;
}

TicketTable::~TicketTable() {
  if (entries_) ::munmap(entries_, sizeof(Entry) * max_entries);
}

int64_t TicketTable::now_ms() const noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
             .count() +
         skew_ms_;
}

lib::Result<std::string> TicketTable::issue(std::string_view service, std::string_view login,
                                            std::string_view account_reply) {
  if (service.empty() || service.size() > max_service_bytes || login.size() > max_login_bytes ||
      account_reply.size() > max_account_bytes)
    return lib::permanent_error("login ticket not issued: service, login name or account record too long");
  unsigned char ticket[ticket_bytes];
  if (RAND_bytes(ticket, sizeof ticket) != 1)
    return lib::temporary_error("login ticket not issued: OpenSSL's RAND_bytes failed");
  const int64_t now = now_ms();
  // First a free place or one whose ticket's time is over; then, when every
  // place is taken, one holding a ticket already redeemed (remembered only so
  // that a replay is logged as "replayed": a replay of a forgotten ticket is
  // still refused, as "unknown"). Only unredeemed live tickets fill the table.
  for (size_t i = 0; i < 2 * max_entries; ++i) {
    const bool reuse_redeemed = i >= max_entries;
    Entry& e = entries_[i % max_entries];
    int state = e.state.load();
    const bool reusable = state == free_entry || (state != busy && e.expires_ms.load() <= now) ||
                          (reuse_redeemed && state == redeemed);
    if (!reusable) continue;
    if (!e.state.compare_exchange_strong(state, busy)) continue;
    std::memcpy(e.ticket, ticket, sizeof ticket);
    copy_field(e.service, sizeof e.service, service);
    copy_field(e.login, sizeof e.login, login);
    std::memcpy(e.account, account_reply.data(), account_reply.size());
    e.account_len = static_cast<uint32_t>(account_reply.size());
    e.expires_ms.store(now + std::chrono::duration_cast<std::chrono::milliseconds>(ticket_lifetime).count());
    e.state.store(issued);
    std::string hex;
    for (unsigned char b : ticket) {
      hex += hex_digits[b >> 4];
      hex += hex_digits[b & 15];
    }
    OPENSSL_cleanse(ticket, sizeof ticket);
    return hex;
  }
  OPENSSL_cleanse(ticket, sizeof ticket);
  return lib::temporary_error("login ticket not issued: all " + std::to_string(max_entries) +
                              " places hold live tickets not yet redeemed (more logins within " +
                              std::to_string(ticket_lifetime.count()) + " s than the table holds)");
}

TicketTable::Redeemed TicketTable::redeem(std::string_view service, std::string_view ticket_hex) {
  Redeemed out;
  unsigned char ticket[ticket_bytes];
  if (!decode_hex(ticket_hex, ticket, sizeof ticket)) {
    out.refusal = Refusal::malformed;
    return out;
  }
  const int64_t now = now_ms();
  out.refusal = Refusal::unknown;
  for (size_t i = 0; i < max_entries; ++i) {
    Entry& e = entries_[i];
    int state = e.state.load();
    if (state != issued && state != redeemed) continue;
    if (CRYPTO_memcmp(e.ticket, ticket, sizeof ticket) != 0) continue;
    if (state == redeemed) {
      out.refusal = Refusal::replayed;
      break;
    }
    // Ours to read now; check again that it is the ticket asked for (it may
    // have been replaced between the compare and the claim).
    if (!e.state.compare_exchange_strong(state, busy)) continue;
    if (CRYPTO_memcmp(e.ticket, ticket, sizeof ticket) != 0) {
      e.state.store(issued);
      continue;
    }
    if (e.expires_ms.load() <= now) {
      out.refusal = Refusal::expired;
      e.state.store(free_entry);
      break;
    }
    // Used up in any case: a ticket shown for the wrong service is not good
    // for the right one afterwards either.
    if (service != std::string_view(e.service)) {
      out.refusal = Refusal::wrong_service;
      out.issued_for = e.service;
    } else {
      out.refusal = Refusal::none;
      out.login = e.login;
      out.account_reply.assign(e.account, e.account_len);
    }
    OPENSSL_cleanse(e.account, sizeof e.account);
    e.account_len = 0;
    e.state.store(redeemed);
    break;
  }
  OPENSSL_cleanse(ticket, sizeof ticket);
  return out;
}

const char* TicketTable::describe(Refusal r) noexcept {
  switch (r) {
    case Refusal::none: return "good";
    case Refusal::malformed: return "malformed (not 64 lowercase hex digits)";
    case Refusal::unknown: return "unknown (never issued: forged, or so old it was forgotten)";
    case Refusal::replayed: return "replayed (already redeemed)";
    case Refusal::expired: return "expired";
    case Refusal::wrong_service: return "issued for another service";
  }
  return "refused";
}

std::string TicketTable::log_prefix(std::string_view ticket_hex) {
  std::string p;
  for (char c : ticket_hex.substr(0, 8)) p += (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ? c : '?';
  return p + "...";
}

}  // namespace authlib
