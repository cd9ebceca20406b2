#pragma once
// What the Kafka integration tests share: the broker address from the
// environment and topic names unique to one run.

#include <cstdlib>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "storage/kafka/topics.h"

namespace imgpipe::storage::kafka::test {

// The broker under test, or "" (the test then skips).
inline std::string broker() {
  const char* v = std::getenv("IMGPIPE_TEST_KAFKA");
  return v ? v : "";
}

#define IMGPIPE_REQUIRE_KAFKA()                                                                        \
  do {                                                                                                 \
    if (::imgpipe::storage::kafka::test::broker().empty())                                             \
      GTEST_SKIP() << "IMGPIPE_TEST_KAFKA is not set: start a broker with ops/kafka/start and set it " \
                      "to its address, e.g. IMGPIPE_TEST_KAFKA=127.0.0.1:19092";                      \
  } while (0)

// "<base>.t<random>": a topic no other run or test uses.
inline std::string unique_name(const std::string& base) {
  static std::mt19937_64 rng{std::random_device{}()};
  return base + ".t" + std::to_string(rng() % 1'000'000'000'000ULL);
}

// A fresh delete-policy topic with `partitions` partitions, created through
// the admin function under test.
inline std::string fresh_topic(const std::string& base, int partitions) {
  const auto name = unique_name(base);
  create_topics(broker(), {}, partitions, 1, {TopicSpec{name, "delete", std::nullopt}});
  return name;
}

}  // namespace imgpipe::storage::kafka::test
