// imapd/urlauth.hpp: URLAUTH's mailbox access keys and tokens (RFC 4467).
//
// Each mailbox of an account that has had a URLAUTH URL generated has a
// random 256-bit key (OpenSSL RAND_bytes), kept in the account's Maildir in
// imapd-urlauth-keys, mode 0600, one line per mailbox:
//     <64 hex digits> SP <mailbox name as IMAP shows it, UTF-8> LF
// The file is replaced atomically and durably (lib/atomic_file) under an
// flock(2) of the Maildir directory, so two sessions that both generate the
// first URL of a mailbox agree on one key. A token is the hex of
// HMAC-SHA256(key, rump URL) (mechanism INTERNAL). RESETKEY removes a
// mailbox's key (or all of them): URLs made with it stop working, and the
// next GENURLAUTH makes a new one. Removing the file does the same for all.
// DELETE and RENAME forget the keys of the mailboxes that went.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "lib/result.hpp"

namespace imapd {

inline constexpr std::string_view urlauth_keys_file_name = "imapd-urlauth-keys";

// Parses the key file's text: mailbox name -> raw 32-byte key. A malformed
// line is a permanent error naming `origin`, the line number and the fix.
lib::Result<std::map<std::string, std::string>> parse_urlauth_keys(std::string_view text,
                                                                   const std::string& origin);
// The file text for `keys`.
std::string format_urlauth_keys(const std::map<std::string, std::string>& keys);

// The key of `mailbox` in maildir_root's key file; with create, one is made
// and stored when there is none. nullopt: no key (and !create).
lib::Result<std::optional<std::string>> urlauth_key(const std::string& maildir_root, const std::string& mailbox,
                                                    bool create);
// Forgets the key of `mailbox`, or all keys when nullopt.
lib::Result<void> reset_urlauth_keys(const std::string& maildir_root, const std::optional<std::string>& mailbox);

// Forgets the keys of `mailbox` and, with children, of the mailboxes below
// it: DELETE and RENAME call it, so a mailbox created later under the name
// is not opened by URLs made for the one that went. Writes nothing when
// none of them had a key.
lib::Result<void> forget_urlauth_keys(const std::string& maildir_root, const std::string& mailbox, bool children);

// Hex HMAC-SHA256(key, rump); empty if OpenSSL refuses.
std::string urlauth_token(std::string_view key, std::string_view rump);
// Whether `token` (hex, any case) is the token of rump under key (constant time).
bool urlauth_token_matches(std::string_view key, std::string_view rump, std::string_view token);

}  // namespace imapd
