// The transport over real loopback sockets, with a plain POSIX client so the
// bytes on the wire are exactly what the test wrote.
#include "gateway/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "schemas/errors.h"
#include "schemas/log.h"

namespace imgpipe::gateway {
namespace {

using namespace std::chrono_literals;
using schemas::Error;
using schemas::ErrorCode;

// ---- a tiny blocking HTTP/1.1 client --------------------------------------

struct WireResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? std::string() : it->second;
  }
};

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = connect_to(port);
    if (fd_ < 0) throw std::runtime_error("connect failed");
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  // From a given loopback source address (127.0.0.2 is a second client).
  Client(uint16_t port, const char* from) {
    fd_ = connect_to(port, from);
    if (fd_ < 0) throw std::runtime_error("connect failed");
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  static int connect_to(uint16_t port, const char* from = nullptr) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (from != nullptr) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      inet_pton(AF_INET, from, &src.sin_addr);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        ::close(fd);
        return -1;
      }
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  // Returns false once the peer stopped reading (errors are expected in some tests).
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // One response; nullopt when the connection closed first.
  std::optional<WireResponse> read(bool head_request = false) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return std::nullopt;
    WireResponse r;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    size_t eol = head.find("\r\n");
    std::string status_line = head.substr(0, eol);
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = eol == std::string::npos ? head.size() : eol + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      size_t c = line.find(':');
      std::string name = line.substr(0, c);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string value = line.substr(c + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
      pos = e + 2;
    }
    if (head_request || r.status < 200 || r.status == 204 || r.status == 304) return r;
    if (r.headers.count("content-length")) {
      size_t len = std::stoul(r.headers["content-length"]);
      while (buf_.size() < len)
        if (!fill()) return std::nullopt;
      r.body = buf_.substr(0, len);
      buf_.erase(0, len);
    } else {
      while (fill()) {
      }
      r.body = std::move(buf_);
      buf_.clear();
    }
    return r;
  }
  // Whether the server closed the connection within `wait` (a poll, no sleep).
  bool closed_by_peer_within(std::chrono::milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    return closed_by_peer();
  }
  // The first bytes that arrive (at most `n`), leaving the rest unread.
  std::string first_bytes(size_t n) {
    std::string out(n, '\0');
    ssize_t got = ::recv(fd_, out.data(), n, 0);
    out.resize(got > 0 ? static_cast<size_t>(got) : 0);
    return out;
  }
  // True when the server closed the connection (EOF or reset) within the timeout.
  bool closed_by_peer() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

 private:
  bool fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

