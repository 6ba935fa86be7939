// maildrop/regex.cpp: see regex.hpp.
#include "maildrop/regex.hpp"

namespace maildrop {

lib::Result<Regex> Regex::compile(std::string_view pattern, bool case_sensitive) {
  uint32_t options = case_sensitive ? 0 : PCRE2_CASELESS;
  // UTF mode only for valid UTF-8, so that 8-bit mail still matches bytewise.
  {
    int rc;
    PCRE2_SIZE off;
    pcre2_code* probe = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                      options | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &rc, &off, nullptr);
    if (probe) {
      Regex r;
      r.code_.reset(probe);
      r.data_.reset(pcre2_match_data_create_from_pattern(probe, nullptr));
      return r;
    }
  }
  int rc = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &rc,
                                   &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(rc, buf, sizeof buf);
    return lib::permanent_error("bad pattern /" + std::string(pattern) + "/: " +
                                reinterpret_cast<const char*>(buf) + " at offset " + std::to_string(offset));
  }
  Regex r;
  r.code_.reset(code);
  r.data_.reset(pcre2_match_data_create_from_pattern(code, nullptr));
  return r;
}

bool Regex::search(std::string_view text, std::size_t start, std::vector<std::string>* groups,
                   std::size_t* match_end) const {
  int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start, 0,
                       data_.get(), nullptr);
  if (rc < 0) return false;
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data_.get());
  if (match_end) *match_end = ov[1] > ov[0] ? ov[1] : ov[1] + 1;  // never loop on an empty match
  if (groups) {
    uint32_t n = pcre2_get_ovector_count(data_.get());
    groups->assign(n, {});
    for (uint32_t i = 0; i < n && i < static_cast<uint32_t>(rc); ++i)
      if (ov[2 * i] != PCRE2_UNSET) (*groups)[i] = std::string(text.substr(ov[2 * i], ov[2 * i + 1] - ov[2 * i]));
  }
  return true;
}

}  // namespace maildrop
