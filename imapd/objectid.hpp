// imapd/objectid.hpp: OBJECTID (RFC 8474): MAILBOXID, EMAILID, THREADID;
// and SAVEDATE (RFC 8514), also read from the message's base name.
//
// MAILBOXID: a random id kept in the folder directory's imapd-mailboxid
// (INBOX: the Maildir's), made on first use, written atomically under the
// folder lock; RENAME moves the directory and so keeps the id, DELETE +
// CREATE of a name gives a new one (RFC 8474 4.1).
// EMAILID: derived from the message file's stable base name (the part before
// ":", unchanged by flag changes and by Courier's new/ -> cur/ move), so it
// is the same in every session without any stored state; a COPY is a new
// file and gets a new id, which RFC 8474 5.1 allows. THREADID: NIL (threads
// are not tracked across sessions).
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "lib/result.hpp"

namespace imapd {

inline constexpr std::string_view mailboxid_file_name = "imapd-mailboxid";

// The MAILBOXID of the folder at folder_dir, made when missing.
lib::Result<std::string> mailbox_id(const std::string& folder_dir);

// The EMAILID of the message whose base name is `base`: "E" + 16 hex digits
// (64-bit FNV-1a of the name).
std::string email_id(std::string_view base);

// SAVEDATE (RFC 8514): when the message was saved into its mailbox, from
// the time that starts its Maildir base name ("1700000000.M1P2.host"): the
// file was made then by delivery, APPEND or COPY. nullopt when the name
// does not start with a plausible time.
std::optional<std::time_t> save_date(std::string_view base);

// RFC 8474 objectid: 1 to 255 of ALPHA, DIGIT, "_", "-".
bool valid_object_id(std::string_view id);

}  // namespace imapd
