#pragma once
// One JSON line per event on stderr (the log line is a contract operators
// parse): {"ts":..., "level":..., "event":..., ...fields}. Backed by spdlog.

#include <string_view>

#include <nlohmann/json.hpp>

namespace imgpipe::log {

enum class Level { debug, info, warn, error };

void setup(std::string_view level_name);  // "debug" | "info" | "warn" | "error"
void write(Level level, std::string_view event, const nlohmann::json& fields = nlohmann::json::object());

inline void debug(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) { write(Level::debug, e, f); }
inline void info(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) { write(Level::info, e, f); }
inline void warn(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) { write(Level::warn, e, f); }
inline void error(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) { write(Level::error, e, f); }

}  // namespace imgpipe::log
