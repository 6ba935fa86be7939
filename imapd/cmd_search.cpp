// imapd/cmd_search.cpp: SEARCH and UID SEARCH (RFC 3501 6.4.4, 6.4.8) with
// ESEARCH results when RETURN is given (RFC 4731); SORT and UID SORT (RFC
// 5256, 5957 DISPLAYFROM/DISPLAYTO) with ESORT's RETURN (RFC 5267); THREAD
// and UID THREAD (RFC 5256, ORDEREDSUBJECT and REFERENCES). The criteria are parsed
// and evaluated by imapd/search.hpp; here each message is offered lazily, so
// flag and UID searches never open a file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>

#include "imapd/fetch.hpp"
#include "imapd/objectid.hpp"
#include "imapd/search.hpp"
#include "imapd/sort.hpp"
#include "imapd/thread.hpp"
#include "imapd/sequence_set.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"

namespace imapd {
namespace {

class LazyMessage final : public SearchMessage {
 public:
  LazyMessage(Mailbox& mb, std::size_t index) : mb_(mb), index_(index) {}
  std::uint32_t seq() const override { return static_cast<std::uint32_t>(index_ + 1); }
  std::uint32_t uid() const override { return m().uid; }
  bool has_flag(SystemFlag f) const override {
    const std::string fl = m().maildir_flags();
    switch (f) {
      case SystemFlag::answered: return lib::maildir::has_flag(fl, 'R');
      case SystemFlag::deleted: return lib::maildir::has_flag(fl, 'T');
      case SystemFlag::draft: return lib::maildir::has_flag(fl, 'D');
      case SystemFlag::flagged: return lib::maildir::has_flag(fl, 'F');
      case SystemFlag::seen: return lib::maildir::has_flag(fl, 'S');
      case SystemFlag::recent: return m().recent;
    }
    return false;
  }
  bool has_keyword(std::string_view k) const override {
    for (const auto& x : m().keywords())
      if (x.size() == k.size() &&
          std::equal(x.begin(), x.end(), k.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          }))
        return true;
    return false;
  }
  std::uint64_t modseq() const override { return m().modseq; }
  std::string email_id() const override { return imapd::email_id(m().base()); }
  std::optional<std::time_t> save_date() const override { return imapd::save_date(m().base()); }
  std::time_t internal_date() const override {
    (void)mb_.stat_message(index_);
    return m().internal_date;
  }
  std::uint64_t size() override {
    if (m().crlf_size) return *m().crlf_size;
    if (const CacheEntry* e = mb_.cached(index_)) return e->crlf_size;
    MessageText* t = message();
    return t ? t->size() : 0;
  }
  // From the per-mailbox cache (imapd/mailbox_cache.hpp) when it holds the
  // header: SORT, THREAD and header searches then open no message file.
  const lib::rfc5322::Header* header() override {
    if (header_text_) return &header_text_->header();
    if (text_) return &text_->header();
    const CacheEntry* e = mb_.cached(index_);
    if (e && e->has_header) {
      header_text_.emplace(e->header);
      return &header_text_->header();
    }
    MessageText* t = message();
    return t ? &t->header() : nullptr;
  }
  MessageText* message() override {
    if (text_) return &*text_;
    if (tried_) return nullptr;
    tried_ = true;
    auto fd = mb_.open_message(index_);
    if (!fd || !*fd) return nullptr;
    auto data = read_message_file((*fd)->get(), mb_.path_of(m()));
    if (!data) return nullptr;
    file_ = std::move(*data);
    text_.emplace(file_);
    mb_.messages()[index_].crlf_size = text_->size();
    return &*text_;
  }

 private:
  const MessageState& m() const { return mb_.messages()[index_]; }
  Mailbox& mb_;
  std::size_t index_;
  bool tried_ = false;
  std::string file_;
  std::optional<MessageText> text_;
  std::optional<MessageText> header_text_;  // over the cached header block
};

}  // namespace

