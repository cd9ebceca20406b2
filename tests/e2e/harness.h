#pragma once
// End-to-end harness: starts the real imgpipe binary on a free loopback port
// in a fresh data directory, talks real HTTP to it (libcurl, or a raw socket
// where the exact bytes on the wire matter), decodes served bodies with
// libvips and reads metadata with exiftool. No mocks: every assertion is
// about what a client over loopback would see.
//
// Environment:
//   IMGPIPE_BIN          the binary (default: <build dir>/imgpipe)
//   IMGPIPE_TEST_CORPUS  the corpus made by ops/corpus (default: tests/corpus)
//   IMGPIPE_E2E_BUS=kafka with IMGPIPE_TEST_KAFKA=host:port: run the same scenarios on Kafka
//   IMGPIPE_TEST_KEEP    keep temp data dirs and logs for inspection

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/types.h>

namespace imgpipe::e2e {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// ---- locations -------------------------------------------------------------

fs::path source_dir();
fs::path imgpipe_binary();
// The corpus directory; a fatal-failure-friendly error if it is missing.
fs::path corpus_dir();
// A corpus file; throws std::runtime_error naming ops/corpus if absent.
fs::path corpus(std::string_view name);
std::string read_file(const fs::path& p);

// ---- processes ---------------------------------------------------------------

struct RunResult {
  int exit_code = -1;  // 128+signal if killed by a signal
  bool timed_out = false;
  std::string out;     // stdout and stderr, interleaved
};
// Runs argv with a deadline (then SIGKILL); stdin is /dev/null or `input`.
RunResult run(const std::vector<std::string>& argv, std::chrono::seconds deadline = 60s,
              const std::map<std::string, std::string>& extra_env = {},
              const std::optional<fs::path>& stdin_file = std::nullopt);

// The one place that decides the transport: embedded by default, Kafka when
// IMGPIPE_E2E_BUS=kafka and IMGPIPE_TEST_KAFKA are set. `topic_prefix` keeps runs apart on one broker.
std::vector<std::string> transport_args(const std::string& topic_prefix);
bool kafka_mode();

struct ServerOptions {
  std::vector<std::string> extra_args;        // e.g. {"--max-pixels", "1000000"}
  std::map<std::string, std::string> env;     // extra environment
  bool config_via_env = false;                // listen/data-dir/public-url as IMGPIPE_* env
  std::optional<std::string> src_url;         // --src-url (or IMGPIPE_SRC_URL)
  bool stderr_apart = false;                  // stderr in a file of its own (stderr_text()), not the log
};

// The real server. Picks a free loopback port once and keeps it (and the
// data dir and topic prefix) across restarts.
class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts and waits for GET /healthz = 200 (deadline 30 s). Throws
  // std::runtime_error with the log tail if it exits or never gets ready.
  void start();
  void restart() { start(); }
  // SIGTERM, then waits (deadline) and returns the exit status
  // (128+signal if killed by one; -1 if it had to be SIGKILLed).
  int stop(std::chrono::seconds deadline = 30s);
  // Waits for the process to exit by itself (after a signal the test sent);
  // -1 if it did not within the deadline (it is then SIGKILLed).
  int wait(std::chrono::seconds deadline = 30s);
  void kill9();
  void signal(int sig) const;
  bool running();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string base_url() const;                 // http://127.0.0.1:<port>
  std::string url(std::string_view path) const; // base_url() + path
  const fs::path& data_dir() const { return data_dir_; }
  // For operator commands on this server's bus: transport_args(topic_prefix()).
  const std::string& topic_prefix() const { return topic_prefix_; }
  std::string log_tail(size_t bytes = 6000) const;  // with stderr_apart: stdout, then stderr
  // Everything the server wrote to stderr so far (needs stderr_apart).
  std::string stderr_text() const;

 private:
  ServerOptions options_;
  fs::path root_, data_dir_, log_path_, stderr_path_;
  std::string topic_prefix_;
  int port_ = 0;
  pid_t pid_ = -1;
};

int free_port();
// The first of `count` consecutive free loopback ports, all below the
// kernel's ephemeral range: for a server that is stopped and started again on
// the same ports, which a client's outgoing connection could otherwise take
// in between (free_port() hands out ephemeral ports).
int free_port_block(int count);

// A distinct JPEG for each i (< width*height/24): a colour and a white mark
// placed by i, so that uploads in bulk never share bytes.
std::string synthetic_jpeg(int i, int width = 120, int height = 80);

// ---- HTTP --------------------------------------------------------------------

struct CaseLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::map<std::string, std::string, CaseLess>;

struct Response {
  long status = 0;          // 0: no HTTP answer (see error)
  Headers headers;
  std::string body;
  std::string error;        // transport error, if any
  std::string header(const std::string& name) const;
  bool has_header(const std::string& name) const { return headers.count(name) > 0; }
  nlohmann::json json() const;  // parsed body; a JSON null if it is not JSON
  std::string describe() const; // for failure messages
};

