#include "storage/kafka/kafka_log.h"

#include "schemas/log.h"

namespace imgpipe::storage::kafka {

void log_librdkafka(std::string_view client, int syslog_level, std::string_view facility, std::string_view message) {
  log::Level level = log::Level::debug;
  if (facility == "FAIL")
    level = log::Level::debug;  // a connection failure also comes as an error event: logged there, once
  else if (syslog_level <= 3)
    level = log::Level::error;
  else if (syslog_level == 4)
    level = log::Level::warn;
  else if (syslog_level <= 6)
    level = log::Level::info;
  if (!log::enabled(level)) return;
  log::write(level, "kafka", {{"client", client}, {"facility", facility}, {"msg", message}});
}

void log_librdkafka_error(std::string_view client, std::string_view code, std::string_view reason, bool fatal) {
  const auto level = fatal ? log::Level::error : log::Level::warn;
  if (!log::enabled(level)) return;
  log::write(level, "kafka_error", {{"client", client}, {"code", code}, {"msg", reason}, {"fatal", fatal}});
}

void log_librdkafka_throttle(std::string_view client, std::string_view broker, int throttle_ms) {
  log::info("kafka_throttle", {{"client", client}, {"broker", broker}, {"throttle_ms", throttle_ms}});
}

}  // namespace imgpipe::storage::kafka
