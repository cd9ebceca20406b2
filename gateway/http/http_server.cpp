// The only file that includes Beast/Asio. Design after Beast's
// advanced_server_flex_awaitable: one coroutine per connection on an event
// loop run by a single thread (so the loop is the connection's strand), a
// fresh parser per message with header/body limits, a deadline on every
// wait, handlers kept apart behind gateway::Handler. The hot path (header
// read, answer write) tries the socket first and waits only when it would
// block (wait_ready): an answer from the memory cache costs one wait for
// the next request and no timer operation, and runs without a coroutine
// frame of its own (serve_one; docs/performance.md).

#include "gateway/http/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <condition_variable>
#include <exception>
#include <future>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "gateway/http/request_head.h"
#include "schemas/errors.h"
#include "schemas/log.h"

namespace imgpipe::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using schemas::Error;
using schemas::ErrorCode;

constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

bool iequals(std::string_view a, std::string_view b) { return beast::iequals(a, b); }

// 15 hex digits (60 random bits): short enough for std::string's inline
// buffer, so the copies the request, its Head and its Responder keep
// allocate nothing (three allocations per request at 16).
std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr size_t kDigits = 15;
  uint64_t v = rng();
  std::string id(kDigits, '0');
  for (size_t i = kDigits; i-- > 0; v >>= 4) id[i] = kHex[v & 0xf];
  return id;
}

// "host:port" or "[v6]:port".
tcp::endpoint parse_listen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("listen address must be host:port: " + listen);
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint16_t port = 0;
  auto port_str = std::string_view(listen).substr(colon + 1);
  auto [ptr, ec] = std::from_chars(port_str.data(), port_str.data() + port_str.size(), port);
  if (ec != std::errc() || ptr != port_str.data() + port_str.size() || port_str.empty())
    throw std::runtime_error("listen address has an invalid port: " + listen);
  boost::system::error_code aec;
  auto addr = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, aec);
  if (aec) throw std::runtime_error("listen address has an invalid host: " + listen);
  return {addr, port};
}

// Closed by stop(): a `respond` arriving later is dropped instead of being
// posted to an io_context that is going away.
struct Gate {
  std::mutex mu;
  bool open = true;
};

struct Session : std::enable_shared_from_this<Session> {
  explicit Session(tcp::socket socket)
      : ex(socket.get_executor()), stream(std::move(socket)), signal(ex), watchdog(ex) {}

  // Called on the connection's thread.
  void deliver(uint64_t for_seq, Response&& r) {
    if (for_seq != seq || response) return;  // a late answer to an earlier, timed-out request
    response = std::move(r);
    signal.cancel();
  }
  void close_now() {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close();
    signal.cancel();
  }

  // The connection's event loop; run by one thread, so everything posted to
  // it is serialised without a strand's lock.
  asio::any_io_executor ex;
  beast::tcp_stream stream;
  asio::steady_timer signal;  // woken when `response` arrives
  // Deadlines of waits on the socket (wait_ready): the watchdog is armed
  // only when a wait's deadline is earlier than its expiry, and when it
  // fires early it re-arms for the current one. A keep-alive request moves
  // the deadline on with a store, not a timer operation.
  asio::steady_timer watchdog;
  Clock::time_point wait_deadline = Clock::time_point::max();  // max: not waiting
  Clock::time_point watchdog_at = Clock::time_point::max();    // max: not armed
  std::string peer_ip;
  Clock::time_point accepted = Clock::now();
  // Touched only on the connection's thread.
  // The clock as finish() read it for the last answer: the next idle wait's
  // deadline counts from it (a read of the clock fewer per request).
  Clock::time_point answered = accepted;
  uint64_t seq = 0;
  std::optional<Response> response;
  std::string head;  // the answer's header block being written
  bool idle = true;      // waiting for the next request's header
  bool closing = false;  // stop() gave up waiting
  bool refused = false;  // accepted after stop() began: its one request is answered 503
};

// Arms the session's watchdog for `at`. When it fires it cuts the wait in
// progress if that wait's deadline has passed (the wait ends with
// operation_aborted), or re-arms for the deadline the wait has now.
void arm_watchdog(Session& s, Clock::time_point at) {
  s.watchdog_at = at;
  s.watchdog.expires_at(at);
  s.watchdog.async_wait([alive = s.weak_from_this()](const beast::error_code& ec) {
    auto s = alive.lock();
    if (!s || ec) return;  // the session is gone, or re-armed for an earlier deadline
    s->watchdog_at = Clock::time_point::max();
    if (s->wait_deadline == Clock::time_point::max()) return;  // not waiting: the next wait arms it
    if (Clock::now() < s->wait_deadline) {
      arm_watchdog(*s, s->wait_deadline);
      return;
    }
    beast::error_code ignored;
    s->stream.socket().cancel(ignored);
  });
}

// Shared state behind one request's `respond`: exactly once, from any thread.
struct Responder {
  Responder(std::shared_ptr<Gate> g, std::weak_ptr<Session> s, uint64_t q, std::string id)
      : gate(std::move(g)), session(std::move(s)), seq(q), request_id(std::move(id)) {}
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder() {
    if (!called.exchange(true)) {
      log::error("respond_dropped", {{"request_id", request_id}});  // a handler bug: it kept no copy and never answered
      post(Response::error(Error(ErrorCode::internal_error)));
    }
  }
  void deliver(Response&& r) {
    if (called.exchange(true)) {
      log::warn("respond_twice", {{"request_id", request_id}});  // the extra answer is dropped
      return;
    }
    post(std::move(r));
  }
  // The handler's `respond`: every copy of it holds the Responder.
  static Respond respond_through(std::shared_ptr<Responder> self) {
    return Respond([self = std::move(self)](Response&& r) { self->deliver(std::move(r)); });
  }
  void post(Response&& r) {
    auto s = session.lock();
    if (!s) return;
    // Answered synchronously inside handle() (a hot src variant): already on
    // the connection's thread, so no post, no timer wake-up, no thread hop —
    // and no gate: a running event loop is not being torn down, and the
    // gate's mutex is shared by every I/O thread.
    if (const auto* loop = s->ex.target<asio::io_context::executor_type>();
        loop != nullptr && loop->running_in_this_thread()) {
      s->deliver(seq, std::move(r));
      return;
    }
    std::lock_guard lock(gate->mu);
    if (!gate->open) return;
    auto ex = s->ex;
    asio::post(ex, [s = std::move(s), q = seq, r = std::move(r)]() mutable { s->deliver(q, std::move(r)); });
  }

  std::shared_ptr<Gate> gate;
  std::weak_ptr<Session> session;
  uint64_t seq;
  std::string request_id;
  std::atomic<bool> called{false};
};

