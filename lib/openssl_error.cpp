// lib/openssl_error.cpp: see openssl_error.hpp.
#include "lib/openssl_error.hpp"

#include <openssl/err.h>

namespace lib {

std::string openssl_error_text() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "no OpenSSL error recorded";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace lib
