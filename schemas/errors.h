#pragma once
// The one table of errors every caller sees. Each entry carries the stable
// public code, the HTTP status, a human message and the action to take.
// The same table renders JSON error bodies, /docs/errors and docs/errors.md
// (gateway/docs/reference.h).

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace imgpipe::schemas {

enum class ErrorCode {
  bad_request,          // validation_error, 400: the request is malformed
  invalid_field,        // validation_error, 422: a field fails its rule
  unauthorized,         // 401
  key_limit_reached,    // 403
  quota_exceeded,       // 403
  import_forbidden,     // 403
  not_found,            // 404
  method_not_allowed,   // 405
  file_too_large,       // 413
  unsupported_format,   // 415
  invalid_image,        // 422
  image_too_large,      // 422
  invalid_token,        // 400
  rate_limited,         // 429
  headers_too_large,    // 431
  internal_error,       // 500
  import_failed,        // 502
  import_unreachable,   // 502
  service_unavailable,  // 503
  import_timeout,       // 504
  processing_timeout,   // 503: the pipeline did not answer in time
  insufficient_storage, // 507: the server's disk is full
  forbidden,            // 403: the key lacks the ability (read, write) the route needs
  idempotency_key_conflict,     // 409: the Idempotency-Key was used with another request
  idempotency_key_in_progress,  // 409: the Idempotency-Key's first request is still running
  // Shape C's name for a URL create's fetch failures (POST /v1/images with
  // {"url"}); shape B's /v1/import keeps import_failed/_unreachable/_timeout.
  fetch_failed,         // fetch_failed, 502: the origin answered with an error, refused or reset
  fetch_timeout,        // fetch_failed, 504: the origin was too slow
  image_not_ready,      // 409: the image is processing or failed (PATCH needs a ready image)
};


// What the caller should do next. Rendered as body.action.
enum class ActionType { fix_request, retry, wait, verify, upgrade, register_key, contact };

struct ErrorInfo {
  ErrorCode id;
  std::string_view code;      // stable, public: "validation_error"
  int http_status;
  std::string_view message;   // default human message
  ActionType action;
  std::string_view action_label;
  bool retryable;             // answers carry Retry-After
  std::string_view type;      // img.pro shape C error type: "invalid_request_error"
};

std::span<const ErrorInfo> error_table();
const ErrorInfo& error_info(ErrorCode id);
// The entry with this public code and status (validation_error is 400 and
// 422); nullptr when there is none.
const ErrorInfo* find_error(std::string_view code, int http_status);
std::string_view action_name(ActionType a);

// The one exception type that crosses module walls. Third-party failures are
// translated into it at their wrapper; `message` is safe to show a client.
class Error : public std::runtime_error {
 public:
  explicit Error(ErrorCode id);
  Error(ErrorCode id, std::string message);

  ErrorCode id() const { return id_; }
  const ErrorInfo& info() const { return error_info(id_); }
  // Seconds for Retry-After / action.seconds where it applies.
  std::optional<int64_t> retry_after_seconds;
  // Extra fields merged into the body (e.g. "usage" for quota errors).
  std::string extra_json;  // a JSON object as text, or empty

 private:
  ErrorCode id_;
};

// Seconds a retryable error asks the caller to wait (Retry-After); 0 when not retryable.
int64_t retry_after(const Error& e);

// The error a `failed` event or record names by its public code (the first
// entry with it), with its message; internal_error for a code not known here.
Error error_from_code(std::string_view code, std::string message);

// Shape C's fetch_failed (502, or 504 for a time-out) for the import
// failures of a URL create; any other error unchanged (SSRF refusals stay
// import_forbidden). Shape B's /v1/import answers the import codes.
Error as_fetch_failed(const Error& e);

// Shape B (flat): {"error": code, "message": ..., "action": {...}} plus any extra fields.
std::string error_body(const Error& e, std::string_view upgrade_url = {});
nlohmann::json error_json(const Error& e, std::string_view upgrade_url = {});
// Shape C (nested): {"error": {"type", "code", "message", "action"?, ...extra}}
// (docs: ../shared img.pro-api.md "Shape C errors"); the same table, another rendering.
// `anonymous`: the caller sent no key, so an upgrade action is a signup.
nlohmann::json nested_error_json(const Error& e, std::string_view upgrade_url = {}, bool anonymous = false);

}  // namespace imgpipe::schemas
