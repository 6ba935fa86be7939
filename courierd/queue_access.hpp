// courierd/queue_access.hpp: the scheduler's view of a queued message, read and
// updated through lib/queue (QUEUE-SPEC.md); this file only adapts lib/queue's
// records to what courierd needs (per-recipient state, retry counts).
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "lib/result.hpp"

namespace courierd {

enum class FinalKind { delivered, failed, relayed };

struct RecipientState {
  std::string address;
  std::string orcpt;
  std::string notify;
  std::optional<FinalKind> final_kind;  // set once a D record exists
  std::string status;                   // of the D record, or of the last Y record
  std::string text;
  std::time_t when = 0;                 // of the D or last Y record
  int deferrals = 0;                    // number of Y records
};

struct QueuedMessage {
  std::string qid;
  std::time_t accepted = 0;
  std::string sender;  // "" = null sender
  std::string auth_user;
  std::string client;    // F: who submitted it ("courierd double-bounce" for ours)
  std::string protocol;  // P: ESMTP, ESMTPA, LOCAL...
  std::string body_type;
  std::string envid;
  std::string ret;
  bool smtputf8 = false;
  unsigned long long size = 0;
  std::vector<RecipientState> rcpts;
  bool warned = false;
  std::time_t next_attempt = 0;
  bool complete = false;

  bool all_final() const {
    for (const auto& r : rcpts)
      if (!r.final_kind) return false;
    return true;
  }
};

const char* final_kind_name(FinalKind kind);

// Paths.
std::string ctl_path(const std::string& queuedir, const std::string& qid);
std::string data_path(const std::string& queuedir, const std::string& qid);

// The qids of msgs/*.ctl.
lib::Result<std::vector<std::string>> list_queue(const std::string& queuedir);
lib::Result<QueuedMessage> load_message(const std::string& queuedir, const std::string& qid);

// Durable appends (one write + fdatasync each).
lib::Result<void> append_final(const std::string& queuedir, const std::string& qid, int rcpt, FinalKind kind,
                               const std::string& status, const std::string& text, std::time_t when);
lib::Result<void> append_deferral(const std::string& queuedir, const std::string& qid, int rcpt,
                                  const std::string& status, const std::string& text, std::time_t when);
lib::Result<void> append_warned(const std::string& queuedir, const std::string& qid, std::time_t when);
lib::Result<void> append_next_attempt(const std::string& queuedir, const std::string& qid, std::time_t when);
lib::Result<void> append_complete(const std::string& queuedir, const std::string& qid, std::time_t when);
// Unlinks .ctl then .data.
lib::Result<void> remove_message(const std::string& queuedir, const std::string& qid);

// Queues a new message (a DSN) from the null sender; returns its qid.
struct NewRecipient {
  std::string address;
  std::string notify;  // "NEVER" for DSNs
};
lib::Result<std::string> submit_message(const std::string& queuedir, const std::string& sender,
                                        const std::vector<NewRecipient>& rcpts, const std::string& data,
                                        const std::string& client, const std::string& protocol = "LOCAL",
                                        const std::string& auth_user = "");

// Creates tmp/ and msgs/ as needed.
lib::Result<void> ensure_queue_layout(const std::string& queuedir);

}  // namespace courierd
