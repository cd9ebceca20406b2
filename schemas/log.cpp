#include "schemas/log.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <exception>
#include <memory>

#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace imgpipe::log {
namespace {

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

// spdlog's six levels on our four.
const char* name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    default: return "error";
  }
}

double seconds_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

double now_seconds() { return seconds_since_epoch(std::chrono::system_clock::now()); }

// `s` as a JSON string: copied as is when it is plain printable ASCII (every
// path a client normally asks for), else escaped by nlohmann like write().
// The bytes a JSON string holds as they are: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> kPlainJson = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x7f; ++c) plain[static_cast<size_t>(c)] = c != '"' && c != '\\';
  return plain;
}();

template <class Buffer>
void append_json_string(Buffer& out, std::string_view s) {
  bool plain = true;
  for (char c : s) plain &= kPlainJson[static_cast<unsigned char>(c)];
  if (plain) {
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return;
  }
  auto quoted = nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.append(quoted);
}

// Numbers by std::to_chars: no format string to parse per line.
template <class Buffer, class... Precision>
void append_number(Buffer& out, auto value, Precision... precision) {
  char digits[64] = {};  // initialised: GCC cannot see that a failed conversion appends nothing
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value, precision...);
  out.append(digits, ec == std::errc() ? end : digits);
}

// `units` / 10^decimals in fixed notation ("1795823394.678787" for
// microseconds and 6): integer digits only, about a tenth of the cost of
// to_chars on a double, on the path of every request line.
template <class Buffer>
void append_fixed(Buffer& out, int64_t units, int decimals) {
  if (units < 0) units = 0;  // durations and times here are never negative
  int64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  append_number(out, units / scale);
  char fraction[20];
  int64_t rest = units % scale;
  for (int i = decimals - 1; i >= 0; --i, rest /= 10) fraction[i] = static_cast<char>('0' + rest % 10);
  out.push_back('.');
  out.append(fraction, fraction + decimals);
}

// Appends by pointer into room the caller made (a request line's worst
// case): the helpers above without std::string's capacity check per piece.
struct Cursor {
  char* p;
  void push_back(char c) { *p++ = c; }
  void append(const char* data, size_t size) {
    std::memcpy(p, data, size);
    p += size;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void append(const char* begin, const char* end) { append(begin, static_cast<size_t>(end - begin)); }
};

// The "ts" field of our lines: unix seconds with microseconds.
template <class Buffer>
void append_ts(Buffer& out, std::chrono::system_clock::time_point t) {
  append_fixed(out, std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count(), 6);
}

// spdlog's default logger: whatever is logged with spdlog:: directly (code
// not yet on write(), a library that uses spdlog) still leaves a line of our
// format, its text in "msg".
class TextAsJson final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& m, spdlog::memory_buf_t& out) override {
    out.append(std::string_view(R"({"ts":)"));
    append_ts(out, m.time);
    out.append(std::string_view(R"(,"level":")"));
    out.append(std::string_view(name(m.level)));
    out.append(std::string_view(R"(","event":"log","msg":)"));
    append_json_string(out, std::string_view(m.payload.data(), m.payload.size()));
    out.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<TextAsJson>(); }
};

// spdlog's own failures (a bad format string in a spdlog:: call) would print
// a plain "[*** LOG ERROR ***]" line: one of ours instead, straight to stderr.
void spdlog_failed(const std::string& what) {
  std::string line = R"({"ts":)" + std::to_string(now_seconds()) + R"(,"level":"error","event":"log_failed","error":)" +
                     nlohmann::json(what).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "}\n";
  std::fputs(line.c_str(), stderr);
}

// Two spdlog loggers, each with its own stderr sink (a sink holds the
// formatter) behind spdlog's one console mutex, so lines never interleave:
// `lines` writes our preformatted JSON as is, `text` is spdlog's default.
// Request lines go around both, each one write(2) of at most PIPE_BUF
// bytes, which needs no lock to stay whole (request()).
struct Loggers {
  std::shared_ptr<spdlog::logger> lines, text;
};

Loggers& loggers() {
  // Never destroyed: a line logged while the process exits still has a logger.
  static Loggers* l = [] {
    using Sink = spdlog::sinks::stderr_sink_mt;
    auto* made = new Loggers{std::make_shared<spdlog::logger>("imgpipe", std::make_shared<Sink>()),
                             std::make_shared<spdlog::logger>("", std::make_shared<Sink>())};
    made->lines->set_formatter(std::make_unique<spdlog::pattern_formatter>("%v"));
    made->text->set_formatter(std::make_unique<TextAsJson>());
    for (auto& lg : {made->lines, made->text}) {
      lg->set_level(spdlog::level::info);
      lg->flush_on(spdlog::level::info);
      lg->set_error_handler(spdlog_failed);
    }
    spdlog::set_default_logger(made->text);
    return made;
  }();
  return *l;
}

// spdlog's default logger is ours from the start, before any setup().
[[maybe_unused]] const bool kInstalled = (loggers(), true);

[[noreturn]] void log_terminate() {
  std::string what = "std::terminate without an active exception";
  if (auto ep = std::current_exception()) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "an exception of unknown type";
    }
  }
  write(Level::error, "terminate", {{"error", what}});
  std::abort();
}

}  // namespace

