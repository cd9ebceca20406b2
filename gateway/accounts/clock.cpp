#include "gateway/accounts/clock.h"

#include <chrono>
#include <fstream>

namespace imgpipe::gateway::accounts {
namespace {

int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SystemClock : public Clock {
 public:
  int64_t now() const override { return wall_now(); }
};

class OffsetFileClock : public Clock {
 public:
  explicit OffsetFileClock(std::filesystem::path path) : path_(std::move(path)) {}
  int64_t now() const override {
    std::ifstream in(path_);
    long long offset = 0;
    if (!(in >> offset)) offset = 0;
    return wall_now() + offset;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace

std::shared_ptr<const Clock> system_clock() {
  static auto clock = std::make_shared<SystemClock>();
  return clock;
}

std::shared_ptr<const Clock> offset_file_clock(std::filesystem::path path) {
  return std::make_shared<OffsetFileClock>(std::move(path));
}

}  // namespace imgpipe::gateway::accounts
