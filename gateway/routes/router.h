#pragma once
// The transport's Handler over the route table: finds the row of a request
// (literal paths first, then patterns, in table order), plans its body,
// answers 404 and 405 (with Allow) itself, maps HEAD to GET rows, runs the
// handler and turns whatever it throws into the row's error answer. Also
// labels the HTTP metrics by row.

#include <array>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/http/http_server.h"
#include "gateway/metrics.h"
#include "gateway/routes/route.h"
#include "gateway/routes/services.h"

namespace imgpipe::gateway::routes {

struct RouteMatch {
  const Route* route = nullptr;  // the row to run; null: 404 (allowed == 0) or 405
  const Route* path_row = nullptr;  // the first row whose path matched (its label and family apply to a 405)
  Methods allowed = 0;            // every method the path answers: the 405's Allow
  PathParams params;
};

class Router : public Handler {
 public:
  Router(std::vector<Route> rows, Services& services);

  // Notes the row in head.route, so handle() and observe() need not route again.
  BodyPlan plan_body(Request& head) override;
  void handle(Request&& request, Respond respond) override;
  Response error_answer(const Request& head, const schemas::Error& e) override;

  RouteMatch match(std::string_view method, std::string_view path) const;
  // The match of a request whose row plan_body noted (or a fresh one).
  RouteMatch match(const Request& request) const;
  // HttpServerConfig::on_response: counts and times the request by row and status.
  void observe(const AccessRecord& record);

  const std::vector<Route>& rows() const { return rows_; }
  // How errors to this request look: the row's family, the upgrade link, and
  // whether the caller sent a key at all (asked only where it changes the
  // answer, shape C: not on the image rows' hot path).
  ErrorStyle style(ApiFamily family, const Request& request) const {
    return {family, upgrade_link_, family == ApiFamily::shape_c && request.header("Authorization").empty()};
  }

 private:
  // The error answer for a request to `row` (null: no row): an HTML page for
  // a browser's navigation to a page or to nothing, JSON in the row's family otherwise.
  Response failure(const Request& request, const Route* row, const schemas::Error& e) const;
  // The row whose family shapes a 404 for a path no row has: a path with a
  // trailing slash answers like the path without it (a shape C client's
  // /v1/images/ gets a shape C error).
  const Route* nearest_row(const Request& request) const;

  std::vector<Route> rows_;
  // Indices into rows_, in table order: literal paths by path, then patterns
  // by their number of segments (a path is only tried against patterns of
  // as many segments as it has: most src and viewer requests try one or two).
  std::unordered_map<std::string_view, std::vector<size_t>> literal_rows_;
  std::array<std::vector<size_t>, PathPattern::kMaxSegments + 1> pattern_rows_;
  Services& services_;
  std::string upgrade_link_;
  RouteMetrics metrics_;
};

}  // namespace imgpipe::gateway::routes
