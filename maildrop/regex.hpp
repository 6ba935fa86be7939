// maildrop/regex.hpp: PCRE2 (8-bit) wrapped once: a compiled pattern and its
// match data, freed together.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.hpp"

namespace maildrop {

class Regex {
 public:
  // Compiles pattern (UTF-8 when it is valid UTF-8, else bytes). A bad
  // pattern is a permanent error with PCRE2's message and offset.
  static lib::Result<Regex> compile(std::string_view pattern, bool case_sensitive);

  // Searches text from offset start. On a match, fills groups (group 0 is the
  // whole match; unset groups are empty) and returns true.
  bool search(std::string_view text, std::size_t start, std::vector<std::string>* groups,
              std::size_t* match_end = nullptr) const;

 private:
  struct CodeFree {
    void operator()(pcre2_code* p) const noexcept { pcre2_code_free(p); }
  };
  struct DataFree {
    void operator()(pcre2_match_data* p) const noexcept { pcre2_match_data_free(p); }
  };
  std::unique_ptr<pcre2_code, CodeFree> code_;
  std::unique_ptr<pcre2_match_data, DataFree> data_;
};

}  // namespace maildrop
