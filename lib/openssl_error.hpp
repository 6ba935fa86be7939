// lib/openssl_error.hpp: OpenSSL's error queue as text for an admin's log
// line or error message; one function for tls/, authlib/ and courierd/.
#pragma once

#include <string>

namespace lib {

// The first error in OpenSSL's error queue as text ("error:0A00018F:SSL
// routines::ee key too small"), or "no OpenSSL error recorded" when the queue
// is empty. Clears the queue, so the next failure reports its own error.
std::string openssl_error_text();

}  // namespace lib
