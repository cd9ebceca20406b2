#include "schemas/log.h"

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
  auto logger = spdlog::stderr_logger_mt("imgpipe");
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::from_str(std::string(level_name)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void write(Level level, std::string_view event, const nlohmann::json& fields) {
  if (!spdlog::default_logger_raw()->should_log(to_spdlog(level))) return;
  nlohmann::json line = {
      {"ts", std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()},
      {"level", name(level)},
      {"event", event}};
  if (fields.is_object()) line.update(fields);
  spdlog::default_logger_raw()->log(to_spdlog(level), "{}",
                                    line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace imgpipe::log
