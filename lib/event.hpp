// lib/event.hpp: libevent handles for the long-running daemons' loops
// (authdaemond, couriertcpd, courierd), declared once (STYLE.md, section 6).
#pragma once

#include <event2/event.h>

#include "lib/c_handle.hpp"

namespace lib {

using EventBase = CHandle<event_base, event_base_free>;
using Event = CHandle<event, event_free>;

}  // namespace lib
