#include "tests/e2e/harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <vips/vips8>

extern char** environ;

namespace imgpipe::e2e {

namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::move(fallback);
}

std::string random_token(size_t n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex m;
  std::lock_guard lock(m);
  static const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += alphabet[rng() % 36];
  return s;
}

void ensure_global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (VIPS_INIT("imgpipe-e2e") != 0) throw std::runtime_error("VIPS_INIT failed");
    vips_cache_set_max(0);
    // Ignore SIGPIPE: a server that closes early must show up as an error
    // on a socket, not kill the test process.
    std::signal(SIGPIPE, SIG_IGN);
  });
}

int wait_status_to_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits for pid with a deadline; returns the exit code or nullopt on timeout.
std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return wait_status_to_code(status);
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
            int out_fd, int in_fd, int err_fd = -1) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto key = kv.substr(0, kv.find('='));
    if (!extra_env.count(key)) env_strings.push_back(kv);
  }
  for (auto& [k, v] : extra_env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Own process group (so a timed-out tool is killed with its children),
    // and never outlive the test: a crashed test must not leave servers.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd >= 0 ? err_fd : out_fd, 2);
    ::execve(args[0], args.data(), envp.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  return pid;
}

}  // namespace

// ---- locations ---------------------------------------------------------------

fs::path source_dir() { return fs::path(IMGPIPE_SOURCE_DIR); }

fs::path imgpipe_binary() { return fs::path(env_or("IMGPIPE_BIN", std::string(IMGPIPE_BUILD_DIR) + "/imgpipe")); }

fs::path corpus_dir() {
  fs::path dir = env_or("IMGPIPE_TEST_CORPUS", "");
  if (dir.empty()) {
    dir = fs::path("tests/corpus");
    if (!fs::exists(dir)) dir = source_dir() / "tests/corpus";
  }
  return dir;
}

