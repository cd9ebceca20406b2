#pragma once
// Whether a thread of this process is asleep in the kernel (/proc state S):
// a poller blocked in its wait. Tests wait on this instead of sleeping.

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace imgpipe::storage::testing {

inline bool thread_sleeping(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto name_end = line.rfind(')');  // "tid (name) S ...": the name may hold spaces
  return name_end != std::string::npos && name_end + 2 < line.size() && line[name_end + 2] == 'S';
}

// Until the thread that stored its id in `tid` is asleep, at most `limit`.
inline bool wait_until_sleeping(const std::atomic<pid_t>& tid,
                                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (const pid_t t = tid.load(); t != 0 && thread_sleeping(t)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace imgpipe::storage::testing
