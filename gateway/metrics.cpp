#include "gateway/metrics.h"

#include "gateway/src_service.h"
#include "schemas/metrics.h"

namespace imgpipe::gateway {

std::string route_of(const std::string& method, const std::string& path) {
  for (const char* fixed : {"/v1/upload", "/v1/import", "/healthz", "/readyz", "/metrics", "/"})
    if (path == fixed) return path;
  if (SrcService::matches(path)) return "src";
  if (path.size() > 1 && path.find('/', 1) == std::string::npos) return "viewer";
  return "other";  // never the raw path: unbounded label values would grow the registry forever
}

void observe_request(const AccessRecord& r) {
  const auto route = route_of(r.method, r.path);
  metrics::counter("imgpipe_http_requests_total", "HTTP requests answered, by route and status.",
                   {{"route", route}, {"status", std::to_string(r.status)}})
      .inc();
  metrics::histogram("imgpipe_http_request_duration_seconds", "Time from request header to the last byte of the answer.",
                     {{"route", route}})
      .observe(r.seconds);
  metrics::counter("imgpipe_http_response_bytes_total", "Body bytes sent, by route.", {{"route", route}}).inc(
      static_cast<double>(r.bytes));
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
