// authlib/openssl_handles.hpp: owning handles for the OpenSSL objects that
// authlib uses to hash passwords and compute CRAM HMACs. Each handle type is
// declared once, here; no other authlib file calls an OpenSSL _free function
// (STYLE.md, section 6).
#pragma once

#include <openssl/evp.h>

#include "lib/c_handle.hpp"

namespace authlib {

// A digest implementation fetched from a provider (EVP_MD_fetch). Null when
// the provider refuses the algorithm, e.g. MD5 under a FIPS configuration.
using EvpMd = lib::CHandle<EVP_MD, EVP_MD_free>;
// One running digest computation (EVP_DigestInit_ex2 .. EVP_DigestFinal_ex).
using EvpMdCtx = lib::CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;
// A MAC implementation fetched from a provider (EVP_MAC_fetch, "HMAC").
using EvpMac = lib::CHandle<EVP_MAC, EVP_MAC_free>;
// One running MAC computation (EVP_MAC_init .. EVP_MAC_final).
using EvpMacCtx = lib::CHandle<EVP_MAC_CTX, EVP_MAC_CTX_free>;

}  // namespace authlib
