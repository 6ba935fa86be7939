// imapd/cmd_search.cpp: SEARCH and UID SEARCH (RFC 3501 6.4.4, 6.4.8) with
// ESEARCH results when RETURN is given (RFC 4731). The criteria are parsed
// and evaluated by imapd/search.hpp; here each message is offered lazily, so
// flag and UID searches never open a file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "imapd/fetch.hpp"
#include "imapd/search.hpp"
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
    const std::string& fl = m().maildir_flags;
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
    for (const auto& x : m().keywords)
      if (x.size() == k.size() &&
          std::equal(x.begin(), x.end(), k.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          }))
        return true;
    return false;
  }
  std::time_t internal_date() const override {
    (void)mb_.stat_message(index_);
    return m().internal_date;
  }
  std::uint64_t size() override {
    if (m().crlf_size) return *m().crlf_size;
    MessageText* t = message();
    return t ? t->size() : 0;
  }
  MessageText* message() override {
    if (text_) return &*text_;
    if (tried_) return nullptr;
    tried_ = true;
    auto fd = mb_.open_message(index_);
    if (!fd || !*fd) return nullptr;
    struct stat st {};
    if (::fstat((*fd)->get(), &st) != 0 || st.st_size > (static_cast<off_t>(1) << 31)) return nullptr;
    file_.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < file_.size()) {
      ssize_t n = ::pread((*fd)->get(), file_.data() + got, file_.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    file_.resize(got);
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
};

}  // namespace

Completion Session::cmd_search(const ParsedCommand& c) {
  if (c.args.empty()) return {"BAD", "Syntax: SEARCH criteria."};
  auto parsed = parse_search(c.args, true, false);
  if (!parsed.program) {
    if (parsed.bad_charset) return {"NO", "[BADCHARSET (UTF-8 US-ASCII)] " + parsed.error};
    return {"BAD", parsed.error};
  }
  Mailbox& mb = *mailbox_;
  SearchContext ctx;
  ctx.message_count = static_cast<std::uint32_t>(mb.count());
  ctx.max_uid = mb.count() ? mb.messages().back().uid : 0;
  std::vector<std::uint32_t> hits;
  for (std::size_t i = 0; i < mb.count(); ++i) {
    if (mb.messages()[i].vanished) continue;
    LazyMessage msg(mb, i);
    if (search_matches(*parsed.program, msg, ctx)) hits.push_back(c.uid ? mb.messages()[i].uid : static_cast<std::uint32_t>(i + 1));
  }
  if (parsed.program->returns) {
    const SearchReturn& r = *parsed.program->returns;
    std::string out = "* ESEARCH (TAG \"" + c.tag + "\")";
    if (c.uid) out += " UID";
    bool all = r.all || r.none();
    if (!hits.empty()) {
      if (r.min) out += " MIN " + std::to_string(hits.front());
      if (r.max) out += " MAX " + std::to_string(hits.back());
      if (all) out += " ALL " + format_numbers(hits);
    }
    if (r.count) out += " COUNT " + std::to_string(hits.size());
    emit(out + "\r\n");
  } else {
    std::string out = "* SEARCH";
    for (auto h : hits) out += " " + std::to_string(h);
    emit(out + "\r\n");
  }
  return {"OK", reply::completed("SEARCH")};
}

}  // namespace imapd
