#pragma once
// The one way a failure becomes an answer: the transport's own refusals
// (bad request line, headers too large, body over the limit, handler
// timeout), the router's 404/405, a handler's schemas::Error, a worker's
// outcome and any unknown exception all come through here. The entry of
// schemas/errors.cpp fixes status, body and Retry-After; the route's API
// family picks the body's shape.

#include <exception>
#include <string_view>

#include "gateway/http/http_types.h"
#include "schemas/errors.h"

namespace imgpipe::gateway {

// Which API a route belongs to; it decides how its errors look.
enum class ApiFamily {
  shape_b,     // img.pro's original API (/v1/upload, /v1/import, /v1/keys, today's /v1/images): flat errors
  shape_c,     // img.pro's images API (the next issue): nested {"error": {"type", "code", ...}}
  pages,       // HTML pages (upload page, viewer): flat JSON errors, like shape B
  operations,  // health, readiness, metrics, the loopback admin API: flat errors
};

struct ErrorStyle {
  ApiFamily family = ApiFamily::shape_b;
  std::string_view upgrade_url;  // where action.url points for upgrade/register actions (--upgrade-url)
  // The request carried no API key: shape C tells such a caller to sign up
  // (get a key) where it tells a key holder to upgrade.
  bool anonymous = false;
};

// Status and body from the error table; every error answer carries
// Cache-Control: no-store, and a retryable one Retry-After (at least 1 s).
Response error_response(const schemas::Error& error, const ErrorStyle& style = {});
// Anything caught: schemas::Error as above; any other exception is logged
// once with the request id and answered as internal_error without detail.
Response error_response(std::exception_ptr failure, const ErrorStyle& style, std::string_view request_id);
// What a caught failure is, for an answer rendered elsewhere (an HTML page):
// the schemas::Error, or internal_error (the exception logged as above).
schemas::Error error_of(std::exception_ptr failure, std::string_view request_id);
// The error headers every rendering carries: Cache-Control: no-store, and
// for a retryable error Retry-After.
void set_error_headers(Response& r, const schemas::Error& error);

}  // namespace imgpipe::gateway
