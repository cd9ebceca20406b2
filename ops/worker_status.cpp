#include "ops/worker_status.h"

#include <nlohmann/json.hpp>

#include "gateway/metrics.h"
#include "schemas/errors.h"

namespace imgpipe::ops {

using gateway::Response;
using schemas::Error;
using schemas::ErrorCode;

// No route here takes a body: a small bound, so a scraper's mistake costs nothing.
gateway::BodyPlan WorkerStatusHandler::plan_body(gateway::Request&) { return gateway::BufferBody{1024}; }

void WorkerStatusHandler::handle(gateway::Request&& request, gateway::Respond respond) {
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (request.path != "/metrics" && request.path != "/healthz") return respond(Response::error(Error(ErrorCode::not_found)));
  if (!get) return respond(Response::error(Error(ErrorCode::method_not_allowed)));
  if (request.path == "/metrics") return respond(gateway::metrics_response());
  // Alive and consuming; a paused worker (SIGUSR1) is alive but says so.
  nlohmann::json body = {{"status", "ok"},
                         {"role", "worker"},
                         {"paused", pipeline_.paused()},
                         {"jobs_in_flight", pipeline_.in_flight()}};
  respond(Response::json(200, body.dump()));
}

}  // namespace imgpipe::ops
