// pop3d/starttls.hpp: STLS (RFC 2595 section 4) for pop3login, on top of the
// TLS layer's tls::start_tls() (tls/starttls.hpp): couriertls takes over the
// socket and pop3login goes on with a plaintext socketpair, which pop3d then
// inherits as fds 0 and 1.
#pragma once

#include <string>

#include "pop3d/login_session.hpp"
#include "tls/starttls.hpp"

namespace pop3d {

// The starter pop3login hands its LoginSession, or an empty one (STLS then
// not offered) when couriertls ($COURIERTLS, else BINDIR/couriertls) cannot
// be executed, as Courier's have_starttls() decides. external_field is
// TLS_EXTERNAL: the certificate subject field whose value (couriertls's
// TLS_SUBJECT_<FIELD>) is the EXTERNAL identity. The TLS_* variables also go
// into the environment, so pop3d inherits them.
// spawn, when set, starts couriertls (tls::StartTlsOptions::spawn): the
// login child asks its root parent (authlib/login_handover.hpp).
TlsStarter make_tls_starter(const std::string& external_field,
                            std::function<lib::Result<tls::SpawnedTls>(int socket_fd)> spawn = {});

}  // namespace pop3d
