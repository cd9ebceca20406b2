#include "workers/fetch/url_fetcher.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "schemas/errors.h"
#include "workers/fetch/fetch_hooks.h"
#include "workers/fetch/url_policy.h"

namespace imgpipe::workers::fetch {
namespace {

using schemas::Error;
using schemas::ErrorCode;
using Clock = std::chrono::steady_clock;

// ---- resolution -------------------------------------------------------------

// getaddrinfo() has no timeout of its own, so it runs on a detached thread and
// the caller waits at most until `deadline`; a late answer is dropped.
std::vector<IpAddress> resolve_host(const std::string& host, Clock::time_point deadline) {
  struct State {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    int rc = 0;
    std::vector<IpAddress> addresses;
  };
  auto state = std::make_shared<State>();
  std::thread([state, host] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    std::vector<IpAddress> out;
    for (addrinfo* ai = res; rc == 0 && ai; ai = ai->ai_next) {
      if (!ai->ai_addr) continue;
      if (auto a = from_sockaddr(*ai->ai_addr); a && std::find(out.begin(), out.end(), a->first) == out.end()) {
        out.push_back(a->first);
      }
    }
    if (res) freeaddrinfo(res);
    std::lock_guard lock(state->m);
    state->rc = rc;
    state->addresses = std::move(out);
    state->done = true;
    state->cv.notify_one();
  }).detach();
  std::unique_lock lock(state->m);
  if (!state->cv.wait_until(lock, deadline, [&] { return state->done; })) {
    throw Error(ErrorCode::import_timeout, "Resolving host " + host + " took too long.");
  }
  if (state->rc != 0 || state->addresses.empty()) {
    throw Error(ErrorCode::import_unreachable, "Could not resolve host " + host + ".");
  }
  return state->addresses;
}

// ---- one HTTP exchange ------------------------------------------------------

enum class Stop { none, redirect, bad_status, too_large, pin_violation, write_failed };

struct Exchange {
  int fd = -1;
  uint64_t max_bytes = 0;
  uint64_t written = 0;
  std::vector<IpAddress> pinned;  // the checked addresses; nothing else may be connected
  uint16_t port = 0;
  const testing::FetchHooks* hooks = nullptr;

  int status = 0;
  bool headers_done = false;
  std::string location;
  std::optional<uint64_t> content_length;
  Stop stop = Stop::none;

  bool is_pinned(const IpAddress& a, uint16_t p) const {
    return p == port && std::find(pinned.begin(), pinned.end(), a) != pinned.end();
  }
};

bool is_redirect(int status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Decides at the end of the headers whether the body is worth reading:
// redirects, non-2xx and an announced size over the limit stop the transfer
// before a single body byte is written.
size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto& x = *static_cast<Exchange*>(user);
  const size_t len = size * n;
  const std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 1xx): forget the previous one's headers.
    x.status = 0;
    x.headers_done = false;
    x.location.clear();
    x.content_length.reset();
    const auto sp = line.find(' ');
    if (sp != std::string_view::npos) {
      const auto code = trim(line.substr(sp + 1)).substr(0, 3);
      std::from_chars(code.data(), code.data() + code.size(), x.status);
    }
    return len;
  }
  if (x.headers_done) return len;  // trailers
  if (trim(line).empty()) {
    if (x.status >= 100 && x.status < 200) return len;  // interim response; the real one follows
    x.headers_done = true;
    if (is_redirect(x.status) && !x.location.empty()) {
      x.stop = Stop::redirect;
      return 0;
    }
    if (x.status < 200 || x.status >= 300) {
      x.stop = Stop::bad_status;
      return 0;
    }
    if (x.content_length && *x.content_length > x.max_bytes) {
      x.stop = Stop::too_large;
      return 0;
    }
    return len;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  const auto name = trim(line.substr(0, colon));
  const auto value = trim(line.substr(colon + 1));
  if (iequals(name, "location")) {
    x.location = std::string(value);
  } else if (iequals(name, "content-length")) {
    uint64_t v = 0;
    if (std::from_chars(value.data(), value.data() + value.size(), v).ec == std::errc()) x.content_length = v;
  }
  return len;
}

