// tests/fuzz/fuzz_imap_fetch.cpp: libFuzzer target for FETCH rendering and
// SEARCH evaluation (imapd/fetch, imapd/search) on hostile messages. The
// input is a message file (LF or CRLF); every data item and a spread of
// sections are rendered, and the response is checked against the IMAP
// grammar's framing: balanced parentheses outside strings, literals whose
// announced size matches, quoted strings closed. Text search keys run on it.
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I.
//          tests/fuzz/fuzz_imap_fetch.cpp imapd/fetch.cpp imapd/search.cpp imapd/lexer.cpp
//          imapd/imap_string.cpp imapd/sequence_set.cpp lib/mime.cpp lib/rfc5322.cpp
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/fetch.hpp"
#include "imapd/lexer.hpp"
#include "imapd/search.hpp"
#include "tests/fuzz/invariant_check.hpp"

namespace {

// Walks a rendered FETCH response: parentheses balance outside quoted
// strings and literals, literals have their announced size.
void check_framing(std::string_view out) {
  CHECK(!out.empty() && out.front() == '(' && out.back() == ')');
  long depth = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (c == '"') {
      ++i;
      while (i < out.size() && out[i] != '"') {
        CHECK(out[i] != '\r' && out[i] != '\n' && out[i] != '\0');
        if (out[i] == '\\') ++i;
        ++i;
      }
      CHECK(i < out.size());
      continue;
    }
    if (c == '{' || (c == '~' && i + 1 < out.size() && out[i + 1] == '{')) {
      if (c == '~') ++i;
      const std::size_t close = out.find('}', i);
      CHECK(close != std::string_view::npos);
      std::size_t n = 0;
      for (std::size_t k = i + 1; k < close; ++k) {
        CHECK(out[k] >= '0' && out[k] <= '9');
        n = n * 10 + static_cast<std::size_t>(out[k] - '0');
      }
      CHECK(out.substr(close + 1, 2) == "\r\n");
      CHECK(close + 3 + n <= out.size());
      i = close + 2 + n;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')') --depth;
    CHECK(depth >= 0);
    CHECK(c != '\r' && c != '\n');
  }
  CHECK(depth == 0);
}

class Message : public imapd::SearchMessage {
 public:
  explicit Message(imapd::MessageText& text) : text_(text) {}
  std::uint32_t seq() const override { return 1; }
  std::uint32_t uid() const override { return 1; }
  bool has_flag(imapd::SystemFlag) const override { return false; }
  bool has_keyword(std::string_view) const override { return false; }
  std::time_t internal_date() const override { return 0; }
  std::uint64_t size() override { return text_.size(); }
  imapd::MessageText* message() override { return &text_; }

 private:
  imapd::MessageText& text_;
};

const std::vector<imapd::FetchRequest>& requests() {
  static const std::vector<imapd::FetchRequest> all = [] {
    std::vector<imapd::FetchRequest> v;
    const char* atts[] = {
        "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE)",
        "(BODY[] BODY[HEADER] BODY[TEXT] RFC822.HEADER RFC822.TEXT)",
        "(BODY[1] BODY[1.MIME] BODY[2] BODY[2.HEADER] BODY[2.TEXT] BODY[1.1] BODY[2.1.2] BODY[3.MIME])",
        "(BODY[HEADER.FIELDS (From To Subject)] BODY[HEADER.FIELDS.NOT (Received)] "
        "BODY[2.HEADER.FIELDS (Subject)] BODY[1.2.HEADER.FIELDS.NOT (X)])",
        "(BODY[]<3.10> BODY[1]<0.1> BODY[TEXT]<1000000.5>)",
        "(BINARY[1] BINARY[2] BINARY.SIZE[1] BINARY.SIZE[1.1] BINARY[1]<1.3>)",
    };
    for (const char* a : atts) {
      const std::string line = std::string("a FETCH 1 ") + a;
      const auto cmd = imapd::parse_command(line);
      CHECK(cmd.ok());
      std::string error;
      auto req = imapd::parse_fetch_attributes(cmd.args[1], false, error);
      CHECK(req);
      v.push_back(std::move(*req));
    }
    return v;
  }();
  return all;
}

const std::vector<imapd::SearchProgram>& searches() {
  static const std::vector<imapd::SearchProgram> all = [] {
    std::vector<imapd::SearchProgram> v;
    for (const char* c : {"TEXT a", "BODY \"\xc3\xa9t\xc3\xa9\"", "OR FROM x SUBJECT y", "HEADER Received \"\"",
                          "SENTSINCE 1-Jan-2000 LARGER 10", "NOT CC a@b"}) {
      const std::string line = std::string("a SEARCH ") + c;
      const auto cmd = imapd::parse_command(line);
      CHECK(cmd.ok());
      auto r = imapd::parse_search(cmd.args);
      CHECK(r.program);
      v.push_back(std::move(*r.program));
    }
    return v;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  imapd::MessageText text(raw);
  CHECK(text.size() == imapd::crlf_size(raw));
  {
    // Header first (partial conversion), then the whole text: the same as
    // converting everything at once.
    imapd::MessageText header_first(raw);
    const auto& h = header_first.header();
    const std::size_t body_start = h.body_start;
    const std::size_t fields = h.fields.size();
    const std::string header_bytes(header_first.header_text());
    CHECK(header_bytes.size() == body_start);
    CHECK(header_first.text() == imapd::to_crlf(raw));
    CHECK(header_first.text().size() == text.size());
    CHECK(body_start <= text.size());
    imapd::MessageText whole_first(raw);
    (void)whole_first.text();
    CHECK(whole_first.header().body_start == body_start);
    CHECK(whole_first.header().fields.size() == fields);
    CHECK(whole_first.mime().root.header.body_start == body_start);
    CHECK(whole_first.header_text() == header_bytes);
    CHECK(header_first.text().substr(0, body_start) == header_bytes);
  }
  imapd::FetchMessageInfo info;
  info.uid = 1;
  info.flags = "\\Seen";
  info.zone_offset_minutes = 0;
  for (bool utf8 : {false, true}) {
    imapd::StringStyle style;
    style.utf8 = utf8;
    for (const auto& req : requests()) {
      std::string out;
      const auto status = imapd::render_fetch(req, info, &text, out, style);
      if (status == imapd::FetchStatus::ok) {
        check_framing(out);
      } else {
        CHECK(status == imapd::FetchStatus::unknown_cte);
        CHECK(out.empty());
      }
    }
  }
  Message m(text);
  imapd::SearchContext ctx;
  ctx.message_count = 1;
  ctx.max_uid = 1;
  ctx.zone_offset_minutes = 0;
  for (const auto& p : searches()) (void)imapd::search_matches(p, m, ctx);
  return 0;
}
