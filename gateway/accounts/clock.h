#pragma once
// The time every limit, quota, token and expiry decision is made against.
// Injectable so that hourly limits, monthly quotas and retention are tested
// by moving a clock, never by sleeping.

#include <cstdint>
#include <filesystem>
#include <memory>

namespace imgpipe::gateway::accounts {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now() const = 0;  // unix seconds
};

// The system's wall clock.
std::shared_ptr<const Clock> system_clock();

// Tests only (flag --clock-file): the system clock plus an offset in seconds
// read from `path` on every call (missing or unreadable file: no offset), so
// an end-to-end test moves a running server's time by rewriting the file.
std::shared_ptr<const Clock> offset_file_clock(std::filesystem::path path);

// Unit tests: a clock that moves only when told.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t t) : t_(t) {}
  int64_t now() const override { return t_; }
  void set(int64_t t) { t_ = t; }
  void advance(int64_t seconds) { t_ += seconds; }

 private:
  int64_t t_;
};

}  // namespace imgpipe::gateway::accounts
