#pragma once
// Beast-free view of HTTP for handlers: the transport (http_server.cpp, the
// only file that includes Beast) turns the wire into these and back, so
// handlers are plain functions GoogleTest can call without a socket.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace imgpipe::schemas { class Error; }

namespace imgpipe::gateway {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // raw request target: "/v1/upload?x=1"
  std::string path;     // decoded path without query: "/v1/upload"
  std::string query;    // raw query without '?': "size=m"
  Headers headers;      // as received
  std::string body;     // buffered bodies only (see BodyPlan)
  std::string peer_ip;  // the socket's peer address
  std::optional<uint64_t> content_length;
  bool chunked = false;
  std::string request_id;  // assigned by the transport, echoed as X-Request-Id
  // The handler's own note from plan_body, carried to handle() and the
  // access record so a request is routed once (the router: its table row).
  size_t route = kNoRoute;
  static constexpr size_t kNoRoute = static_cast<size_t>(-1);

  // Case-insensitive header lookup; empty when absent.
  std::string_view header(std::string_view name) const;
  // Value of a query parameter (first occurrence, percent-decoded).
  std::optional<std::string> query_param(std::string_view name) const;
  // Every query parameter in order, percent-decoded (none when malformed).
  std::vector<std::pair<std::string, std::string>> query_params() const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // When set, the body is this file (sent without loading it whole) and `body` is ignored.
  std::string file_path;
  uint64_t file_size = 0;
  // When set (and file_path is not), the body is these shared, immutable
  // bytes — a cached blob sent without a copy — and `body` is ignored.
  std::shared_ptr<const std::string> shared_body;
  // Header lines in static storage, written after `headers` as they are:
  // "Name: value\r\n" each, never a framing header. The constant headers of
  // every image answer, without an allocation or a check per request.
  std::string_view fixed_headers;
  // Header lines a handler keeps for an answer it gives often (a hot
  // image's ETag, type and disposition), written after `headers` and before
  // `fixed_headers` as they are: made by append_header_lines(), which applies
  // sendable_header() once.
  std::shared_ptr<const std::string> prepared_headers;

  void set(std::string_view name, std::string value);
  static Response json(int status, std::string body);
  static Response html(int status, std::string body);
  // The transport's errors (no route known yet): error_response(e) in the
  // flat shape (gateway/http/error_response.h).
  static Response error(const schemas::Error& e);
};

// Whether a handler's header goes on the wire: not a framing header (the
// transport writes Connection, Content-Length and Transfer-Encoding from the
// message), and no CR, LF or NUL in name or value (logged as unsafe_header:
// handlers only set values they built, so that is a bug, not input).
bool sendable_header(std::string_view name, std::string_view value, std::string_view request_id);
// Appends "Name: value\r\n" for each sendable header to `out`: the transport's
// header block, and Response::prepared_headers made once by a handler.
void append_header_lines(std::string& out, const Headers& headers, std::string_view request_id);

using Respond = std::function<void(Response)>;  // callable once, from any thread

// Receives a streamed request body chunk by chunk (never whole in memory).
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Throws schemas::Error to abort the request (the transport answers with it
  // and closes the connection without reading the rest).
  virtual void write(const char* data, size_t size) = 0;
  // The whole body arrived.
  virtual void finish(Respond respond) = 0;
};

// What the transport does with a body after the handler has seen the headers.
struct BufferBody { uint64_t limit = 64 * 1024; };       // read it whole, then handle()
struct StreamBody { std::unique_ptr<BodySink> sink; uint64_t limit = 0; };  // feed the sink; limit enforced by the transport too
struct RejectBody { Response response; };                 // answer now, do not read the body
using BodyPlan = std::variant<BufferBody, StreamBody, RejectBody>;

class Handler {
 public:
  virtual ~Handler() = default;
  // Called with headers only (body empty). Must not block.
  virtual BodyPlan plan_body(Request& head) = 0;
  // Called for BufferBody plans with the whole body. Must not block: long
  // work goes to a pool, and `respond` is called when it is done.
  virtual void handle(Request&& request, Respond respond) = 0;
  // A failure once the route is known (a body too large or malformed, a
  // sink's error) in the shape of the request's API; the transport's own.
  virtual Response error_answer(const Request& head, const schemas::Error& e) { return Response::error(e); }
};

}  // namespace imgpipe::gateway
