// imapd/condstore.cpp: CONDSTORE/QRESYNC parameter parsers (see condstore.hpp).
#include "imapd/condstore.hpp"

namespace imapd {
namespace {

constexpr std::uint64_t modseq_limit = std::uint64_t{1} << 63;

bool modseq_value(const Value& v, std::uint64_t& out, bool allow_zero) {
  if (v.kind != Value::Kind::number || v.number >= modseq_limit || (!allow_zero && v.number == 0)) return false;
  out = v.number;
  return true;
}

}  // namespace

std::optional<SelectParams> parse_select_params(const Value& list, std::string& error) {
  SelectParams p;
  if (!list.is_list()) {
    error = "SELECT parameters must be a list.";
    return std::nullopt;
  }
  const auto& it = list.items;
  for (std::size_t i = 0; i < it.size(); ++i) {
    if (it[i].is_word("CONDSTORE")) {
      p.condstore = true;
    } else if (it[i].is_word("QRESYNC") && i + 1 < it.size() && it[i + 1].is_list() && !p.qresync) {
      const auto& q = it[++i].items;
      QresyncParams r;
      if (q.size() < 2 || q.size() > 4 || q[0].kind != Value::Kind::number || q[0].number == 0 ||
          q[0].number > 0xffffffffULL || !modseq_value(q[1], r.modseq, true)) {
        error = "Syntax: QRESYNC (uidvalidity modseq [known-uids [(sequences uids)]]).";
        return std::nullopt;
      }
      r.uidvalidity = static_cast<std::uint32_t>(q[0].number);
      std::size_t k = 2;
      if (k < q.size() && !q[k].is_list()) {
        auto set = q[k].is_atom_like() ? SequenceSet::parse(q[k].text) : std::nullopt;
        if (!set || set->is_saved()) {
          error = "Invalid known-uids in QRESYNC.";
          return std::nullopt;
        }
        r.known_uids = std::move(*set);
        ++k;
      }
      if (k < q.size()) {
        // (known-sequence-set known-uid-set): checked, then not needed: the
        // server answers from its own expunge memory.
        const Value& m = q[k];
        if (!m.is_list() || m.items.size() != 2 || !m.items[0].is_atom_like() || !m.items[1].is_atom_like() ||
            !SequenceSet::parse(m.items[0].text) || !SequenceSet::parse(m.items[1].text) || k + 1 != q.size()) {
          error = "Invalid sequence match data in QRESYNC.";
          return std::nullopt;
        }
      }
      p.qresync = std::move(r);
    } else {
      error = "Unknown SELECT parameter.";
      return std::nullopt;
    }
  }
  return p;
}

std::optional<FetchModifiers> parse_fetch_modifiers(const Value& list, std::string& error) {
  FetchModifiers m;
  if (!list.is_list() || list.items.empty()) {
    error = "FETCH modifiers must be a non-empty list.";
    return std::nullopt;
  }
  const auto& it = list.items;
  for (std::size_t i = 0; i < it.size(); ++i) {
    if (it[i].is_word("CHANGEDSINCE") && i + 1 < it.size() && !m.changedsince) {
      std::uint64_t v = 0;
      if (!modseq_value(it[++i], v, true)) {
        error = "Invalid mod-sequence for CHANGEDSINCE.";
        return std::nullopt;
      }
      m.changedsince = v;
    } else if (it[i].is_word("VANISHED") && !m.vanished) {
      m.vanished = true;
    } else {
      error = "Unknown FETCH modifier.";
      return std::nullopt;
    }
  }
  if (m.vanished && !m.changedsince) {
    error = "VANISHED needs CHANGEDSINCE.";
    return std::nullopt;
  }
  return m;
}

std::optional<std::uint64_t> parse_store_modifiers(const Value& list, std::string& error) {
  std::uint64_t v = 0;
  if (!list.is_list() || list.items.size() != 2 || !list.items[0].is_word("UNCHANGEDSINCE") ||
      !modseq_value(list.items[1], v, true)) {
    error = "Syntax: STORE set (UNCHANGEDSINCE modseq) item flags.";
    return std::nullopt;
  }
  return v;
}

}  // namespace imapd