namespace {

// Untagged ESEARCH (RFC 4731 3.1, RFC 5267 3.2): `hits` in result order;
// MIN and MAX are the first and last of that order.
// With `modseqs` (one per hit; RFC 7162 3.1.5, SEARCH MODSEQ) the highest
// of the messages returned is added: of all hits for ALL, COUNT and PARTIAL,
// else of the MIN and MAX messages. PARTIAL lo:hi (RFC 5267 4.4) gives the
// hits at those positions of the result order.
std::string esearch_response(const std::string& tag, bool uid, const SearchReturn& r,
                             const std::vector<std::uint32_t>& hits, bool sorted,
                             const std::vector<std::uint64_t>* modseqs = nullptr) {
  std::string out = "* ESEARCH (TAG \"" + tag + "\")";
  if (uid) out += " UID";
  bool all = r.all || r.none();
  std::uint64_t highest = 0;
  if (!hits.empty()) {
    std::size_t lo_i = 0, hi_i = hits.size() - 1;
    if (!sorted) {
      lo_i = static_cast<std::size_t>(std::min_element(hits.begin(), hits.end()) - hits.begin());
      hi_i = static_cast<std::size_t>(std::max_element(hits.begin(), hits.end()) - hits.begin());
    }
    if (r.min) out += " MIN " + std::to_string(hits[lo_i]);
    if (r.max) out += " MAX " + std::to_string(hits[hi_i]);
    if (all) out += " ALL " + format_numbers(hits);
    if (modseqs) {
      if (all || r.count || r.partial) {
        highest = *std::max_element(modseqs->begin(), modseqs->end());
      } else {
        if (r.min) highest = std::max(highest, (*modseqs)[lo_i]);
        if (r.max) highest = std::max(highest, (*modseqs)[hi_i]);
      }
    }
  }
  if (r.count) out += " COUNT " + std::to_string(hits.size());
  if (r.partial) {
    auto [lo, hi] = *r.partial;
    out += " PARTIAL (" + std::to_string(lo) + ":" + std::to_string(hi) + " ";
    if (lo > hits.size()) {
      out += "NIL";
    } else {
      std::size_t end = std::min<std::size_t>(hi, hits.size());
      out += format_numbers(std::span<const std::uint32_t>(hits.data() + (lo - 1), end - (lo - 1)));
    }
    out += ")";
  }
  if (highest != 0) out += " MODSEQ " + std::to_string(highest);
  return out + "\r\n";
}

std::vector<std::uint64_t> modseqs_of(const Mailbox& mb, const std::vector<std::size_t>& indexes) {
  std::vector<std::uint64_t> out;
  out.reserve(indexes.size());
  for (std::size_t i : indexes) out.push_back(mb.messages()[i].modseq);
  return out;
}

}  // namespace

std::vector<std::size_t> Session::search_matches_in_selected(const SearchProgram& program) {
  Mailbox& mb = *mailbox_;
  SearchContext ctx;
  ctx.saved_uids = &saved_search_;  // "$" (IMAP4rev2 sessions only: parse_search allows it there)
  ctx.message_count = static_cast<std::uint32_t>(mb.count());
  ctx.max_uid = mb.count() ? mb.messages().back().uid : 0;
  std::vector<std::size_t> hits;
  for (std::size_t i = 0; i < mb.count(); ++i) {
    if (mb.messages()[i].vanished) continue;
    LazyMessage msg(mb, i);
    if (search_matches(program, msg, ctx)) hits.push_back(i);
  }
  return hits;
}

namespace {
// Whether SEARCH's arguments name a charset: [RETURN (opts)] CHARSET name.
bool search_names_charset(const std::vector<Value>& args) {
  std::size_t pos = 0;
  if (pos + 1 < args.size() && args[pos].is_word("RETURN") && args[pos + 1].is_list()) pos += 2;
  return pos < args.size() && args[pos].is_word("CHARSET");
}
}  // namespace