// Turns whatever a handler threw into the answer; unknown failures are
// logged here, once, and reach the client only as internal_error. Known
// errors are the answer itself (the access log has them); a 5xx other than
// internal_error (the bus is down, too busy) is a warning, not a bug.
// The message of a caught exception, whatever its type.
std::string what_of(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception of unknown type";
  }
}

Response response_for(std::exception_ptr ep, const Request& req, Handler& handler) {
  try {
    std::rethrow_exception(ep);
  } catch (const Error& e) {
    if (e.info().http_status >= 500)
      log::write(e.id() == ErrorCode::internal_error ? log::Level::error : log::Level::warn, "request_failed",
                 {{"request_id", req.request_id}, {"method", req.method}, {"path", req.path},
                  {"code", e.info().code}, {"error", e.what()}});
    return handler.error_answer(req, e);
  } catch (...) {
  }
  log::error("unhandled_exception",
             {{"request_id", req.request_id}, {"method", req.method}, {"path", req.path}, {"error", what_of(ep)}});
  return handler.error_answer(req, Error(ErrorCode::internal_error));
}

// What the transport needs to answer after the Request was handed over.
struct Head {
  bool is_head = false;
  unsigned version = 11;
  bool keep_alive = true;
  std::string request_id;
  std::string method;
  std::string path;
  size_t route = Request::kNoRoute;  // the handler's plan_body note, for the access record
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();  // header read
};

// A request's line and header fields, straight into a Request: Beast's
// tokenizer and checks without a fields container to fill and then copy
// (every request passes here). It only reads the header: the bytes stay in
// the read buffer (head_size of them) so that a request with a body is read
// by Beast's own parser, header and all (read_body).
class HeadParser : public http::basic_parser<true> {
 public:
  Request req;
  http::verb method = http::verb::unknown;
  unsigned version = 11;
  size_t head_size = 0;

 private:
  void on_request_impl(http::verb m, beast::string_view method_text, beast::string_view target, int v,
                       beast::error_code&) override {
    method = m;
    req.method.assign(method_text.data(), method_text.size());
    req.target.assign(target.data(), target.size());
    version = static_cast<unsigned>(v);
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override { ec = http::error::bad_version; }
  void on_field_impl(http::field, beast::string_view name, beast::string_view value, beast::error_code&) override {
    req.headers.emplace_back(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>&, beast::error_code&) override {}
  size_t on_body_impl(beast::string_view, beast::error_code& ec) override {
    ec = http::error::unexpected_body;  // never: only the header is given to this parser
    return 0;
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, beast::error_code& ec) override {
    ec = http::error::unexpected_body;
  }
  size_t on_chunk_body_impl(uint64_t, beast::string_view, beast::error_code& ec) override {
    ec = http::error::unexpected_body;
    return 0;
  }
  void on_finish_impl(beast::error_code&) override {}
};

bool is_quiet_network_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
         ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor || ec == asio::error::not_connected;
}

// The status line and header block of `r`, ending in the blank line, into
// `out` (the session's buffer: its capacity is kept between answers).
void response_head(std::string& out, const Response& r, const Head& h, bool keep, std::string_view content_length) {
  out.clear();
  if (r.status == 200 && h.version != 10) {
    out += "HTTP/1.1 200 OK\r\n";  // most answers: one append
  } else {
    out += h.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += http::obsolete_reason(static_cast<http::status>(r.status));
    out += "\r\n";
  }
  append_header_lines(out, r.headers, h.request_id);
  if (r.prepared_headers) out += *r.prepared_headers;
  out += r.fixed_headers;
  out += "Server: imgpipe\r\n";
  if (!h.request_id.empty()) {
    out += "X-Request-Id: ";
    out += h.request_id;
    out += "\r\n";
  }
  // 1xx, 204 and 304 answers have no body and no length (RFC 9110 8.6).
  if (r.status >= 200 && r.status != 204 && r.status != 304) {
    out += "Content-Length: ";
    out += content_length;
    out += "\r\n";
  }
  if (!keep)
    out += "Connection: close\r\n";
  else if (h.version == 10)
    out += "Connection: keep-alive\r\n";
  out += "\r\n";
}

// Drops the first `n` bytes of a header-and-body pair of buffers.
void consume(std::array<asio::const_buffer, 2>& wire, size_t n) {
  for (auto& b : wire) {
    const size_t k = std::min(n, b.size());
    b += k;
    n -= k;
  }
}

// A response body read from a file: opened (and its size taken) before the
// head is written, closed when the answer is done.
class OpenFile {
 public:
  static std::optional<OpenFile> open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    const bool stat_failed = ::fstat(fd, &st) != 0;
    if (stat_failed || !S_ISREG(st.st_mode)) {
      const int err = stat_failed ? errno : S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
      ::close(fd);
      errno = err;  // for the caller's log line
      return std::nullopt;
    }
    return OpenFile(fd, static_cast<uint64_t>(st.st_size));
  }
  OpenFile(OpenFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)), size_(o.size_) {}
  OpenFile& operator=(OpenFile&&) = delete;
  ~OpenFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

 private:
  OpenFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_;
  uint64_t size_;
};

beast::error_code errno_code(int err) { return beast::error_code(err, boost::system::system_category()); }

