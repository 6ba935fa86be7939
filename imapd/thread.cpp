// imapd/thread.cpp: THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256
// 3). See thread.hpp. REFERENCES follows the RFC's steps by number: (1)
// link containers by References, (2) root set, (3) prune dummies, (4) sort
// siblings by sent date, (5) group the root set by base subject, (6) sort
// again.
#include "imapd/thread.hpp"

#include <algorithm>
#include <unordered_map>

#include "imapd/sort.hpp"
#include "lib/ascii.hpp"

namespace imapd {

ThreadParseResult parse_thread(std::span<const Value> args, const SearchLimits& limits) {
  ThreadParseResult result;
  if (args.size() < 3 || !args[0].is_atom_like()) {
    result.error = "Syntax: THREAD algorithm charset search-criteria";
    return result;
  }
  ThreadProgram program;
  if (args[0].is_word("ORDEREDSUBJECT")) {
    program.algorithm = ThreadAlgorithm::orderedsubject;
  } else if (args[0].is_word("REFERENCES")) {
    program.algorithm = ThreadAlgorithm::references;
  } else {
    result.error = "Unknown threading algorithm " + std::string(args[0].raw);
    return result;
  }
  if (take_search(parse_search_with_charset({}, args.subspan(1), false, limits), program.search, result))
    result.program = std::move(program);
  return result;
}

std::vector<std::string> parse_msg_ids(std::string_view value) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while ((i = value.find('<', i)) != std::string_view::npos) {
    std::size_t end = value.find('>', i + 1);
    if (end == std::string_view::npos) break;
    std::string id;
    for (char c : value.substr(i + 1, end - i - 1))
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') id.push_back(c);
    // Like Dovecot, an id without "@" is not a valid msg-id.
    if (!id.empty() && id.find('@') != std::string::npos && id.find('<') == std::string::npos)
      out.push_back(std::move(id));
    i = end + 1;
  }
  return out;
}

void fill_thread_message(ThreadMessage& m, const lib::rfc5322::Header& header) {
  if (auto d = header.value("Date"))
    if (auto parsed = lib::rfc5322::parse_date(*d)) m.date = parsed->time;
  if (auto id = header.value("Message-ID")) {
    auto ids = parse_msg_ids(*id);
    if (!ids.empty()) m.message_id = m.keep(std::move(ids.front()));
  }
  m.references.clear();
  if (auto refs = header.value("References"))
    for (auto& r : parse_msg_ids(*refs)) m.references.push_back(m.keep(std::move(r)));
  if (m.references.empty())
    if (auto irt = header.value("In-Reply-To")) {
      auto ids = parse_msg_ids(*irt);
      if (!ids.empty()) m.references.push_back(m.keep(std::move(ids.front())));
    }
  auto subject = header.value("Subject");
  m.subject = m.keep(lib::ascii::to_upper(subject ? base_subject(*subject, &m.reply) : std::string()));
}

namespace {

struct Node {
  int message = -1;  // index into the messages; -1: dummy
  int parent = -1;
  std::vector<int> children;
};

class Forest {
 public:
  explicit Forest(const std::vector<ThreadMessage>& messages) : msgs_(messages) {}

  std::vector<Node> nodes;

  int add(int message) {
    nodes.push_back({message, -1, {}});
    return static_cast<int>(nodes.size()) - 1;
  }
  // Whether `a` is `b` or one of b's ancestors.
  bool is_ancestor(int a, int b) const {
    for (int n = b; n != -1; n = nodes[static_cast<std::size_t>(n)].parent)
      if (n == a) return true;
    return false;
  }
  void unlink(int child) {
    int p = node(child).parent;
    if (p == -1) return;
    auto& siblings = node(p).children;
    siblings.erase(std::find(siblings.begin(), siblings.end(), child));
    node(child).parent = -1;
  }
  void link(int parent, int child) {
    unlink(child);
    node(child).parent = parent;
    node(parent).children.push_back(child);
  }
  Node& node(int n) { return nodes[static_cast<std::size_t>(n)]; }
  const Node& node(int n) const { return nodes[static_cast<std::size_t>(n)]; }

  // The message a node sorts and groups by: its own, or for a dummy its
  // first child's (the children already sorted).
  const ThreadMessage* representative(int n) const {
    while (n != -1 && node(n).message == -1)
      n = node(n).children.empty() ? -1 : node(n).children.front();
    return n == -1 ? nullptr : &msgs_[static_cast<std::size_t>(node(n).message)];
  }

  void sort_siblings(std::vector<int>& list) {
    for (int n : list) sort_siblings(node(n).children);
    std::stable_sort(list.begin(), list.end(), [&](int a, int b) {
      const ThreadMessage* x = representative(a);
      const ThreadMessage* y = representative(b);
      if (!x || !y) return x != nullptr && y == nullptr;
      if (x->date != y->date) return x->date < y->date;
      return x->seq < y->seq;
    });
  }

  // RFC 5256 3 (3): dummies without children go; a dummy's children take
  // its place, except for a root dummy with more than one child.
  std::vector<int> prune(const std::vector<int>& list, bool roots) {
    std::vector<int> out;
    for (int n : list) {
      std::vector<int> kids = prune(node(n).children, false);
      node(n).children = kids;
      for (int k : kids) node(k).parent = n;
      if (node(n).message != -1 || (roots && kids.size() > 1)) {
        out.push_back(n);
        continue;
      }
      for (int k : kids) {
        node(k).parent = roots ? -1 : node(n).parent;
        out.push_back(k);
      }
      node(n).children.clear();
    }
    return out;
  }