std::string chunked(const std::string& body, size_t piece) {
  std::string out;
  char hex[32];
  for (size_t i = 0; i < body.size(); i += piece) {
    size_t n = std::min(piece, body.size() - i);
    std::snprintf(hex, sizeof hex, "%zx\r\n", n);
    out += hex;
    out += body.substr(i, n);
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

// ---- the handler under the transport --------------------------------------

class TestHandler;

class RecordingSink : public BodySink {
 public:
  RecordingSink(TestHandler& h, bool fail) : h_(h), fail_(fail) {}
  void write(const char* data, size_t size) override;
  void finish(Respond respond) override;

 private:
  TestHandler& h_;
  bool fail_;
};

class TestHandler : public Handler {
 public:
  ~TestHandler() override {
    for (auto& t : threads) t.join();
  }

  BodyPlan plan_body(Request& head) override {
    plans++;
    if (head.path == "/reject") return RejectBody{Response::error(Error(ErrorCode::unauthorized))};
    if (head.path == "/stream") return StreamBody{std::make_unique<RecordingSink>(*this, false), 10u << 20};
    if (head.path == "/small-stream") return StreamBody{std::make_unique<RecordingSink>(*this, false), 1000};
    if (head.path == "/sink-fails") return StreamBody{std::make_unique<RecordingSink>(*this, true), 10u << 20};
    if (head.path == "/small") return BufferBody{1000};
    if (head.path == "/plan-throws") throw std::runtime_error("boom at /etc/imgpipe/secret");
    return BufferBody{1u << 20};
  }

  void handle(Request&& req, Respond respond) override {
    if (req.path == "/echo" || req.path == "/small" || req.path == "/echo/caf\xc3\xa9") {
      Response r;
      r.body = req.body;
      r.set("Content-Type", "application/octet-stream");
      r.set("X-Method", req.method);
      r.set("X-Path", req.path);
      r.set("X-Name", req.query_param("name").value_or("-"));
      r.set("X-Chunked", req.chunked ? "1" : "0");
      r.set("X-Peer", req.peer_ip);
      r.set("X-Seen-Request-Id", req.request_id);
      respond(std::move(r));
    } else if (req.path == "/head") {
      Response r;
      r.body = "hello world";
      r.set("Content-Type", "text/plain");
      respond(std::move(r));
    } else if (req.path == "/slow") {
      entered.set_value();
      threads.emplace_back([respond, d = slow_delay] {
        std::this_thread::sleep_for(d);
        respond(Response::json(200, "{\"slow\":true}"));
      });
    } else if (req.path == "/block") {
      // Holds its I/O thread (a handler doing long work in place) until released.
      blocking.set_value();
      release.wait();
      respond(Response::json(200, "{\"blocked\":true}"));
    } else if (req.path == "/throw") {
      throw std::runtime_error("secret /var/lib/imgpipe/blobs");
    } else if (req.path == "/twice") {
      respond(Response::json(200, "{\"n\":1}"));
      respond(Response::json(200, "{\"n\":2}"));
    } else if (req.path == "/drop") {
      // respond is dropped without being called
    } else if (req.path == "/inject") {
      // A handler bug: a value with a line break must not split the header block.
      Response r = Response::json(200, "{}");
      r.set("X-Bad", "a\r\nSet-Cookie: evil=1");
      r.set("X-Good", "fine");
      respond(std::move(r));
    } else if (req.path == "/not-modified") {
      Response r;
      r.status = 304;
      r.body = "must not be sent";  // a 304 has no body on the wire, whatever the handler left in it
      r.set("ETag", "\"e\"");
      respond(std::move(r));
    } else if (req.path == "/big") {
      Response r;
      r.body = std::string(64 << 20, 'b');  // far more than the socket buffers hold
      r.set("Content-Type", "application/octet-stream");
      respond(std::move(r));
    } else if (req.path == "/file") {
      Response r;
      r.file_path = file_path;
      r.set("Content-Type", "image/jpeg");
      r.set("X-Bad", "a\r\nSet-Cookie: evil=1");  // must not be sent by the file-body path either
      respond(std::move(r));
    } else {
      respond(Response::error(Error(ErrorCode::not_found)));
    }
  }

  std::mutex mu;
  std::string streamed;
  size_t chunks = 0, max_chunk = 0;
  std::atomic<int> plans{0};
  std::promise<void> entered;
  std::promise<void> blocking, unblock;
  std::shared_future<void> release = unblock.get_future().share();
  std::chrono::milliseconds slow_delay{300};
  std::vector<std::thread> threads;
  std::string file_path;
};

void RecordingSink::write(const char* data, size_t size) {
  if (fail_) throw Error(ErrorCode::unsupported_format);
  std::lock_guard lock(h_.mu);
  h_.streamed.append(data, size);
  h_.chunks++;
  h_.max_chunk = std::max(h_.max_chunk, size);
}

void RecordingSink::finish(Respond respond) {
  std::lock_guard lock(h_.mu);
  respond(Response::json(201, "{\"bytes\":" + std::to_string(h_.streamed.size()) + "}"));
}

// Lets a /block handler's thread go: at release(), or when the test leaves
// early (a failed ASSERT), so that stop() never waits for a held thread.
struct BlockRelease {
  TestHandler& handler;
  bool released = false;
  void release() {
    handler.unblock.set_value();
    released = true;
  }
  ~BlockRelease() {
    if (!released) handler.unblock.set_value();
  }
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    cfg.header_limit = 16 * 1024;
    configure(cfg);
    server = std::make_unique<HttpServer>(cfg, handler);
    server->start();
    ASSERT_NE(server->port(), 0);
  }
  void TearDown() override {
    if (server) server->stop(1s);
  }
  virtual void configure(HttpServerConfig&) {}

  WireResponse roundtrip(const std::string& request, bool head = false) {
    Client c(server->port());
    EXPECT_TRUE(c.send(request));
    auto r = c.read(head);
    EXPECT_TRUE(r.has_value());
    return r.value_or(WireResponse{});
  }

  TestHandler handler;
  std::unique_ptr<HttpServer> server;
};

TEST_F(HttpServerTest, BufferedEcho) {
  std::string body = "hello\r\nworld";
  auto r = roundtrip("POST /echo?name=a%20b HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.header("x-method"), "POST");
  EXPECT_EQ(r.header("x-name"), "a b");
  EXPECT_EQ(r.header("x-peer"), "127.0.0.1");
  EXPECT_EQ(r.header("server"), "imgpipe");
  EXPECT_EQ(r.header("x-request-id").size(), 15u);
  EXPECT_EQ(r.header("x-request-id"), r.header("x-seen-request-id"));
}

TEST_F(HttpServerTest, PathIsDecoded) {
  auto r = roundtrip("GET /echo/caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-path"), "/echo/caf\xc3\xa9");
}

TEST_F(HttpServerTest, ChunkedBufferedBody) {
  std::string body(5000, 'z');
  auto r = roundtrip("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, 700));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.header("x-chunked"), "1");
}

TEST_F(HttpServerTest, StreamedBodyArrivesWholeInChunks) {
  std::string body(5u << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 2654435761u) >> 13);
  auto r = roundtrip("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"bytes\":" + std::to_string(body.size()) + "}");
  std::lock_guard lock(handler.mu);
  EXPECT_TRUE(handler.streamed == body);
  EXPECT_GT(handler.chunks, 10u);
  EXPECT_LE(handler.max_chunk, 64u * 1024);
}

TEST_F(HttpServerTest, StreamedChunkedBody) {
  std::string body(300000, 'q');
  auto r = roundtrip("POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, 10000));
  EXPECT_EQ(r.status, 201);
  std::lock_guard lock(handler.mu);
  EXPECT_EQ(handler.streamed.size(), body.size());
}

// A streamed route asked with no body at all (Content-Length: 0, or no
// length on a POST): the sink is finished with nothing written, and its
// answer goes out (a curl -X POST of an upload used to get no answer).
TEST_F(HttpServerTest, AnEmptyStreamedBodyFinishesTheSinkWithNothing) {
  for (const char* framing : {"Content-Length: 0\r\n", ""}) {
    auto r = roundtrip(std::string("POST /stream HTTP/1.1\r\nHost: x\r\n") + framing + "\r\n");
    EXPECT_EQ(r.status, 201) << framing;
    EXPECT_EQ(r.body, "{\"bytes\":0}") << framing;
  }
  std::lock_guard lock(handler.mu);
  EXPECT_EQ(handler.streamed, "");
}

TEST_F(HttpServerTest, LimitExceededWithContentLengthBeforeReading) {
  Client c(server->port());
  // Only the header is sent: the answer must not wait for the body.
  ASSERT_TRUE(c.send("POST /small-stream HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->header("content-type"), "application/json");
  EXPECT_NE(r->body.find("\"file_too_large\""), std::string::npos) << r->body;
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(handler.streamed.empty());

  auto b = roundtrip("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" + std::string(1001, 'x'));
  EXPECT_EQ(b.status, 413);
}

TEST_F(HttpServerTest, LimitExceededWithChunkedWhileReading) {
  Client c(server->port());
  c.send("POST /small-stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
         chunked(std::string(3000, 'x'), 600));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("file_too_large"), std::string::npos);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_LE(handler.streamed.size(), 1000u);

  auto b = roundtrip("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     chunked(std::string(3000, 'x'), 600));
  EXPECT_EQ(b.status, 413);
}

TEST_F(HttpServerTest, SinkErrorIsTheAnswer) {
  Client c(server->port());
  c.send("POST /sink-fails HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_NE(r->body.find("unsupported_format"), std::string::npos);
  EXPECT_EQ(r->header("connection"), "close");
}

TEST_F(HttpServerTest, HeaderTooLarge) {
  auto r = roundtrip("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(r.status, 431);
  EXPECT_NE(r.body.find("headers_too_large"), std::string::npos);
  EXPECT_EQ(handler.plans.load(), 0);
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  Client c(server->port());
  c.send("GARBAGE\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("validation_error"), std::string::npos);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HttpServerTest, KeepAliveCarriesSeveralRequests) {
  Client c(server->port());
  for (int i = 0; i < 3; ++i) {
    std::string body = "n=" + std::to_string(i);
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\n\r\n" + body));
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, body);
    EXPECT_NE(r->header("connection"), "close");
  }
  // Pipelined: two requests in one write.
  ASSERT_TRUE(c.send("GET /head HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(c.read()->status, 200);
  EXPECT_EQ(c.read()->status, 404);
  EXPECT_EQ(server->stats().connections_total, 1u);
  EXPECT_GE(server->stats().requests_total, 5u);
}

TEST_F(HttpServerTest, HeadSendsLengthWithoutBody) {
  Client c(server->port());
  ASSERT_TRUE(c.send("HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = c.read(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), "11");
  // The next response on the connection starts right away: no body bytes came.
  ASSERT_TRUE(c.send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto g = c.read();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body, "hello world");
}

TEST_F(HttpServerTest, HeaderValueWithLineBreakIsNotSent) {
  auto r = roundtrip("GET /inject HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("set-cookie"), "");
  EXPECT_EQ(r.header("x-bad"), "");
  EXPECT_EQ(r.header("x-good"), "fine");
  EXPECT_EQ(r.body, "{}");
}

TEST_F(HttpServerTest, NotModifiedHasNoBodyAndKeepsTheConnection) {
  Client c(server->port());
  ASSERT_TRUE(c.send("GET /not-modified HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_EQ(r->header("content-length"), "");
  EXPECT_EQ(r->header("etag"), "\"e\"");
  // Had body bytes been sent, they would be read as the next status line.
  ASSERT_TRUE(c.send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto g = c.read();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 200);
  EXPECT_EQ(g->body, "hello world");
}

TEST_F(HttpServerTest, Http10KeepAliveOnlyWhenAsked) {
  Client keep(server->port());
  ASSERT_TRUE(keep.send("GET /head HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto a = keep.read();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->header("connection"), "keep-alive");
  ASSERT_TRUE(keep.send("GET /head HTTP/1.0\r\n\r\n"));
  auto b = keep.read();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body, "hello world");
  EXPECT_EQ(b->header("connection"), "close");
  EXPECT_TRUE(keep.closed_by_peer());
}

TEST_F(HttpServerTest, RespondFromAnotherThreadAfterDelay) {
  auto r = roundtrip("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"slow\":true}");
}

TEST_F(HttpServerTest, HandlerExceptionIs500WithoutDetails) {
  auto r = roundtrip("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("internal_error"), std::string::npos);
  EXPECT_EQ(r.body.find("/var/lib"), std::string::npos);
  auto p = roundtrip("POST /plan-throws HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(p.status, 500);
  EXPECT_EQ(p.body.find("secret"), std::string::npos);
  EXPECT_EQ(server->stats().responses_5xx, 2u);
}

TEST_F(HttpServerTest, RespondOnceAndDroppedRespond) {
  Client c(server->port());
  c.send("GET /twice HTTP/1.1\r\nHost: x\r\n\r\nGET /drop HTTP/1.1\r\nHost: x\r\n\r\nGET /head HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = c.read();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->body, "{\"n\":1}");
  auto b = c.read();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 500);
  auto d = c.read();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body, "hello world");
}

// A body the transport refuses (too large mid-body, a sink's error) was never
// handed to a handler to answer: nothing is logged as an error. A handler
// that drops `respond` unanswered is a bug, and that is an error.
TEST_F(HttpServerTest, RefusedBodiesLogNoErrorButADroppedRespondDoes) {
  log::setup("info");
  testing::internal::CaptureStderr();
  auto too_large = roundtrip("POST /small-stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             chunked(std::string(3000, 'x'), 600));
  auto sink_refused = roundtrip("POST /sink-fails HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" +
                                std::string(100, 'x'));
  auto refused_log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(sink_refused.status, 415);
  EXPECT_EQ(refused_log.find("\"level\":\"error\""), std::string::npos) << refused_log;

  testing::internal::CaptureStderr();
  auto dropped = roundtrip("GET /drop HTTP/1.1\r\nHost: x\r\n\r\n");
  auto dropped_log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(dropped.status, 500);
  EXPECT_NE(dropped_log.find("\"event\":\"respond_dropped\""), std::string::npos) << dropped_log;
  EXPECT_NE(dropped_log.find("\"level\":\"error\""), std::string::npos) << dropped_log;
}

TEST_F(HttpServerTest, RejectAnswersWithoutReadingTheBody) {
  Client c(server->port());
  c.send("POST /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);  // no 100 Continue first
  EXPECT_EQ(r->header("connection"), "close");
}

TEST_F(HttpServerTest, ExpectContinue) {
  Client c(server->port());
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  auto cont = c.read();
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  c.send("ping");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ping");
}

TEST_F(HttpServerTest, FileBodyAndMissingFile) {
  auto path = std::filesystem::temp_directory_path() / ("imgpipe_http_test_" + std::to_string(::getpid()));
  std::string content(200000, 'f');
  std::ofstream(path, std::ios::binary) << content;
  handler.file_path = path.string();
  auto r = roundtrip("GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body == content);
  EXPECT_EQ(r.header("content-type"), "image/jpeg");
  EXPECT_EQ(r.header("set-cookie"), "");
  EXPECT_EQ(r.header("x-bad"), "");
  auto h = roundtrip("HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n", true);
  EXPECT_EQ(h.header("set-cookie"), "");
  EXPECT_EQ(h.header("content-length"), std::to_string(content.size()));
  std::filesystem::remove(path);
  auto gone = roundtrip("GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(gone.status, 404);
  EXPECT_NE(gone.body.find("not_found"), std::string::npos);
  EXPECT_EQ(gone.body.find(path.string()), std::string::npos);
}

class HttpServerTimeoutTest : public HttpServerTest {
  void configure(HttpServerConfig& cfg) override { cfg.read_timeout = 300ms; }
};

TEST_F(HttpServerTimeoutTest, SlowClientIsDisconnected) {
  Client c(server->port());
  c.send("GET /echo HTTP/1.1\r\nHost: x\r\n");  // never finishes the header
  EXPECT_TRUE(c.closed_by_peer());  // within the client's 10 s wait: only the 300 ms read timeout is that short
}

TEST_F(HttpServerTimeoutTest, IdleKeepAliveConnectionIsClosedAfterTheTimeout) {
  Client c(server->port());
  // Idle for less than the timeout between requests: still served.
  for (int i = 0; i < 2; ++i) {
    std::this_thread::sleep_for(150ms);
    ASSERT_TRUE(c.send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, "hello world");
  }
  EXPECT_TRUE(c.closed_by_peer());  // then idle past it: closed (the client waits up to 10 s)
}

class HttpServerHandlerTimeoutTest : public HttpServerTest {
  void configure(HttpServerConfig& cfg) override { cfg.handler_timeout = 200ms; }
};

// A handler that has not answered within the handler timeout: the client
// gets processing_timeout and the connection is closed; the handler's late
// answer is dropped, and the server goes on serving.
TEST_F(HttpServerHandlerTimeoutTest, ALateHandlerIsAnsweredWithProcessingTimeoutAndItsAnswerDropped) {
  handler.slow_delay = 600ms;
  Client c(server->port());
  ASSERT_TRUE(c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("\"processing_timeout\""), std::string::npos) << r->body;
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());  // the late {"slow":true} never arrives
  auto ok = roundtrip("GET /head HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "hello world");
}

TEST_F(HttpServerTest, GracefulStopDrainsInFlightAndRefusesNew) {
  handler.slow_delay = 700ms;
  Client idle(server->port());
  ASSERT_TRUE(idle.send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(idle.read());

  Client busy(server->port());
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  handler.entered.get_future().wait();
  EXPECT_EQ(server->stats().requests_in_flight, 1u);

  log::setup("info");
  testing::internal::CaptureStderr();
  auto stopped = std::async(std::launch::async, [&] { server->stop(5s); });

  // New connections are refused soon after stop() begins.
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    int fd = Client::connect_to(server->port());
    if (fd < 0)
      refused = true;
    else
      ::close(fd);
    if (!refused) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(idle.closed_by_peer());  // idle keep-alive connections are closed at once

  auto r = busy.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"slow\":true}");
  EXPECT_EQ(r->header("connection"), "close");
  stopped.get();
  auto stop_log = testing::internal::GetCapturedStderr();
  // The drain ended with its last request, not at its 5 s limit (which logs http_drain_timeout).
  EXPECT_EQ(stop_log.find("http_drain_timeout"), std::string::npos) << stop_log;
  EXPECT_NE(stop_log.find("http_stopped"), std::string::npos) << stop_log;
  EXPECT_EQ(server->stats().requests_in_flight, 0u);
  server.reset();
}

// Each loop accepts for itself: while one I/O thread is held by a handler,
// new connections are taken and served by the other, none of them waits
// for the held one (dealt to the loops in turn, every second one did).
TEST_F(HttpServerTest, ALoopHeldByAHandlerTakesNoNewConnections) {
  Client held(server->port());
  ASSERT_TRUE(held.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n"));
  handler.blocking.get_future().wait();
  BlockRelease guard{handler};
  for (int i = 0; i < 6; ++i) {
    Client c(server->port());
    ASSERT_TRUE(c.send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read();  // gives up after 10 s: the held loop answers nothing until released
    ASSERT_TRUE(r) << "connection " << i << " waited for the held loop";
    EXPECT_EQ(r->status, 200);
  }
  guard.release();
  auto r = held.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"blocked\":true}");
}

// A graceful stop answers the clients queued in the listen backlog: the
// kernel completed their connections before the listener closed, and they
// may have sent a whole request (an upload); a reset tells them nothing.
// Here the only I/O loop is held by a handler, so two clients wait in the
// backlog until stop() has begun. (Before: both were reset unanswered.)
class HttpServerOneLoopTest : public HttpServerTest {
  void configure(HttpServerConfig& cfg) override { cfg.threads = 1; }
};

TEST_F(HttpServerOneLoopTest, ClientsInTheBacklogAtStopGet503NotAReset) {
  Client held(server->port());
  ASSERT_TRUE(held.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n"));
  handler.blocking.get_future().wait();
  BlockRelease guard{handler};
  auto get = std::make_unique<Client>(server->port());  // connected by the kernel, not accepted
  ASSERT_TRUE(get->send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto upload = std::make_unique<Client>(server->port());
  const std::string body(32 * 1024, 'u');  // fits the socket buffers while nobody reads
  ASSERT_TRUE(upload->send("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\n\r\n" + body));

  auto stopped = std::async(std::launch::async, [&] { server->stop(5s); });
  while (!server->stopping()) std::this_thread::yield();
  guard.release();

  auto r = held.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("connection"), "close");
  for (auto* c : {get.get(), upload.get()}) {
    auto a = c->read();
    ASSERT_TRUE(a) << "closed or reset without an answer";
    EXPECT_EQ(a->status, 503);
    EXPECT_NE(a->body.find("service_unavailable"), std::string::npos) << a->body;
    EXPECT_EQ(a->header("retry-after"), "3");
    EXPECT_EQ(a->header("connection"), "close");
  }
  get.reset();
  upload.reset();
  stopped.get();
  EXPECT_EQ(handler.plans.load(), 1) << "only the held request reached the handler";
  EXPECT_EQ(handler.streamed.size(), 0u);
}

// Issue 16: framing two parsers could read differently is refused with a 400
// that says what was ambiguous, and the connection is closed (the rest of the
// bytes are never read as a next request).
TEST_F(HttpServerTest, AmbiguousFramingIs400AndCloses) {
  struct Case {
    std::string fields;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "both Content-Length and Transfer-Encoding"},
           {"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "both Content-Length and Transfer-Encoding"},
           {"Content-Length: 4\r\nContent-Length: 40\r\n", "more than one Content-Length"},
           {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "more than one Transfer-Encoding"},
           {"Transfer-Encoding: identity\r\n", "exactly \\\"chunked\\\""},
           {"X-Pad: a\r\n Content-Length: 4\r\n", "obsolete line folding"},
           {std::string("X-Pad: a\0b\r\n", 12), "NUL"},
       }) {
    Client client(server->port());
    // The body, read by a parser that picked the other framing, would be a second request.
    ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\n" + c.fields +
                            "\r\n0\r\n\r\nGET /echo?name=smuggled HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = client.read();
    ASSERT_TRUE(r.has_value()) << c.fields;
    EXPECT_EQ(r->status, 400) << c.fields;
    EXPECT_NE(r->body.find("validation_error"), std::string::npos) << r->body;
    EXPECT_NE(r->body.find(c.says), std::string::npos) << c.fields << " -> " << r->body;
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_FALSE(client.read().has_value()) << "a second answer means the smuggled request was served";
  }
  EXPECT_EQ(handler.plans.load(), 0);
}

TEST_F(HttpServerTest, SameRequestWithOneFramingIsServed) {
  auto r = roundtrip("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "abcd");
}


// ---- connection limits (issue 16) ------------------------------------------

// Spins (yielding) until `ready` or 10 s: a bounded wait on a condition.
bool eventually(const std::function<bool()>& ready) {
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

// Descriptors of this process open on `path` (the server runs in it).
size_t open_descriptors_of(const std::filesystem::path& path) {
  size_t n = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    n += std::filesystem::read_symlink(fd.path(), ec) == path;
  }
  return n;
}

// File bodies go out with sendfile(2). A client that asks for a large file
// and never reads it fills the socket's buffers; the server waits for room
// without holding up anyone else and gives up at the read timeout, as for
// any other answer, closing the connection and the file.
TEST_F(HttpServerTimeoutTest, AFileAnswerNobodyReadsIsCutAtTheTimeoutAndClosesTheFile) {
  auto path = std::filesystem::temp_directory_path() / ("imgpipe_http_stuck_" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << std::string(64 << 20, 'f');  // far more than the socket buffers hold
  handler.file_path = path.string();
  Client stuck(server->port());
  ASSERT_TRUE(stuck.send("GET /file HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(stuck.first_bytes(12), "HTTP/1.1 200");  // the answer has started; the rest stays unread

  auto r = roundtrip("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");

  EXPECT_TRUE(eventually([&] { return server->stats().connections_open == 0; }));
  EXPECT_EQ(open_descriptors_of(path), 0u);
  std::filesystem::remove(path);
}

// The same for an answer from memory: the write waits for room until the
// read timeout, then the connection is closed; others are served meanwhile.
TEST_F(HttpServerTimeoutTest, AMemoryAnswerNobodyReadsIsCutAtTheTimeout) {
  Client stuck(server->port());
  ASSERT_TRUE(stuck.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(stuck.first_bytes(12), "HTTP/1.1 200");

  auto r = roundtrip("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_TRUE(eventually([&] { return server->stats().connections_open == 0; }));
}

// A client that hangs up in the middle of a file answer: sendfile(2) fails
// with EPIPE (no SIGPIPE ends this test process, which does not ignore the
// signal), the connection and the file are closed, and the server goes on.
TEST_F(HttpServerTest, AClientHangingUpMidFileLeavesTheServerServing) {
  auto path = std::filesystem::temp_directory_path() / ("imgpipe_http_hangup_" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << std::string(64 << 20, 'f');
  handler.file_path = path.string();
  for (int i = 0; i < 3; ++i) {
    auto quitter = std::make_unique<Client>(server->port());
    ASSERT_TRUE(quitter->send("GET /file HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(eventually([&] { return open_descriptors_of(path) == 1; }));  // being sent
    quitter.reset();  // closed with unread data: the server's next write meets a reset
    ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 0; }));
  }
  EXPECT_EQ(open_descriptors_of(path), 0u);
  auto r = roundtrip("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  std::filesystem::remove(path);
}

class HttpServerLimitsTest : public HttpServerTest {
 protected:
  void configure(HttpServerConfig& cfg) override {
    cfg.max_connections_per_ip = 16;
    cfg.max_connections = 1000;
    cfg.max_idle_connections = 100;
    cfg.min_receive_rate = 0;  // this suite is about the caps; the rate has its own
  }
};

// Hundreds of connections from 127.0.0.2 trickle their headers a byte per
// round; a client on 127.0.0.1 uploads and downloads between the rounds. The
// caps turn most of the flood away at accept; the normal client never notices.
TEST_F(HttpServerLimitsTest, SlowLorisFromOneAddressLeavesOtherClientsServed) {
  constexpr int kLoris = 300;
  std::vector<std::unique_ptr<Client>> loris;
  for (int i = 0; i < kLoris; ++i) {
    loris.push_back(std::make_unique<Client>(server->port(), "127.0.0.2"));
    loris.back()->send("GET /echo HTTP/1.1\r\nHost: x\r\n");
  }
  // All but the per-address cap are refused at accept.
  ASSERT_TRUE(eventually([&] { return server->stats().connections_refused >= kLoris - 16; }))
      << server->stats().connections_refused;

  Client normal(server->port());
  const std::string upload(256 * 1024, 'u');
  for (int round = 0; round < 20; ++round) {
    for (auto& l : loris) l->send("X");  // the admitted ones stay open, a byte at a time
    ASSERT_TRUE(normal.send("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(upload.size()) +
                            "\r\n\r\n" + upload));
    auto up = normal.read();
    ASSERT_TRUE(up) << round;
    EXPECT_EQ(up->status, 201) << round;
    ASSERT_TRUE(normal.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
    auto down = normal.read();
    ASSERT_TRUE(down) << round;
    EXPECT_EQ(down->status, 200);
    EXPECT_EQ(down->body, "hello");
    {
      std::lock_guard lock(handler.mu);
      handler.streamed.clear();
    }
  }
  // Exactly the cap's worth of 127.0.0.2 connections is open beside ours.
  EXPECT_EQ(server->stats().connections_open, 16u + 1u);
  EXPECT_EQ(server->stats().connections_refused, static_cast<uint64_t>(kLoris - 16));
}

TEST_F(HttpServerLimitsTest, PerAddressCapFreesWhenAConnectionCloses) {
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 16; ++i) held.push_back(std::make_unique<Client>(server->port(), "127.0.0.2"));
  ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 16; }));
  Client over(server->port(), "127.0.0.2");
  EXPECT_TRUE(over.closed_by_peer());
  // Another address is not affected by 127.0.0.2's cap.
  EXPECT_EQ(roundtrip("GET /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status, 200);
  held.pop_back();
  ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 15; }));
  Client again(server->port(), "127.0.0.2");
  ASSERT_TRUE(again.send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = again.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

class HttpServerTotalCapTest : public HttpServerTest {
 protected:
  void configure(HttpServerConfig& cfg) override {
    cfg.max_connections = 4;
    cfg.min_receive_rate = 0;
  }
};

TEST_F(HttpServerTotalCapTest, OverTheTotalCapNewConnectionsAreClosedAndOpenOnesServed) {
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<Client>(server->port()));
  ASSERT_TRUE(eventually([&] { return server->stats().connections_open == 4; }));
  Client over(server->port());
  EXPECT_TRUE(over.closed_by_peer());
  EXPECT_EQ(server->stats().connections_refused, 1u);
  for (auto& c : held) {  // the established ones keep being served
    ASSERT_TRUE(c->send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c->read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
}

class HttpServerIdleCapTest : public HttpServerTest {
 protected:
  void configure(HttpServerConfig& cfg) override {
    cfg.max_idle_connections = 2;
    cfg.min_receive_rate = 0;
  }
};

TEST_F(HttpServerIdleCapTest, PastTheIdleCapAnswersCloseTheConnection) {
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<Client>(server->port()));
    ASSERT_TRUE(clients.back()->send("GET /head HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = clients.back()->read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    if (i < 2) {
      EXPECT_NE(r->header("connection"), "close") << i;
      ASSERT_TRUE(eventually([&] { return server->stats().connections_idle == static_cast<uint64_t>(i + 1); }));
    } else {
      EXPECT_EQ(r->header("connection"), "close");  // two are idle already: this one is not kept
      EXPECT_TRUE(clients.back()->closed_by_peer());
    }
  }
}

class HttpServerBodyBudgetTest : public HttpServerTest {
 protected:
  void configure(HttpServerConfig& cfg) override { cfg.max_buffered_body_bytes = 300 * 1024; }
};

// Bodies read whole share one budget: a client holding a large body open
// (sent in part) keeps its share until answered; a body that would pass the
// budget is refused 503 with Retry-After before it is read, one that fits
// is served; once the first is answered its share is free again.
TEST_F(HttpServerBodyBudgetTest, BodiesReadWholeShareOneBoundedBudget) {
  const std::string big(200 * 1024, 'b');
  auto post = [](const std::string& body) {
    return "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  };
  Client holder(server->port());
  ASSERT_TRUE(holder.send(post(big) + big.substr(0, 100 * 1024)));
  ASSERT_TRUE(eventually([&] { return server->stats().buffered_body_bytes == big.size(); }))
      << server->stats().buffered_body_bytes;

  Client refused(server->port());
  ASSERT_TRUE(refused.send(post(big)));  // the body would follow; the answer comes first
  auto r = refused.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("service_unavailable"), std::string::npos) << r->body;
  EXPECT_FALSE(r->header("retry-after").empty());

  const std::string small(50 * 1024, 's');
  auto fits = roundtrip(post(small) + small);
  EXPECT_EQ(fits.status, 200);
  EXPECT_EQ(fits.body, small);

  ASSERT_TRUE(holder.send(big.substr(100 * 1024)));
  auto held = holder.read();
  ASSERT_TRUE(held);
  EXPECT_EQ(held->status, 200);
  EXPECT_EQ(held->body, big) << "nothing of the held body was lost";
  ASSERT_TRUE(eventually([&] { return server->stats().buffered_body_bytes == 0; }));
  auto again = roundtrip(post(big) + big);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body.size(), big.size());
}

class HttpServerRateTest : public HttpServerTest {
 protected:
  void configure(HttpServerConfig& cfg) override {
    cfg.min_receive_rate = 1000;  // bytes/s
    cfg.min_rate_grace = 300ms;
    cfg.read_timeout = 30s;  // far away: only the rate can end these
  }
};

TEST_F(HttpServerRateTest, TricklingHeaderIsCutByTheRateNotTheReadTimeout) {
  Client c(server->port());
  ASSERT_TRUE(c.send("GET /head HTTP/1.1\r\n"));
  // Each byte resets the read timeout; the average rate still falls behind.
  bool closed = false;
  for (int i = 0; i < 1000 && !closed; ++i) closed = !c.send("X") || c.closed_by_peer_within(20ms);
  EXPECT_TRUE(closed);
}

TEST_F(HttpServerRateTest, SilentNewConnectionIsClosedAfterTheGrace) {
  Client c(server->port());
  EXPECT_TRUE(c.closed_by_peer());  // within the 10 s receive timeout, long before read_timeout
}

TEST_F(HttpServerRateTest, TricklingBodyIsCut) {
  Client c(server->port());
  ASSERT_TRUE(c.send("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"));
  bool closed = false;
  for (int i = 0; i < 1000 && !closed; ++i) closed = !c.send("X") || c.closed_by_peer_within(20ms);
  EXPECT_TRUE(closed);
}

TEST_F(HttpServerRateTest, FastClientsAreUnaffected) {
  Client c(server->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello");
  }
}

}  // namespace
}  // namespace imgpipe::gateway
