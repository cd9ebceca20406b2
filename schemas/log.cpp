#include "schemas/log.h"

#include <algorithm>
#include <charconv>
#include <chrono>

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

}  // namespace

void setup(std::string_view level_name) {
  spdlog::drop("imgpipe");  // a second setup() replaces the first (tests, level changes)
  auto logger = spdlog::stderr_logger_mt("imgpipe");
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::from_str(std::string(level_name)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

bool enabled(Level level) { return spdlog::default_logger_raw()->should_log(to_spdlog(level)); }

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// `s` as a JSON string: copied as is when it is plain printable ASCII (every
// path a client normally asks for), else escaped by nlohmann like write().
void append_json_string(fmt::memory_buffer& out, std::string_view s) {
  bool plain = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
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
template <class... Precision>
void append_number(fmt::memory_buffer& out, auto value, Precision... precision) {
  char digits[64];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value, precision...);
  out.append(digits, ec == std::errc() ? end : digits);
}

}  // namespace

void request(const RequestLine& r) {
  if (!enabled(Level::info)) return;
  fmt::memory_buffer out;
  out.append(std::string_view(R"({"ts":)"));
  append_number(out, now_seconds(), std::chars_format::fixed, 6);
  out.append(std::string_view(R"(,"level":"info","event":"request","method":)"));
  append_json_string(out, r.method);
  out.append(std::string_view(R"(,"path":)"));
  append_json_string(out, r.path);
  out.append(std::string_view(R"(,"request_id":)"));
  append_json_string(out, r.request_id);
  out.append(std::string_view(R"(,"status":)"));
  append_number(out, r.status);
  out.append(std::string_view(R"(,"ms":)"));
  append_number(out, r.ms, std::chars_format::fixed, 3);
  out.append(std::string_view(R"(,"bytes":)"));
  append_number(out, r.bytes);
  out.append(r.sent ? std::string_view(R"(,"sent":true})") : std::string_view(R"(,"sent":false})"));
  spdlog::default_logger_raw()->log(spdlog::level::info, std::string_view(out.data(), out.size()));
}

void write(Level level, std::string_view event, const nlohmann::json& fields) {
  if (!enabled(level)) return;
  nlohmann::json line = {
      {"ts", now_seconds()},
      {"level", name(level)},
      {"event", event}};
  if (fields.is_object()) line.update(fields);
  spdlog::default_logger_raw()->log(to_spdlog(level), "{}",
                                    line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace imgpipe::log
