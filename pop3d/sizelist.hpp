// pop3d/sizelist.hpp: Courier's POP3 cache file `courierpop3dsizelist`, at the
// root of the Maildir (COURIER-COMPAT.md section 12), read and written in
// Courier's format so that a mailbox moved from Courier keeps its UIDLs and
// clients do not download everything again.
//
//   /3 <nextuid> <uidvalidity>                     the header (version 3)
//   <file name> <pop3 size> <uid>:<uidv>:<utf8>    one line per message
//
// The file name is the message's name in cur/ when the list was written; a
// message is matched by its base name (up to ':'), so flag changes do not
// matter. The size is the POP3 size (CRLF line ends). The UIDL of a message
// is "UID<uid>-<uidv>" ("UID<uid>" when uidv is 0: version 1 lists).
// Version 2 lists (header "/2 <nextuid> [<uidv>]", lines without the utf8
// field) are read too and rewritten as version 3, as Courier does.
// Pure: text in, values out. The file is owned by the account and can hold
// anything, so every line and number is checked; what does not parse is
// skipped (its message gets a new UID), as in Courier.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pop3d {

inline constexpr std::string_view sizelist_file_name = "courierpop3dsizelist";
inline constexpr int sizelist_version = 3;
// Lines longer than this are skipped (Courier's buffer is 2048 bytes).
inline constexpr size_t sizelist_max_line_bytes = 2048;
// A larger file is not read at all (a mailbox of a million messages needs
// about 100 MB): every message then gets a new UID.
inline constexpr size_t sizelist_max_file_bytes = 256u * 1024 * 1024;
// UIDs stay below this, so nextuid + messages cannot overflow.
inline constexpr std::uint64_t sizelist_max_uid = std::uint64_t{1} << 62;

struct SizeListEntry {
  std::string file_name;  // as written: the name in cur/, flags included
  std::uint64_t size = 0;
  std::uint64_t uid = 0;
  std::uint64_t uidv = 0;
  bool utf8 = false;
};

struct SizeList {
  int version = sizelist_version;
  std::uint64_t next_uid = 1;
  std::uint64_t uidv = 0;  // 0: the header had none (version 2): use "now"
  std::vector<SizeListEntry> entries;
};

// Parses the file's content. nullopt when the header is missing or not
// version 2 or 3 (the caller starts a new list). Malformed entry lines are
// skipped; `skipped`, if given, counts them.
std::optional<SizeList> parse_sizelist(std::string_view text, size_t* skipped = nullptr);

// The file content for a list (always version 3).
std::string format_sizelist(const SizeList& list);

// The UIDL of an entry: "UID<uid>-<uidv>", or "UID<uid>" for uidv 0.
std::string format_uidl(std::uint64_t uid, std::uint64_t uidv);

// The base name of a message file name: everything before the first ':'.
std::string_view message_base(std::string_view file_name);

// Courier's message order (pop3dserver.c cmpmsgs): by the number the name
// starts with (the delivery time), then byte by byte up to the ':' that
// starts the flags. Negative, zero or positive, like strcmp.
int compare_message_names(std::string_view a, std::string_view b);

}  // namespace pop3d
