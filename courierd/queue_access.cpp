// courierd/queue_access.cpp: see queue_access.hpp. Everything goes through lib/queue.
#include "courierd/queue_access.hpp"

#include <unistd.h>

#include <cerrno>

#include "courierd/text.hpp"
#include "lib/queue.hpp"

namespace courierd {

namespace q = lib::queue;

const char* final_kind_name(FinalKind kind) {
  switch (kind) {
    case FinalKind::delivered: return "delivered";
    case FinalKind::failed: return "failed";
    case FinalKind::relayed: return "relayed";
  }
  return "?";
}

std::string ctl_path(const std::string& dir, const std::string& qid) { return q::control_path(dir, qid); }
std::string data_path(const std::string& dir, const std::string& qid) { return q::data_path(dir, qid); }

lib::Result<void> ensure_queue_layout(const std::string& dir) { return q::ensure_layout(dir); }

lib::Result<std::vector<std::string>> list_queue(const std::string& dir) { return q::list_messages(dir); }

lib::Result<QueuedMessage> load_message(const std::string& dir, const std::string& qid) {
  if (!q::valid_qid(qid)) return lib::permanent_error("\"" + qid + "\" is not a queue id");
  auto env = q::read_control(q::control_path(dir, qid));
  if (!env) return env.error();
  QueuedMessage m;
  m.qid = qid;
  m.accepted = env->accepted;
  m.sender = env->sender;
  m.auth_user = env->auth_user.value_or("");
  m.client = env->client;
  m.protocol = env->protocol;
  m.body_type = env->body;
  m.envid = env->envid.value_or("");
  m.ret = env->ret.value_or("");
  m.smtputf8 = env->smtputf8;
  m.size = env->size;
  for (const auto& r : env->recipients) {
    RecipientState s;
    s.address = r.address;
    s.orcpt = r.orcpt;
    s.notify = r.notify;
    m.rcpts.push_back(std::move(s));
  }
  for (const auto& d : env->deferrals) {
    if (d.rcpt >= m.rcpts.size()) continue;
    auto& r = m.rcpts[d.rcpt];
    r.deferrals++;
    r.status = d.status;
    r.text = d.text;
    r.when = d.time;
  }
  for (size_t i = 0; i < m.rcpts.size(); ++i) {
    if (const auto* f = env->final_for(i)) {
      auto& r = m.rcpts[i];
      r.final_kind = f->kind == q::FinalKind::delivered ? FinalKind::delivered
                     : f->kind == q::FinalKind::relayed ? FinalKind::relayed
                                                        : FinalKind::failed;
      r.status = f->status;
      r.text = f->text;
      r.when = f->time;
    }
  }
  m.warned = env->warned.has_value();
  m.next_attempt = env->next_attempt.value_or(0);
  m.complete = env->completed.has_value();
  return m;
}

lib::Result<void> append_final(const std::string& dir, const std::string& qid, int rcpt, FinalKind kind,
                               const std::string& status, const std::string& text, std::time_t when) {
  q::Final f;
  f.rcpt = static_cast<size_t>(rcpt);
  f.time = when;
  f.kind = kind == FinalKind::delivered ? q::FinalKind::delivered
           : kind == FinalKind::relayed ? q::FinalKind::relayed
                                        : q::FinalKind::failed;
  f.status = field(status);
  f.text = field(text);
  return q::append_records(q::control_path(dir, qid), q::final_record(f));
}

lib::Result<void> append_deferral(const std::string& dir, const std::string& qid, int rcpt, const std::string& status,
                                  const std::string& text, std::time_t when) {
  q::Deferral d;
  d.rcpt = static_cast<size_t>(rcpt);
  d.time = when;
  d.status = field(status);
  d.text = field(text);
  return q::append_records(q::control_path(dir, qid), q::deferral_record(d));
}

lib::Result<void> append_warned(const std::string& dir, const std::string& qid, std::time_t when) {
  return q::append_records(q::control_path(dir, qid), q::warned_record(when));
}
lib::Result<void> append_next_attempt(const std::string& dir, const std::string& qid, std::time_t when) {
  return q::append_records(q::control_path(dir, qid), q::next_attempt_record(when));
}
lib::Result<void> append_complete(const std::string& dir, const std::string& qid, std::time_t when) {
  return q::append_records(q::control_path(dir, qid), q::completed_record(when));
}

lib::Result<void> remove_message(const std::string& dir, const std::string& qid) {
  // The control file first: a message exists iff its .ctl does.
  std::string ctl = q::control_path(dir, qid), data = q::data_path(dir, qid);
  if (::unlink(ctl.c_str()) != 0 && errno != ENOENT)
    return lib::temporary_error("unlink " + ctl + ": " + lib::errno_text(errno));
  if (::unlink(data.c_str()) != 0 && errno != ENOENT)
    return lib::temporary_error("unlink " + data + ": " + lib::errno_text(errno));
  return {};
}

lib::Result<std::string> submit_message(const std::string& dir, const std::string& sender,
                                        const std::vector<NewRecipient>& rcpts, const std::string& data,
                                        const std::string& client, const std::string& protocol,
                                        const std::string& auth_user) {
  auto sub = q::Submission::begin(dir);
  if (!sub) return sub.error();
  if (auto ok = sub->write(data); !ok) return ok.error();
  q::Envelope env;
  env.accepted = std::time(nullptr);
  env.sender = sender;
  env.client = client;
  env.protocol = protocol;
  if (!auth_user.empty()) env.auth_user = auth_user;
  env.body = "7BIT";
  for (unsigned char c : data)
    if (c & 0x80) {
      env.body = "8BITMIME";
      break;
    }
  for (const auto& r : rcpts) env.recipients.push_back({r.address, "", r.notify});
  std::string qid = sub->qid();
  if (auto ok = sub->commit(std::move(env)); !ok) return ok.error();
  return qid;
}

}  // namespace courierd
