// imapd/catenate.cpp: CATENATE's parts (see catenate.hpp).
#include "imapd/catenate.hpp"

namespace imapd {

std::optional<std::vector<CatenatePart>> parse_catenate(const Value& list, std::string& error) {
  if (!list.is_list() || list.items.empty()) {
    error = "CATENATE needs a non-empty list of TEXT and URL parts.";
    return std::nullopt;
  }
  const auto& items = list.items;
  if (items.size() % 2 != 0 || items.size() / 2 > max_catenate_parts) {
    error = items.size() % 2 ? "CATENATE parts come as TEXT literal or URL url."
                             : "Too many CATENATE parts.";
    return std::nullopt;
  }
  std::vector<CatenatePart> parts;
  for (std::size_t i = 0; i < items.size(); i += 2) {
    CatenatePart p;
    if (items[i].is_word("TEXT")) {
      if (items[i + 1].kind != Value::Kind::literal) {
        error = "CATENATE TEXT needs a literal.";
        return std::nullopt;
      }
      p.data = items[i + 1].literal;
    } else if (items[i].is_word("URL")) {
      if (!items[i + 1].is_astring() || items[i + 1].kind == Value::Kind::section) {
        error = "CATENATE URL needs a URL.";
        return std::nullopt;
      }
      p.url = true;
      p.data = items[i + 1].str();
    } else {
      error = "CATENATE parts are TEXT or URL.";
      return std::nullopt;
    }
    parts.push_back(p);
  }
  return parts;
}

}  // namespace imapd
