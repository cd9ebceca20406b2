#pragma once
// The gateway's side of /metrics: per-route request counters and latency
// histograms (fed by the transport's on_response hook through the router,
// which names the route from its table) and the GET /metrics answer. The
// registry itself is schemas/metrics.h.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "gateway/http/http_server.h"
#include "gateway/http/http_types.h"

namespace imgpipe::gateway {

// The HTTP series of a fixed set of route labels; series are resolved in the
// registry on a route's first request, then reused (the registry's lookups
// take its mutex and build label strings).
class RouteMetrics {
 public:
  // One label per route; observe() takes its index, or labels.size() for "other".
  explicit RouteMetrics(std::vector<std::string> labels);
  ~RouteMetrics();
  void observe(size_t route, const AccessRecord& record);

 private:
  struct Series;
  Series& series(size_t route);
  std::vector<std::string> labels_;
  std::unique_ptr<std::atomic<Series*>[]> series_;
};

// GET /metrics: the Prometheus text exposition of the whole process.
Response metrics_response();

}  // namespace imgpipe::gateway
