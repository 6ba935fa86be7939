// lib/c_handle.hpp: unique_ptr aliases for C library handles whose free
// function takes only the pointer. Each library's aliases are declared once,
// beside the code that owns the library (STYLE.md, section 6).
#pragma once

#include <dirent.h>

#include <memory>

namespace lib {

template <auto Fn>
struct CallFree {
  template <class T>
  void operator()(T* p) const noexcept {
    if (p) Fn(p);
  }
};

template <class T, auto Fn>
using CHandle = std::unique_ptr<T, CallFree<Fn>>;

// A directory stream from opendir()/fdopendir(), closed on destruction: the
// one way the suite owns a DIR*.
using DirStream = CHandle<DIR, ::closedir>;

}  // namespace lib
