#include "gateway/metrics.h"

#include <array>
#include <atomic>

#include "gateway/src_service.h"
#include "schemas/metrics.h"

namespace imgpipe::gateway {
namespace {

// Every route label value; route_index never picks anything else, so the
// registry stays small and each route's series can be looked up once.
constexpr std::array<const char*, 6> kFixedRoutes{"/v1/upload", "/v1/import", "/healthz", "/readyz", "/metrics", "/"};
constexpr size_t kSrc = kFixedRoutes.size(), kViewer = kSrc + 1, kOther = kSrc + 2, kRoutes = kSrc + 3;

size_t route_index(const std::string& path) {
  for (size_t i = 0; i < kFixedRoutes.size(); ++i)
    if (path == kFixedRoutes[i]) return i;
  if (SrcService::matches(path)) return kSrc;
  if (path.size() > 1 && path.find('/', 1) == std::string::npos) return kViewer;
  return kOther;  // never the raw path: unbounded label values would grow the registry forever
}

const char* route_name(size_t i) {
  if (i < kFixedRoutes.size()) return kFixedRoutes[i];
  return i == kSrc ? "src" : i == kViewer ? "viewer" : "other";
}

// One route's series, resolved in the registry once instead of per request
// (the registry's lookups take its mutex and build label strings).
struct RouteSeries {
  explicit RouteSeries(const char* route)
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

  const char* route;
  metrics::Histogram& duration;
  metrics::Counter& bytes;
  std::array<std::atomic<metrics::Counter*>, 500> by_status{};
};

// Made on a route's first request, so /metrics lists only routes that were used.
RouteSeries& series(size_t route) {
  static std::array<std::atomic<RouteSeries*>, kRoutes> all{};
  auto* s = all[route].load(std::memory_order_acquire);
  if (s) return *s;
  auto* fresh = new RouteSeries(route_name(route));  // process lifetime, like the registry's metrics
  if (all[route].compare_exchange_strong(s, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;  // another thread won; both point at the same registry series
  return *s;
}

}  // namespace

void observe_request(const AccessRecord& r) {
  auto& s = series(route_index(r.path));
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
