#pragma once
// ApiDispatcher: the path of every HTTP request after parsing: route match (404/405),
// authentication and role check (401/403), the handler, and request metrics. A handler that
// throws is answered with a JSON 500 and logged; the server keeps serving.

#include "http/handlers/api_context.h"
#include "http/router.h"

namespace fp::http {

class ApiDispatcher {
 public:
  // `router` and `ctx` must outlive the dispatcher.
  ApiDispatcher(const Router& router, ApiContext& ctx) : router_(router), ctx_(ctx) {}
  void dispatch(Request&& req, Responder respond);

 private:
  const Router& router_;
  ApiContext& ctx_;
};

}  // namespace fp::http
