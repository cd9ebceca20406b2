#include "schemas/errors.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

namespace imgpipe::schemas {
namespace {

using enum ErrorCode;
using A = ActionType;

constexpr std::array kTable = {
    ErrorInfo{bad_request, "validation_error", 400, "The request is malformed.", A::fix_request,
              "Fix the request and send it again", false, "invalid_request_error"},
    ErrorInfo{invalid_field, "validation_error", 422, "A field has an invalid value.", A::fix_request,
              "Correct the field and send it again", false, "invalid_request_error"},
    ErrorInfo{unauthorized, "unauthorized", 401, "The API key is missing, malformed, unknown or revoked.",
              A::register_key, "Send a valid key as 'Authorization: Bearer img_live_...'", false, "authentication_error"},
    ErrorInfo{key_limit_reached, "key_limit_reached", 403,
              "This email already has the maximum number of unverified keys.", A::verify,
              "Verify one of the existing keys from the email we sent", false, "permission_error"},
    ErrorInfo{quota_exceeded, "quota_exceeded", 403, "The plan's quota is used up.", A::upgrade,
              "Upgrade the plan", false, "quota_error"},
    ErrorInfo{import_forbidden, "import_forbidden", 403,
              "The URL points to an address that may not be fetched.", A::fix_request,
              "Use a public http(s) URL", false, "invalid_request_error"},
    ErrorInfo{not_found, "not_found", 404, "No such resource.", A::fix_request, "Check the id or path", false, "invalid_request_error"},
    ErrorInfo{method_not_allowed, "method_not_allowed", 405, "This method is not allowed here.", A::fix_request,
              "Use a method the endpoint accepts", false, "invalid_request_error"},
    ErrorInfo{file_too_large, "file_too_large", 413, "The file is larger than the limit.", A::upgrade,
              "Send a smaller file or use a plan with a higher limit", false, "invalid_request_error"},
    ErrorInfo{unsupported_format, "unsupported_format", 415,
              "The file is not an image in a supported format (JPEG, PNG, WebP, GIF, AVIF, HEIC).",
              A::fix_request, "Convert the file to a supported format", false, "invalid_request_error"},
    ErrorInfo{invalid_image, "invalid_image", 422, "The image is truncated or corrupt.", A::fix_request,
              "Re-export the image and upload it again", false, "invalid_request_error"},
    ErrorInfo{image_too_large, "image_too_large", 422, "The image has more pixels than the limit.",
              A::fix_request, "Downscale the image and upload it again", false, "invalid_request_error"},
    ErrorInfo{invalid_token, "invalid_token", 400, "The link is invalid, expired or already used.",
              A::register_key, "Request a new key to get a fresh link", false, "invalid_request_error"},
    ErrorInfo{rate_limited, "rate_limited", 429, "Too many requests.", A::wait, "Wait and try again", true, "rate_limit_error"},
    ErrorInfo{headers_too_large, "headers_too_large", 431, "The request headers are too large.",
              A::fix_request, "Send smaller headers", false, "invalid_request_error"},
    ErrorInfo{internal_error, "internal_error", 500, "Something went wrong on our side.", A::retry,
              "Try again; report the request id if it persists", true, "api_error"},
    ErrorInfo{import_failed, "import_failed", 502, "The remote server did not return the image.",
              A::fix_request, "Check that the URL serves the image publicly", false, "processing_error"},
    ErrorInfo{import_unreachable, "import_unreachable", 502, "The remote server could not be reached.",
              A::retry, "Check the URL's host, or try again later", true, "processing_error"},
    ErrorInfo{service_unavailable, "service_unavailable", 503,
              "The service cannot accept this request right now.", A::retry, "Try again after Retry-After seconds",
              true, "api_error"},
    ErrorInfo{import_timeout, "import_timeout", 504, "The remote server was too slow.", A::retry,
              "Try again, or host the image on a faster server", true, "processing_error"},
    ErrorInfo{processing_timeout, "processing_timeout", 503, "The image was not processed in time.", A::retry,
              "Try again after Retry-After seconds", true, "api_error"},
    ErrorInfo{insufficient_storage, "insufficient_storage", 507, "The server has no room to store this upload.",
              A::retry, "Try again later; the operator has to free disk space", true, "api_error"},
    ErrorInfo{forbidden, "forbidden", 403, "This API key may not do this.", A::fix_request,
              "Use a key with the needed ability (read or write)", false, "permission_error"},
    ErrorInfo{idempotency_key_conflict, "idempotency_key_conflict", 409,
              "This Idempotency-Key was used with a different request.", A::fix_request,
              "Send a new Idempotency-Key for a new request", false, "idempotency_error"},
    ErrorInfo{idempotency_key_in_progress, "idempotency_key_in_progress", 409,
              "The first request with this Idempotency-Key is still running.", A::wait,
              "Send it again after Retry-After seconds", true, "idempotency_error"},
    ErrorInfo{fetch_failed, "fetch_failed", 502, "The remote server did not return the image.", A::fix_request,
              "Check that the URL serves the image publicly", false, "processing_error"},
    ErrorInfo{fetch_timeout, "fetch_failed", 504, "The remote server was too slow.", A::retry,
              "Try again, or host the image on a faster server", true, "processing_error"},
    ErrorInfo{image_not_ready, "image_not_ready", 409, "The image is not ready: it is processing, or it failed.",
              A::fix_request, "Update it once its status is ready (delete a failed one)", false,
              "invalid_request_error"},
};

}  // namespace

std::span<const ErrorInfo> error_table() { return kTable; }

const ErrorInfo& error_info(ErrorCode id) {
  for (const auto& e : kTable)
    if (e.id == id) return e;
  return kTable[static_cast<size_t>(internal_error)];
}

const ErrorInfo* find_error(std::string_view code, int http_status) {
  for (const auto& e : kTable)
    if (e.code == code && e.http_status == http_status) return &e;
  return nullptr;
}

Error error_from_code(std::string_view code, std::string message) {
  for (const auto& e : kTable)
    if (e.code == code) return Error(e.id, std::move(message));
  return Error(internal_error);
}

std::string_view action_name(ActionType a) {
  switch (a) {
    case A::fix_request: return "fix_request";
    case A::retry: return "retry";
    case A::wait: return "wait";
    case A::verify: return "verify";
    case A::upgrade: return "upgrade";
    case A::register_key: return "register";
    case A::contact: return "contact";
  }
  return "retry";
}

Error::Error(ErrorCode id) : std::runtime_error(std::string(error_info(id).message)), id_(id) {}
Error::Error(ErrorCode id, std::string message) : std::runtime_error(std::move(message)), id_(id) {}

nlohmann::json error_json(const Error& e, std::string_view upgrade_url) {
  const auto& info = e.info();
  nlohmann::json action = {{"type", action_name(info.action)}, {"label", info.action_label}};
  if (e.retry_after_seconds) action["seconds"] = *e.retry_after_seconds;
  if (!upgrade_url.empty() && (info.action == A::upgrade || info.action == A::register_key || info.action == A::verify))
    action["url"] = upgrade_url;
  nlohmann::json body = {{"error", info.code}, {"message", e.what()}, {"action", std::move(action)}};
  if (!e.extra_json.empty()) {
    auto extra = nlohmann::json::parse(e.extra_json, nullptr, false);
    if (extra.is_object()) body.update(extra);
  }
  return body;
}

std::string error_body(const Error& e, std::string_view upgrade_url) { return error_json(e, upgrade_url).dump(); }

int64_t retry_after(const Error& e) {
  if (!e.info().retryable) return 0;
  return std::max<int64_t>(1, e.retry_after_seconds.value_or(1));
}

Error as_fetch_failed(const Error& e) {
  if (e.id() != import_failed && e.id() != import_unreachable && e.id() != import_timeout) return e;
  Error shaped(e.id() == import_timeout ? fetch_timeout : fetch_failed, e.what());
  shaped.retry_after_seconds = e.retry_after_seconds;
  return shaped;
}

nlohmann::json nested_error_json(const Error& e, std::string_view upgrade_url, bool anonymous) {
  const auto& info = e.info();
  nlohmann::json error = {{"type", info.type}, {"code", info.code}, {"message", e.what()}};
  // Shape C's actions: upgrade and signup carry a URL, wait carries retry_after.
  // A caller without a key has no plan to upgrade: getting a key is its way up.
  const bool signup = info.action == A::register_key || (info.action == A::upgrade && anonymous);
  if (info.retryable) error["action"] = {{"type", "wait"}, {"retry_after", retry_after(e)}};
  else if (signup && !upgrade_url.empty()) error["action"] = {{"type", "signup"}, {"url", upgrade_url}};
  else if (info.action == A::upgrade && !upgrade_url.empty()) error["action"] = {{"type", "upgrade"}, {"url", upgrade_url}};
  if (!e.extra_json.empty()) {
    auto extra = nlohmann::json::parse(e.extra_json, nullptr, false);
    if (extra.is_object()) {
      extra.erase("action");  // shape B's (verify, a label): shape C keeps its own types
      error.update(extra);    // "usage", "details"
    }
  }
  return {{"error", std::move(error)}};
}

}  // namespace imgpipe::schemas
