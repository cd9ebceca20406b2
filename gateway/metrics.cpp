#include "gateway/metrics.h"

#include <array>

#include "schemas/metrics.h"

namespace imgpipe::gateway {

struct RouteMetrics::Series {
  explicit Series(const std::string& route)
      : route(route),
        duration(metrics::histogram("imgpipe_http_request_duration_seconds",
                                    "Time from request header to the last byte of the answer.", {{"route", route}})),
        bytes(metrics::counter("imgpipe_http_response_bytes_total", "Body bytes sent, by route.", {{"route", route}})) {}

  metrics::Counter& requests(int status) {
    if (status < 100 || status > 599) status = 500;
    auto& slot = by_status[static_cast<size_t>(status - 100)];
    auto* c = slot.load(std::memory_order_acquire);
    if (!c) {
      // Racing threads get the same counter from the registry.
      c = &metrics::counter("imgpipe_http_requests_total", "HTTP requests answered, by route and status.",
                            {{"route", route}, {"status", std::to_string(status)}});
      slot.store(c, std::memory_order_release);
    }
    return *c;
  }

  std::string route;
  metrics::Histogram& duration;
  metrics::Counter& bytes;
  std::array<std::atomic<metrics::Counter*>, 500> by_status{};
};

RouteMetrics::RouteMetrics(std::vector<std::string> labels)
    : labels_(std::move(labels)), series_(new std::atomic<Series*>[labels_.size() + 1]()) {
  labels_.emplace_back("other");  // never the raw path: unbounded label values would grow the registry forever
  for (size_t i = 0; i < labels_.size(); ++i) series_[i].store(nullptr);
}

RouteMetrics::~RouteMetrics() {
  for (size_t i = 0; i < labels_.size(); ++i) delete series_[i].load();
}

// Made on a route's first request, so /metrics lists only routes that were used.
RouteMetrics::Series& RouteMetrics::series(size_t route) {
  if (route >= labels_.size()) route = labels_.size() - 1;
  auto& slot = series_[route];
  auto* s = slot.load(std::memory_order_acquire);
  if (s) return *s;
  auto* fresh = new Series(labels_[route]);
  if (slot.compare_exchange_strong(s, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;  // another thread won; both point at the same registry series
  return *s;
}

void RouteMetrics::observe(size_t route, const AccessRecord& r) {
  auto& s = series(route);
  s.requests(r.status).inc();
  s.duration.observe(r.seconds);
  s.bytes.inc(static_cast<double>(r.bytes));
}

Response metrics_response() {
  Response r;
  r.status = 200;
  r.body = metrics::render();
  r.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  r.set("Cache-Control", "no-store");
  return r;
}

}  // namespace imgpipe::gateway
