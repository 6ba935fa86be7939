// imapd/zlib_library.hpp: zlib's functions for imapd, from the library loaded
// the first time a session needs it (lib/lazy_library.hpp): COMPRESS=DEFLATE
// (imapd/compress.hpp) and the CRC-32 of the message cache's records
// (imapd/mailbox_cache.hpp). An imapd that needs neither (a LOGIN and LOGOUT)
// does not map and relocate zlib at exec (issue 16).
#pragma once

#include <zlib.h>  // for the types only: the functions come from dlsym

#include "lib/result.hpp"

namespace imapd {

struct Zlib {
  decltype(::deflateInit2_)* deflate_init = nullptr;
  decltype(::inflateInit2_)* inflate_init = nullptr;
  decltype(::deflate)* deflate = nullptr;
  decltype(::inflate)* inflate = nullptr;
  decltype(::deflateEnd)* deflate_end = nullptr;
  decltype(::inflateEnd)* inflate_end = nullptr;
  decltype(::zError)* error_text = nullptr;
  decltype(::crc32)* crc32 = nullptr;
};

// zlib, loaded on the first call; the error names the library, what needs
// it, and the fix (install the package).
lib::Result<const Zlib*> zlib();

}  // namespace imapd
