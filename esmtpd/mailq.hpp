// esmtpd/mailq.hpp: the queue listing of mailq(1) and sendmail -bp, over
// lib/queue's reader.
#pragma once

#include <cstdio>
#include <string>

namespace esmtpd {

// Prints the queue to out: Courier's layout, or with batch one line per message
// "size;qid;date;user;from;[status;rcpt]...". Says on err when courierd is not
// running. Returns the exit status.
int print_queue(const std::string& queuedir, bool batch, FILE* out, FILE* err);

}  // namespace esmtpd
