// tls/tls_variables.hpp: the checks on the TLS_* variables a program gets after
// a handshake (session.hpp says where they come from). Kept apart from
// session.cpp, which needs OpenSSL, so that imaplogin and pop3login, which only
// read the variables back from couriertls (starttls.cpp), link no OpenSSL
// (issue 16: every library a per-connection program loads costs each exec).
#pragma once

#include <cstddef>
#include <string_view>

namespace tls {

inline constexpr size_t max_subject_fields = 32;
inline constexpr size_t max_subject_value_bytes = 1024;

// A subject field's name as it may follow TLS_SUBJECT_: [A-Z0-9_], 1 to 64 bytes.
bool valid_variable_name(std::string_view name);

// A value without control characters, at most max_subject_value_bytes.
bool valid_variable_value(std::string_view value);

// Whether name=value may be put in the environment of a program (used for the
// lines start_tls() reads back): name TLS_CONNECTED_PROTOCOL or TLS_SUBJECT_[A-Z0-9_]+,
// value without control characters, within the limits above.
bool acceptable_tls_variable(std::string_view name, std::string_view value);

}  // namespace tls