Completion Session::cmd_search(const ParsedCommand& c) {
  if (c.args.empty()) return {"BAD", "Syntax: SEARCH criteria."};
  if (utf8_enabled_ && search_names_charset(c.args))
    return {"BAD", "SEARCH CHARSET is not allowed after ENABLE UTF8=ACCEPT (RFC 6855 3)."};
  // IMAP4rev2 includes SEARCHRES (RFC 5182): "$" and RETURN (SAVE); a
  // failed SEARCH ... RETURN (SAVE) leaves "$" empty (2.1).
  auto parsed = parse_search(c.args, true, rev2_);
  const bool failed = !parsed.program || (rev2_ && search_uses_recent(parsed.program->root));
  if (failed && rev2_ && search_saves(c.args)) saved_search_.clear();
  if (!parsed.program) {
    if (parsed.bad_charset) return {"NO", "[BADCHARSET (UTF-8 US-ASCII)] " + parsed.error};
    return {"BAD", parsed.error};
  }
  if (failed) return {"BAD", "RECENT, NEW and OLD are not part of IMAP4rev2 (RFC 9051 has no \\Recent)."};
  Mailbox& mb = *mailbox_;
  const SearchProgram& program = *parsed.program;
  if (program.uses_modseq) condstore_used();
  std::vector<std::uint32_t> hits, uids;
  const auto matches = search_matches_in_selected(program);
  for (std::size_t i : matches) {
    hits.push_back(c.uid ? mb.messages()[i].uid : static_cast<std::uint32_t>(i + 1));
    uids.push_back(mb.messages()[i].uid);
  }
  const auto modseqs = modseqs_of(mb, matches);
  if (program.returns && program.returns->save) save_search_result(*program.returns, uids);
  if (program.returns || rev2_) {
    // IMAP4rev2 answers every SEARCH with ESEARCH; no RETURN means RETURN
    // (ALL) (RFC 9051 6.4.4). RETURN (SAVE) alone sends none (RFC 5182 2.4).
    SearchReturn all;
    all.all = true;
    const SearchReturn& r = program.returns ? *program.returns : all;
    SearchReturn shown = r;
    shown.save = false;
    if (!shown.none() || !r.save)
      emit(esearch_response(c.tag, c.uid, shown, hits, false, program.uses_modseq ? &modseqs : nullptr));
    if (r.update) remember_search_update(c.tag, c.uid, nullptr, program, uids);
  } else {
    std::string out = "* SEARCH";
    for (auto h : hits) out += " " + std::to_string(h);
    if (program.uses_modseq && !modseqs.empty())
      out += " (MODSEQ " + std::to_string(*std::max_element(modseqs.begin(), modseqs.end())) + ")";
    emit(out + "\r\n");
  }
  mb.flush_cache();
  return {"OK", reply::completed("SEARCH")};
}

Completion Session::cmd_sort(const ParsedCommand& c) {
  auto parsed = parse_sort(c.args, true);
  if (!parsed.program) {
    if (parsed.bad_charset) return {"NO", "[BADCHARSET (UTF-8 US-ASCII)] " + parsed.error};
    return {"BAD", parsed.error};
  }
  const SortProgram& program = *parsed.program;
  Mailbox& mb = *mailbox_;
  if (program.search.uses_modseq) condstore_used();
  const auto sorted = sort_matches_in_selected(program);
  std::vector<std::uint32_t> hits, uids;
  hits.reserve(sorted.size());
  for (std::size_t i : sorted) {
    hits.push_back(c.uid ? mb.messages()[i].uid : static_cast<std::uint32_t>(i + 1));
    uids.push_back(mb.messages()[i].uid);
  }
  const auto modseqs = modseqs_of(mb, sorted);
  const bool with_modseq = program.search.uses_modseq;
  if (program.search.returns) {
    emit(esearch_response(c.tag, c.uid, *program.search.returns, hits, true, with_modseq ? &modseqs : nullptr));
    if (program.search.returns->update) remember_search_update(c.tag, c.uid, &program, program.search, uids);
  } else {
    std::string out = "* SORT";
    out.reserve(out.size() + 11 * hits.size() + 40);
    for (auto h : hits) {
      char n[11];
      n[0] = ' ';
      out.append(n, static_cast<std::size_t>(std::to_chars(n + 1, n + sizeof n, h).ptr - n));
    }
    if (with_modseq && !modseqs.empty())
      out += " (MODSEQ " + std::to_string(*std::max_element(modseqs.begin(), modseqs.end())) + ")";
    emit(out + "\r\n");
  }
  mb.flush_cache();
  return {"OK", reply::completed("SORT")};
}

