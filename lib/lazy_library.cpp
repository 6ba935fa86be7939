// lib/lazy_library.cpp: see lazy_library.hpp.
#include "lib/lazy_library.hpp"

#include <dlfcn.h>

namespace lib {

namespace {

std::string dl_error_text() {
  const char* e = dlerror();
  return e ? e : "unknown dynamic loader error";
}

}  // namespace

LazyLibrary::LazyLibrary(std::string soname, std::string what) : soname_(std::move(soname)), what_(std::move(what)) {}

LazyLibrary::~LazyLibrary() {
  if (handle_) dlclose(handle_);
}

lib::Result<void> LazyLibrary::load() {
  if (handle_) return {};
  handle_ = dlopen(soname_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_)
    return lib::temporary_error("cannot load " + soname_ + ", which " + what_ + " needs: " + dl_error_text() +
                                " (is the library's package installed? ldconfig -p | grep " + soname_ + ")");
  return {};
}

lib::Result<void*> LazyLibrary::symbol(const char* name) {
  auto l = load();
  if (!l) return l.error();
  dlerror();
  void* p = dlsym(handle_, name);
  if (!p)
    return lib::temporary_error(soname_ + " has no symbol " + name + ", which " + what_ + " needs: " + dl_error_text() +
                                " (a different version of the library than the one this program was built for?)");
  return p;
}

}  // namespace lib
