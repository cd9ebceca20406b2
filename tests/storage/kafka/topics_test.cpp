#include "storage/kafka/topics.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "tests/storage/kafka/kafka_test_env.h"

namespace imgpipe::storage::kafka {
namespace {

using test::broker;

bool mentions(const std::vector<std::string>& problems, const std::string& a, const std::string& b) {
  return std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
    return p.find(a) != std::string::npos && p.find(b) != std::string::npos;
  });
}

TEST(KafkaTopics, ImgpipeTopicsHaveTheDesignedPolicies) {
  auto specs = imgpipe_topics();
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0].name, "imgpipe.ingest");
  EXPECT_EQ(specs[0].cleanup_policy, "delete");
  EXPECT_EQ(specs[0].retention_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_EQ(specs[1].name, "imgpipe.images");
  EXPECT_EQ(specs[1].cleanup_policy, "compact");
  EXPECT_EQ(specs[2].name, "imgpipe.accounts");
  EXPECT_EQ(specs[2].cleanup_policy, "compact");
  EXPECT_EQ(specs[3].name, "imgpipe.ingest.dlq");
  EXPECT_EQ(specs[3].cleanup_policy, "delete");
}

TEST(KafkaTopics, CreateIsIdempotentAndCheckReportsMissingTopics) {
  IMGPIPE_REQUIRE_KAFKA();
  auto specs = imgpipe_topics();
  const auto suffix = test::unique_name("");
  for (auto& s : specs) s.name += suffix;

  auto before = check_topics(broker(), {}, specs);
  ASSERT_EQ(before.size(), specs.size());
  for (const auto& s : specs) EXPECT_TRUE(mentions(before, s.name, "missing")) << s.name;

  create_topics(broker(), {}, 3, 1, specs);
  EXPECT_NO_THROW(create_topics(broker(), {}, 3, 1, specs));  // again: nothing to do
  EXPECT_EQ(check_topics(broker(), {}, specs), std::vector<std::string>{});
}

TEST(KafkaTopics, CheckReportsAWrongCleanupPolicy) {
  IMGPIPE_REQUIRE_KAFKA();
  const auto name = test::unique_name("imgpipe.images");
  create_topics(broker(), {}, 1, 1, {TopicSpec{name, "delete", std::nullopt}});
  auto problems = check_topics(broker(), {}, {TopicSpec{name, "compact", std::nullopt}});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(mentions(problems, name, "cleanup.policy=delete")) << problems[0];
  EXPECT_TRUE(mentions(problems, name, "expected compact")) << problems[0];
}

TEST(KafkaTopics, BadOverrideIsAnOperatorError) {
  EXPECT_THROW(check_topics("127.0.0.1:1", {{"no.such.property", "1"}}), std::invalid_argument);
}

}  // namespace
}  // namespace imgpipe::storage::kafka