void setup(std::string_view level_name) {
  auto level = spdlog::level::from_str(std::string(level_name));
  auto& l = loggers();
  l.lines->set_level(level);
  l.text->set_level(level);
  std::set_terminate(log_terminate);
}

bool enabled(Level level) { return loggers().lines->should_log(to_spdlog(level)); }

namespace {

// The request line of `r` into `line` (kept per thread, sized for the worst
// case: every byte of the three strings escaped as \u00XX), so that there
// is no allocation and no capacity check per piece; its length.
size_t render_request(std::string& line, const RequestLine& r, bool truncated) {
  const size_t room = 320 + 6 * (r.method.size() + r.path.size() + r.request_id.size());
  if (line.size() < room) line.resize(room);
  Cursor out{line.data()};
  out.append(std::string_view(R"({"ts":)"));
  append_ts(out, std::chrono::system_clock::now());
  out.append(std::string_view(R"(,"level":"info","event":"request","method":)"));
  append_json_string(out, r.method);
  out.append(std::string_view(R"(,"path":)"));
  append_json_string(out, r.path);
  if (truncated) out.append(std::string_view(R"(,"truncated":true)"));
  out.append(std::string_view(R"(,"request_id":)"));
  append_json_string(out, r.request_id);
  out.append(std::string_view(R"(,"status":)"));
  append_number(out, r.status);
  out.append(std::string_view(R"(,"ms":)"));
  append_fixed(out, std::llround(r.ms * 1000.0), 3);
  out.append(std::string_view(R"(,"bytes":)"));
  append_number(out, r.bytes);
  out.append(r.sent ? std::string_view(",\"sent\":true}\n") : std::string_view(",\"sent\":false}\n"));
  return static_cast<size_t>(out.p - line.data());
}

}  // namespace

void request(const RequestLine& r) {
  if (!enabled(Level::info)) return;
  thread_local std::string line;
  size_t size = render_request(line, r, false);
  if (size > PIPE_BUF) {
    // Only a client's absurd method or path gets here: the line keeps their
    // first bytes and says so, and stays one atomic write.
    RequestLine cut = r;
    cut.method = cut.method.substr(0, 32);
    cut.path = cut.path.substr(0, 512);
    size = render_request(line, cut, true);
  }
  // One write(2) of at most PIPE_BUF bytes, without a lock: such a write is
  // atomic on a pipe (POSIX), Linux serialises writes to one open file and
  // to a terminal, and a unix socket (journald) takes it in one piece, so
  // lines never interleave. Under spdlog's console mutex (before) the I/O
  // threads queued on each other's writes: at two threads and the access
  // log on, ~0.6 futex calls per request.
  for (std::string_view rest(line.data(), size); !rest.empty();) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stderr is gone: nothing else to tell
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

void write(Level level, std::string_view event, const nlohmann::json& fields) {
  if (!enabled(level)) return;
  nlohmann::json line = {
      {"ts", now_seconds()},
      {"level", name(level)},
      {"event", event}};
  if (fields.is_object()) line.update(fields);
  loggers().lines->log(to_spdlog(level), "{}", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace imgpipe::log
