#pragma once
// The HTTP/1.1 transport: accepts connections, parses requests with limits
// and timeouts, asks the Handler what to do with each body, writes the
// answers. Beast and Asio stay inside http_server.cpp (pimpl).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/http/http_types.h"

namespace imgpipe::gateway {

// One answered request, for metrics (the access log line is written by the server).
struct AccessRecord {
  const std::string& method;
  const std::string& path;
  int status;
  double seconds;  // from the request's header to the last byte of the answer
  uint64_t bytes;  // body bytes sent
  size_t route;    // Request::route as the handler left it
};

struct HttpServerConfig {
  // "host:port" to listen on; port 0 picks a free port (see HttpServer::port()). Flag --listen.
  std::string listen = "127.0.0.1:8080";
  // I/O threads running the event loop. Flag --io-threads.
  int threads = 2;
  // Request line + header fields; more answers 431 headers_too_large.
  uint32_t header_limit = 16 * 1024;
  // Upper bound for BufferBody plans whose limit is 0.
  uint64_t default_body_limit = 64 * 1024;
  // Upper bound for StreamBody plans whose limit is 0.
  uint64_t default_stream_limit = 64ull * 1024 * 1024;
  // Each read (and write) must make progress within this: idle keep-alive
  // connections and slowloris clients are closed.
  std::chrono::milliseconds read_timeout{30'000};
  // Reading one whole request (headers and body) must end within this.
  std::chrono::milliseconds request_timeout{300'000};
  // The handler must call `respond` within this, or the client gets 503
  // processing_timeout.
  std::chrono::milliseconds handler_timeout{120'000};
  // Keep connections open between requests (HTTP/1.1 persistent connections).
  bool keep_alive = true;
  // Connection limits (issue 16). Over a cap a new connection is closed at
  // accept, before anything is read; connections already open keep being
  // served. 0 turns a cap off.
  // Connections open at once, from all clients. Flag --max-connections.
  uint32_t max_connections = 10'000;
  // Connections open at once from one socket peer address. Counted on the
  // TCP peer, not X-Forwarded-For: behind a reverse proxy every client is the
  // proxy's address, so raise this (or set 0) there and cap per client at the
  // proxy. Flag --max-connections-per-ip.
  uint32_t max_connections_per_ip = 256;
  // Keep-alive connections waiting for a next request; at the cap an answer
  // carries Connection: close instead. Flag --max-idle-connections.
  uint32_t max_idle_connections = 2'000;
  // A request's header, and then its body, must arrive at this average rate
  // (bytes/s) once `min_rate_grace` has passed since it began: a client that
  // trickles a byte now and then (slowloris) is cut long before
  // read_timeout/request_timeout. A new connection must start its first
  // request within the grace. 0 turns it off. Flags --min-receive-rate,
  // --min-rate-grace-ms.
  uint32_t min_receive_rate = 1024;
  std::chrono::milliseconds min_rate_grace{10'000};
  // Bytes of request bodies read whole into memory (BufferBody: JSON, MCP
  // messages with base64 files) at once, over all connections, counted from
  // when a body starts until its answer is written. A body that would pass
  // it is answered 503 service_unavailable with Retry-After before a byte of
  // it is read: memory is bounded by configuration, not by clients holding
  // large bodies open. 0 turns it off. Flag --max-buffered-body-mb.
  uint64_t max_buffered_body_bytes = uint64_t{256} << 20;
  // Bytes of a streamed body handed to BodySink::write at most at once.
  size_t stream_chunk = 64 * 1024;
  // Called on an I/O thread after each answer is written (keep it cheap).
  std::function<void(const AccessRecord&)> on_response;
};

// Counters for /metrics; a snapshot.
struct HttpServerStats {
  uint64_t connections_open = 0;
  uint64_t connections_total = 0;
  uint64_t requests_in_flight = 0;
  uint64_t requests_total = 0;
  uint64_t responses_4xx = 0;
  uint64_t responses_5xx = 0;
  uint64_t connections_refused = 0;  // closed at accept: over a connection cap
  uint64_t connections_idle = 0;     // keep-alive connections waiting for a request
  uint64_t buffered_body_bytes = 0;  // of max_buffered_body_bytes, taken now
};

class HttpServer {
 public:
  // `handler` must outlive the server.
  HttpServer(HttpServerConfig config, Handler& handler);
  ~HttpServer();  // stop(0ms) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the I/O threads; returns at once. Throws
  // std::runtime_error when the address is invalid or cannot be bound.
  void start();
  // The bound port (the ephemeral one when config.listen ends in ":0").
  uint16_t port() const;
  // Graceful: stop accepting, close idle connections, let requests in flight
  // finish (their answers carry Connection: close) for up to `drain`, then
  // close the rest and join the threads. A connection the kernel had already
  // completed (queued in the listen backlog) is answered 503
  // service_unavailable with Retry-After, not reset. Blocks; call it once,
  // not from an I/O thread. A `respond` called after stop() is dropped.
  void stop(std::chrono::milliseconds drain);
  // Whether stop() has begun.
  bool stopping() const;

  HttpServerStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace imgpipe::gateway
