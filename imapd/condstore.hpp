// imapd/condstore.hpp: the command parameters of CONDSTORE and QRESYNC (RFC
// 7162): SELECT/EXAMINE (CONDSTORE) and (QRESYNC (...)), FETCH (CHANGEDSINCE
// n [VANISHED]), STORE (UNCHANGEDSINCE n). Pure parsers; the session
// (imapd/cmd_condstore.cpp) acts on them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "imapd/lexer.hpp"
#include "imapd/sequence_set.hpp"

namespace imapd {

struct QresyncParams {
  std::uint32_t uidvalidity = 0;
  std::uint64_t modseq = 0;
  std::optional<SequenceSet> known_uids;  // absent: all UIDs
};

struct SelectParams {
  bool condstore = false;
  std::optional<QresyncParams> qresync;
};

// "(CONDSTORE)", "(QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]]))".
// nullopt with a text for BAD in `error`.
std::optional<SelectParams> parse_select_params(const Value& list, std::string& error);

struct FetchModifiers {
  std::optional<std::uint64_t> changedsince;
  bool vanished = false;
};
// "(CHANGEDSINCE n [VANISHED])"; VANISHED needs CHANGEDSINCE (RFC 7162 3.2.6).
std::optional<FetchModifiers> parse_fetch_modifiers(const Value& list, std::string& error);

// "(UNCHANGEDSINCE n)" -> n.
std::optional<std::uint64_t> parse_store_modifiers(const Value& list, std::string& error);

}  // namespace imapd
