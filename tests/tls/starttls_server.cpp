// tests/tls/starttls_server.cpp: a tiny line server for the STARTTLS
// integration test (tests/integration/test_tls.py), used the way imaplogin
// uses tls::start_tls(): the socket is on fds 0/1 (from the test's accept
// loop); "a STARTTLS" switches to TLS; afterwards "ENV" prints the TLS
// variables this process now has and "QUIT" ends. Exec'ing after STARTTLS
// is exercised too: "EXEC" replaces this process with `env`, whose output
// must still arrive encrypted.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "tls/starttls.hpp"

namespace {

bool read_line(std::string& line) {
  line.clear();
  char c;
  // One byte at a time: nothing after the STARTTLS line is ever buffered here
  // (RFC 3207 section 6), so couriertls gets the client's first TLS byte.
  while (::read(0, &c, 1) == 1) {
    if (c == '\n') return true;
    if (c != '\r') line += c;
    if (line.size() > 1000) return false;
  }
  return false;
}

void say(const std::string& text) {
  std::string out = text + "\r\n";
  if (::write(1, out.data(), out.size()) < 0) std::exit(1);
}

}  // namespace

int main() {
  say("* OK starttls test server");
  std::string line;
  bool secure = false;
  while (read_line(line)) {
    if (line == "a STARTTLS" && !secure) {
      say("a OK begin TLS now");
      auto fd = tls::start_tls(0);
      if (!fd) {
        std::fprintf(stderr, "starttls_server: %s\n", fd.error().message.c_str());
        return 1;
      }
      dup2(*fd, 0);
      dup2(*fd, 1);
      close(*fd);
      secure = true;
      say("* OK secure");
    } else if (line == "ENV") {
      const char* proto = std::getenv("TLS_CONNECTED_PROTOCOL");
      const char* cn = std::getenv("TLS_SUBJECT_CN");
      say(std::string("* ENV protocol=") + (proto ? proto : "-") + " cn=" + (cn ? cn : "-"));
    } else if (line == "EXEC" && secure) {
      execlp("env", "env", static_cast<char*>(nullptr));
      return 127;
    } else if (line == "QUIT") {
      say("* BYE");
      return 0;
    } else {
      say("* BAD " + line);
    }
  }
  return 0;
}
