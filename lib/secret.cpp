// lib/secret.cpp: see secret.hpp.
#include "lib/secret.hpp"

#include <string.h>  // explicit_bzero

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
  // explicit_bzero is not optimised away, unlike a plain memset before free.
  // (glibc's, not OPENSSL_cleanse: every program holding a Secret would load
  // libcrypto at exec for it; issue 16.)
  if (!text_.empty()) explicit_bzero(text_.data(), text_.size());
  text_.clear();
  text_.shrink_to_fit();
}

bool Secret::equals(std::string_view other) const noexcept {
  return constant_time_equal(text_, other);
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  // Every byte is looked at whatever the others are (as CRYPTO_memcmp does);
  // the empty asm keeps the compiler from stopping at the first difference.
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    __asm__ volatile("" : "+r"(diff));
  }
  return diff == 0;
}

}  // namespace lib