fs::path corpus(std::string_view name) {
  fs::path p = corpus_dir() / std::string(name);
  if (!fs::exists(p))
    throw std::runtime_error("corpus file " + p.string() +
                             " is missing: run ops/corpus first (or set IMGPIPE_TEST_CORPUS)");
  return p;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- processes -----------------------------------------------------------------

RunResult run(const std::vector<std::string>& argv, std::chrono::seconds deadline,
              const std::map<std::string, std::string>& extra_env, const std::optional<fs::path>& stdin_file) {
  ensure_global_init();
  RunResult result;
  char path[] = "/tmp/imgpipe-e2e-run.XXXXXX";
  int out_fd = mkstemp(path);
  if (out_fd < 0) throw std::runtime_error("mkstemp failed");
  int in_fd = open(stdin_file ? stdin_file->c_str() : "/dev/null", O_RDONLY);
  std::vector<std::string> args = argv;
  if (!args.empty() && args[0].find('/') == std::string::npos) {
    // Resolve a bare command through PATH ourselves (execve does not).
    std::string p = env_or("PATH", "/usr/local/bin:/usr/bin:/bin");
    std::stringstream ss(p);
    std::string d;
    while (std::getline(ss, d, ':'))
      if (access((d + "/" + args[0]).c_str(), X_OK) == 0) { args[0] = d + "/" + args[0]; break; }
  }
  pid_t pid = spawn(args, extra_env, out_fd, in_fd);
  close(in_fd);
  auto code = wait_for(pid, deadline);
  if (!code) {
    result.timed_out = true;
    ::kill(-pid, SIGKILL);
    code = wait_for(pid, 10s);
  }
  result.exit_code = code.value_or(-1);
  close(out_fd);
  result.out = read_file(path);
  unlink(path);
  return result;
}

// The e2e scenarios run on Kafka when IMGPIPE_E2E_BUS=kafka (ops/test runs
// them once per transport); IMGPIPE_TEST_KAFKA alone only names the broker.
bool kafka_mode() { return env_or("IMGPIPE_E2E_BUS", "") == "kafka" && !env_or("IMGPIPE_TEST_KAFKA", "").empty(); }

std::vector<std::string> transport_args(const std::string& topic_prefix) {
  if (!kafka_mode()) return {};
  const std::string kafka = env_or("IMGPIPE_TEST_KAFKA", "");
  // The server refuses to start without its topics: create this prefix's
  // once with the operator's command (idempotent, so a restart is harmless).
  static std::set<std::string> created;
  static std::mutex m;
  std::lock_guard lock(m);
  if (!created.count(topic_prefix)) {
    auto r = run({imgpipe_binary().string(), "topics", "create", "--kafka", kafka, "--topic-prefix", topic_prefix,
                  "--partitions", "2"},
                 60s);
    if (r.exit_code != 0) throw std::runtime_error("imgpipe topics create failed: " + r.out);
    created.insert(topic_prefix);
  }
  return {"--kafka", kafka, "--topic-prefix", topic_prefix};
}

std::string synthetic_jpeg(int i, int width, int height) {
  auto img = vips::VImage::black(width, height, vips::VImage::option()->set("bands", 3)) +
             std::vector<double>{double(i * 37 % 256), double(i * 91 % 256), double((100 + i * 13) % 256)};
  auto mark = vips::VImage::black(6, 4, vips::VImage::option()->set("bands", 3)) + 255;
  img = img.cast(VIPS_FORMAT_UCHAR)
            .insert(mark.cast(VIPS_FORMAT_UCHAR), i % (width - 6), (i / (width - 6)) % (height - 4));
  void* buf = nullptr;
  size_t len = 0;
  img.write_to_buffer(".jpg", &buf, &len, vips::VImage::option()->set("Q", 85));
  std::string out(static_cast<char*>(buf), len);
  g_free(buf);
  return out;
}

namespace {

// A TCP socket bound to 127.0.0.1:port (0: any free port), or -1.
int bind_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int free_port() {
  const int fd = bind_loopback(0);
  if (fd < 0) throw std::runtime_error("cannot bind a loopback port");
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

int free_port_block(int count) {
  int ephemeral_low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low;
  auto is_free = [](int port) {
    const int fd = bind_loopback(port);
    if (fd >= 0) close(fd);
    return fd >= 0;
  };
  std::mt19937 pick(std::random_device{}());
  std::uniform_int_distribution<int> base_of(10000, std::max(10001, ephemeral_low - count - 1));
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int base = base_of(pick);
    bool all = true;
    for (int p = base; p < base + count && all; ++p) all = is_free(p);
    if (all) return base;
  }
  throw std::runtime_error("no block of " + std::to_string(count) + " free loopback ports below " +
                           std::to_string(ephemeral_low));
}

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)) {
  ensure_global_init();
  char tmpl[] = "/tmp/imgpipe-e2e.XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  data_dir_ = root_ / "data";
  fs::create_directories(data_dir_);
  log_path_ = root_ / "server.log";
  stderr_path_ = root_ / "server.stderr";
  topic_prefix_ = "t" + random_token(10) + ".";
  port_ = free_port();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_for(pid_, 10s);
    pid_ = -1;
  }
  if (env_or("IMGPIPE_TEST_KEEP", "").empty()) {
    std::error_code ec;
    fs::remove_all(root_, ec);
  } else {
    std::fprintf(stderr, "[e2e] kept %s\n", root_.c_str());
  }
}

std::string ServerProcess::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
std::string ServerProcess::url(std::string_view path) const { return base_url() + std::string(path); }

