// tls/dhparams.cpp: see dhparams.hpp.
#include "tls/dhparams.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/atomic_file.hpp"
#include "lib/log.hpp"
#include "lib/unique_fd.hpp"
#include "tls/openssl_handles.hpp"
#include "tls/pem.hpp"
#include "tls/settings.hpp"

namespace tls {

lib::Result<int> parse_dh_bits(std::string_view text, DhMethod method) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return dh_bits_default;
  int bits = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), bits);
  std::string shown = lib::log::sanitize(text, 40);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return lib::permanent_error("DH_BITS=" + shown + " is not a number: use e.g. DH_BITS=3072");
  }
  if (bits < min_dh_bits_floor) {
    return lib::permanent_error("DH_BITS=" + shown + " is too small: clients refuse DH groups under " +
                                std::to_string(min_dh_bits_floor) + " bits; use DH_BITS=3072");
  }
  if (bits > 8192) return lib::permanent_error("DH_BITS=" + shown + " is too large: at most 8192");
  if (method == DhMethod::named_group && named_group_for_bits(bits).empty()) {
    return lib::permanent_error("DH_BITS=" + shown + ": the RFC 7919 groups have 2048, 3072, 4096, 6144 or "
                                "8192 bits; use one of these, or \"mkdhparams -random\" for any size");
  }
  return bits;
}

std::string named_group_for_bits(int bits) {
  switch (bits) {
    case 2048: return "ffdhe2048";
    case 3072: return "ffdhe3072";
    case 4096: return "ffdhe4096";
    case 6144: return "ffdhe6144";
    case 8192: return "ffdhe8192";
    default: return {};
  }
}

lib::Result<std::string> generate_dh_params_pem(int bits, DhMethod method) {
  EvpPkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
  if (!ctx || EVP_PKEY_paramgen_init(ctx.get()) != 1) {
    return lib::temporary_error("OpenSSL cannot make DH parameters: " + openssl_error_text());
  }
  if (method == DhMethod::named_group) {
    std::string group = named_group_for_bits(bits);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group.data(), 0),
                           OSSL_PARAM_construct_end()};
    if (group.empty() || EVP_PKEY_CTX_set_params(ctx.get(), params) != 1) {
      return lib::permanent_error("OpenSSL does not know the group " + group + ": " + openssl_error_text());
    }
  } else {
    size_t pbits = static_cast<size_t>(bits);
    int generator = 2;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_FFC_TYPE, const_cast<char*>("generator"), 0),
        OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_FFC_PBITS, &pbits),
        OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_DH_GENERATOR, &generator), OSSL_PARAM_construct_end()};
    if (EVP_PKEY_CTX_set_params(ctx.get(), params) != 1) {
      return lib::permanent_error("OpenSSL refuses " + std::to_string(bits) + "-bit DH parameters: " +
                                  openssl_error_text());
    }
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_paramgen(ctx.get(), &raw) != 1) {
    return lib::temporary_error("DH parameter generation failed: " + openssl_error_text());
  }
  EvpPkey pkey(raw);
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_Parameters(bio.get(), pkey.get()) != 1) {
    return lib::temporary_error("cannot write DH parameters: " + openssl_error_text());
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

bool dh_params_need_refresh(const std::string& path, time_t now, bool force, std::string* why) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (why) *why = "it does not exist";
    return true;
  }
  if (force) {
    if (why) *why = "-f was given";
    return true;
  }
  double age_days = static_cast<double>(now - st.st_mtime) / 86400.0;
  if (age_days > dh_regenerate_days) {
    if (why) *why = "it is " + std::to_string(static_cast<long>(age_days)) + " days old";
    return true;
  }
  if (why) {
    *why = "it is " + std::to_string(static_cast<long>(age_days)) + " days old, younger than " +
           std::to_string(dh_regenerate_days);
  }
  return false;
}

lib::Result<void> replace_file(const std::string& path, std::string_view text, unsigned mode) {
  lib::AtomicFileOptions options;
  options.temp_path = path + ".tmp." + std::to_string(getpid());
  options.mode = static_cast<mode_t>(mode);
  options.kind = lib::ErrorKind::permanent;
  return lib::write_file_atomically(path, text, options);
}

}  // namespace tls