// Receives the body after content decoding, so the limit counts the bytes
// that reach the disk (a gzip bomb stops at max_bytes).
size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto& x = *static_cast<Exchange*>(user);
  const size_t len = size * n;
  if (x.status < 200 || x.status >= 300) return 0;
  if (len > x.max_bytes - x.written) {
    x.stop = Stop::too_large;
    return 0;
  }
  size_t done = 0;
  while (done < len) {
    const ssize_t w = ::write(x.fd, data + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      x.stop = Stop::write_failed;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  x.written += len;
  return len;
}

// The pin: curl may only open a socket to an address that was resolved and
// checked above. CURLOPT_RESOLVE already feeds curl those addresses; this
// catches anything that would bypass it (a second lookup, a proxy, a bug).
curl_socket_t on_open_socket(void* user, curlsocktype purpose, curl_sockaddr* addr) {
  auto& x = *static_cast<Exchange*>(user);
  const auto target = from_sockaddr(addr->addr);
  if (purpose != CURLSOCKTYPE_IPCXN || !target || !x.is_pinned(target->first, target->second)) {
    x.stop = Stop::pin_violation;
    return CURL_SOCKET_BAD;
  }
  if (x.hooks->on_connect) x.hooks->on_connect(target->first, target->second);
  return ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

// Second look, after connect: the peer curl reports must be a pinned one.
int on_prereq(void* user, char* primary_ip, char* /*local_ip*/, int primary_port, int /*local_port*/) {
  auto& x = *static_cast<Exchange*>(user);
  const auto ip = parse_ip_literal(primary_ip ? primary_ip : "");
  if (!ip || primary_port < 0 || primary_port > 65535 || !x.is_pinned(*ip, static_cast<uint16_t>(primary_port))) {
    x.stop = Stop::pin_violation;
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

class Destination {
 public:
  explicit Destination(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) {
    if (fd_ < 0) throw Error(ErrorCode::internal_error, "Could not create the import file.");
  }
  ~Destination() { ::close(fd_); }
  Destination(const Destination&) = delete;
  Destination& operator=(const Destination&) = delete;
  int fd() const { return fd_; }
  void reset() {
    if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) {
      throw Error(ErrorCode::internal_error, "Could not write the import file.");
    }
  }

 private:
  int fd_;
};

std::string resolve_entry(std::string_view host, uint16_t port, const std::vector<IpAddress>& addresses) {
  std::string entry = std::string(host) + ":" + std::to_string(port) + ":";
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (i) entry += ',';
    entry += addresses[i].v6 ? "[" + addresses[i].to_string() + "]" : addresses[i].to_string();
  }
  return entry;
}

long clamp_ms(std::chrono::milliseconds ms) {
  return static_cast<long>(std::max<int64_t>(1, std::min<int64_t>(ms.count(), 1LL << 30)));
}

}  // namespace

namespace testing {

FetchResult fetch_to_file(const std::string& url, const std::filesystem::path& destination, uint64_t max_bytes,
                          const FetchConfig& config, const FetchHooks& hooks) {
  detail::ensure_curl_global_init();
  const auto deadline = Clock::now() + config.total_deadline;
  ImportUrl current = parse_import_url(url);  // bad_request before anything else happens
  Destination file(destination);
  FetchResult result;

  for (;;) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) throw Error(ErrorCode::import_timeout, "Host " + current.host + " did not answer in time.");

    // Resolve once and check every address; the connection is pinned to them.
    std::vector<IpAddress> addresses;
    if (current.literal) {
      addresses = {*current.literal};
    } else if (hooks.resolve) {
      addresses = hooks.resolve(current.host);
      if (addresses.empty()) throw Error(ErrorCode::import_unreachable, "Could not resolve host " + current.host + ".");
    } else {
      addresses = resolve_host(current.host, std::min(deadline, Clock::now() + config.connect_timeout));
    }
    if (!config.allow_private) {
      for (const auto& a : addresses) {
        const bool ok = hooks.address_allowed ? hooks.address_allowed(a) : is_public_address(a);
        if (!ok) {
          // Name only what the client wrote: a resolved address stays internal.
          throw Error(ErrorCode::import_forbidden,
                      current.literal ? "The address " + current.host +
                                            " is private or reserved; imports may only reach public addresses."
                                      : "Host " + current.host +
                                            " resolves to a private or reserved address; imports may only reach public addresses.");
        }
      }
    }

    Exchange x;
    x.fd = file.fd();
    x.max_bytes = max_bytes;
    x.pinned = addresses;
    x.port = current.port;
    x.hooks = &hooks;
    file.reset();

    std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
    if (!easy) throw Error(ErrorCode::internal_error);
    std::unique_ptr<curl_slist, SlistDeleter> resolve;
    if (!current.literal) {
      // With and without a trailing dot: curl strips it before its lookup.
      std::string bare = current.host;
      if (!bare.empty() && bare.back() == '.') bare.pop_back();
      for (const auto& name : {bare, bare + "."}) {
        curl_slist* next = curl_slist_append(resolve.get(), resolve_entry(name, current.port, addresses).c_str());
        if (!next) throw std::bad_alloc();
        resolve.release();
        resolve.reset(next);
      }
    }

    CURL* c = easy.get();
    curl_easy_setopt(c, CURLOPT_CURLU, current.handle.get());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // every hop is checked here instead
    curl_easy_setopt(c, CURLOPT_PROXY, "");            // no proxy from the environment
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, config.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // every encoding curl decodes; the limit counts decoded bytes
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, clamp_ms(std::min(config.connect_timeout, remaining)));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, clamp_ms(remaining));
    if (config.min_bytes_per_second > 0 && config.min_rate_window.count() > 0) {
      curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(config.min_bytes_per_second));
      curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config.min_rate_window.count()));
    }
    // No CURLOPT_MAXFILESIZE: it would judge a redirect's or an error page's
    // Content-Length; on_header applies the limit to 2xx answers only.
    if (resolve) curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &x);
    curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(c, CURLOPT_PREREQDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);

    const CURLcode rc = curl_easy_perform(c);
    const std::string& host = current.host;
    switch (x.stop) {
      case Stop::redirect: {
        if (result.redirects >= config.max_redirects) {
          throw Error(ErrorCode::import_failed,
                      "The remote server redirected more than " + std::to_string(config.max_redirects) + " times.");
        }
        try {
          current = resolve_redirect(current, x.location);
        } catch (const Error& e) {
          throw Error(ErrorCode::import_forbidden, std::string("The remote server redirected to a URL that is not allowed: ") + e.what());
        }
        ++result.redirects;
        continue;
      }
      case Stop::bad_status:
        throw Error(ErrorCode::import_failed, "The remote server answered " + std::to_string(x.status) + ".");
      case Stop::too_large:
        throw Error(ErrorCode::file_too_large, "The file is larger than the limit of " + std::to_string(max_bytes) + " bytes.");
      case Stop::pin_violation:
        throw Error(ErrorCode::import_forbidden, "The connection to host " + host + " was refused: it did not go to the checked address.");
      case Stop::write_failed:
        throw Error(ErrorCode::internal_error, "Could not write the import file.");
      case Stop::none:
        break;
    }
    switch (rc) {
      case CURLE_OK:
        break;
      case CURLE_OPERATION_TIMEDOUT:
        throw Error(ErrorCode::import_timeout, "Host " + host + " did not send the file in time.");
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_CONNECT:
        throw Error(ErrorCode::import_unreachable, "Could not connect to host " + host + ".");
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CACERT_BADFILE:
        throw Error(ErrorCode::import_failed, "The TLS connection to host " + host + " could not be verified.");
      default:
        throw Error(ErrorCode::import_failed, "The download from host " + host + " failed.");
    }
    if (x.status < 200 || x.status >= 300) {
      throw Error(ErrorCode::import_failed, "The remote server answered " + std::to_string(x.status) + ".");
    }
    result.final_url = current.url;
    result.bytes = x.written;
    return result;
  }
}

}  // namespace testing

FetchResult fetch_to_file(const std::string& url, const std::filesystem::path& destination, uint64_t max_bytes,
                          const FetchConfig& config) {
  return testing::fetch_to_file(url, destination, max_bytes, config, testing::FetchHooks{});
}

}  // namespace imgpipe::workers::fetch