  void write(int n, std::string& out) const {
    const Node& x = node(n);
    bool first = true;
    if (x.message != -1) {
      out += std::to_string(msgs_[static_cast<std::size_t>(x.message)].number);
      first = false;
    }
    if (x.children.size() == 1 && x.message != -1) {
      out += ' ';
      write(x.children.front(), out);
      return;
    }
    for (int k : x.children) {
      if (!first) out += ' ';
      first = true;  // no space between nested lists
      out += '(';
      write(k, out);
      out += ')';
    }
  }

 private:
  const std::vector<ThreadMessage>& msgs_;
};

std::string write_threads(const Forest& f, const std::vector<int>& roots) {
  std::string out;
  for (int r : roots) {
    out += '(';
    f.write(r, out);
    out += ')';
  }
  return out;
}

}  // namespace

std::string thread_orderedsubject(std::vector<ThreadMessage> messages) {
  std::stable_sort(messages.begin(), messages.end(), [](const ThreadMessage& a, const ThreadMessage& b) {
    if (a.subject != b.subject) return a.subject < b.subject;
    if (a.date != b.date) return a.date < b.date;
    return a.seq < b.seq;
  });
  Forest f(messages);
  std::vector<int> roots;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    int n = f.add(static_cast<int>(i));
    if (i > 0 && messages[i].subject == messages[i - 1].subject)
      f.link(roots.back(), n);
    else
      roots.push_back(n);
  }
  f.sort_siblings(roots);
  return write_threads(f, roots);
}

std::string thread_references(std::vector<ThreadMessage> messages) {
  std::sort(messages.begin(), messages.end(),
            [](const ThreadMessage& a, const ThreadMessage& b) { return a.seq < b.seq; });
  Forest f(messages);
  f.nodes.reserve(messages.size() * 2);
  std::unordered_map<std::string_view, int> by_id;
  by_id.reserve(messages.size() * 2);
  auto container = [&](std::string_view id) {
    auto it = by_id.find(id);
    if (it != by_id.end()) return it->second;
    int n = f.add(-1);
    by_id.emplace(id, n);
    return n;
  };
  // (1)
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ThreadMessage& m = messages[i];
    // (1A) link the references to each other, where nothing is linked yet
    int prev = -1;
    for (const auto& ref : m.references) {
      int n = container(ref);
      if (prev != -1 && n != prev && f.node(n).parent == -1 && !f.is_ancestor(n, prev)) f.link(prev, n);
      prev = n;
    }
    // (1B) the message's own container; a duplicate or missing id gets a new one
    int self = -1;
    if (!m.message_id.empty()) {
      auto it = by_id.find(m.message_id);
      if (it == by_id.end()) {
        self = container(m.message_id);
      } else if (f.node(it->second).message == -1) {
        self = it->second;
      }
    }
    if (self == -1) self = f.add(-1);
    f.node(self).message = static_cast<int>(i);
    f.unlink(self);
    if (prev != -1 && prev != self && !f.is_ancestor(self, prev)) f.link(prev, self);
  }
  // (2)
  std::vector<int> roots;
  for (std::size_t n = 0; n < f.nodes.size(); ++n)
    if (f.nodes[n].parent == -1) roots.push_back(static_cast<int>(n));
  // (3), (4)
  roots = f.prune(roots, true);
  f.sort_siblings(roots);
  // (5) gather the root set by base subject
  std::unordered_map<std::string_view, int> by_subject;
  auto is_dummy = [&](int n) { return f.node(n).message == -1; };
  auto subject_of = [&](int n) -> const ThreadMessage* { return f.representative(n); };
  for (int r : roots) {
    const ThreadMessage* m = subject_of(r);
    if (!m || m->subject.empty()) continue;
    auto it = by_subject.find(m->subject);
    if (it == by_subject.end()) {
      by_subject.emplace(m->subject, r);
      continue;
    }
    int t = it->second;
    if (!is_dummy(t) && (is_dummy(r) || (subject_of(t)->reply && !m->reply))) it->second = r;
  }
  std::vector<int> merged;
  std::vector<bool> gone(f.nodes.size() + roots.size(), false);
  for (int r : roots) {
    if (gone[static_cast<std::size_t>(r)]) continue;
    const ThreadMessage* m = subject_of(r);
    if (!m || m->subject.empty()) continue;
    auto it = by_subject.find(m->subject);
    int t = it->second;
    if (t == r) continue;
    if (is_dummy(t) && is_dummy(r)) {
      for (int k : std::vector<int>(f.node(r).children)) f.link(t, k);
    } else if (is_dummy(t)) {
      f.link(t, r);
    } else if (m->reply && !subject_of(t)->reply) {
      f.link(t, r);
    } else {
      int d = f.add(-1);
      gone.push_back(false);
      f.link(d, t);
      f.link(d, r);
      for (int& x : roots)
        if (x == t) x = d;
      it->second = d;
    }
    gone[static_cast<std::size_t>(r)] = true;
  }
  std::vector<int> final_roots;
  for (int r : roots)
    if (!gone[static_cast<std::size_t>(r)]) final_roots.push_back(r);
  // (6)
  f.sort_siblings(final_roots);
  return write_threads(f, final_roots);
}

}  // namespace imapd
