// imapd/thread.hpp: THREAD (RFC 5256 BASE.6.4.THREAD) with both algorithms,
// ORDEREDSUBJECT and REFERENCES (RFC 5256 3, with its base subject from
// imapd/sort.hpp), and the thread-list output. Pure: the session reads the
// headers and hands in one ThreadMessage per matching message.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/lexer.hpp"
#include "imapd/search.hpp"
#include "lib/rfc5322.hpp"

namespace imapd {

enum class ThreadAlgorithm { orderedsubject, references };

struct ThreadProgram {
  ThreadAlgorithm algorithm = ThreadAlgorithm::references;
  SearchProgram search;
};

struct ThreadParseResult {
  std::optional<ThreadProgram> program;
  std::string error;
  bool bad_charset = false;
};

// Parses THREAD's arguments: algorithm charset search-key+.
ThreadParseResult parse_thread(std::span<const Value> args, const SearchLimits& limits = {});

// The strings are views: into the per-mailbox cache's keys
// (imapd/mailbox_cache.hpp), or into `owned` (keep()).
struct ThreadMessage {
  std::uint32_t seq = 0;       // mailbox order, for ties
  std::uint32_t number = 0;    // what the response shows (sequence number or UID)
  std::time_t date = 0;        // Date: in UTC, else INTERNALDATE (set it before fill)
  std::string_view message_id;      // without "<>"; empty: none
  std::vector<std::string_view> references;  // References, else In-Reply-To's first id
  std::string_view subject;    // base subject, upper-cased ASCII
  bool reply = false;          // the subject had a reply or forward marker
  std::shared_ptr<std::deque<std::string>> owned;
  // Stores `s` with the message; the view stays valid as the message moves.
  std::string_view keep(std::string s) {
    if (!owned) owned = std::make_shared<std::deque<std::string>>();
    return owned->emplace_back(std::move(s));
  }
};

// Fills everything but seq and number from a header; `date` keeps its
// value (the INTERNALDATE) when Date: is missing or invalid.
void fill_thread_message(ThreadMessage& m, const lib::rfc5322::Header& header);

// The msg-ids ("<...>") of a field value, without the brackets, in order.
std::vector<std::string> parse_msg_ids(std::string_view value);

// The thread list, "(1 2)(3 (4)(5))", for the messages (any order).
std::string thread_orderedsubject(std::vector<ThreadMessage> messages);
std::string thread_references(std::vector<ThreadMessage> messages);

}  // namespace imapd