Response http_get(const std::string& url, const std::vector<std::string>& headers = {},
                  std::chrono::seconds timeout = 120s);
Response http_head(const std::string& url, const std::vector<std::string>& headers = {});
Response post_json(const std::string& url, const nlohmann::json& body);

struct Field {
  std::string name, value;
};
struct Multipart {
  std::optional<fs::path> file;  // streamed from disk
  std::string bytes;             // used when `file` is empty
  std::string filename;          // defaults to file->filename()
  std::string content_type = "application/octet-stream";
  std::string field = "file";
  bool include_file = true;      // false: only `fields` are sent
  std::vector<Field> fields;     // extra text fields, sent before the file
  bool chunked = false;          // Transfer-Encoding: chunked, no Content-Length
  std::chrono::milliseconds throttle{0};       // pause before each 64 KiB piece
  std::function<void()> on_body_started;       // called when the first piece is sent
};
Response post_multipart(const std::string& url, const Multipart& m, std::chrono::seconds timeout = 120s);
// Upload a corpus file under its own name (or `name` as the form field).
Response upload(const ServerProcess& s, const fs::path& file, std::optional<std::string> name = std::nullopt);

// Exact bytes on the wire: sends `request` to 127.0.0.1:port and reads until
// the server closes (send "Connection: close"). Empty on connect failure.
std::string raw_exchange(int port, const std::string& request, std::chrono::seconds deadline = 30s);

// Splits a raw HTTP response into head (status line + headers) and body.
struct RawResponse {
  int status = 0;
  Headers headers;
  std::string body;
};
RawResponse parse_raw(const std::string& bytes);

// ---- images ----------------------------------------------------------------

struct Decoded {
  bool ok = false;
  std::string error;
  std::string format;    // jpeg png webp gif avif heic, from the loader
  std::string sniffed;   // from the magic bytes, independently
  int width = 0, height = 0;  // of one page
  int pages = 1;
  int orientation = 1;   // EXIF orientation vips sees, 1 if none
};
// Fully decodes (every pixel, truncation is an error) an image held in memory.
Decoded decode(std::string_view bytes);
// Dimensions of a corpus file as displayed (EXIF orientation applied).
Decoded decode_file_upright(const fs::path& p);
std::string sniff_format(std::string_view bytes);

struct Dims {
  int width = 0, height = 0;
};
// Expected variant size from the spec: the short edge becomes `short_edge`,
// aspect kept, never upscaled. The long edge may differ by rounding (±1).
Dims expected_variant(Dims source, int short_edge);
int short_edge_of(std::string_view size);  // s=320 m=640 l=1080
::testing::AssertionResult dims_match(Dims got, Dims want);

// exiftool -j -a -G1 -n on bytes: the first (only) object.
nlohmann::json exiftool_json(std::string_view bytes);
// Tag names (group:name) that reveal location or the camera: GPS*, *Serial*.
std::vector<std::string> private_tags(const nlohmann::json& exif);

// ---- assertions and helpers -------------------------------------------------

// {"error": code, "message": str, "action": {"type": str, "label": str}} with `status`.
::testing::AssertionResult is_error(const Response& r, long status, std::string_view code);

// The src URL with another extension and/or ?size=.
std::string with_ext(const std::string& src, std::string_view ext);
std::string with_size(const std::string& url, std::string_view size);
std::string ext_of(const std::string& src);  // "jpeg" from ".../id.jpeg"
std::string path_of(const std::string& url); // "/x/id.jpeg" from "http://h:p/x/id.jpeg"

std::string html_unescape(std::string_view s);

// User text the owners call hostile (issue 16): NUL, CR/LF, ESC, DEL, a C1
// control, U+202E, an overlong '/', invalid UTF-8 and 10 KB, each labelled.
struct HostileText {
  std::string label, text;
};
std::vector<HostileText> hostile_texts();
// Why `s` is not clean text — invalid UTF-8, a control or bidi character, or
// longer than `max_bytes` — or "" when it is. Written apart from the server's
// rule (schemas/text_rules) so that the tests check it rather than repeat it.
std::string text_flaw(std::string_view s, size_t max_bytes);

// A metric's samples in /metrics text, summed over their labels; -1 when
// it has none (so "== 0" also says the metric is there).
double metric_sum(const std::string& text, const std::string& name);

// Polls f() until it returns true or the deadline passes.
bool eventually(const std::function<bool()>& f, std::chrono::seconds deadline = 30s,
                std::chrono::milliseconds every = 200ms);

// A suite-wide server shared by the tests of one fixture (one process per
// test under ctest, one server for all when the binary runs alone).
class SharedServer {
 public:
  static ServerProcess& get(const std::string& key, const ServerOptions& options = {});
};

// Uploads a file once per server (and name) and remembers the answer, so a
// test binary run as a whole uploads each corpus file once.
const Response& upload_once(const ServerProcess& s, const fs::path& file,
                            std::optional<std::string> name = std::nullopt);

}  // namespace imgpipe::e2e