void ServerProcess::start() {
  if (pid_ > 0) throw std::runtime_error("server already running");
  fs::path bin = imgpipe_binary();
  if (!fs::exists(bin))
    throw std::runtime_error("imgpipe binary not found at " + bin.string() +
                             " (build it: cmake --build build --target imgpipe; or set IMGPIPE_BIN)");
  std::string listen = "127.0.0.1:" + std::to_string(port_);
  std::vector<std::string> argv{bin.string(), "serve"};
  std::map<std::string, std::string> env = options_.env;
  if (options_.config_via_env) {
    env["IMGPIPE_LISTEN"] = listen;
    env["IMGPIPE_DATA_DIR"] = data_dir_.string();
    env["IMGPIPE_PUBLIC_URL"] = base_url();
    if (options_.src_url) env["IMGPIPE_SRC_URL"] = *options_.src_url;
  } else {
    argv.insert(argv.end(), {"--listen", listen, "--data-dir", data_dir_.string(), "--public-url", base_url()});
    if (options_.src_url) argv.insert(argv.end(), {"--src-url", *options_.src_url});
  }
  for (auto& a : transport_args(topic_prefix_)) argv.push_back(a);
  for (auto& a : options_.extra_args) argv.push_back(a);
  // A suite run as one process (the Kafka pass) shares one server, so its
  // uploads from 127.0.0.1 add up past the anonymous tier's hourly limit;
  // tests of the limits bring their own plans file.
  auto given = [&](const std::string& flag) {
    return std::find(options_.extra_args.begin(), options_.extra_args.end(), flag) != options_.extra_args.end();
  };
  if (!given("--plans-file") && !given("--anonymous-uploads-per-hour"))
    argv.insert(argv.end(), {"--anonymous-uploads-per-hour", "100000", "--anonymous-uploads-per-day", "100000"});

  int out_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  int in_fd = open("/dev/null", O_RDONLY);
  int err_fd = options_.stderr_apart ? open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
  std::string banner = "\n==== start:";
  for (auto& a : argv) banner += " " + a;
  banner += "\n";
  (void)!write(out_fd, banner.data(), banner.size());
  pid_ = spawn(argv, env, out_fd, in_fd, err_fd);
  close(out_fd);
  close(in_fd);
  if (err_fd >= 0) close(err_fd);

  auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("imgpipe exited during start-up with status " +
                               std::to_string(wait_status_to_code(status)) + "; log:\n" + log_tail());
    }
    Response r = http_get(url("/healthz"), {}, 2s);
    if (r.status == 200) return;
    std::this_thread::sleep_for(100ms);
  }
  kill9();
  throw std::runtime_error("imgpipe did not answer GET /healthz = 200 within 30 s; log:\n" + log_tail());
}

int ServerProcess::stop(std::chrono::seconds deadline) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  return wait(deadline);
}

int ServerProcess::wait(std::chrono::seconds deadline) {
  if (pid_ <= 0) return -1;
  auto code = wait_for(pid_, deadline);
  if (!code) {
    ::kill(pid_, SIGKILL);
    wait_for(pid_, 10s);
    pid_ = -1;
    return -1;
  }
  pid_ = -1;
  return *code;
}

void ServerProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_for(pid_, 10s);
  pid_ = -1;
}

void ServerProcess::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool ServerProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string ServerProcess::log_tail(size_t bytes) const {
  std::string all;
  try {
    all = read_file(log_path_);
  } catch (...) {
    return "(no log)";
  }
  if (options_.stderr_apart) all += "\n==== stderr:\n" + stderr_text();
  return all.size() > bytes ? "..." + all.substr(all.size() - bytes) : all;
}

std::string ServerProcess::stderr_text() const {
  if (!options_.stderr_apart) throw std::logic_error("stderr_text() needs ServerOptions::stderr_apart");
  std::error_code ec;
  return fs::exists(stderr_path_, ec) ? read_file(stderr_path_) : std::string();
}

ServerProcess& SharedServer::get(const std::string& key, const ServerOptions& options) {
  // Destroyed at exit, which kills the servers and removes their data dirs.
  static std::map<std::string, std::unique_ptr<ServerProcess>> servers;
  auto& slot = servers[key];
  if (!slot || !slot->running()) {
    slot = std::make_unique<ServerProcess>(options);
    slot->start();
  }
  return *slot;
}

const Response& upload_once(const ServerProcess& s, const fs::path& file, std::optional<std::string> name) {
  static std::map<std::string, Response> cache;
  static std::mutex m;
  std::lock_guard lock(m);
  std::string key = std::to_string(s.pid()) + "|" + file.string() + "|" + name.value_or("\x01");
  auto it = cache.find(key);
  if (it != cache.end() && it->second.status == 201) return it->second;
  return cache[key] = upload(s, file, name);
}

// ---- HTTP ------------------------------------------------------------------------

bool CaseLess::operator()(const std::string& a, const std::string& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) < std::tolower(static_cast<unsigned char>(y));
  });
}

std::string Response::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

