#include "gateway/http/error_response.h"

#include <nlohmann/json.hpp>

#include "schemas/log.h"

namespace imgpipe::gateway {

Response error_response(const schemas::Error& error, const ErrorStyle& style) {
  auto body = style.family == ApiFamily::shape_c ? schemas::nested_error_json(error, style.upgrade_url, style.anonymous)
                                                 : schemas::error_json(error, style.upgrade_url);
  auto r = Response::json(error.info().http_status, body.dump());
  set_error_headers(r, error);
  return r;
}

void set_error_headers(Response& r, const schemas::Error& error) {
  if (auto seconds = schemas::retry_after(error)) r.set("Retry-After", std::to_string(seconds));
  r.set("Cache-Control", "no-store");
}

schemas::Error error_of(std::exception_ptr failure, std::string_view request_id) {
  try {
    std::rethrow_exception(failure);
  } catch (const schemas::Error& e) {
    return e;
  } catch (const std::exception& e) {
    log::error("unhandled_exception", {{"request_id", request_id}, {"error", e.what()}});
  } catch (...) {
    log::error("unhandled_exception", {{"request_id", request_id}, {"error", "not a std::exception"}});
  }
  return schemas::Error(schemas::ErrorCode::internal_error);
}

Response error_response(std::exception_ptr failure, const ErrorStyle& style, std::string_view request_id) {
  return error_response(error_of(std::move(failure), request_id), style);
}

}  // namespace imgpipe::gateway