// sendfile(2) has no MSG_NOSIGNAL: writing to a connection the client has
// closed raises SIGPIPE in the writing thread. Blocked in the I/O threads,
// it stays pending there and the call fails with EPIPE instead, whatever
// the embedding program does with the signal.
void block_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerConfig c, Handler& h) : cfg(std::move(c)), handler(h) {}

  struct Loop;
  asio::awaitable<void> accept_loop(Loop& loop);
  void close_listener(Loop& loop);
  void start_session(tcp::socket socket);
  asio::awaitable<void> run_session(std::shared_ptr<Session> s);
  asio::awaitable<bool> wait_readable(Session& s, Clock::time_point deadline) {
    return wait_ready(s, tcp::socket::wait_read, deadline);
  }
  // `now`: the caller's reading of the clock, when it has a fresh one.
  asio::awaitable<bool> wait_ready(Session& s, tcp::socket::wait_type what, Clock::time_point deadline,
                                   Clock::time_point now = Clock::now());
  asio::awaitable<beast::error_code> send_file(Session& s, std::string_view head, const OpenFile& file);
  asio::awaitable<beast::error_code> write_all(Session& s, std::array<asio::const_buffer, 2> wire,
                                               Clock::time_point deadline);
  std::optional<beast::error_code> take_head(Session& s, beast::flat_buffer& buf, HeadParser& hp,
                                             std::string& ambiguous, size_t& scanned);
  asio::awaitable<beast::error_code> read_head(Session& s, beast::flat_buffer& buf, HeadParser& hp,
                                               std::string& ambiguous, Clock::time_point start, size_t scanned);
  std::optional<asio::awaitable<void>> serve_one(std::shared_ptr<Session> s, beast::flat_buffer& buf, HeadParser& hp,
                                                 bool& keep_going);
  asio::awaitable<void> answer_early(std::shared_ptr<Session> s, Response r, Head h, bool body_pending,
                                     bool& keep_going);
  Response too_large(const Request& req, uint64_t limit);
  void hand_over(const std::shared_ptr<Session>& s, Request&& req, const Head& h);
  void finish_sink(const std::shared_ptr<Session>& s, BodySink& sink, const Request& req);
  asio::awaitable<void> read_body(std::shared_ptr<Session> s, beast::flat_buffer& buf, Request& req, Head h,
                                  BodyPlan plan, uint64_t limit, Clock::time_point deadline, bool& keep_going);
  asio::awaitable<bool> await_response(Session& s, bool& close);

  // An answer on its way: the header block is in the session's `head`.
  struct Outgoing {
    Response r;
    std::optional<OpenFile> file;  // the body, sent with sendfile
    bool keep = false;             // the connection may carry another request
    bool bodyless = false;         // HEAD, 1xx, 204, 304
    uint64_t bytes = 0;            // body bytes, for the access line
    std::string_view body() const {
      return bodyless ? std::string_view() : r.shared_body ? std::string_view(*r.shared_body) : std::string_view(r.body);
    }
    // The header block and the body, without their first `sent` bytes.
    std::array<asio::const_buffer, 2> wire(std::string_view head, size_t sent) const {
      std::array<asio::const_buffer, 2> w{asio::buffer(head.data(), head.size()), asio::buffer(body().data(), body().size())};
      consume(w, sent);
      return w;
    }
  };
  std::optional<asio::awaitable<void>> answer(std::shared_ptr<Session> s, Head h, bool& keep_going);
  asio::awaitable<void> answer_later(std::shared_ptr<Session> s, Head h, bool& keep_going);
  asio::awaitable<void> send_rest(std::shared_ptr<Session> s, Outgoing out, Head h, size_t sent, bool& keep_going);
  asio::awaitable<bool> send(Session& s, Response r, const Head& h, bool close);
  Outgoing prepare(Session& s, Response r, const Head& h, bool close);
  asio::awaitable<beast::error_code> transmit(Session& s, const Outgoing& out, size_t sent);
  bool finish(Session& s, const Outgoing& out, const Head& h, const beast::error_code& ec);
  asio::awaitable<void> linger_close(Session& s);
  Clock::time_point read_deadline(Clock::time_point request_deadline) const {
    return std::min(Clock::now() + cfg.read_timeout, request_deadline);
  }
  // `deadline`, brought forward to when the average rate since `start` falls
  // below min_receive_rate if no more than `received` bytes arrive (never
  // before the grace period ends).
  Clock::time_point rate_deadline(Clock::time_point start, uint64_t received, Clock::time_point deadline) const {
    if (cfg.min_receive_rate == 0) return deadline;
    auto earned = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(static_cast<double>(received) / cfg.min_receive_rate));
    return std::min(deadline, start + std::max<Clock::duration>(cfg.min_rate_grace, earned));
  }
  // Counts a new connection from `ip` against the caps; false: refuse it.
  bool admit(const std::string& ip) {
    if (cfg.max_connections && connections_open.load() >= cfg.max_connections) return false;
    if (!cfg.max_connections_per_ip) return true;
    std::lock_guard lock(per_ip_mu);
    auto& n = per_ip[ip];
    if (n >= cfg.max_connections_per_ip) return false;
    ++n;
    return true;
  }
  void release(const std::string& ip) {
    if (!cfg.max_connections_per_ip) return;
    std::lock_guard lock(per_ip_mu);
    if (auto it = per_ip.find(ip); it != per_ip.end() && --it->second == 0) per_ip.erase(it);
  }

  HttpServerConfig cfg;
  Handler& handler;
  // One event loop per I/O thread, each accepting on the one listening
  // socket (its own descriptor of it), one connection per wake-up: a
  // connection goes to a loop that is waiting for work, not to one dealt in
  // turn that may be stuck in a long handler, and lives on it, so its
  // handlers never wake another thread (docs/performance.md, "Each loop
  // accepts for itself").
  struct Loop {
    asio::io_context ioc{1};  // concurrency hint 1: one thread
    tcp::acceptor acceptor{ioc};
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
  };
  std::vector<std::unique_ptr<Loop>> loops;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();

  std::mutex mu;  // sessions, started, stopped
  std::condition_variable cv;
  std::unordered_set<std::shared_ptr<Session>> sessions;
  bool started = false;
  bool stopped = false;
  std::atomic<bool> stopping{false};

  // Bytes of bodies being read whole, or answered (max_buffered_body_bytes).
  std::atomic<uint64_t> buffered_body_bytes{0};
  // Takes `n` bytes of the buffered-body budget; false when it would pass it.
  bool reserve_buffered(uint64_t n) {
    uint64_t used = buffered_body_bytes.load();
    do {
      if (cfg.max_buffered_body_bytes && used + n > cfg.max_buffered_body_bytes) return false;
    } while (!buffered_body_bytes.compare_exchange_weak(used, used + n));
    return true;
  }
  std::atomic<uint64_t> connections_open{0}, connections_total{0}, requests_in_flight{0}, requests_total{0},
      responses_4xx{0}, responses_5xx{0}, connections_refused{0}, connections_idle{0};
  // Open connections per socket peer address; touched once per connection.
  std::mutex per_ip_mu;
  std::unordered_map<std::string, uint32_t> per_ip;
};

asio::awaitable<void> HttpServer::Impl::accept_loop(Loop& loop) {
  auto& acceptor = loop.acceptor;
  for (;;) {
    // One connection per wake-up, not Asio's accept-until-empty: when a
    // burst arrives, every loop waiting for work takes a share of it.
    auto [wec] = co_await acceptor.async_wait(tcp::acceptor::wait_read, nothrow_awaitable);
    if (wec && (wec == asio::error::operation_aborted || !acceptor.is_open())) co_return;
    tcp::socket socket(loop.ioc);
    beast::error_code ec = wec;
    if (!ec) acceptor.accept(socket, ec);  // the listener is non-blocking
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;  // another loop took it
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      log::warn("http_accept_failed", {{"error", ec.message()}});
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer t(loop.ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(nothrow_awaitable);
      continue;
    }
    start_session(std::move(socket));
  }
}

// Closes one loop's descriptor of the listener (stop()), first taking every
// connection the kernel has already completed on it: those clients may have
// sent a whole request, and get a 503 instead of a reset.
void HttpServer::Impl::close_listener(Loop& loop) {
  beast::error_code ec;
  for (;;) {
    tcp::socket socket(loop.ioc);
    loop.acceptor.accept(socket, ec);  // non-blocking: would_block once the backlog is empty
    if (ec) break;
    start_session(std::move(socket));
  }
  loop.acceptor.close(ec);
}