nlohmann::json Response::json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::string Response::describe() const {
  std::string s = "HTTP " + std::to_string(status);
  if (!error.empty()) s += " (transport error: " + error + ")";
  auto ct = header("Content-Type");
  if (!ct.empty()) s += " [" + ct + "]";
  if (ct.find("json") != std::string::npos || ct.find("text") != std::string::npos || ct.empty())
    s += " body: " + body.substr(0, 600);
  else
    s += " body: " + std::to_string(body.size()) + " bytes";
  return s;
}

namespace {

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a new response (after 100 Continue)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string k = line.substr(0, colon);
    std::string v = line.substr(colon + 1);
    auto trim = [](std::string& s) {
      while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
      while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    };
    trim(k);
    trim(v);
    r->headers[k] = v;
  }
  return size * n;
}

// The request body as segments: literal strings and at most one file.
struct BodySource {
  std::vector<std::string> before;
  std::optional<fs::path> file;
  std::string after;
  std::ifstream in;
  size_t stage = 0, offset = 0;
  std::chrono::milliseconds throttle{0};
  std::function<void()> on_started;
  bool started = false;
  std::string head, tail;

  size_t total() const {
    return head.size() + tail.size() + (file ? fs::file_size(*file) : 0);
  }
  size_t read(char* buf, size_t cap) {
    if (!started) {
      started = true;
      if (on_started) on_started();
    } else if (throttle.count() > 0) {
      std::this_thread::sleep_for(throttle);
    }
    cap = std::min<size_t>(cap, 64 * 1024);
    for (;;) {
      if (stage == 0) {
        if (offset < head.size()) {
          size_t n = std::min(cap, head.size() - offset);
          std::memcpy(buf, head.data() + offset, n);
          offset += n;
          return n;
        }
        stage = 1;
        offset = 0;
        if (file) in.open(*file, std::ios::binary);
      }
      if (stage == 1) {
        if (file && in) {
          in.read(buf, static_cast<std::streamsize>(cap));
          auto n = static_cast<size_t>(in.gcount());
          if (n > 0) return n;
        }
        stage = 2;
        offset = 0;
      }
      if (stage == 2) {
        if (offset < tail.size()) {
          size_t n = std::min(cap, tail.size() - offset);
          std::memcpy(buf, tail.data() + offset, n);
          offset += n;
          return n;
        }
        return 0;
      }
    }
  }
};

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  return static_cast<BodySource*>(user)->read(buf, size * n);
}

Response perform(const std::string& url, const std::string& method, const std::vector<std::string>& headers,
                 BodySource* body, std::optional<size_t> body_size, std::chrono::seconds timeout) {
  ensure_global_init();
  Response r;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  curl_slist* list = nullptr;
  for (auto& x : headers) list = curl_slist_append(list, x.c_str());
  curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(h.get(), CURLOPT_ACCEPT_ENCODING, nullptr);  // bytes exactly as served
  if (method == "HEAD") curl_easy_setopt(h.get(), CURLOPT_NOBODY, 1L);
  if (body) {
    curl_easy_setopt(h.get(), CURLOPT_POST, 1L);
    curl_easy_setopt(h.get(), CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h.get(), CURLOPT_READDATA, body);
    if (body_size) curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(*body_size));
    else list = curl_slist_append(list, "Transfer-Encoding: chunked");
    list = curl_slist_append(list, "Expect:");  // send the body, let the server enforce limits on it
  }
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(h.get());
  long status = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
  r.status = status;
  if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
  curl_slist_free_all(list);
  return r;
}

}  // namespace

Response http_get(const std::string& url, const std::vector<std::string>& headers, std::chrono::seconds timeout) {
  return perform(url, "GET", headers, nullptr, std::nullopt, timeout);
}

Response http_head(const std::string& url, const std::vector<std::string>& headers) {
  return perform(url, "HEAD", headers, nullptr, std::nullopt, 60s);
}

Response post_json(const std::string& url, const nlohmann::json& body) {
  BodySource src;
  src.head = body.dump();
  return perform(url, "POST", {"Content-Type: application/json"}, &src, src.head.size(), 120s);
}

