#include "gateway/routes/router.h"

#include <algorithm>
#include <stdexcept>

#include "gateway/pages/pages.h"

namespace imgpipe::gateway::routes {
namespace {

using schemas::Error;
using schemas::ErrorCode;

// A browser navigating (GET, HTML first in its Accept): API clients, curl
// (*/*) and <img> requests (image/*) get JSON.
bool browser_navigation(const Request& request) {
  return (request.method == "GET" || request.method == "HEAD") &&
         request.header("Accept").find("text/html") != std::string_view::npos;
}

std::vector<std::string> labels_of(const std::vector<Route>& rows) {
  std::vector<std::string> labels;
  for (const auto& r : rows) labels.emplace_back(r.metric);
  return labels;
}

}  // namespace

Router::Router(std::vector<Route> rows, Services& services)
    : rows_(std::move(rows)),
      services_(services),
      upgrade_link_(services.config.upgrade_link()),
      metrics_(labels_of(rows_)) {
  for (size_t i = 0; i < rows_.size(); ++i)
    (rows_[i].path.literal() ? literal_rows_[rows_[i].path.text()] : pattern_rows_[rows_[i].path.segments()])
        .push_back(i);
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch m;
  const Methods want = method_bit(method);
  PathParams params;
  // Literal paths win over patterns ("/healthz" is not a viewer id); within
  // a tier the table has no overlaps (tests/gateway/routes), so order only
  // decides which row of a shared path answers which method.
  static const std::vector<size_t> kNone;
  auto literal = literal_rows_.find(path);
  const auto segments = static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
  const auto* patterns = segments < pattern_rows_.size() ? &pattern_rows_[segments] : &kNone;
  std::string_view failed;  // a pattern several rows share (one per method) is tried once
  for (const auto* tier : {literal == literal_rows_.end() ? &kNone : &literal->second, patterns}) {
    for (size_t i : *tier) {
      const auto& row = rows_[i];
      if (row.path.text() == failed) continue;
      if (!row.path.match(path, params)) {
        failed = row.path.text();
        continue;
      }
      if (!m.path_row) m.path_row = &row;
      m.allowed |= row.methods;
      if (row.methods & want) {
        m.route = &row;
        m.params = params;
        return m;
      }
    }
    if (m.path_row) return m;  // a literal path that lacks the method: 405, not a pattern's row
  }
  return m;
}

RouteMatch Router::match(const Request& request) const {
  if (request.route < rows_.size()) {
    const auto& row = rows_[request.route];
    RouteMatch m;
    if (row.path.match(request.path, m.params)) {
      m.route = m.path_row = &row;
      m.allowed = row.methods;
      return m;
    }
  }
  return match(request.method, request.path);
}

BodyPlan Router::plan_body(Request& head) {
  auto m = match(head.method, head.path);
  // No row: a small body is read and handle() answers 404 or 405.
  if (!m.route) return BufferBody{16 * 1024};
  head.route = static_cast<size_t>(m.route - rows_.data());
  if (!m.route->body.stream) return BufferBody{m.route->body.limit};
  auto errors = style(m.route->family, head);
  try {
    return m.route->body.stream(services_, head, errors);
  } catch (...) {
    return RejectBody{error_response(std::current_exception(), errors, head.request_id)};
  }
}

void Router::handle(Request&& request, Respond respond) {
  auto m = match(request);
  if (!m.route) {
    if (!m.allowed) return respond(failure(request, nearest_row(request), Error(ErrorCode::not_found)));
    auto errors = style(m.path_row->family, request);
    auto allow = allow_header(m.allowed);
    auto r = error_response(Error(ErrorCode::method_not_allowed, "This endpoint accepts " + allow + "."), errors);
    r.set("Allow", std::move(allow));
    return respond(std::move(r));
  }
  Call call{request, m.params, respond, style(m.route->family, request)};
  try {
    if (!m.route->handler) throw std::logic_error("streamed route reached handle(): " + std::string(m.route->metric));
    m.route->handler(services_, call);
  } catch (...) {
    // Thrown before answering (validation, limits, a bad key): the handler
    // did not call respond, so this answer is the only one.
    respond(failure(request, m.route, error_of(std::current_exception(), request.request_id)));
  }
}

Response Router::failure(const Request& request, const Route* row, const schemas::Error& e) const {
  if ((!row || row->family == ApiFamily::pages) && browser_navigation(request))
    return pages::error_page(services_.config, e);
  return error_response(e, style(row ? row->family : ApiFamily::shape_b, request));
}

const Route* Router::nearest_row(const Request& request) const {
  std::string_view path = request.path;
  if (path.size() < 2 || path.back() != '/') return nullptr;
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return match(request.method, path).path_row;
}

Response Router::error_answer(const Request& head, const schemas::Error& e) {
  auto m = match(head);
  return error_response(e, style(m.path_row ? m.path_row->family : ApiFamily::shape_b, head));
}

void Router::observe(const AccessRecord& record) {
  if (record.route < rows_.size()) return metrics_.observe(record.route, record);
  auto m = match(record.method, record.path);
  metrics_.observe(m.path_row ? static_cast<size_t>(m.path_row - rows_.data()) : rows_.size(), record);
}

}  // namespace imgpipe::gateway::routes
