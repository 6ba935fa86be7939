// lib/secret.hpp: a password or other secret. Its memory is wiped when it is
// destroyed or reassigned, and it has no stream operator or formatter, so it
// cannot end up in a log line by accident. Compare with equals(), which takes
// constant time.
#pragma once

#include <string>
#include <string_view>

namespace lib {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view text) : text_(text) {}
  // Takes over a string's buffer, so no copy of the secret is left behind.
  explicit Secret(std::string&& text) noexcept : text_(std::move(text)) {}
  explicit Secret(const char* text) : text_(text) {}
  Secret(const Secret& other) : text_(other.text_) {}
  Secret(Secret&& other) noexcept : text_(std::move(other.text_)) { other.wipe(); }
  Secret& operator=(const Secret& other);
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { wipe(); }

  // The secret's bytes, for hashing or for sending to authdaemond. Never log them.
  std::string_view reveal() const noexcept { return text_; }
  bool empty() const noexcept { return text_.empty(); }
  size_t size() const noexcept { return text_.size(); }

  // Constant-time comparison (constant_time_equal); lengths are not secret.
  bool equals(std::string_view other) const noexcept;

  void wipe() noexcept;

 private:
  std::string text_;
};

// Constant-time comparison of two byte strings of possibly different length
// (the length itself is not hidden). Plain code rather than OpenSSL's
// CRYPTO_memcmp: every program comparing a Secret would otherwise load
// libcrypto at exec (issue 16); code that already holds OpenSSL uses
// CRYPTO_memcmp directly.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace lib