Response post_multipart(const std::string& url, const Multipart& m, std::chrono::seconds timeout) {
  std::string boundary = "----imgpipe-e2e-" + random_token(24);
  BodySource src;
  for (auto& f : m.fields) {
    src.head += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.name + "\"\r\n\r\n" + f.value +
                "\r\n";
  }
  if (m.include_file) {
    std::string filename = m.filename.empty() && m.file ? m.file->filename().string() : m.filename;
    src.head += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + m.field + "\"; filename=\"" +
                filename + "\"\r\nContent-Type: " + m.content_type + "\r\n\r\n";
    if (m.file) src.file = m.file;
    else src.head += m.bytes;
    src.tail = "\r\n";
  }
  src.tail += "--" + boundary + "--\r\n";
  src.throttle = m.throttle;
  src.on_started = m.on_body_started;
  std::vector<std::string> headers{"Content-Type: multipart/form-data; boundary=" + boundary};
  std::optional<size_t> size;
  if (!m.chunked) size = src.total();
  return perform(url, "POST", headers, &src, size, timeout);
}

namespace {
std::string mime_for(const fs::path& p) {
  auto e = p.extension().string();
  if (e == ".jpg" || e == ".jpeg") return "image/jpeg";
  if (e == ".png") return "image/png";
  if (e == ".webp") return "image/webp";
  if (e == ".gif") return "image/gif";
  if (e == ".avif") return "image/avif";
  if (e == ".heic") return "image/heic";
  if (e == ".svg") return "image/svg+xml";
  if (e == ".pdf") return "application/pdf";
  if (e == ".psd") return "image/vnd.adobe.photoshop";
  if (e == ".txt") return "text/plain";
  return "application/octet-stream";
}
}  // namespace

Response upload(const ServerProcess& s, const fs::path& file, std::optional<std::string> name) {
  Multipart m;
  m.file = file;
  m.content_type = mime_for(file);
  if (name) m.fields.push_back({"name", *name});
  return post_multipart(s.url("/v1/upload"), m);
}

std::string raw_exchange(int port, const std::string& request, std::chrono::seconds deadline) {
  ensure_global_init();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return {};
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  auto until = std::chrono::steady_clock::now() + deadline;
  char buf[65536];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    int pr = poll(&p, 1, 200);
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

RawResponse parse_raw(const std::string& bytes) {
  RawResponse r;
  auto end = bytes.find("\r\n\r\n");
  std::string head = bytes.substr(0, end);
  if (end != std::string::npos) r.body = bytes.substr(end + 4);
  std::istringstream in(head);
  std::string line;
  if (std::getline(in, line)) {
    auto sp = line.find(' ');
    if (sp != std::string::npos) r.status = std::atoi(line.c_str() + sp + 1);
  }
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    r.headers[line.substr(0, colon)] = v;
  }
  return r;
}

// ---- images ------------------------------------------------------------------------

