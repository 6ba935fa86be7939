// imapd/cmd_fetch.cpp: FETCH and UID FETCH (RFC 3501 6.4.5, 6.4.8). The data
// items are rendered by imapd/fetch.hpp; here the session finds the messages,
// reads their files only when an item needs the content, sets \Seen for
// non-PEEK body fetches, and copes with files that another session expunged
// meanwhile (render_gone() below: answered from what is still known, else
// left out; the command ends OK [EXPUNGEISSUED]).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <optional>
#include <string>

#include "imapd/body_stream.hpp"
#include "imapd/fetch.hpp"
#include "imapd/objectid.hpp"
#include "imapd/replies.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"

namespace imapd {
namespace {

// Items answered from the session's tables and the file's name, without
// reading the message.
bool answered_without_the_file(FetchAttr a) {
  switch (a) {
    case FetchAttr::uid:
    case FetchAttr::flags:
    case FetchAttr::internaldate:
    case FetchAttr::modseq:
    case FetchAttr::emailid:
    case FetchAttr::threadid:
    case FetchAttr::savedate:
      return true;
    default:
      return false;
  }
}

// Whether the per-mailbox cache (imapd/mailbox_cache.hpp) answers every item
// of the request: those above, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE,
// and the top-level header (BODY[HEADER], BODY[HEADER.FIELDS (.NOT)],
// RFC822.HEADER), which sets needs_header. wants_parsed: an item the file
// would have to be parsed for (otherwise only a missing RFC822.SIZE makes
// the cache worth asking).
bool cache_answers(const FetchRequest& r, bool& needs_header, bool& wants_parsed) {
  needs_header = wants_parsed = false;
  for (const auto& it : r.items) {
    switch (it.attr) {
      case FetchAttr::rfc822_size:
        break;
      case FetchAttr::envelope:
      case FetchAttr::body:
      case FetchAttr::bodystructure:
        wants_parsed = true;
        break;
      case FetchAttr::rfc822_header:
        needs_header = wants_parsed = true;
        break;
      case FetchAttr::body_section:
        if (!it.section.part.empty() || (it.section.text != SectionSpec::Text::header &&
                                         it.section.text != SectionSpec::Text::header_fields &&
                                         it.section.text != SectionSpec::Text::header_fields_not))
          return false;
        needs_header = wants_parsed = true;
        break;
      default:
        if (!answered_without_the_file(it.attr)) return false;
    }
  }
  return true;
}

// When the only content wanted is BODY[]<origin.count> (with UID, FLAGS,
// INTERNALDATE), the bytes needed are the first origin + count of the CRLF
// form, and those come from at most that many bytes of the file (LF -> CRLF
// only adds): only that prefix is read (pread), not the whole message.
std::optional<std::size_t> prefix_needed(const FetchRequest& r) {
  if (r.needs_size) return std::nullopt;
  std::size_t need = 0;
  for (const auto& it : r.items) {
    if (answered_without_the_file(it.attr)) continue;
    if (it.attr == FetchAttr::body_section && it.section.part.empty() &&
        it.section.text == SectionSpec::Text::none && it.partial && it.partial->count) {
      // +1: the CRLF form of a cut "\r" may differ from the whole file's.
      need = std::max<std::size_t>(need, std::size_t{it.partial->origin} + *it.partial->count + 1);
      continue;
    }
    return std::nullopt;
  }
  if (need == 0) return std::nullopt;
  return need;
}

// A request FETCH can stream (body_stream.hpp): items that need nothing
// from the file, then, last, one whole-message BODY[]<partial> (PEEK or not)
// or RFC822. Returns that item, or null.
const FetchItem* streamable_body(const FetchRequest& r) {
  if (r.items.empty()) return nullptr;
  for (std::size_t i = 0; i + 1 < r.items.size(); ++i) {
    // RFC822.SIZE too: the stream measures the file as it reads it.
    const FetchAttr a = r.items[i].attr;
    if (!answered_without_the_file(a) && a != FetchAttr::rfc822_size) return nullptr;
  }
  const FetchItem& last = r.items.back();
  if (last.attr == FetchAttr::rfc822) return &last;
  if (last.attr == FetchAttr::body_section && last.section.part.empty() &&
      last.section.text == SectionSpec::Text::none)
    return &last;
  return nullptr;
}

// While a FETCH streams bodies: TCP_CORK on the client socket (full segments
// only; a no-op on pipes and socket pairs) and the writer collecting a chunk
// (256 KiB) per write instead of 16 KiB. On the way out, however the command
// ends: the writer's usual size back (which writes out what it holds), then
// the uncork, which pushes the last partial segment at once.
class StreamingOutput {
 public:
  explicit StreamingOutput(lib::io::Writer& out) : out_(out) {
    int one = 1;
    corked_ = ::setsockopt(out_.fd(), IPPROTO_TCP, TCP_CORK, &one, sizeof one) == 0;
    (void)out_.set_buffer_bytes(BodyStreamBuffers::chunk_bytes);
  }
  ~StreamingOutput() {
    (void)out_.set_buffer_bytes(lib::io::WriterOptions{}.buffer_bytes);
    int zero = 0;
    if (corked_) (void)::setsockopt(out_.fd(), IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);
  }
  StreamingOutput(const StreamingOutput&) = delete;
  StreamingOutput& operator=(const StreamingOutput&) = delete;

