#include "gateway/error_response.h"

#include "schemas/log.h"

namespace imgpipe::gateway {

Response error_response(const schemas::Error& error, const std::string& upgrade_url) {
  auto r = Response::json(error.info().http_status, schemas::error_body(error, upgrade_url));
  if (error.info().retryable) r.set("Retry-After", std::to_string(error.retry_after_seconds.value_or(1)));
  r.set("Cache-Control", "no-store");
  return r;
}

Response error_response(const std::exception& unknown, const std::string& request_id) {
  log::error("unhandled_exception", {{"request_id", request_id}, {"error", unknown.what()}});
  return error_response(schemas::Error(schemas::ErrorCode::internal_error));
}

}  // namespace imgpipe::gateway