std::string sniff_format(std::string_view b) {
  auto u = [&](size_t i) { return i < b.size() ? static_cast<unsigned char>(b[i]) : 0u; };
  if (u(0) == 0xFF && u(1) == 0xD8 && u(2) == 0xFF) return "jpeg";
  if (b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return "png";
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return "webp";
  if (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a") return "gif";
  if (b.size() >= 12 && b.substr(4, 4) == "ftyp") {
    auto brand = b.substr(8, 4);
    if (brand == "avif" || brand == "avis") return "avif";
    if (brand == "heic" || brand == "heix" || brand == "heim" || brand == "heis" || brand == "mif1" ||
        brand == "msf1")
      return "heic";
  }
  return "";
}

Decoded decode(std::string_view bytes) {
  ensure_global_init();
  Decoded d;
  d.sniffed = sniff_format(bytes);
  const char* loader = vips_foreign_find_load_buffer(bytes.data(), bytes.size());
  if (!loader) {
    d.error = "no libvips loader recognises these " + std::to_string(bytes.size()) + " bytes";
    vips_error_clear();
    return d;
  }
  std::string l = loader;
  try {
    auto img = vips::VImage::new_from_buffer(bytes.data(), bytes.size(), "",
                                             vips::VImage::option()->set("fail_on", VIPS_FAIL_ON_TRUNCATED));
    d.width = img.width();
    d.height = img.height();
    if (img.get_typeof("n-pages") != 0) d.pages = img.get_int("n-pages");
    if (img.get_typeof("orientation") != 0) d.orientation = img.get_int("orientation");
    // The loader is a class name such as VipsForeignLoadJpegBuffer or
    // VipsForeignLoadNsgifBuffer.
    std::string lower = l;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    auto has = [&](const char* x) { return lower.find(x) != std::string::npos; };
    if (has("jpeg")) d.format = "jpeg";
    else if (has("png")) d.format = "png";
    else if (has("webp")) d.format = "webp";
    else if (has("gif")) d.format = "gif";
    else if (has("heif")) {
      std::string c = img.get_typeof("heif-compression") != 0 ? img.get_string("heif-compression") : "";
      d.format = c == "av1" ? "avif" : c == "hevc" ? "heic" : "heif:" + c;
    } else d.format = l;
    (void)img.avg();  // decode every pixel: truncated or corrupt data fails here
    d.ok = true;
  } catch (const vips::VError& e) {
    d.error = std::string("libvips: ") + e.what();
    vips_error_clear();
  }
  return d;
}

Decoded decode_file_upright(const fs::path& p) {
  std::string bytes = read_file(p);
  Decoded d = decode(bytes);
  if (d.ok && d.orientation >= 5 && d.orientation <= 8) std::swap(d.width, d.height);
  return d;
}

int short_edge_of(std::string_view size) {
  if (size == "s") return 320;
  if (size == "m") return 640;
  if (size == "l") return 1080;
  return 0;
}

Dims expected_variant(Dims src, int short_edge) {
  int shortest = std::min(src.width, src.height);
  if (short_edge <= 0 || shortest <= short_edge) return src;
  // The long edge rounded down, as img.pro's reference says (4000x3000 at 320 is 426x320).
  auto scaled = [&](int edge) { return std::max(1, static_cast<int>(int64_t{edge} * short_edge / shortest)); };
  if (src.width <= src.height) return {short_edge, scaled(src.height)};
  return {scaled(src.width), short_edge};
}

::testing::AssertionResult dims_match(Dims got, Dims want) {
  // The short edge is exact; the long edge is allowed one pixel of rounding.
  bool portrait = want.width <= want.height;
  int got_short = portrait ? got.width : got.height, want_short = portrait ? want.width : want.height;
  int got_long = portrait ? got.height : got.width, want_long = portrait ? want.height : want.width;
  if (got_short == want_short && std::abs(got_long - want_long) <= 1) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got.width << "x" << got.height << ", want " << want.width
                                       << "x" << want.height << " (long edge ±1)";
}

nlohmann::json exiftool_json(std::string_view bytes) {
  char path[] = "/tmp/imgpipe-e2e-exif.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(fd);
  RunResult r = run({"exiftool", "-j", "-a", "-G1", "-n", "-q", path}, 60s);
  unlink(path);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (r.timed_out || !j.is_array() || j.empty())
    throw std::runtime_error("exiftool failed (exit " + std::to_string(r.exit_code) + "): " + r.out.substr(0, 400));
  return j[0];
}

std::vector<std::string> private_tags(const nlohmann::json& exif) {
  std::vector<std::string> found;
  for (auto& [k, v] : exif.items()) {
    std::string lower = k;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.find("gps") != std::string::npos || lower.find("serial") != std::string::npos)
      found.push_back(k + "=" + v.dump());
  }
  return found;
}

// ---- assertions and helpers ---------------------------------------------------

::testing::AssertionResult is_error(const Response& r, long status, std::string_view code) {
  if (r.status != status)
    return ::testing::AssertionFailure() << "want HTTP " << status << " " << code << ", got " << r.describe();
  auto j = r.json();
  if (!j.is_object()) return ::testing::AssertionFailure() << "error body is not a JSON object: " << r.describe();
  if (!j.contains("error") || !j["error"].is_string() || j["error"] != code)
    return ::testing::AssertionFailure() << "want error=" << code << ", got " << r.body.substr(0, 400);
  if (!j.contains("message") || !j["message"].is_string() || j["message"].get<std::string>().empty())
    return ::testing::AssertionFailure() << "missing message: " << r.body.substr(0, 400);
  if (!j.contains("action") || !j["action"].is_object() || !j["action"].contains("type") ||
      !j["action"]["type"].is_string() || !j["action"].contains("label") || !j["action"]["label"].is_string())
    return ::testing::AssertionFailure() << "missing action{type,label}: " << r.body.substr(0, 400);
  if (r.header("Content-Type").find("application/json") == std::string::npos)
    return ::testing::AssertionFailure() << "error Content-Type is not JSON: " << r.header("Content-Type");
  return ::testing::AssertionSuccess();
}

std::string with_ext(const std::string& src, std::string_view ext) {
  auto q = src.find('?');
  std::string base = src.substr(0, q);
  auto dot = base.rfind('.');
  auto slash = base.rfind('/');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) base = base.substr(0, dot);
  return base + "." + std::string(ext) + (q == std::string::npos ? "" : src.substr(q));
}

