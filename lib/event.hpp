// lib/event.hpp: libevent handles for the long-running daemons' loops
// (authdaemond, couriertcpd, courierd), declared once (STYLE.md, section 6).
#pragma once

#include <event2/dns.h>
#include <event2/event.h>

#include "lib/c_handle.hpp"

namespace lib {

using EventBase = CHandle<event_base, event_base_free>;
using Event = CHandle<event, event_free>;

namespace detail {
// Pending evdns requests are dropped without their callbacks.
inline void free_evdns_base(evdns_base* dns) { evdns_base_free(dns, 0); }
}  // namespace detail
using EvdnsBase = CHandle<evdns_base, detail::free_evdns_base>;

}  // namespace lib
