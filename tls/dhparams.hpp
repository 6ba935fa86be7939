// tls/dhparams.hpp: the Diffie-Hellman parameters file (TLS_DHPARAMS) and
// mkdhparams. By default the file holds the RFC 7919 group of DH_BITS bits
// (ffdhe2048..ffdhe8192): vetted safe primes that clients know, made at once.
// "mkdhparams -random" generates a fresh safe prime instead, as Courier's
// mkdhparams did (minutes for 3072 bits). Either way the file is written to a
// temporary name and renamed into place, so couriertls never reads half of it.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "lib/result.hpp"

namespace tls {

inline constexpr int dh_bits_default = 3072;
inline constexpr int dh_regenerate_days = 25;  // Courier's mkdhparams: "older than 25 days"

enum class DhMethod { named_group, random_prime };

// DH_BITS: empty -> dh_bits_default. Errors name the value and the fix: not a
// number, under 2048, over 8192, or (named groups) not 2048/3072/4096/6144/8192.
lib::Result<int> parse_dh_bits(std::string_view text, DhMethod method);

// "ffdhe3072" for 3072 bits; empty for a size without an RFC 7919 group.
std::string named_group_for_bits(int bits);

// PEM text ("-----BEGIN DH PARAMETERS-----") of new parameters.
lib::Result<std::string> generate_dh_params_pem(int bits, DhMethod method);

// Whether the file must be (re)made: it does not exist, force is set, or it was
// last modified more than dh_regenerate_days days before now. *why says which.
bool dh_params_need_refresh(const std::string& path, time_t now, bool force, std::string* why);

// Writes text to a temporary file beside path (mode), fsyncs it and renames it
// over path. Errors name the file and errno text.
lib::Result<void> replace_file(const std::string& path, std::string_view text, unsigned mode);

}  // namespace tls