std::string with_size(const std::string& url, std::string_view size) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "size=" + std::string(size);
}

std::string ext_of(const std::string& src) {
  std::string base = src.substr(0, src.find('?'));
  auto dot = base.rfind('.');
  auto slash = base.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return base.substr(dot + 1);
}

std::string path_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

std::string html_unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    auto semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    long cp = -1;
    if (ent == "lt") cp = '<';
    else if (ent == "gt") cp = '>';
    else if (ent == "amp") cp = '&';
    else if (ent == "quot") cp = '"';
    else if (ent == "apos") cp = '\'';
    else if (!ent.empty() && ent[0] == '#') {
      std::string num(ent.substr(1));
      cp = (!num.empty() && (num[0] == 'x' || num[0] == 'X')) ? std::strtol(num.c_str() + 1, nullptr, 16)
                                                              : std::strtol(num.c_str(), nullptr, 10);
    }
    if (cp < 0 || cp > 127) {
      out += s[i];
      continue;
    }
    out += static_cast<char>(cp);
    i = semi;
  }
  return out;
}

double metric_sum(const std::string& text, const std::string& name) {
  double sum = -1;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.size() > name.size() && line.rfind(name, 0) == 0 && (line[name.size()] == ' ' || line[name.size()] == '{'))
      sum = (sum < 0 ? 0 : sum) + std::stod(line.substr(line.rfind(' ') + 1));
  return sum;
}

bool eventually(const std::function<bool()>& f, std::chrono::seconds deadline, std::chrono::milliseconds every) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (f()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace imgpipe::e2e

namespace imgpipe::e2e {

std::vector<HostileText> hostile_texts() {
  return {{"NUL", std::string("cat\0.jpg", 8)},
          {"CRLF", "cat\r\nX-Injected: 1.jpg"},
          {"ESC", "cat\x1b[31m.jpg"},
          {"DEL", "cat\x7f.jpg"},
          {"C1", "cat\xc2\x9b.jpg"},
          {"U+202E", "cat\xe2\x80\xaegpj.exe"},
          {"overlong", "cat\xc0\xaf.jpg"},
          {"invalid", "cat\xff.jpg"},
          {"10KB", std::string(10 * 1024, 'n') + ".jpg"}};
}

std::string text_flaw(std::string_view s, size_t max_bytes) {
  if (s.size() > max_bytes) return "longer than " + std::to_string(max_bytes) + " bytes";
  try {
    (void)nlohmann::json(std::string(s)).dump();  // throws on invalid (and overlong) UTF-8
  } catch (const nlohmann::json::exception&) {
    return "invalid UTF-8";
  }
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return "a C0 control or DEL at byte " + std::to_string(i);
    auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
    auto third = i + 2 < s.size() ? static_cast<unsigned char>(s[i + 2]) : 0;
    if (c == 0xc2 && next >= 0x80 && next <= 0x9f) return "a C1 control at byte " + std::to_string(i);
    if (c == 0xe2 && ((next == 0x80 && third >= 0xaa && third <= 0xae) || (next == 0x81 && third >= 0xa6 && third <= 0xa9)))
      return "a bidi control at byte " + std::to_string(i);
  }
  return "";
}

}  // namespace imgpipe::e2e
