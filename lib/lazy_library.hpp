// lib/lazy_library.hpp: a shared library loaded with dlopen() the first time a
// program asks for one of its functions, and closed with the object.
//
// Why: every library a per-connection program is linked with is mapped and
// relocated at each exec, whether the session uses it or not (issue 16).
// imapd needs libcrypto only for URLAUTH (HMAC-SHA256, its keys) and zlib
// only for COMPRESS=DEFLATE; a session that uses neither never loads them.
//
//   lib::LazyLibrary crypto("libcrypto.so.3");
//   auto hmac = crypto.function<decltype(::HMAC)>("HMAC");
//   if (!hmac) return hmac.error();   // names the library, the symbol, dlerror()
//   hmac->call(...);
//
// The library is found as the dynamic loader finds a linked one (its soname,
// the system's search path); RTLD_NOW | RTLD_LOCAL, so a missing symbol shows
// at load time and nothing leaks into the global namespace.
#pragma once

#include <string>

#include "lib/result.hpp"

namespace lib {

class LazyLibrary {
 public:
  // soname: "libcrypto.so.3"; what: what the library is for, for error texts
  // ("URLAUTH (HMAC-SHA256)").
  LazyLibrary(std::string soname, std::string what);
  ~LazyLibrary();
  LazyLibrary(const LazyLibrary&) = delete;
  LazyLibrary& operator=(const LazyLibrary&) = delete;

  // Loads the library on first use; the error (temporary: the admin can
  // install it) names it and says what needs it.
  lib::Result<void> load();
  bool loaded() const noexcept { return handle_ != nullptr; }

  // The address of a symbol, loading the library first.
  lib::Result<void*> symbol(const char* name);

  // A function of the library, with its type F (decltype(::HMAC)).
  template <class F>
  struct Function {
    F* call = nullptr;
  };
  template <class F>
  lib::Result<Function<F>> function(const char* name) {
    auto p = symbol(name);
    if (!p) return p.error();
    return Function<F>{reinterpret_cast<F*>(*p)};
  }

 private:
  std::string soname_;
  std::string what_;
  void* handle_ = nullptr;
};

}  // namespace lib
