// imapd/zlib_library.cpp: see zlib_library.hpp.
#include "imapd/zlib_library.hpp"

#include <type_traits>

#include "build-config.h"
#include "lib/lazy_library.hpp"

namespace imapd {

lib::Result<const Zlib*> zlib() {
  static lib::LazyLibrary library(ZLIB_SONAME, "COMPRESS=DEFLATE and the message cache");
  static Zlib z;
  if (z.crc32) return &z;
  Zlib loaded;
  auto get = [&](auto& slot, const char* name) -> lib::Result<void> {
    auto f = library.function<std::remove_pointer_t<std::remove_reference_t<decltype(slot)>>>(name);
    if (!f) return f.error();
    slot = f->call;
    return {};
  };
  for (auto r : {get(loaded.deflate_init, "deflateInit2_"), get(loaded.inflate_init, "inflateInit2_"),
                 get(loaded.deflate, "deflate"), get(loaded.inflate, "inflate"),
                 get(loaded.deflate_end, "deflateEnd"), get(loaded.inflate_end, "inflateEnd"),
                 get(loaded.error_text, "zError"), get(loaded.crc32, "crc32")})
    if (!r) return r.error();
  z = loaded;
  return &z;
}

}  // namespace imapd
