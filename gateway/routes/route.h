#pragma once
// One row of the route table (route_table.cpp lists them all): which
// methods and path it answers, how its body is read, the handler, the
// metric label and the API family that shapes its errors. The router reads
// dispatch, 405/Allow, HEAD, body limits and metric labels from the rows;
// nothing else decides what a URL is.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http/error_response.h"
#include "gateway/http/http_types.h"

namespace imgpipe::gateway::routes {

struct Services;

// Methods a row answers, as bits. HEAD is answered by every GET row.
enum Method : uint8_t { GET = 1, POST = 2, PUT = 4, PATCH = 8, DELETE = 16 };
using Methods = uint8_t;

// The bit of a request method (HEAD counts as GET); 0 for any other.
Methods method_bit(std::string_view method);
// "GET, HEAD, POST": the Allow header of a 405.
std::string allow_header(Methods methods);

// Values of a pattern's {params} in one path: views into the request's path
// and the pattern's names (no copies: src requests match on every call).
class PathParams {
 public:
  // The value of {name}; empty when the pattern has no such param.
  std::string_view get(std::string_view name) const;
  void add(std::string_view name, std::string_view value);
  size_t size() const { return count_; }

 private:
  static constexpr size_t kMax = 4;
  std::array<std::pair<std::string_view, std::string_view>, kMax> values_{};
  size_t count_ = 0;
};

// A path pattern: '/'-separated segments, each a literal ("v1"), a param
// ("{id}": one non-empty segment) or a param pair split at the segment's
// last dot ("{id}.{ext}": both sides non-empty). "/" is the root. Matching
// walks the path once with string_view: no regex, no allocation.
class PathPattern {
 public:
  // `pattern` must outlive the table: rows are written as string literals.
  PathPattern(const char* pattern);  // NOLINT(google-explicit-constructor)
  std::string_view text() const { return text_; }
  // Only literal segments: matched by comparing the whole path.
  bool literal() const { return literal_; }
  bool match(std::string_view path, PathParams& params) const;
  // How many '/'-separated segments a matching path has (0 for "/").
  size_t segments() const { return segments_.size(); }
  static constexpr size_t kMaxSegments = 4;
  // Some path matches both patterns (the table's overlap test uses it).
  bool overlaps(const PathPattern& other) const;

 private:
  struct Segment {
    std::string_view literal;            // set for literal segments
    std::string_view name, second_name;  // {name} or {name}.{second_name}
    bool param() const { return !name.empty(); }
    bool dotted() const { return !second_name.empty(); }
  };
  std::string_view text_;
  std::vector<Segment> segments_;  // views into text_
  bool literal_ = true;
};

// A JSON body carrying an image's fields (POST /v1/images with a URL, PATCH):
// room for every field at its bounds (docs/api.md: 50 metadata values of
// 1024 characters, 20 labels, a caption) in multi-byte UTF-8.
inline constexpr uint64_t kImageFieldsJsonLimit = 256 * 1024;

// How the transport reads a body for this row.
struct BodyRule {
  // Read whole into Request::body, at most this many bytes (requests
  // without a body send none; the limit bounds what a client may push).
  uint64_t limit = 16 * 1024;
  // Set for streamed bodies: decides from the headers alone (caller,
  // limits) and returns the StreamBody, or a RejectBody.
  BodyPlan (*stream)(Services& services, const Request& head, const ErrorStyle& errors) = nullptr;
};

// One request at its handler.
struct Call {
  // A handler that answers on another thread may move the body out (the
  // router reads only the head afterwards).
  Request& request;
  const PathParams& params;
  const Respond& respond;  // once, from any thread; copied by a handler that answers later
  ErrorStyle errors;   // the row's family and the upgrade link
  // Answers with the error, shaped for the row's family.
  void fail(const schemas::Error& e) const { respond(error_response(e, errors)); }
};

// Handlers may answer now or later (respond is callable from any thread);
// a schemas::Error thrown before answering becomes the row's error answer.
// Streamed rows have none: their BodyRule::stream plan answers through its sink.
using HandlerFn = void (*)(Services& services, const Call& call);

struct Route {
  Methods methods;
  PathPattern path;
  BodyRule body;
  HandlerFn handler;
  const char* metric;  // the `route` label of the HTTP metrics; bounded, never the raw path
  ApiFamily family;
};

}  // namespace imgpipe::gateway::routes
