#pragma once
// The gateway's side of /metrics: per-route request counters and latency
// histograms (fed by the transport's on_response hook) and the GET /metrics
// answer. The registry itself is schemas/metrics.h.

#include <string>

#include "gateway/http/http_server.h"
#include "gateway/http/http_types.h"

namespace imgpipe::gateway {

// HttpServerConfig::on_response: counts and times the request by route and status.
void observe_request(const AccessRecord& record);

// GET /metrics: the Prometheus text exposition of the whole process.
Response metrics_response();

}  // namespace imgpipe::gateway