 private:
  lib::io::Writer& out_;
  bool corked_ = false;
};

std::string flags_text(const Mailbox& mb, const MessageState& m) {
  std::string l = mb.flag_list(m);
  return l.substr(1, l.size() - 2);
}

// A message whose file another session removed, its EXPUNGE not yet told to
// this session (it is told at the next command that may, RFC 3501 7.4.1).
// RFC 2180 4.1 lists what a server may do with a FETCH of it: 4.1.1 keep it
// available until the EXPUNGE is reported; 4.1.2 answer the other messages
// and end NO; 4.1.3 send "NIL" data for it and end OK; 4.1.4 refuse the
// EXPUNGE. imapd does 4.1.1 as far as it can without the file: what the
// session holds (UID, FLAGS, MODSEQ, INTERNALDATE and the size once known)
// and the per-mailbox cache (ENVELOPE, BODY, BODYSTRUCTURE, RFC822.SIZE,
// the top-level header: Mailbox::cached_gone) still answer. When an item
// needs the body, the message is left out and the command still ends OK,
// with [EXPUNGEISSUED] (RFC 5530) telling the client why, as Dovecot does.
// Not 4.1.2: a NO for a FETCH that returned all there was makes clients
// retry in a loop or report a failure (imaptest's stress mode counted ~900
// in 30 s). Not 4.1.3: a NIL or empty body cannot be told from a real empty
// message, and a client may cache it for good. Returns the FETCH line, or
// nullopt when the message must be left out. header_from_cache: the request
// is answered by the cache alone with its header block (cache_answers).
std::optional<std::string> render_gone(Mailbox& mb, std::size_t idx, const FetchRequest& req, bool header_from_cache) {
  const MessageState& m = mb.messages()[idx];
  const bool need_date = req.has(FetchAttr::internaldate) && m.internal_date == 0;
  const CacheEntry* e = req.needs_message || (req.needs_size && !m.crlf_size) || need_date ? mb.cached_gone(idx) : nullptr;
  if (need_date && !e) return std::nullopt;
  FetchMessageInfo info;
  info.uid = m.uid;
  const std::string flags = flags_text(mb, m);
  info.flags = flags;
  info.internal_date = m.internal_date;
  if (info.internal_date == 0 && e) info.internal_date = static_cast<std::time_t>(e->mtime_ns / 1000000000);
  info.modseq = m.modseq;
  if (m.crlf_size) info.size = *m.crlf_size;
  std::optional<MessageText> text;
  if (e) {
    if (!info.size) info.size = e->crlf_size;
    info.envelope = e->envelope;
    info.body = e->body;
    info.bodystructure = e->bodystructure;
    if (header_from_cache && e->has_header) text.emplace(e->header);
  }
  const std::string emailid = req.has(FetchAttr::emailid) ? email_id(m.base()) : std::string();
  info.email_id = emailid;
  info.save_date = save_date(m.base());
  std::string line = "* " + std::to_string(idx + 1) + " FETCH ";
  if (render_fetch(req, info, text ? &*text : nullptr, line) != FetchStatus::ok) return std::nullopt;
  line += "\r\n";
  return line;
}

}  // namespace

Completion Session::cmd_fetch(const ParsedCommand& c) {
  if (c.args.size() != 2 && c.args.size() != 3) return {"BAD", "Syntax: FETCH sequence-set items [(modifiers)]."};
  auto set = message_set(c.args[0], c.uid);
  if (!set) return {"BAD", std::string(reply::invalid_sequence_set)};
  std::string error;
  auto req = parse_fetch_attributes(c.args[1], c.uid, error);
  if (!req) return {"BAD", error};
  std::optional<FetchModifiers> mods;  // RFC 7162 CHANGEDSINCE, VANISHED
  if (c.args.size() == 3) {
    mods = parse_fetch_modifiers(c.args[2], error);
    if (!mods) return {"BAD", error};
    if (mods->vanished && (!c.uid || !qresync_enabled_)) return {"BAD", "VANISHED needs UID FETCH and ENABLE QRESYNC."};
    if (!req->has(FetchAttr::modseq)) req->items.push_back({FetchAttr::modseq, {}, false, std::nullopt});
  }
  if (req->has(FetchAttr::modseq)) condstore_used();
  Mailbox& mb = *mailbox_;
  // A FETCH that sets \Seen tells the new MODSEQ too (RFC 7162 3.2.4).
  if (condstore_enabled_ && req->sets_seen && !mb.read_only() && !req->has(FetchAttr::modseq))
    req->items.push_back({FetchAttr::modseq, {}, false, std::nullopt});
  if (mods && mods->vanished)
    if (auto s = SequenceSet::parse(c.args[0].text)) emit(vanished_earlier(&*s, *mods->changedsince));
  announce_keywords();
  bool set_seen = req->sets_seen && !mb.read_only() && selected_may('s');  // RFC 4314 4
  bool skipped = false;  // a message left out: its file is gone (render_gone)
  bool need_date = req->has(FetchAttr::internaldate);
  const std::optional<std::size_t> prefix = prefix_needed(*req);
  bool cache_header = false, cache_parsed = false;
  const bool cacheable = cache_answers(*req, cache_header, cache_parsed);
  std::string line;
  const FetchItem* stream_item = streamable_body(*req);
  std::optional<StreamingOutput> streaming;
  if (stream_item) streaming.emplace(out_);
  const bool header_from_cache = cacheable && cache_header;
  auto answer_gone = [&](std::size_t idx) {
    if (auto l = render_gone(mb, idx, *req, header_from_cache)) emit(*l);
    else skipped = true;
  };
  for (std::size_t idx : *set) {
    MessageState& m = mb.messages()[idx];
    if (mods && m.modseq <= *mods->changedsince) continue;
    if (m.vanished) {
      answer_gone(idx);
      continue;
    }
    if (stream_item) {
      std::optional<Completion> failed;
      bool gone = false;
      if (stream_one(idx, *req, *stream_item, set_seen, gone, failed)) {
        if (gone) answer_gone(idx);
        continue;
      }
      if (failed) return *failed;
    }
    std::string file;
    std::optional<MessageText> text;
    bool need_file = req->needs_message || (req->needs_size && !m.crlf_size);
    const CacheEntry* cached = nullptr;
    if (need_file && cacheable && (cache_parsed || !m.crlf_size)) {
      cached = mb.cached(idx);
      if (!cached && m.vanished) {
        answer_gone(idx);
        continue;
      }
      if (cached && cache_header && !cached->has_header) cached = nullptr;  // too large: from the file
      if (cached) {
        need_file = false;
        // The header block alone, for BODY[HEADER...]; the sizes come from info.
        if (cache_header) text.emplace(cached->header);
      }
    }
    if (need_file) {
      auto fd = mb.open_message(idx);
      if (!fd) {
        lib::log::error("user=%s: FETCH: %s", login_.c_str(), fd.error().message.c_str());
        return {"NO", std::string(reply::server_error)};
      }
      if (!*fd) {
        answer_gone(idx);
        continue;
      }
      auto data = read_message_file((*fd)->get(), mb.path_of(m), prefix);
      if (!data) {
        lib::log::error("user=%s: FETCH: %s", login_.c_str(), data.error().message.c_str());
        return {"NO", std::string(reply::server_error)};
      }
      file = std::move(*data);
      text.emplace(file);
      if (!prefix) m.crlf_size = text->size();  // a prefix's size is not the message's
    }
    if (need_date) {
      auto s = mb.stat_message(idx);
      if (!s) lib::log::error("user=%s: FETCH: %s", login_.c_str(), s.error().message.c_str());
    }
    FetchMessageInfo info;
    info.uid = m.uid;
    if (set_seen && !m.has_flag('S')) {
      auto r = mb.change_flags(idx, {Mailbox::FlagChange::Mode::add, "S", {}});
      if (!r) lib::log::error("user=%s: FETCH \\Seen: %s", login_.c_str(), r.error().message.c_str());
      info.add_flags = r.ok() && *r;
    }
    std::string flags = flags_text(mb, m);
    info.flags = flags;
    info.internal_date = m.internal_date;
    info.modseq = m.modseq;
    if (m.crlf_size) info.size = *m.crlf_size;
    if (cached) {
      info.size = cached->crlf_size;
      info.envelope = cached->envelope;
      info.body = cached->body;
      info.bodystructure = cached->bodystructure;
    }
    const std::string emailid = req->has(FetchAttr::emailid) ? email_id(m.base()) : std::string();
    info.email_id = emailid;  // OBJECTID (RFC 8474)
    info.save_date = save_date(m.base());  // SAVEDATE (RFC 8514)
    line.clear();
    line += "* " + std::to_string(idx + 1) + " FETCH ";
    FetchStatus st = render_fetch(*req, info, text ? &*text : nullptr, line);
    if (st == FetchStatus::unknown_cte) return {"NO", "[UNKNOWN-CTE] Cannot decode this part."};
    if (st != FetchStatus::ok) {
      skipped = true;
      continue;
    }
    line += "\r\n";
    emit(line);
  }
  body_buffers_.reset();  // an idle session keeps no chunk buffers
  mb.flush_cache();
  if (skipped) return {"OK", std::string(reply::expunge_issued)};
  return {"OK", reply::completed("FETCH")};
}

bool Session::stream_one(std::size_t idx, const FetchRequest& req, const FetchItem& body, bool set_seen,
                         bool& gone, std::optional<Completion>& failed) {
  Mailbox& mb = *mailbox_;
  MessageState& m = mb.messages()[idx];
  auto fd = mb.open_message(idx);
  if (!fd) {
    lib::log::error("user=%s: FETCH: %s", login_.c_str(), fd.error().message.c_str());
    failed = Completion{"NO", std::string(reply::server_error)};
    return false;
  }
  if (!*fd) {
    gone = true;
    return true;
  }
  const int file = (*fd)->get();
  const std::string path = mb.path_of(m);
  struct stat st {};
  if (::fstat(file, &st) != 0 || st.st_size < 0) {
    lib::log::error("user=%s: FETCH: cannot stat %s: %s", login_.c_str(), path.c_str(), lib::errno_text(errno).c_str());
    failed = Completion{"NO", std::string(reply::server_error)};
    return false;
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (!body_buffers_) body_buffers_ = std::make_shared<BodyStreamBuffers>();
  BodyStreamBuffers& bufs = *body_buffers_;
  bool whole = false;
  std::uint64_t crlf = 0;
  // A large file whose ",W=" (Courier's CRLF size) equals its size has no
  // bare LF: it is sent as it is (sendfile) without a counting pass. Small
  // files are counted anyway (that read is reused to send them), so a wrong
  // ",W=" changes nothing for them; for a large one the literal's length is
  // still the file's, and the connection stays in step.
  if (m.crlf_size && *m.crlf_size == file_size && file_size > BodyStreamBuffers::chunk_bytes) {
    crlf = file_size;
  } else {
    auto n = measure_crlf_size(file, path, file_size, bufs, whole);
    if (!n) {
      lib::log::error("user=%s: FETCH: %s", login_.c_str(), n.error().message.c_str());
      failed = Completion{"NO", std::string(reply::server_error)};
      return false;
    }
    crlf = *n;
    m.crlf_size = crlf;
  }
  if (req.has(FetchAttr::internaldate)) {
    auto s = mb.stat_message(idx);
    if (!s) lib::log::error("user=%s: FETCH: %s", login_.c_str(), s.error().message.c_str());
  }
  FetchMessageInfo info;
  info.uid = m.uid;
  bool add_flags = false;
  if (set_seen && !m.has_flag('S')) {
    auto r = mb.change_flags(idx, {Mailbox::FlagChange::Mode::add, "S", {}});
    if (!r) lib::log::error("user=%s: FETCH \\Seen: %s", login_.c_str(), r.error().message.c_str());
    add_flags = r.ok() && *r && !req.has(FetchAttr::flags);
  }
  std::string flags = flags_text(mb, m);
  info.flags = flags;
  info.internal_date = m.internal_date;
  info.modseq = m.modseq;
  info.size = crlf;
  const std::string emailid = req.has(FetchAttr::emailid) ? email_id(m.base()) : std::string();
  info.email_id = emailid;
  info.save_date = save_date(m.base());
  // The items before the body, rendered as render_fetch() would: "(UID 5 FLAGS (..))".
  FetchRequest head = req;
  head.items.pop_back();
  std::string line = "* " + std::to_string(idx + 1) + " FETCH ";
  if (render_fetch(head, info, nullptr, line) != FetchStatus::ok) {
    failed = Completion{"NO", std::string(reply::server_error)};
    return false;
  }
  line.pop_back();  // ")"
  if (line.back() != '(') line.push_back(' ');
  std::uint64_t origin = 0;
  std::uint64_t count = crlf;
  if (body.attr == FetchAttr::rfc822) {
    line += "RFC822 ";
  } else {
    line += "BODY[]";
    if (body.partial) {
      line += "<" + std::to_string(body.partial->origin) + ">";
      origin = std::min<std::uint64_t>(body.partial->origin, crlf);
      count = std::min<std::uint64_t>(crlf - origin, *body.partial->count);
    }
    line.push_back(' ');
  }
  line += "{" + std::to_string(count) + "}\r\n";
  emit(line);
  auto sent = stream_crlf_range(file, path, file_size, crlf, origin, count, whole, bufs, out_);
  if (!sent) {
    // The literal's size is promised: the connection cannot go on.
    lib::log::error("user=%s: FETCH: %s", login_.c_str(), sent.error().message.c_str());
    fatal_ = true;
    failed = Completion{"NO", std::string(reply::server_error)};
    return false;
  }
  emitted_bytes_ += count;
  line.clear();
  if (add_flags) line += " FLAGS (" + flags + ")";
  line += ")\r\n";
  emit(line);
  return true;
}

}  // namespace imapd
