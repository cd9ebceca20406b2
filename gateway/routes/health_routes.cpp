// Operations: liveness, readiness (the image index has caught up with the
// images topic) and the Prometheus metrics of the whole process.
#include "gateway/metrics.h"
#include "gateway/routes/handlers.h"

namespace imgpipe::gateway::routes {

void healthz(Services&, const Call& call) { call.respond(Response::json(200, R"({"status":"ok"})")); }

void readyz(Services& s, const Call& call) {
  call.respond(s.ready() ? Response::json(200, R"({"status":"ready"})")
                         : Response::json(503, R"({"status":"catching_up"})"));
}

void serve_metrics(Services&, const Call& call) { call.respond(metrics_response()); }

}  // namespace imgpipe::gateway::routes
