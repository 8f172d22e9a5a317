#pragma once
// NatsErrorText: a libnats status as text, with the thread's last error detail when there is one
// (e.g. "Timeout: no response from JetStream"), for logs and Status messages.

#include <nats/nats.h>

#include <string>

namespace fp::cluster {

std::string NatsErrorText(natsStatus s);

}  // namespace fp::cluster