void HttpServer::Impl::start_session(tcp::socket socket) {
  beast::error_code pec;
  // A response goes out as a header write then body writes; with Nagle on,
  // the body waits for the client's delayed ACK (40 ms on Linux) — that was
  // 44 ms p50 for a 13 KB hot variant (docs/performance.md).
  socket.set_option(tcp::no_delay(true), pec);
  // Reads and writes on the hot path (and sendfile) are tried at once and
  // fail with would_block instead of blocking the loop (wait_ready);
  // Beast's asynchronous reads of bodies are unaffected. A socket that
  // cannot be made so is not served: one blocked write would stall every
  // connection on its loop.
  socket.non_blocking(true, pec);
  if (pec) {
    log::warn("http_accept_failed", {{"error", "cannot make the socket non-blocking: " + pec.message()}});
    socket.close(pec);
    return;
  }
  auto peer = socket.remote_endpoint(pec);
  std::string peer_ip = pec ? std::string() : peer.address().to_string();
  if (!admit(peer_ip)) {
    // Over a cap: closed before reading a byte; established clients are untouched.
    ++connections_refused;
    log::debug("http_connection_refused", {{"peer", peer_ip}, {"reason", "over the connection cap"}});
    socket.close(pec);
    return;
  }
  auto s = std::make_shared<Session>(std::move(socket));
  s->peer_ip = std::move(peer_ip);
  s->refused = stopping;
  {
    std::lock_guard lock(mu);
    sessions.insert(s);
  }
  ++connections_open;
  ++connections_total;
  asio::co_spawn(s->ex, run_session(s), [this, s](std::exception_ptr ep) {
    if (ep)
      log::error("unhandled_exception", {{"peer", s->peer_ip}, {"where", "connection"}, {"error", what_of(ep)}});
    beast::error_code ignored;
    s->stream.socket().close(ignored);
    release(s->peer_ip);
    --connections_open;
    std::lock_guard lock(mu);
    sessions.erase(s);
    cv.notify_all();
  });
}

asio::awaitable<void> HttpServer::Impl::run_session(std::shared_ptr<Session> s) {
  beast::flat_buffer buf;
  bool keep_going = true;
  for (uint64_t requests = 0; keep_going && (!stopping || s->refused) && !s->closing; ++requests) {
    HeadParser hp;
    hp.header_limit(cfg.header_limit);
    hp.body_limit(boost::none);  // checked against the handler's plan once the header is in
    s->idle = !s->refused;  // stop() closes idle connections, not those it will answer
    // A new connection must begin its first request within the rate grace;
    // a kept-alive one may wait read_timeout, counted against the idle cap.
    const bool first = requests == 0;
    if (buf.size() == 0) {
      if (!first) ++connections_idle;
      const auto now = first ? Clock::now() : s->answered;
      bool readable = co_await wait_ready(
          *s, tcp::socket::wait_read,
          first ? rate_deadline(s->accepted, 0, now + cfg.read_timeout) : now + cfg.read_timeout, now);
      if (!first) --connections_idle;
      if (!readable) break;
    }
    std::string ambiguous;
    // Most requests are there whole already: read without a coroutine frame.
    size_t scanned = 0;
    auto head_read = take_head(*s, buf, hp, ambiguous, scanned);
    auto ec = head_read ? *head_read
                        : co_await read_head(*s, buf, hp, ambiguous, first ? s->accepted : Clock::now(), scanned);
    s->idle = false;
    if (ec) {
      if (!ambiguous.empty()) {
        Head h;
        h.request_id = new_request_id();
        co_await send(*s, Response::error(Error(ErrorCode::bad_request, ambiguous)), h, true);
        co_await linger_close(*s);
      } else if (ec == http::error::header_limit) {
        Head h;
        h.request_id = new_request_id();
        co_await send(*s, Response::error(Error(ErrorCode::headers_too_large,
                                                "The request headers are larger than " +
                                                    std::to_string(cfg.header_limit) + " bytes.")),
                      h, true);
        co_await linger_close(*s);
      } else if (!is_quiet_network_error(ec) && ec.category() == http::make_error_code(http::error::bad_target).category()) {
        Head h;
        h.request_id = new_request_id();
        co_await send(*s, Response::error(Error(ErrorCode::bad_request, "The HTTP request is malformed.")), h, true);
        co_await linger_close(*s);
      } else if (!is_quiet_network_error(ec) && log::enabled(log::Level::debug)) {
        log::debug("http_read_failed", {{"peer", s->peer_ip}, {"error", ec.message()}});
      }
      break;
    }
    if (s->refused) {
      // The server is stopping: the request is answered, not served, and
      // its body (if any) is not read.
      Head h;
      h.request_id = new_request_id();
      h.method = hp.req.method;
      h.path = hp.req.target.substr(0, hp.req.target.find('?'));
      Error e(ErrorCode::service_unavailable, "The server is shutting down; send the request again in a few seconds.");
      e.retry_after_seconds = 3;
      co_await send(*s, Response::error(std::move(e)), h, true);
      co_await linger_close(*s);
      break;
    }
    ++requests_in_flight;
    ++requests_total;
    struct InFlight {
      std::atomic<uint64_t>& n;
      ~InFlight() { --n; }
    } in_flight{requests_in_flight};
    if (auto rest = serve_one(s, buf, hp, keep_going)) co_await std::move(*rest);
  }
  s->stream.close();
}

// Waits until the socket is ready for `what`; false when `deadline` passed
// first or the connection closed. Between keep-alive requests the session
// waits for readable before reading: Asio 1.26 tries every asynchronous
// read at once (it marks a socket drained only at end of stream), and
// between requests that try finds nothing — one failed recvfrom per
// request, where the wait costs one epoll_ctl (strace, 2026-11-28: 2.00
// recvfrom per request reading at once; 1.00 and 1.00 epoll_ctl waiting).
// Writes wait for writable when the socket's buffer is full. The deadline
// is kept by the watchdog, armed only when it is earlier than its expiry.
asio::awaitable<bool> HttpServer::Impl::wait_ready(Session& s, tcp::socket::wait_type what,
                                                  Clock::time_point deadline, Clock::time_point now) {
  if (now >= deadline) co_return false;
  s.wait_deadline = deadline;
  if (deadline < s.watchdog_at) arm_watchdog(s, deadline);
  auto [ec] = co_await s.stream.socket().async_wait(what, nothrow_awaitable);
  s.wait_deadline = Clock::time_point::max();
  co_return !ec;
}

namespace {

// Writes what the socket takes now; true when all of `wire` is written or
// the write failed (`ec`), false when the socket's buffer is full.
bool write_now(tcp::socket& socket, std::array<asio::const_buffer, 2>& wire, beast::error_code& ec) {
  while (wire[0].size() + wire[1].size() > 0) {
    size_t n = socket.write_some(wire, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      return false;
    }
    if (ec) return true;
    consume(wire, n);
  }
  return true;
}

}  // namespace

