// courierd/scheduler.hpp: the queue scheduler. Runs as the mail user; one libevent
// loop: the trigger FIFO and a periodic scan find new messages; per recipient it
// dispatches local deliveries to the delivery helper (local_delivery.hpp) and remote
// ones, grouped by domain, to courieresmtp processes, within MAXDELS/MAXLOCAL/MAXHOST;
// every outcome is appended to the control file (durable) before anything else
// happens; temporary failures are retried on Courier's schedule (retry.hpp) until
// queuetime; DSNs are queued before a message is marked complete and removed.
// A kill -9 at any point loses nothing: on restart an attempt may repeat.
#pragma once

#include <string>

#include "courierd/settings.hpp"

namespace courierd {

struct SchedulerOptions {
  std::string courieresmtp;  // path of courieresmtp
  int helper_socket = -1;    // SOCK_SEQPACKET to the delivery helper
};

// Runs until SIGTERM/SIGINT. Returns the exit code.
int run_scheduler(const Settings& settings, const SchedulerOptions& options);

}  // namespace courierd
