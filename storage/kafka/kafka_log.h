#pragma once
// What librdkafka reports through its callbacks (log_cb, error_cb, throttle),
// for every client we make (the bus's producer and consumers, the admin
// client), as our log line: {"event":"kafka"|"kafka_error"|"kafka_throttle",
// "client":..., ...}.

#include <string_view>

namespace imgpipe::storage::kafka {

// log_cb: `syslog_level` as librdkafka gives it (3 error, 4 warning, 5-6
// notice and info, 7 debug).
void log_librdkafka(std::string_view client, int syslog_level, std::string_view facility, std::string_view message);
// error_cb: `code` is librdkafka's name for the error (err2str). Fatal ones
// (the client is unusable) are errors; the rest librdkafka recovers from.
void log_librdkafka_error(std::string_view client, std::string_view code, std::string_view reason, bool fatal);
// A broker slowed this client down for a quota.
void log_librdkafka_throttle(std::string_view client, std::string_view broker, int throttle_ms);

}  // namespace imgpipe::storage::kafka
