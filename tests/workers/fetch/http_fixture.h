#pragma once
// A tiny blocking HTTP/1.1 fixture server for the fetcher tests: binds a
// loopback address on an ephemeral port, accepts on its own thread, reads
// one request per connection and hands the socket to a handler that writes
// a raw response. Only loopback addresses are ever bound or contacted.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace imgpipe::workers::fetch::test {

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A listening socket on `address` (a loopback address) and an ephemeral port.
inline int listen_loopback(const char* address, uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, address, &sa.sin_addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 16) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("fixture: cannot listen");
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  port = ntohs(sa.sin_port);
  return fd;
}

// `data` gzip-compressed (for Content-Encoding: gzip bodies and bombs).
inline std::string gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: deflateInit2 failed");
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("gzip: deflate did not finish");
  return out;
}

class HttpFixture {
 public:
  // Returns when the response is written; the connection is then closed.
  using Handler = std::function<void(int fd, const std::string& request, const HttpFixture& self)>;

  explicit HttpFixture(Handler handler, const char* address = "127.0.0.1") : handler_(std::move(handler)), address_(address) {
    listen_fd_ = listen_loopback(address, port_);
    thread_ = std::thread([this] { run(); });
  }
  ~HttpFixture() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  HttpFixture(const HttpFixture&) = delete;
  HttpFixture& operator=(const HttpFixture&) = delete;

  uint16_t port() const { return port_; }
  std::string url(std::string_view path = "/") const {
    return "http://" + address_ + ":" + std::to_string(port_) + std::string(path);
  }
  int accepts() const { return accepts_.load(); }
  bool stopping() const { return stop_.load(); }
  std::vector<std::string> requests() const {
    std::lock_guard lock(m_);
    return requests_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepts_;
      const std::string request = read_request(fd);
      {
        std::lock_guard lock(m_);
        requests_.push_back(request);
      }
      handler_(fd, request, *this);
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
    }
  }

  static std::string read_request(int fd) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    char buf[4096];
    while (out.find("\r\n\r\n") == std::string::npos && out.size() < 65536 && std::chrono::steady_clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  Handler handler_;
  std::string address_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepts_{0};
  mutable std::mutex m_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// A response with the given status line, extra headers and body.
inline std::string response(int status, std::string_view body, std::string_view headers = "",
                            bool content_length = true) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  out += headers;
  if (content_length) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

inline HttpFixture::Handler serve(std::string raw) {
  return [raw = std::move(raw)](int fd, const std::string&, const HttpFixture&) { send_all(fd, raw); };
}

}  // namespace imgpipe::workers::fetch::test