std::vector<std::size_t> Session::sort_matches_in_selected(const SortProgram& program) {
  Mailbox& mb = *mailbox_;
  std::vector<SortFacts> facts;
  const bool sorts_by_arrival = std::any_of(program.criteria.begin(), program.criteria.end(),
                                            [](const auto& c) { return c.key == SortKey::arrival; });
  const auto matches = search_matches_in_selected(program.search);
  // String keys only (SUBJECT, FROM, ...): the ranks the cache file keeps
  // for them, read without its keys, when every match has its record.
  std::vector<CacheRankKey> rank_keys;
  for (const SortCriterion& c : program.criteria) {
    switch (c.key) {
      case SortKey::subject: rank_keys.push_back(CacheRankKey::subject); break;
      case SortKey::from: rank_keys.push_back(CacheRankKey::from); break;
      case SortKey::to: rank_keys.push_back(CacheRankKey::to); break;
      case SortKey::cc: rank_keys.push_back(CacheRankKey::cc); break;
      case SortKey::display_from: rank_keys.push_back(CacheRankKey::display_from); break;
      case SortKey::display_to: rank_keys.push_back(CacheRankKey::display_to); break;
      case SortKey::arrival:
      case SortKey::date:
      case SortKey::size: break;
    }
  }
  if (!matches.empty() && rank_keys.size() == program.criteria.size()) {
    std::vector<std::uint32_t> ranks;
    if (auto bound = mb.cached_ranks(matches, rank_keys, ranks)) {
      std::vector<std::size_t> out;
      out.reserve(matches.size());
      for (std::uint32_t p : sort_order_by_ranks(ranks, matches.size(), *bound, program.criteria))
        out.push_back(matches[p]);
      return out;
    }
  }
  facts.reserve(matches.size());
  for (std::size_t i : matches) {
    SortFacts f;
    f.seq = static_cast<std::uint32_t>(i + 1);
    // The cache's keys, worked out when the entry was made: no header parsed.
    const CacheKeys* cached = program.needs_header ? mb.cached_keys(i) : nullptr;
    LazyMessage msg(mb, i);
    // INTERNALDATE (a stat) only for ARRIVAL, or DATE without a Date: line.
    if (sorts_by_arrival || !cached || !cached->has_date) f.arrival = msg.internal_date();
    if (program.needs_size) f.size = msg.size();
    if (cached) {
      const CacheKeys& h = *cached;
      f.date = h.has_date ? static_cast<std::time_t>(h.date) : f.arrival;
      f.from = h.from;
      f.to = h.to;
      f.cc = h.cc;
      f.display_from = h.display_from;
      f.display_to = h.display_to;
      f.subject = h.subject;
    } else if (program.needs_header) {
      if (const lib::rfc5322::Header* h = msg.header()) fill_sort_facts(f, *h);
    }
    facts.push_back(std::move(f));
  }
  std::vector<std::size_t> out;
  out.reserve(facts.size());
  for (std::uint32_t i : sort_order(facts, program.criteria)) out.push_back(facts[i].seq - 1);
  return out;
}

Completion Session::cmd_thread(const ParsedCommand& c) {
  auto parsed = parse_thread(c.args);
  if (!parsed.program) {
    if (parsed.bad_charset) return {"NO", "[BADCHARSET (UTF-8 US-ASCII)] " + parsed.error};
    return {"BAD", parsed.error};
  }
  Mailbox& mb = *mailbox_;
  std::vector<ThreadMessage> messages;
  const auto matches = search_matches_in_selected(parsed.program->search);
  messages.reserve(matches.size());
  for (std::size_t i : matches) {
    ThreadMessage m;
    m.seq = static_cast<std::uint32_t>(i + 1);
    m.number = c.uid ? mb.messages()[i].uid : m.seq;
    const CacheKeys* cached = mb.cached_keys(i);
    LazyMessage msg(mb, i);
    if (!cached || !cached->has_date) m.date = msg.internal_date();  // else the Date: line's
    if (cached) {
      const CacheKeys& h = *cached;
      if (h.has_date) m.date = static_cast<std::time_t>(h.date);
      m.message_id = h.message_id;
      h.for_each_reference([&](std::string_view r) { m.references.push_back(r); });
      m.subject = h.subject;
      m.reply = h.reply;
    } else if (const lib::rfc5322::Header* h = msg.header()) {
      fill_thread_message(m, *h);
    }
    messages.push_back(std::move(m));
  }
  std::string threads = parsed.program->algorithm == ThreadAlgorithm::orderedsubject
                            ? thread_orderedsubject(std::move(messages))
                            : thread_references(std::move(messages));
  emit("* THREAD" + (threads.empty() ? "" : " " + threads) + "\r\n");
  mb.flush_cache();
  return {"OK", reply::completed("THREAD")};
}

}  // namespace imapd
