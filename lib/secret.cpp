// lib/secret.cpp: see secret.hpp.
#include "lib/secret.hpp"

#include <openssl/crypto.h>

namespace lib {

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    wipe();
    text_ = other.text_;
  }
  return *this;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    text_ = std::move(other.text_);
    other.wipe();
  }
  return *this;
}

void Secret::wipe() noexcept {
  // OPENSSL_cleanse is not optimised away, unlike a plain memset before free.
  if (!text_.empty()) OPENSSL_cleanse(text_.data(), text_.size());
  text_.clear();
  text_.shrink_to_fit();
}

bool Secret::equals(std::string_view other) const noexcept {
  return constant_time_equal(text_, other);
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace lib
