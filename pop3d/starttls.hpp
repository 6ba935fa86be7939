// pop3d/starttls.hpp: STLS (RFC 2595 section 4) for pop3login, on top of the
// TLS layer's tls::start_tls() (tls/starttls.hpp): couriertls takes over the
// socket and pop3login goes on with a plaintext socketpair, which pop3d then
// inherits as fds 0 and 1.
#pragma once

#include <string>

#include "pop3d/login_session.hpp"

namespace pop3d {

// The starter pop3login hands its LoginSession, or an empty one (STLS then
// not offered) when couriertls ($COURIERTLS, else BINDIR/couriertls) cannot
// be executed, as Courier's have_starttls() decides. external_field is
// TLS_EXTERNAL: the certificate subject field whose value (couriertls's
// TLS_SUBJECT_<FIELD>) is the EXTERNAL identity. The TLS_* variables also go
// into the environment, so pop3d inherits them.
TlsStarter make_tls_starter(const std::string& external_field);

}  // namespace pop3d