// Writes both buffers, waiting for writable (until `deadline`) only when
// the socket's buffer is full.
asio::awaitable<beast::error_code> HttpServer::Impl::write_all(Session& s, std::array<asio::const_buffer, 2> wire,
                                                               Clock::time_point deadline) {
  beast::error_code ec;
  while (!write_now(s.stream.socket(), wire, ec))
    if (!co_await wait_ready(s, tcp::socket::wait_write, deadline)) co_return asio::error::timed_out;
  co_return ec;
}

// The head, then the file with sendfile(2): the kernel hands the page
// cache's pages to the socket, with no read into our memory and no copy
// back (docs/performance.md, "Serving: where the time goes"). The head goes
// with MSG_MORE so that it leaves in one segment with the file's first
// bytes. The whole answer must be out within the read timeout, as for every
// other answer.
asio::awaitable<beast::error_code> HttpServer::Impl::send_file(Session& s, std::string_view head,
                                                               const OpenFile& file) {
  const auto deadline = Clock::now() + cfg.read_timeout;
  const int out = s.stream.socket().native_handle();  // non-blocking since accept
  size_t head_sent = 0;
  off_t offset = 0;
  while (head_sent < head.size() || static_cast<uint64_t>(offset) < file.size()) {
    ssize_t n = head_sent < head.size()
                    ? ::send(out, head.data() + head_sent, head.size() - head_sent, MSG_MORE | MSG_NOSIGNAL)
                    : ::sendfile(out, file.fd(), &offset, file.size() - static_cast<uint64_t>(offset));
    if (n > 0) {
      if (head_sent < head.size()) head_sent += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) co_return asio::error::eof;  // the file is shorter than when it was opened
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) co_return errno_code(errno);
    if (!co_await wait_ready(s, tcp::socket::wait_write, deadline)) co_return asio::error::timed_out;
  }
  co_return beast::error_code();
}

