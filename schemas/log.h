#pragma once
// One JSON line per event on stderr (the log line is a contract operators
// parse): {"ts":..., "level":..., "event":..., ...fields}. Backed by spdlog.
// Every writer of the process ends here: our own events (write, request),
// libraries' callbacks (GLib/libvips, librdkafka, Beast — each adapter calls
// write with a "msg" field), and anything that still calls spdlog:: directly,
// which spdlog's default logger turns into an {"event":"log","msg":...} line.

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace imgpipe::log {

enum class Level { debug, info, warn, error };

// Sets the level ("debug" | "info" | "warn" | "error"; default info) and
// makes a std::terminate (an exception nobody caught) leave one "terminate"
// line before the abort. Lines written before setup() go out at info.
void setup(std::string_view level_name);
// Whether lines at `level` are written: check before building costly fields.
bool enabled(Level level);
void write(Level level, std::string_view event, const nlohmann::json& fields = nlohmann::json::object());

inline void debug(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) { write(Level::debug, e, f); }
inline void info(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) { write(Level::info, e, f); }
inline void warn(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) { write(Level::warn, e, f); }
inline void error(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) { write(Level::error, e, f); }

// The access log, one "request" line per answered HTTP request. Written
// without building a JSON tree and without spdlog's logger (one write(2)
// under its console mutex): it runs for every hot src request.
struct RequestLine {
  std::string_view method, path, request_id;
  int status = 0;
  double ms = 0;
  uint64_t bytes = 0;  // body bytes sent
  bool sent = false;   // the whole answer reached the socket
};
void request(const RequestLine& line);

}  // namespace imgpipe::log
