// Fuzzes the decoders of the SSRF guard and the session cookie: webhook URLs (syntax and the
// IP-literal policy check), --webhook-allow CIDR lists, the Cookie header and the Origin
// same-origin check. Any bytes must give an answer, never a crash; a URL judged fine must
// start with http:// or https://, and every network parsed must contain its own address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "alerting/webhook_client.h"
#include "http/api_dispatcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (fp::webhook_url_problem(in).empty() && in.substr(0, 7) != "http://" &&
      in.substr(0, 8) != "https://")
    std::abort();
  (void)fp::webhook_address_refusal(in);
  if (auto nets = fp::parse_cidr_list(in); nets.ok())
    for (const auto& n : *nets)
      if (!n.contains(n.bytes) || n.prefix < 0 || n.prefix > 128) std::abort();
  const std::string_view value = fp::http::cookie_value(in, fp::http::kSessionCookie);
  if (value.size() > in.size()) std::abort();
  fp::http::Request req;
  const size_t half = size / 2;
  req.origin = std::string(in.substr(0, half));
  req.host = std::string(in.substr(half));
  req.tls = size % 2 == 1;
  (void)fp::http::same_origin(req);
  return 0;
}
