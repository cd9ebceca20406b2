#include "storage/rocksdb_logger.h"

#include <rocksdb/env.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>

namespace imgpipe::storage {
namespace {

class SpdlogLogger final : public rocksdb::Logger {
 public:
  SpdlogLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    // HEADER is the options dump at open; below the threshold is chatter.
    if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char line[1024];
    const int n = std::vsnprintf(line, sizeof line, format, ap);
    if (n < 0) return;
    spdlog::log(spdlog_level(level), "rocksdb: {}", line);
  }

 private:
  static spdlog::level::level_enum spdlog_level(rocksdb::InfoLogLevel level) {
    switch (level) {
      case rocksdb::InfoLogLevel::DEBUG_LEVEL: return spdlog::level::debug;
      case rocksdb::InfoLogLevel::INFO_LEVEL: return spdlog::level::info;
      case rocksdb::InfoLogLevel::WARN_LEVEL: return spdlog::level::warn;
      default: return spdlog::level::err;
    }
  }
};

}  // namespace

std::shared_ptr<rocksdb::Logger> make_rocksdb_logger() { return std::make_shared<SpdlogLogger>(); }

}  // namespace imgpipe::storage
