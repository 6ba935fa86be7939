// pop3d/starttls.cpp: see starttls.hpp.
#include "pop3d/starttls.hpp"

#include <unistd.h>

#include <cstdlib>

#include "lib/log.hpp"
#include "tls/starttls.hpp"

#ifndef BINDIR
#define BINDIR "/usr/bin"
#endif

namespace pop3d {

TlsStarter make_tls_starter(const std::string& external_field,
                            std::function<lib::Result<tls::SpawnedTls>(int socket_fd)> spawn) {
  const char* configured = std::getenv("COURIERTLS");
  std::string couriertls = configured && *configured ? configured : BINDIR "/couriertls";
  if (::access(couriertls.c_str(), X_OK) != 0) {
    lib::log::debug_if("DEBUG_LOGIN", 1, "STLS not offered: %s cannot be executed (%s); set COURIERTLS in pop3d-ssl",
                       couriertls.c_str(), lib::errno_text(errno).c_str());
    return {};
  }
  std::string subject_name = "TLS_SUBJECT_";
  for (char c : external_field) subject_name += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return [couriertls, subject_name, external = !external_field.empty(), spawn](int socket_fd) -> lib::Result<TlsStarted> {
    tls::StartTlsOptions options;
    options.couriertls = couriertls;
    options.set_environment = true;
    options.spawn = spawn;
    tls::StartTlsInfo info;
    auto fd = tls::start_tls(socket_fd, options, &info);
    if (!fd) return fd.error();
    TlsStarted started;
    started.plaintext.reset(*fd);
    if (external)
      for (const auto& [name, value] : info.environment)
        if (name == subject_name) started.external_identity = value;
    return started;
  };
}

}  // namespace pop3d
