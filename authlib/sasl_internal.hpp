// authlib/sasl_internal.hpp: what sasl.cpp and sasl_crypto.cpp share.
#pragma once

#include <string.h>  // explicit_bzero

#include <string>

#include "lib/secret.hpp"

namespace authlib::sasl::detail {

// A temporary std::string that held secret bytes is wiped before it goes
// (explicit_bzero is not optimised away, unlike a plain memset before free).
inline void wipe(std::string& s) noexcept {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}

inline lib::Secret to_secret_and_wipe(std::string& s) {
  lib::Secret secret(s);
  wipe(s);
  return secret;
}

}  // namespace authlib::sasl::detail