// Reads one request's header block into `hp` from what the socket has now;
// nullopt when it needs more bytes than have arrived. The raw block is
// checked before Beast parses it: Beast quietly unfolds obs-fold lines and
// accepts framing a proxy may read otherwise (request_head.h). On such a
// block `ambiguous` says why and an error is returned. `scanned`: bytes
// already searched for the blank line.
std::optional<beast::error_code> HttpServer::Impl::take_head(Session& s, beast::flat_buffer& buf, HeadParser& hp,
                                                             std::string& ambiguous, size_t& scanned) {
  for (;;) {
    std::string_view data(static_cast<const char*>(buf.data().data()), buf.size());
    size_t end = data.find("\r\n\r\n", scanned > 3 ? scanned - 3 : 0);
    if (end != std::string_view::npos) {
      if (end + 4 > cfg.header_limit) return http::error::header_limit;
      if (auto problem = ambiguous_request_head(data.substr(0, end + 4))) {
        ambiguous = std::move(*problem);
        return http::error::bad_field;
      }
      beast::error_code ec;
      hp.head_size = 0;
      while (!hp.is_header_done() && !ec) {
        size_t used = hp.put(asio::buffer(data.data() + hp.head_size, end + 4 - hp.head_size), ec);
        hp.head_size += used;
        if (used == 0 && !ec) ec = http::error::bad_field;  // cannot happen with a whole header block
      }
      return ec;
    }
    if (data.size() > cfg.header_limit) return http::error::header_limit;
    scanned = data.size();
    beast::error_code ec;
    const size_t n = s.stream.socket().read_some(buf.prepare(4096), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return std::nullopt;
    if (ec == asio::error::eof) return buf.size() == 0 ? http::error::end_of_stream : http::error::partial_message;
    if (ec) return ec;
    buf.commit(n);
  }
}

// take_head(), waiting for readable (against the rate and read deadlines)
// while the header block is incomplete.
asio::awaitable<beast::error_code> HttpServer::Impl::read_head(Session& s, beast::flat_buffer& buf, HeadParser& hp,
                                                               std::string& ambiguous, Clock::time_point start,
                                                               size_t scanned) {
  for (;;) {
    if (!co_await wait_readable(s, rate_deadline(start, buf.size(), Clock::now() + cfg.read_timeout)))
      co_return beast::error::timeout;
    if (auto ec = take_head(s, buf, hp, ambiguous, scanned)) co_return *ec;
  }
}

// A request whose header is in. The part that never waits runs here, on
// the loop, without a coroutine frame: a bodiless request is planned,
// handed to the handler and, when the answer comes at once and fits the
// socket (a hot src variant), written and logged in this call. What must
// wait (a body to read, an answer still being made, a full socket, a file)
// is returned as a coroutine for run_session to await.
std::optional<asio::awaitable<void>> HttpServer::Impl::serve_one(std::shared_ptr<Session> s, beast::flat_buffer& buf,
                                                                HeadParser& hp, bool& keep_going) {
  const auto deadline = Clock::now() + cfg.request_timeout;
  Request& req = hp.req;
  req.peer_ip = s->peer_ip;
  if (auto cl = hp.content_length()) req.content_length = *cl;
  req.chunked = hp.chunked();
  req.request_id = new_request_id();

  Head h;
  h.is_head = hp.method == http::verb::head;
  h.version = hp.version;
  h.keep_alive = hp.keep_alive();
  h.request_id = req.request_id;
  h.method = req.method;
  // A body is read by Beast's parser, which takes the header again from the
  // bytes still in `buf` (read_body); without one they are done with.
  const bool body_pending = !hp.is_done();
  if (!body_pending) buf.consume(hp.head_size);

  if (auto problem = split_request_target(req.target, req.path, req.query))
    return answer_early(s, Response::error(Error(ErrorCode::bad_request, *problem)), std::move(h), body_pending,
                        keep_going);
  h.path = req.path;

  BodyPlan plan;
  std::exception_ptr plan_failed;
  try {
    plan = handler.plan_body(req);
    h.route = req.route;
  } catch (...) {
    plan_failed = std::current_exception();
  }
  if (plan_failed)
    return answer_early(s, response_for(plan_failed, req, handler), std::move(h), body_pending, keep_going);
  if (auto* reject = std::get_if<RejectBody>(&plan))
    return answer_early(s, std::move(reject->response), std::move(h), body_pending, keep_going);

  const uint64_t limit = std::holds_alternative<BufferBody>(plan)
                             ? (std::get<BufferBody>(plan).limit ? std::get<BufferBody>(plan).limit : cfg.default_body_limit)
                             : (std::get<StreamBody>(plan).limit ? std::get<StreamBody>(plan).limit
                                                                 : cfg.default_stream_limit);
  if (req.content_length && *req.content_length > limit)
    return answer_early(s, too_large(req, limit), std::move(h), body_pending, keep_going);
  if (body_pending) return read_body(s, buf, req, std::move(h), std::move(plan), limit, deadline, keep_going);

  s->response.reset();
  if (auto* stream = std::get_if<StreamBody>(&plan)) {
    // No body at all (Content-Length: 0, or none on a POST): the sink is
    // finished with nothing written and answers for itself.
    finish_sink(s, *stream->sink, req);
    plan = BodyPlan{};  // let go before the answer is written (read_body says why)
  } else {
    hand_over(s, std::move(req), h);
  }
  return answer(std::move(s), std::move(h), keep_going);
}

// The answer to a request that was not read whole (a body is still on the
// wire): the connection cannot be reused, so it is closed after.
asio::awaitable<void> HttpServer::Impl::answer_early(std::shared_ptr<Session> s, Response r, Head h, bool body_pending,
                                                     bool& keep_going) {
  const bool ok = co_await send(*s, std::move(r), h, body_pending);
  keep_going = ok && !body_pending;
  if (body_pending) co_await linger_close(*s);
}

Response HttpServer::Impl::too_large(const Request& req, uint64_t limit) {
  return handler.error_answer(req, Error(ErrorCode::file_too_large, "The request body is larger than the limit of " +
                                                                        std::to_string(limit) + " bytes."));
}

// Only the handler's `respond` (and its copies), and these functions until
// the handler returns, may own the Responder, so that dropping it
// unanswered is noticed. Made when a handler is handed the request, not
// before: a body the transport refuses (too large mid-body, a sink's error,
// malformed) was never given to anyone to answer. The Respond is moved to
// the handler (no copy of the std::function per request); a throw is
// answered through the Responder kept here.
void HttpServer::Impl::hand_over(const std::shared_ptr<Session>& s, Request&& req, const Head& h) {
  auto responder = std::make_shared<Responder>(gate, s, ++s->seq, req.request_id);
  try {
    handler.handle(std::move(req), Responder::respond_through(responder));
  } catch (...) {
    Request r;
    r.request_id = h.request_id;
    r.method = h.method;
    r.path = h.path;
    responder->deliver(response_for(std::current_exception(), r, handler));  // dropped if the handler had answered
  }
}

void HttpServer::Impl::finish_sink(const std::shared_ptr<Session>& s, BodySink& sink, const Request& req) {
  auto responder = std::make_shared<Responder>(gate, s, ++s->seq, req.request_id);
  try {
    sink.finish(Responder::respond_through(responder));
  } catch (...) {
    responder->deliver(response_for(std::current_exception(), req, handler));
  }
}

// Reads the body the handler planned for (buffered whole, or streamed to
// its sink chunk by chunk), hands it over and answers.
asio::awaitable<void> HttpServer::Impl::read_body(std::shared_ptr<Session> s, beast::flat_buffer& buf, Request& req,
                                                  Head h, BodyPlan plan, uint64_t limit, Clock::time_point deadline,
                                                  bool& keep_going) {
  // Beast's parser takes the header again from the bytes still in `buf`
  // (the same bytes: it cannot fail where the head parser did not).
  http::request_parser<http::empty_body> with_body;
  with_body.header_limit(cfg.header_limit);
  with_body.body_limit(boost::none);  // checked against the handler's plan below
  beast::error_code head_ec;
  while (!with_body.is_header_done() && !head_ec) {
    size_t used = with_body.put(buf.data(), head_ec);
    buf.consume(used);
    if (used == 0 && !head_ec) head_ec = http::error::bad_field;
  }
  if (head_ec) {
    plan = BodyPlan{};  // released before the answer
    co_await answer_early(s, Response::error(Error(ErrorCode::bad_request, "The HTTP request is malformed.")),
                          std::move(h), true, keep_going);
    co_return;
  }

  // A body read whole holds its bytes of the budget until its answer is out
  // (at most the plan's limit when the length is not announced: chunked).
  struct BufferedBytes {
    BufferedBytes(std::atomic<uint64_t>& u, uint64_t bytes) : used(u), n(bytes) {}
    BufferedBytes(const BufferedBytes&) = delete;
    BufferedBytes& operator=(const BufferedBytes&) = delete;
    ~BufferedBytes() { used -= n; }
    std::atomic<uint64_t>& used;
    const uint64_t n;
  };
  std::optional<BufferedBytes> buffered;
  if (std::holds_alternative<BufferBody>(plan)) {
    const uint64_t n = req.content_length.value_or(limit);
    if (!reserve_buffered(n)) {
      plan = BodyPlan{};
      co_await answer_early(s, handler.error_answer(req, Error(ErrorCode::service_unavailable,
                                                               "The server is reading too many large request bodies "
                                                               "at once; retry shortly.")),
                            std::move(h), true, keep_going);
      co_return;
    }
    buffered.emplace(buffered_body_bytes, n);
  }

  if (iequals(req.header("Expect"), "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    auto ec = co_await write_all(*s, {asio::buffer(kContinue), asio::const_buffer()}, Clock::now() + cfg.read_timeout);
    if (ec) {
      keep_going = false;
      co_return;
    }
  }

  // Reading the body failed: answer (when there is something to say) and close.
  auto body_error = [&](const beast::error_code& ec) -> asio::awaitable<void> {
    keep_going = false;
    plan = BodyPlan{};  // released before the answer (below)
    if (ec == http::error::body_limit) {
      co_await send(*s, too_large(req, limit), h, true);
      co_await linger_close(*s);
    } else if (!is_quiet_network_error(ec)) {
      co_await send(*s, handler.error_answer(req, Error(ErrorCode::bad_request, "The request body is malformed.")), h, true);
      co_await linger_close(*s);
    } else if (log::enabled(log::Level::debug)) {
      // The client went away mid-body: no answer, so no request line either.
      log::debug("http_body_aborted", {{"request_id", h.request_id}, {"path", h.path}, {"error", ec.message()}});
    }
  };

  s->response.reset();
  if (std::holds_alternative<BufferBody>(plan)) {
    http::request_parser<http::string_body> bp{std::move(with_body)};
    bp.body_limit(limit);
    const auto body_start = Clock::now();
    uint64_t received = 0;
    while (!bp.is_done()) {
      s->stream.expires_at(rate_deadline(body_start, received, read_deadline(deadline)));
      auto [ec, n] = co_await http::async_read_some(s->stream, buf, bp, nothrow_awaitable);
      if (ec) {
        co_await body_error(ec);
        co_return;
      }
      received += n;
    }
    req.body = std::move(bp.get().body());
    hand_over(s, std::move(req), h);
  } else {
    auto& sb = std::get<StreamBody>(plan);
    http::request_parser<http::buffer_body> sp{std::move(with_body)};
    sp.body_limit(limit);  // a chunked body fails at the first chunk header past the limit
    std::vector<char> chunk(std::max<size_t>(cfg.stream_chunk, 1024));
    // Beast reads at most the read buffer's free capacity at a time, and after
    // the header that is about 512 bytes: a 2 MB body took ~4000 reads (and
    // timer resets). Room for a whole chunk while streaming; given back after.
    buf.reserve(chunk.size());
    struct ShrinkAfter {
      beast::flat_buffer& b;
      ~ShrinkAfter() { b.shrink_to_fit(); }
    } shrink_after{buf};
    uint64_t total = 0;
    const auto body_start = Clock::now();
    while (!sp.is_done()) {
      sp.get().body().data = chunk.data();
      sp.get().body().size = chunk.size();
      s->stream.expires_at(rate_deadline(body_start, total, read_deadline(deadline)));
      auto [ec, n] = co_await http::async_read_some(s->stream, buf, sp, nothrow_awaitable);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        co_await body_error(ec);
        co_return;
      }
      size_t got = chunk.size() - sp.get().body().size;
      total += got;
      if (total > limit) {
        co_await body_error(http::error::body_limit);
        co_return;
      }
      if (got == 0) continue;
      std::exception_ptr sink_failed;
      try {
        sb.sink->write(chunk.data(), got);
      } catch (...) {
        sink_failed = std::current_exception();
      }
      if (sink_failed) {
        keep_going = false;
        auto answer = response_for(sink_failed, req, handler);
        plan = BodyPlan{};  // released before the answer (below)
        co_await send(*s, std::move(answer), h, true);
        co_await linger_close(*s);
        co_return;
      }
    }
    finish_sink(s, *sb.sink, req);
    // What the handler keeps for a request (a reservation of the caller's
    // quota, a staged file) is let go before its answer is written, never
    // after: a client that sends its next request the moment it reads the
    // answer must find it gone (a quota unit held through a 2 s linger
    // answered that next upload 403).
    plan = BodyPlan{};
  }
  if (auto rest = answer(s, std::move(h), keep_going)) co_await std::move(*rest);
}

// The handler's answer, once handed the request: written now when it is
// already there, is not a file, and fits the socket (no coroutine frame);
// otherwise by the returned coroutine.
std::optional<asio::awaitable<void>> HttpServer::Impl::answer(std::shared_ptr<Session> s, Head h, bool& keep_going) {
  if (!s->response) return answer_later(std::move(s), std::move(h), keep_going);
  Outgoing out = prepare(*s, std::move(*s->response), h, false);
  s->response.reset();
  if (out.file) return send_rest(std::move(s), std::move(out), std::move(h), 0, keep_going);
  auto wire = out.wire(s->head, 0);
  const size_t total = wire[0].size() + wire[1].size();
  beast::error_code ec;
  if (!write_now(s->stream.socket(), wire, ec))
    return send_rest(std::move(s), std::move(out), std::move(h), total - wire[0].size() - wire[1].size(), keep_going);
  keep_going = finish(*s, out, h, ec);
  return std::nullopt;
}

asio::awaitable<void> HttpServer::Impl::answer_later(std::shared_ptr<Session> s, Head h, bool& keep_going) {
  bool close = false;
  if (!co_await await_response(*s, close)) {
    keep_going = false;
    co_return;
  }
  Response r = std::move(*s->response);
  s->response.reset();
  keep_going = co_await send(*s, std::move(r), h, close);
}

asio::awaitable<void> HttpServer::Impl::send_rest(std::shared_ptr<Session> s, Outgoing out, Head h, size_t sent,
                                                  bool& keep_going) {
  keep_going = finish(*s, out, h, co_await transmit(*s, out, sent));
}

// Waits until the handler's answer (or, past the handler timeout, the
// timeout's) is in `s.response`; false when the connection is being closed.
asio::awaitable<bool> HttpServer::Impl::await_response(Session& s, bool& close) {
  s.signal.expires_after(cfg.handler_timeout);
  while (!s.response) {
    auto [ec] = co_await s.signal.async_wait(nothrow_awaitable);
    if (s.response) break;
    if (s.closing) co_return false;
    if (!ec) {
      log::error("handler_timeout", {{"timeout_ms", cfg.handler_timeout.count()}});
      s.seq++;  // a late answer is dropped
      close = true;
      s.response = Response::error(Error(ErrorCode::processing_timeout));
    }
  }
  co_return true;
}

// Writes `r`; returns whether the connection may carry another request.
asio::awaitable<bool> HttpServer::Impl::send(Session& s, Response r, const Head& h, bool close) {
  Outgoing out = prepare(s, std::move(r), h, close);
  co_return finish(s, out, h, co_await transmit(s, out, 0));
}

// The answer's header block (into s.head) and what its writing and its
// access line need.
HttpServer::Impl::Outgoing HttpServer::Impl::prepare(Session& s, Response r, const Head& h, bool close) {
  Outgoing out;
  if (!r.file_path.empty()) {
    if (auto file = OpenFile::open(r.file_path)) out.file.emplace(std::move(*file));
    if (!out.file) {
      log::warn("response_file_unreadable", {{"request_id", h.request_id},
                                             {"error", "cannot open it as a regular file: " + std::string(std::strerror(errno))}});
      r = Response::error(Error(ErrorCode::not_found));
    }
  }
  out.keep = h.keep_alive && cfg.keep_alive && !close && !stopping &&
             (!cfg.max_idle_connections || connections_idle.load() < cfg.max_idle_connections);
  for (const auto& [k, v] : r.headers)
    if (iequals(k, "Connection") && iequals(v, "close")) out.keep = false;

  if (r.status >= 500)
    ++responses_5xx;
  else if (r.status >= 400)
    ++responses_4xx;
  if (r.shared_body || out.file) r.body.clear();  // the shared bytes or the file are the body
  const uint64_t body_size = out.file ? out.file->size() : r.shared_body ? r.shared_body->size() : r.body.size();
  out.bytes = h.is_head ? 0 : body_size;

  // One header block, written with its body: a file with sendfile, anything
  // else (hot cached variants above all) in a single gather write — no
  // per-field allocations, no serializer state machine (docs/performance.md).
  std::optional<std::string_view> head_length;  // HEAD: a Content-Length the handler set itself
  if (h.is_head && !out.file && !r.shared_body && r.body.empty())
    for (const auto& [k, v] : r.headers)
      if (iequals(k, "Content-Length")) head_length = v;
  response_head(s.head, r, h, out.keep, head_length ? *head_length : std::to_string(body_size));
  out.bodyless = h.is_head || r.status < 200 || r.status == 204 || r.status == 304;
  if (out.bodyless) out.file.reset();
  out.r = std::move(r);
  return out;
}

// Writes the header block and body of `out` from byte `sent` on, waiting
// for the socket (until the read timeout) only when it is full.
asio::awaitable<beast::error_code> HttpServer::Impl::transmit(Session& s, const Outgoing& out, size_t sent) {
  if (out.file) co_return co_await send_file(s, s.head, *out.file);
  // write_all tries the socket before it waits (a full one is asked once).
  co_return co_await write_all(s, out.wire(s.head, sent), Clock::now() + cfg.read_timeout);
}

// After the answer is on the wire (or failed): the access line and the
// metrics; whether the connection may carry another request.
bool HttpServer::Impl::finish(Session& s, const Outgoing& out, const Head& h, const beast::error_code& ec) {
  const bool ok = !ec;
  if (ec && !is_quiet_network_error(ec) && log::enabled(log::Level::debug))
    log::debug("http_write_failed", {{"request_id", h.request_id}, {"error", ec.message()}});
  // One line per request (the access log), after the answer is on the wire.
  s.answered = Clock::now();
  const double seconds = std::chrono::duration<double>(s.answered - h.started).count();
  log::request({h.method, h.path, h.request_id, out.r.status, seconds * 1000.0, out.bytes, ok});
  if (cfg.on_response) cfg.on_response(AccessRecord{h.method, h.path, out.r.status, seconds, out.bytes, h.route});
  return ok && out.keep;
}

// After an answer sent before the whole request was read: stop sending, then
// read and drop what the client still sends for a moment, so that closing
// does not reset the connection before the client has read the answer.
asio::awaitable<void> HttpServer::Impl::linger_close(Session& s) {
  beast::error_code ec;
  s.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  // Read and drop what the client is still sending, so that it reads our
  // answer instead of a reset. Bounded by time (2 s) and bytes: a client
  // that was refused a 70 MB body may have most of it still in flight.
  std::vector<char> sink(16 * 1024);
  size_t drained = 0;
  s.stream.expires_after(std::chrono::seconds(2));
  while (drained < 128 * 1024 * 1024) {
    auto [rec, n] = co_await s.stream.async_read_some(asio::buffer(sink), nothrow_awaitable);
    if (rec) break;
    drained += n;
  }
  s.stream.close();
}

HttpServer::HttpServer(HttpServerConfig config, Handler& handler)
    : impl_(std::make_shared<Impl>(std::move(config), handler)) {}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

void HttpServer::start() {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (d.started) throw std::logic_error("HttpServer::start called twice");
    d.started = true;
  }
  auto ep = parse_listen(d.cfg.listen);
  const int n = std::max(1, d.cfg.threads);
  for (int i = 0; i < n; ++i) d.loops.push_back(std::make_unique<Impl::Loop>());
  auto& listener = d.loops.front()->acceptor;
  beast::error_code ec;
  listener.open(ep.protocol(), ec);
  if (!ec) listener.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) listener.bind(ep, ec);
  if (!ec) listener.listen(asio::socket_base::max_listen_connections, ec);
  for (int i = 1; i < n && !ec; ++i) {
    // A descriptor of its own for each loop's epoll (one descriptor cannot
    // be registered with two reactors); close-on-exec like Asio's own.
    const int fd = ::fcntl(listener.native_handle(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) ec = errno_code(errno);
    else d.loops[i]->acceptor.assign(ep.protocol(), fd, ec);
  }
  for (auto& loop : d.loops)
    if (!ec) loop->acceptor.non_blocking(true, ec);
  if (ec) throw std::runtime_error("cannot listen on " + d.cfg.listen + ": " + ec.message());
  d.port = listener.local_endpoint().port();
  for (auto& loop : d.loops) {
    asio::co_spawn(loop->ioc, d.accept_loop(*loop), [](std::exception_ptr ep) {
      if (ep) log::error("unhandled_exception", {{"where", "accept_loop"}, {"error", what_of(ep)}});
    });
    d.threads.emplace_back([&ioc = loop->ioc] {
      block_sigpipe();
      ioc.run();
    });
  }
  log::info("http_listening", {{"address", ep.address().to_string()}, {"port", d.port}, {"io_threads", n}});
}

