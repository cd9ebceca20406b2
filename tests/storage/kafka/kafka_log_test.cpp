// What librdkafka reports through its callbacks becomes our log line. A real
// producer is pointed at a closed loopback port (no broker needed): its
// connection failure must arrive as one JSON line, not librdkafka's text.
#include "storage/kafka/kafka_log.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "schemas/log.h"
#include "storage/kafka/kafka_bus.h"

namespace imgpipe::storage::kafka {
namespace {

// fd 2 into a file while it lives, readable while lines still arrive from
// librdkafka's threads (gtest's CaptureStderr can only be read once).
class StderrToFile {
 public:
  StderrToFile() : path_(std::filesystem::temp_directory_path() / ("kafka_log_test." + std::to_string(::getpid()))) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrToFile() {
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    std::filesystem::remove(path_);
  }
  std::string text() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::filesystem::path path_;
  int saved_ = -1;
};

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("ts") && j.contains("level") && j.contains("event"))
        << "not a log line: " << line;
    out.push_back(j);
  }
  return out;
}

int closed_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);  // nothing listens there now
  return ntohs(a.sin_port);
}

TEST(KafkaLog, AProducersConnectionFailureIsAJsonWarning) {
  log::setup("info");
  const std::string broker = "127.0.0.1:" + std::to_string(closed_loopback_port());
  StderrToFile err;
  {
    KafkaBusConfig config;
    config.brokers = broker;
    auto bus = make_kafka_bus(config);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (err.text().find("\"kafka_error\"") == std::string::npos && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto text = err.text();
  bool reported = false;
  for (const auto& j : json_lines(text)) {
    if (j["event"] != "kafka_error") continue;
    EXPECT_EQ(j["level"], "warn") << j;  // librdkafka reconnects by itself: not an error
    EXPECT_EQ(j["client"], "producer") << j;
    EXPECT_EQ(j["fatal"], false) << j;
    EXPECT_TRUE(j["code"].is_string() && j["msg"].is_string()) << j;
    if (j["msg"].get<std::string>().find(broker) != std::string::npos) reported = true;
  }
  EXPECT_TRUE(reported) << "no kafka_error line naming " << broker << ":\n" << text;
}

TEST(KafkaLog, LogCallbackLevelsMapOntoOurs) {
  log::setup("info");
  testing::internal::CaptureStderr();
  log_librdkafka("admin", 4, "CONFWARN", "a \"warning\"");
  log_librdkafka("admin", 7, "BROKER", "debug chatter, below the level");
  log_librdkafka("admin", 3, "FAIL", "also an error event: logged there, so debug here");
  log_librdkafka("admin", 3, "ERROR", "an error");
  auto lines = json_lines(testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["level"], "warn");
  EXPECT_EQ(lines[0]["event"], "kafka");
  EXPECT_EQ(lines[0]["client"], "admin");
  EXPECT_EQ(lines[0]["facility"], "CONFWARN");
  EXPECT_EQ(lines[0]["msg"], "a \"warning\"");
  EXPECT_EQ(lines[1]["level"], "error");
  EXPECT_EQ(lines[1]["facility"], "ERROR");
}

}  // namespace
}  // namespace imgpipe::storage::kafka
