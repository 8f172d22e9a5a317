#pragma once
// The systemd readiness protocol (sd_notify(3)), written out rather than linked from
// libsystemd: one datagram to the socket named by $NOTIFY_SOCKET, so the binary needs no
// extra library inside containers or on systems without systemd.

#include <string_view>

namespace fp {

// Sends `state` (e.g. "READY=1", "STOPPING=1", "STATUS=...") to the service manager when
// $NOTIFY_SOCKET names one (a path, or "@name" for the abstract namespace); returns false when
// there is none or the send failed. Never throws; safe from any thread.
bool notify_service_manager(std::string_view state);

}  // namespace fp