uint16_t HttpServer::port() const { return impl_->port; }

bool HttpServer::stopping() const { return impl_->stopping; }

void HttpServer::stop(std::chrono::milliseconds drain) {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (!d.started || d.stopped) return;
    d.stopped = true;
  }
  d.stopping = true;

  // 1. No new connections. Each loop first takes what the kernel already
  //    completed on its descriptor (answered 503), so a client queued in
  //    the backlog gets an answer instead of a reset; the socket stops
  //    listening when its last descriptor is closed.
  // Bounded wait: if the I/O threads are already gone nothing would run the
  // posted close, and stop() must never hang a shutdown.
  const auto give_up = Clock::now() + std::chrono::seconds(5);
  bool all_closed = true;
  for (auto& loop : d.loops) {
    auto closed = std::make_shared<std::promise<void>>();
    auto done = closed->get_future();
    asio::post(loop->ioc, [&d, &loop = *loop, closed] {
      d.close_listener(loop);
      closed->set_value();
    });
    all_closed = done.wait_until(give_up) == std::future_status::ready && all_closed;
  }
  if (!all_closed) {
    log::warn("http_listener_closed_directly");  // the I/O threads did not close it within 5 s
    for (auto& loop : d.loops) {
      beast::error_code ec;
      loop->acceptor.close(ec);
    }
  }

  auto for_each_session = [&](auto fn) {
    std::vector<std::shared_ptr<Session>> snapshot;
    {
      std::lock_guard lock(d.mu);
      snapshot.assign(d.sessions.begin(), d.sessions.end());
    }
    for (auto& s : snapshot) asio::post(s->ex, [s, fn] { fn(*s); });
  };
  auto wait_sessions = [&](std::chrono::milliseconds t) {
    std::unique_lock lock(d.mu);
    return d.cv.wait_for(lock, t, [&] { return d.sessions.empty(); });
  };

  // 2. Idle keep-alive connections go now; busy ones finish their request
  //    (answered with Connection: close) within `drain`.
  for_each_session([](Session& s) {
    if (s.idle) s.close_now();
  });
  if (!wait_sessions(drain)) {
    std::lock_guard lock(d.mu);
    log::warn("http_drain_timeout", {{"connections_closed", d.sessions.size()}, {"drain_ms", drain.count()}});
  }
  // 3. Whatever is left is cut.
  for_each_session([](Session& s) {
    s.closing = true;
    s.close_now();
  });
  wait_sessions(std::chrono::seconds(2));

  {
    std::lock_guard lock(d.gate->mu);
    d.gate->open = false;
  }
  for (auto& loop : d.loops) {
    loop->work.reset();
    loop->ioc.stop();
  }
  for (auto& t : d.threads)
    if (t.joinable()) t.join();
  d.threads.clear();
  log::info("http_stopped");
}

HttpServerStats HttpServer::stats() const {
  const auto& d = *impl_;
  return HttpServerStats{d.connections_open.load(),    d.connections_total.load(), d.requests_in_flight.load(),
                         d.requests_total.load(),      d.responses_4xx.load(),     d.responses_5xx.load(),
                         d.connections_refused.load(), d.connections_idle.load(),
                         d.buffered_body_bytes.load()};
}

}  // namespace imgpipe::gateway
