// imapd/fetch.cpp: FETCH attribute parsing and rendering (RFC 3501 6.4.5,
// 7.4.2, 9; RFC 3516 BINARY; RFC 7162 MODSEQ). See fetch.hpp for the
// contracts and the CRLF rule: every size and offset is of the message in
// CRLF form, which MessageText provides.
#include "imapd/fetch.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <utility>

#include "lib/ascii.hpp"

namespace imapd {

namespace {

using lib::mime::Part;
using lib::rfc5322::Header;

using lib::ascii::to_upper;

constexpr auto iequal = lib::ascii::iequals;

std::string upper_copy(std::string_view s) { return lib::ascii::to_upper(s); }

// ---------------------------------------------------------------------------
// Attribute parsing
// ---------------------------------------------------------------------------

// nz-number of a section part (RFC 3501 9): no leading zero, 32 bits.
std::optional<std::uint32_t> parse_part_number(std::string_view s) {
  if (s.empty() || s.size() > 10 || s[0] < '1' || s[0] > '9') return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

// A header field name (RFC 5322 3.6.8 ftext: printable ASCII except ":").
bool valid_field_name(std::string_view s) {
  if (s.empty() || s.size() > 998) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

// Parses the contents of "[...]" into `spec`. `binary`: only part numbers
// are allowed (RFC 3516 section-binary).
bool parse_section(const Value& v, bool binary, SectionSpec& spec, std::string& error) {
  const auto& items = v.items;
  if (items.empty()) return true;  // BODY[]: the whole message
  if (!items[0].is_atom_like()) {
    error = "Invalid section";
    return false;
  }
  std::string_view text = items[0].text;
  // Leading part numbers, then an optional section-text.
  while (!text.empty() && text[0] >= '0' && text[0] <= '9') {
    const std::size_t dot = text.find('.');
    const auto number = parse_part_number(text.substr(0, dot));
    if (!number) {
      error = "Invalid section part number";
      return false;
    }
    spec.part.push_back(*number);
    if (spec.part.size() > 100) {
      error = "Section nested too deep";
      return false;
    }
    if (dot == std::string_view::npos) {
      text = {};
      break;
    }
    text.remove_prefix(dot + 1);
    if (text.empty()) {
      error = "Invalid section: trailing dot";
      return false;
    }
  }
  if (!text.empty()) {
    if (binary) {
      error = "BINARY takes part numbers only";
      return false;
    }
    if (iequal(text, "HEADER")) {
      spec.text = SectionSpec::Text::header;
    } else if (iequal(text, "HEADER.FIELDS")) {
      spec.text = SectionSpec::Text::header_fields;
    } else if (iequal(text, "HEADER.FIELDS.NOT")) {
      spec.text = SectionSpec::Text::header_fields_not;
    } else if (iequal(text, "TEXT")) {
      spec.text = SectionSpec::Text::text;
    } else if (iequal(text, "MIME")) {
      if (spec.part.empty()) {
        error = "MIME needs a part number";
        return false;
      }
      spec.text = SectionSpec::Text::mime;
    } else {
      error = "Invalid section text";
      return false;
    }
  }
  const bool fields = spec.text == SectionSpec::Text::header_fields ||
                      spec.text == SectionSpec::Text::header_fields_not;
  if (!fields) {
    if (items.size() != 1) {
      error = "Unexpected data in section";
      return false;
    }
    return true;
  }
  if (items.size() != 2 || !items[1].is_list() || items[1].items.empty()) {
    error = "HEADER.FIELDS needs a list of field names";
    return false;
  }
  for (const Value& f : items[1].items) {
    if (!f.is_astring() || f.kind == Value::Kind::section || !valid_field_name(f.str())) {
      error = "Invalid header field name";
      return false;
    }
    spec.fields.emplace_back(f.str());
  }
  return true;
}

bool parse_partial(const Value& v, FetchItem& item, std::string& error) {
  if (!v.partial) return true;
  if (!v.partial->count || *v.partial->count == 0) {
    error = "Partial needs <origin.count> with a count above 0";
    return false;
  }
  item.partial = v.partial;
  return true;
}

bool parse_one(const Value& v, std::vector<FetchItem>& items, std::string& error) {
  FetchItem item;
  if (v.kind == Value::Kind::section) {
    const std::string name = upper_copy(v.text);
    if (name == "BODY" || name == "BODY.PEEK") {
      item.attr = FetchAttr::body_section;
      item.peek = name == "BODY.PEEK";
      if (!parse_section(v, false, item.section, error) || !parse_partial(v, item, error)) {
        return false;
      }
    } else if (name == "BINARY" || name == "BINARY.PEEK") {
      item.attr = FetchAttr::binary;
      item.peek = name == "BINARY.PEEK";
      if (!parse_section(v, true, item.section, error) || !parse_partial(v, item, error)) {
        return false;
      }
    } else {  // BINARY.SIZE (the lexer makes sections of these five names only)
      item.attr = FetchAttr::binary_size;
      if (!parse_section(v, true, item.section, error)) return false;
      if (v.partial) {
        error = "BINARY.SIZE takes no partial";
        return false;
      }
    }
    items.push_back(std::move(item));
    return true;
  }
  if (v.kind != Value::Kind::atom) {
    error = "Invalid fetch attribute";
    return false;
  }
  static constexpr std::pair<std::string_view, FetchAttr> simple[] = {
      {"FLAGS", FetchAttr::flags},
      {"UID", FetchAttr::uid},
      {"INTERNALDATE", FetchAttr::internaldate},
      {"RFC822.SIZE", FetchAttr::rfc822_size},
      {"ENVELOPE", FetchAttr::envelope},
      {"BODY", FetchAttr::body},
      {"BODYSTRUCTURE", FetchAttr::bodystructure},
      {"RFC822", FetchAttr::rfc822},
      {"RFC822.HEADER", FetchAttr::rfc822_header},
      {"RFC822.TEXT", FetchAttr::rfc822_text},
      {"MODSEQ", FetchAttr::modseq},
      {"EMAILID", FetchAttr::emailid},
      {"THREADID", FetchAttr::threadid},
      {"SAVEDATE", FetchAttr::savedate},
  };
  for (const auto& [word, attr] : simple) {
    if (iequal(v.text, word)) {
      item.attr = attr;
      items.push_back(std::move(item));
      return true;
    }
  }
  error = "Unknown fetch attribute " + std::string(v.text.substr(0, 40));
  return false;
}

// ---------------------------------------------------------------------------
// ENVELOPE and BODYSTRUCTURE
// ---------------------------------------------------------------------------

void append_address_list(std::string& out, const Header& header, std::string_view name,
                         const StringStyle& style) {
  const auto* field = header.find(name);
  if (!field) {
    out += "NIL";
    return;
  }
  const auto list = lib::rfc5322::parse_address_list(field->value(), 1000);
  if (list.addresses.empty()) {
    out += "NIL";
    return;
  }
  // env-from etc. = "(" 1*address ")": addresses are not separated (RFC 3501 9).
  using Kind = lib::rfc5322::Address::Kind;
  out.push_back('(');
  for (const auto& a : list.addresses) {
    std::string& o = out;
    {
        switch (a.kind) {
          case Kind::group_start:
            o += "(NIL NIL ";
            append_string(o, a.name, style);
            o += " NIL)";
            break;
          case Kind::group_end:
            o += "(NIL NIL NIL NIL)";
            break;
          case Kind::mailbox:
            o.push_back('(');
            append_nstring_or_nil(o, a.name, style);
            o.push_back(' ');
            append_nstring_or_nil(o, a.route, style);
            o.push_back(' ');
            append_string(o, a.mailbox.empty() ? std::string_view("MISSING_MAILBOX") : a.mailbox, style);
            o.push_back(' ');
            append_string(o, a.host.empty() ? std::string_view("MISSING_DOMAIN") : a.host, style);
            o.push_back(')');
            break;
        }
    }
  }
  out.push_back(')');
}

bool has_addresses(const Header& header, std::string_view name) {
  const auto* field = header.find(name);
  return field && !lib::rfc5322::parse_address_list(field->value(), 1000).addresses.empty();
}

void append_header_nstring(std::string& out, const Header& header, std::string_view name,
                           const StringStyle& style) {
  const auto* field = header.find(name);
  if (!field) {
    out += "NIL";
    return;
  }
  append_nstring_or_nil(out, field->value(), style);
}

void append_params(std::string& out, const lib::mime::Params& params, const StringStyle& style) {
  append_list(
      out, params,
      [&](std::string& o, const lib::mime::Param& p) {
        if (p.extended()) {
          append_string(o, p.name + "*", style);
          o.push_back(' ');
          append_string(o, p.encoded, style);
        } else {
          append_string(o, p.name, style);
          o.push_back(' ');
          append_string(o, p.value, style);
        }
      },
      true);
}

void append_extension(std::string& out, const Part& part, const StringStyle& style) {
  // body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 3501 9).
  if (part.disposition.empty()) {
    out += "NIL";
  } else {
    out.push_back('(');
    append_string(out, part.disposition, style);
    out.push_back(' ');
    append_params(out, part.disposition_params, style);
    out.push_back(')');
  }
  out.push_back(' ');
  if (part.languages.empty()) {
    out += "NIL";
  } else if (part.languages.size() == 1) {
    append_string(out, part.languages[0], style);
  } else {
    append_list(out, part.languages,
                [&](std::string& o, const std::string& l) { append_string(o, l, style); });
  }
  out.push_back(' ');
  append_nstring_or_nil(out, part.location, style);
}

// Recursion is bounded by lib::mime's nesting limit (Limits::max_depth).
void append_part(std::string& out, const Part& part, std::string_view text, bool extended,
                 const StringStyle& style) {
  out.push_back('(');
  if (part.is_multipart() && !part.children.empty()) {
    for (const Part& child : part.children) append_part(out, child, text, extended, style);
    out.push_back(' ');
    append_string(out, part.subtype, style);
    if (extended) {
      out.push_back(' ');
      append_params(out, part.params, style);
      out.push_back(' ');
      append_extension(out, part, style);
    }
    out.push_back(')');
    return;
  }
  append_string(out, part.type, style);
  out.push_back(' ');
  append_string(out, part.subtype, style);
  out.push_back(' ');
  if (part.type == "text" && !part.param("charset")) {
    // RFC 2045 5.2: text without a charset is us-ascii; say so, as clients
    // pick the charset from here.
    lib::mime::Params params = part.params;
    params.insert(params.begin(), lib::mime::Param{"charset", "us-ascii", {}, {}, {}});
    append_params(out, params, style);
  } else {
    append_params(out, part.params, style);
  }
  out.push_back(' ');
  append_nstring_or_nil(out, part.id, style);
  out.push_back(' ');
  append_nstring_or_nil(out, part.description, style);
  out.push_back(' ');
  append_string(out, part.encoding_name.empty() ? std::string_view("7bit") : part.encoding_name, style);
  out.push_back(' ');
  out += std::to_string(part.body_bytes());
  const Part* message = part.type == "message" && part.subtype == "rfc822" ? part.message() : nullptr;
  if (message) {
    out.push_back(' ');
    append_envelope(out, message->header, style);
    out.push_back(' ');
    append_part(out, *message, text, extended, style);
    out.push_back(' ');
    out += std::to_string(part.body_lines);
  } else if (part.type == "text") {
    out.push_back(' ');
    out += std::to_string(part.body_lines);
  }
  if (extended) {
    out.push_back(' ');
    append_nstring_or_nil(out, part.md5, style);
    out.push_back(' ');
    append_extension(out, part, style);
  }
  out.push_back(')');
}

// ---------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------

std::string filter_fields(std::string_view text, const Header& header,
                          const std::vector<std::string>& names, bool exclude) {
  std::string out;
  for (const auto& field : header.fields) {
    bool listed = false;
    for (const auto& n : names) {
      if (field.is(n)) {
        listed = true;
        break;
      }
    }
    if (listed == exclude) continue;
    if (field.offset > text.size()) continue;
    const auto bytes = text.substr(field.offset, field.size);
    out.append(bytes.data(), bytes.size());
    if (bytes.empty() || bytes.back() != '\n') out += "\r\n";
  }
  // The blank line is always part of a header fetch (RFC 3501 6.4.5).
  out += "\r\n";
  return out;
}

std::string part_path(const std::vector<std::uint32_t>& part) {
  std::string s;
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (i) s.push_back('.');
    s += std::to_string(part[i]);
  }
  return s;
}

const Part* find_part(MessageText& message, const std::vector<std::uint32_t>& part) {
  return lib::mime::find_section(message.mime().root, part_path(part));
}

void append_partial_data(std::string& out, std::string_view data, const std::optional<Partial>& partial,
                         bool binary) {
  if (partial) {
    if (partial->origin >= data.size()) {
      data = {};
    } else {
      data = data.substr(partial->origin, *partial->count);
    }
  }
  append_literal(out, data, binary && data.find('\0') != std::string_view::npos);
}

void append_partial_origin(std::string& out, const std::optional<Partial>& partial) {
  if (partial) {
    out.push_back('<');
    out += std::to_string(partial->origin);
    out.push_back('>');
  }
}

// The decoded bytes for BINARY[part]; nullopt with unknown_cte set when the
// transfer encoding is unknown, nullopt alone when the part does not exist.
std::optional<std::string> binary_bytes(MessageText& message, const SectionSpec& section,
                                        bool& unknown_cte) {
  if (section.part.empty()) return std::string(message.text());
  const Part* part = find_part(message, section.part);
  if (!part) return std::nullopt;
  if (!part->children.empty()) return std::string(part->body(message.text()));
  if (part->encoding == lib::mime::TransferEncoding::unknown) {
    unknown_cte = true;
    return std::nullopt;
  }
  return lib::mime::decode_body(message.text(), *part).data;
}

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

// ---------------------------------------------------------------------------
// MessageText
// ---------------------------------------------------------------------------

std::size_t crlf_size(std::string_view raw) {
  std::size_t n = raw.size();
  for (std::size_t i = raw.find('\n'); i != std::string_view::npos; i = raw.find('\n', i + 1)) {
    if (i == 0 || raw[i - 1] != '\r') ++n;
  }
  return n;
}

std::string to_crlf(std::string_view raw) {
  std::string out;
  out.reserve(crlf_size(raw));
  std::size_t start = 0;
  for (std::size_t i = raw.find('\n'); i != std::string_view::npos; i = raw.find('\n', i + 1)) {
    if (i > 0 && raw[i - 1] == '\r') continue;
    out.append(raw.data() + start, i - start);
    out += "\r\n";
    start = i + 1;
  }
  out.append(raw.data() + start, raw.size() - start);
  return out;
}

MessageText::MessageText(std::string_view raw) : raw_(raw), size_(crlf_size(raw)) {
  in_place_ = size_ == raw.size();
  if (!in_place_) converted_.reserve(size_);
}

std::string_view MessageText::converted_prefix(std::size_t raw_end) const {
  if (in_place_) return raw_.substr(0, raw_end);
  raw_end = std::min(raw_end, raw_.size());
  if (raw_end > converted_raw_) {
    // Global indices, so a CR ending the previous chunk is still seen.
    std::size_t start = converted_raw_;
    for (std::size_t i = raw_.find('\n', start); i < raw_end; i = raw_.find('\n', i + 1)) {
      if (i > 0 && raw_[i - 1] == '\r') continue;
      converted_.append(raw_.data() + start, i - start);
      converted_ += "\r\n";
      start = i + 1;
    }
    converted_.append(raw_.data() + start, raw_end - start);
    converted_raw_ = raw_end;
    return converted_;
  }
  if (raw_end == converted_raw_) return converted_;
  return std::string_view(converted_).substr(0, crlf_size(raw_.substr(0, raw_end)));
}

std::string_view MessageText::text() const { return converted_prefix(raw_.size()); }

const lib::rfc5322::Header& MessageText::header() {
  if (mime_) return mime_->root.header;
  if (!header_) {
    // Convert up to and including the blank line that ends the header (or
    // everything when there is none); the parse sees the same bytes as in
    // the whole text, so its offsets are those of the whole text.
    std::size_t end = raw_.size();
    for (std::size_t pos = 0; pos < raw_.size();) {
      const std::size_t nl = raw_.find('\n', pos);
      if (nl == std::string_view::npos) break;
      if (nl == pos || (nl == pos + 1 && raw_[pos] == '\r')) {
        end = nl + 1;
        break;
      }
      pos = nl + 1;
    }
    header_buffer_ = converted_prefix(end);
    header_ = lib::rfc5322::parse_header(header_buffer_);
  }
  return *header_;
}

std::string_view MessageText::header_text() {
  const lib::rfc5322::Header& h = header();
  const std::string_view buffer = header_ ? header_buffer_ : text();
  return buffer.substr(0, std::min(h.body_start, buffer.size()));
}

const lib::mime::Message& MessageText::mime() {
  if (!mime_) {
    lib::mime::Limits limits;
    limits.check_encodings = false;  // FETCH and SEARCH need no diagnostics
    mime_ = lib::mime::parse(text(), limits);
  }
  return *mime_;
}

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

std::string SectionSpec::to_string() const {
  std::string s = part_path(part);
  const char* name = nullptr;
  switch (text) {
    case Text::none:
      break;
    case Text::header:
      name = "HEADER";
      break;
    case Text::header_fields:
      name = "HEADER.FIELDS";
      break;
    case Text::header_fields_not:
      name = "HEADER.FIELDS.NOT";
      break;
    case Text::text:
      name = "TEXT";
      break;
    case Text::mime:
      name = "MIME";
      break;
  }
  if (name) {
    if (!s.empty()) s.push_back('.');
    s += name;
  }
  if (text == Text::header_fields || text == Text::header_fields_not) {
    s += " ";
    append_list(s, fields, [](std::string& o, const std::string& f) { append_astring(o, f); });
  }
  return s;
}

bool FetchRequest::has(FetchAttr attr) const {
  return std::any_of(items.begin(), items.end(), [&](const FetchItem& i) { return i.attr == attr; });
}

std::optional<FetchRequest> parse_fetch_attributes(const Value& att, bool uid_command,
                                                   std::string& error, std::size_t max_items) {
  FetchRequest req;
  std::vector<FetchItem>& items = req.items;
  const auto add_simple = [&](std::initializer_list<FetchAttr> attrs) {
    for (FetchAttr a : attrs) {
      FetchItem i;
      i.attr = a;
      items.push_back(std::move(i));
    }
  };
  // RFC 3501 6.4.5 macros, only on their own.
  if (att.is_word("ALL")) {
    add_simple({FetchAttr::flags, FetchAttr::internaldate, FetchAttr::rfc822_size, FetchAttr::envelope});
  } else if (att.is_word("FAST")) {
    add_simple({FetchAttr::flags, FetchAttr::internaldate, FetchAttr::rfc822_size});
  } else if (att.is_word("FULL")) {
    add_simple({FetchAttr::flags, FetchAttr::internaldate, FetchAttr::rfc822_size, FetchAttr::envelope,
                FetchAttr::body});
  } else if (att.is_list()) {
    if (att.items.empty()) {
      error = "Empty fetch attribute list";
      return std::nullopt;
    }
    if (att.items.size() > max_items) {
      error = "Too many fetch attributes";
      return std::nullopt;
    }
    for (const Value& v : att.items) {
      if (!parse_one(v, items, error)) return std::nullopt;
    }
  } else if (!parse_one(att, items, error)) {
    return std::nullopt;
  }
  if (uid_command && !req.has(FetchAttr::uid)) {
    FetchItem i;
    i.attr = FetchAttr::uid;
    items.insert(items.begin(), std::move(i));
  }
  for (const FetchItem& i : items) {
    switch (i.attr) {
      case FetchAttr::emailid:
      case FetchAttr::threadid:
      case FetchAttr::savedate:
      case FetchAttr::flags:
      case FetchAttr::uid:
      case FetchAttr::internaldate:
      case FetchAttr::modseq:
        break;
      case FetchAttr::rfc822_size:
        req.needs_size = true;
        break;
      case FetchAttr::body_section:
      case FetchAttr::binary:
        req.needs_message = true;
        if (!i.peek) req.sets_seen = true;
        break;
      case FetchAttr::rfc822:
      case FetchAttr::rfc822_text:
        req.needs_message = true;
        req.sets_seen = true;
        break;
      case FetchAttr::envelope:
      case FetchAttr::body:
      case FetchAttr::bodystructure:
      case FetchAttr::binary_size:
      case FetchAttr::rfc822_header:
        req.needs_message = true;
        break;
    }
  }
  return req;
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

void append_envelope(std::string& out, const lib::rfc5322::Header& header, const StringStyle& style) {
  out.push_back('(');
  append_header_nstring(out, header, "Date", style);
  out.push_back(' ');
  append_header_nstring(out, header, "Subject", style);
  out.push_back(' ');
  append_address_list(out, header, "From", style);
  // Sender and Reply-To absent or empty: the From value (RFC 3501 7.4.2).
  out.push_back(' ');
  append_address_list(out, header, has_addresses(header, "Sender") ? "Sender" : "From", style);
  out.push_back(' ');
  append_address_list(out, header, has_addresses(header, "Reply-To") ? "Reply-To" : "From", style);
  for (const char* name : {"To", "Cc", "Bcc"}) {
    out.push_back(' ');
    append_address_list(out, header, name, style);
  }
  out.push_back(' ');
  append_header_nstring(out, header, "In-Reply-To", style);
  out.push_back(' ');
  append_header_nstring(out, header, "Message-ID", style);
  out.push_back(')');
}

void append_body_structure(std::string& out, const lib::mime::Part& part, std::string_view text,
                           bool extended, const StringStyle& style) {
  append_part(out, part, text, extended, style);
}

namespace {

// The bytes of a section as a view into the message, or into `storage` for
// HEADER.FIELDS(.NOT), which builds a new text; nullopt when the part does
// not exist. No copy of bodies: BODY[] of a large message is sent from the
// message text directly.
std::optional<std::string_view> section_view(MessageText& message, const SectionSpec& section,
                                             std::string& storage) {
  using Text = SectionSpec::Text;
  if (section.part.empty()) {
    // The top-level header needs no conversion of the body.
    switch (section.text) {
      case Text::none:
        return message.text();
      case Text::header:
        return message.header_text();
      case Text::header_fields:
      case Text::header_fields_not:
        storage = filter_fields(message.header_text(), message.header(), section.fields,
                                section.text == Text::header_fields_not);
        return std::string_view(storage);
      case Text::text: {
        const std::string_view text = message.text();
        return text.substr(std::min(message.header().body_start, text.size()));
      }
      case Text::mime:
        return std::nullopt;
    }
    return std::nullopt;
  }
  const std::string_view text = message.text();
  const Part* part = find_part(message, section.part);
  if (!part) return std::nullopt;
  switch (section.text) {
    case Text::none:
      return part->body(text);
    case Text::mime:
      return part->header_text(text);
    default:
      break;
  }
  // HEADER, HEADER.FIELDS(.NOT) and TEXT of a part are those of its
  // encapsulated message/rfc822 (RFC 3501 6.4.5).
  const Part* inner = part->message();
  if (!inner) return std::nullopt;
  switch (section.text) {
    case Text::header:
      return inner->header_text(text);
    case Text::header_fields:
    case Text::header_fields_not:
      storage = filter_fields(text, inner->header, section.fields, section.text == Text::header_fields_not);
      return std::string_view(storage);
    case Text::text:
      return inner->body(text);
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<std::string> section_bytes(MessageText& message, const SectionSpec& section) {
  std::string storage;
  const auto view = section_view(message, section, storage);
  if (!view) return std::nullopt;
  return std::string(*view);
}

FetchStatus render_fetch(const FetchRequest& request, const FetchMessageInfo& info, MessageText* message,
                         std::string& out, const StringStyle& style) {
  const std::size_t rollback = out.size();
  const auto fail = [&](FetchStatus s) {
    out.resize(rollback);
    return s;
  };
  bool first = true;
  const auto sep = [&] {
    out.push_back(first ? '(' : ' ');
    first = false;
  };
  const auto append_flags = [&] {
    sep();
    out += "FLAGS (";
    out.append(info.flags.data(), info.flags.size());
    out.push_back(')');
  };
  std::string storage;
  const auto append_body_data = [&](std::string_view name, const std::optional<std::string_view>& data,
                                    const std::optional<Partial>& partial) {
    sep();
    out.append(name.data(), name.size());
    if (data) {
      append_partial_data(out, *data, partial, false);
    } else {
      out += "NIL";
    }
  };
  for (const FetchItem& item : request.items) {
    const bool needs_message = item.attr != FetchAttr::flags && item.attr != FetchAttr::uid &&
                               item.attr != FetchAttr::internaldate && item.attr != FetchAttr::modseq &&
                               !(item.attr == FetchAttr::rfc822_size && info.size) &&
                               item.attr != FetchAttr::emailid && item.attr != FetchAttr::threadid &&
                               item.attr != FetchAttr::savedate &&
                               !(item.attr == FetchAttr::envelope && info.envelope) &&
                               !(item.attr == FetchAttr::body && info.body) &&
                               !(item.attr == FetchAttr::bodystructure && info.bodystructure);
    if (needs_message && !message) return fail(FetchStatus::message_unavailable);
    switch (item.attr) {
      case FetchAttr::flags:
        append_flags();
        break;
      case FetchAttr::uid:
        sep();
        out += "UID ";
        out += std::to_string(info.uid);
        break;
      case FetchAttr::internaldate: {
        sep();
        out += "INTERNALDATE \"";
        const int zone = info.zone_offset_minutes ? *info.zone_offset_minutes
                                                  : local_zone_offset_minutes(info.internal_date);
        out += format_internal_date(info.internal_date, zone);
        out.push_back('"');
        break;
      }
      case FetchAttr::rfc822_size:
        sep();
        out += "RFC822.SIZE ";
        out += std::to_string(info.size ? *info.size : message->size());
        break;
      case FetchAttr::modseq:
        sep();
        out += "MODSEQ (";
        out += std::to_string(info.modseq.value_or(0));
        out.push_back(')');
        break;
      case FetchAttr::emailid:
        sep();
        out += "EMAILID ";
        if (info.email_id.empty()) {
          out += "NIL";
        } else {
          out += '(';
          out += info.email_id;
          out += ')';
        }
        break;
      case FetchAttr::threadid:
        sep();
        out += "THREADID NIL";
        break;
      case FetchAttr::savedate:
        sep();
        if (!info.save_date) {
          out += "SAVEDATE NIL";
          break;
        }
        out += "SAVEDATE \"";
        out += format_internal_date(*info.save_date, info.zone_offset_minutes ? *info.zone_offset_minutes
                                                                           : local_zone_offset_minutes(*info.save_date));
        out.push_back('"');
        break;
      case FetchAttr::envelope:
        sep();
        out += "ENVELOPE ";
        if (info.envelope) {
          out += *info.envelope;
        } else {
          append_envelope(out, message->header(), style);
        }
        break;
      case FetchAttr::body:
      case FetchAttr::bodystructure: {
        const bool extended = item.attr == FetchAttr::bodystructure;
        sep();
        out += extended ? "BODYSTRUCTURE " : "BODY ";
        if (const auto& cached = extended ? info.bodystructure : info.body) {
          out += *cached;
        } else {
          append_part(out, message->mime().root, message->text(), extended, style);
        }
        break;
      }
      case FetchAttr::body_section: {
        std::string name = "BODY[" + item.section.to_string() + "]";
        append_partial_origin(name, item.partial);
        name.push_back(' ');
        append_body_data(name, section_view(*message, item.section, storage), item.partial);
        break;
      }
      case FetchAttr::rfc822:
        sep();
        out += "RFC822 ";
        append_literal(out, message->text());
        break;
      case FetchAttr::rfc822_header: {
        SectionSpec s;
        s.text = SectionSpec::Text::header;
        append_body_data("RFC822.HEADER ", section_view(*message, s, storage), std::nullopt);
        break;
      }
      case FetchAttr::rfc822_text: {
        SectionSpec s;
        s.text = SectionSpec::Text::text;
        append_body_data("RFC822.TEXT ", section_view(*message, s, storage), std::nullopt);
        break;
      }
      case FetchAttr::binary:
      case FetchAttr::binary_size: {
        bool unknown_cte = false;
        const auto data = binary_bytes(*message, item.section, unknown_cte);
        if (unknown_cte) return fail(FetchStatus::unknown_cte);
        sep();
        if (item.attr == FetchAttr::binary_size) {
          out += "BINARY.SIZE[" + item.section.to_string() + "] ";
          // A part that does not exist has no size; 0 keeps the grammar (number).
          out += std::to_string(data ? data->size() : 0);
        } else {
          out += "BINARY[" + item.section.to_string() + "]";
          append_partial_origin(out, item.partial);
          out.push_back(' ');
          if (data) {
            append_partial_data(out, *data, item.partial, true);
          } else {
            out += "NIL";
          }
        }
        break;
      }
    }
  }
  if (info.add_flags && !request.has(FetchAttr::flags)) append_flags();
  if (first) out.push_back('(');
  out.push_back(')');
  return FetchStatus::ok;
}

std::string format_internal_date(std::time_t time, int zone_offset_minutes) {
  zone_offset_minutes = std::clamp(zone_offset_minutes, -(99 * 60 + 59), 99 * 60 + 59);
  const std::time_t local = time + static_cast<std::time_t>(zone_offset_minutes) * 60;
  std::tm tm{};
  if (!gmtime_r(&local, &tm)) return "01-Jan-1970 00:00:00 +0000";
  const int zone = zone_offset_minutes < 0 ? -zone_offset_minutes : zone_offset_minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%2d-%s-%04d %02d:%02d:%02d %c%02d%02d", tm.tm_mday, kMonths[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, zone_offset_minutes < 0 ? '-' : '+',
                zone / 60, zone % 60);
  return buf;
}

int local_zone_offset_minutes(std::time_t time) {
  std::tm tm{};
  if (!localtime_r(&time, &tm)) return 0;
  return static_cast<int>(tm.tm_gmtoff / 60);
}

std::optional<InternalDate> parse_internal_date(std::string_view s) {
  // date-day-fixed "-" date-month "-" date-year SP time SP zone
  std::size_t i = 0;
  const auto digits = [&](std::size_t n, int& value) {
    if (i + n > s.size()) return false;
    value = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = s[i + k];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    i += n;
    return true;
  };
  const auto expect = [&](char c) {
    if (i >= s.size() || s[i] != c) return false;
    ++i;
    return true;
  };
  int day = 0;
  if (i < s.size() && s[i] == ' ') ++i;
  if (i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') {
    if (!digits(2, day)) return std::nullopt;
  } else if (!digits(1, day)) {
    return std::nullopt;
  }
  if (!expect('-') || i + 3 > s.size()) return std::nullopt;
  int month = -1;
  for (int m = 0; m < 12; ++m) {
    if (iequal(s.substr(i, 3), kMonths[m])) month = m;
  }
  if (month < 0) return std::nullopt;
  i += 3;
  int year = 0, hour = 0, minute = 0, second = 0, zh = 0, zm = 0;
  if (!expect('-') || !digits(4, year) || !expect(' ') || !digits(2, hour) || !expect(':') ||
      !digits(2, minute) || !expect(':') || !digits(2, second) || !expect(' ')) {
    return std::nullopt;
  }
  if (i >= s.size() || (s[i] != '+' && s[i] != '-')) return std::nullopt;
  const int sign = s[i] == '-' ? -1 : 1;
  ++i;
  if (!digits(2, zh) || !digits(2, zm) || i != s.size()) return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (year < 1900 || day < 1 || day > kDays[month] || (month == 1 && day == 29 && !leap) || hour > 23 ||
      minute > 59 || second > 60 || zm > 59) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  InternalDate d;
  d.zone_offset_minutes = sign * (zh * 60 + zm);
  d.time = timegm(&tm) - static_cast<std::time_t>(d.zone_offset_minutes) * 60;
  return d;
}

}  // namespace imapd
