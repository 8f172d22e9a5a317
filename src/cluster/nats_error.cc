#include "cluster/nats_error.h"

namespace fp::cluster {

std::string NatsErrorText(natsStatus s) {
  natsStatus ignored;
  const char* text = nats_GetLastError(&ignored);
  std::string out = natsStatus_GetText(s);
  if (text != nullptr && *text != '\0') out += std::string(": ") + text;
  return out;
}

}  // namespace fp::cluster
