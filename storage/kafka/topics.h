#pragma once
// Topic administration for the Kafka transport: create imgpipe's topics with
// their policies, and check an existing cluster against them
// (operators' topic commands and the tests). The policies are the ones
// the design fixes (docs/kafka.md).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/kafka/kafka_bus.h"

namespace imgpipe::storage::kafka {

struct TopicSpec {
  std::string name;
  std::string cleanup_policy;           // "delete" or "compact"
  std::optional<int64_t> retention_ms;  // delete topics only; unset: broker default
};

// The four topics of storage/bus.h: ingest (delete, 7 days), images and
// accounts (compact), ingest.dlq (delete, broker default retention).
std::vector<TopicSpec> imgpipe_topics();

// Creates each topic that does not exist yet with `partitions` partitions,
// `replication` replicas, its policy, and min.insync.replicas = replication-1
// from 3 replicas up (else 1), so acks=all means at least two copies.
// Existing topics are left as they are (idempotent).
// Throws schemas::Error(service_unavailable) when the cluster cannot be
// reached or refuses a topic, std::invalid_argument for a bad override.
void create_topics(const std::string& brokers, const KafkaOverrides& overrides, int partitions, int replication,
                   const std::vector<TopicSpec>& topics = imgpipe_topics());

// Human-readable problems: a missing topic, a cleanup.policy other than the
// spec's. Empty when all is well. Throws like create_topics when the cluster
// cannot be reached.
std::vector<std::string> check_topics(const std::string& brokers, const KafkaOverrides& overrides,
                                      const std::vector<TopicSpec>& topics = imgpipe_topics());

}  // namespace imgpipe::storage::kafka
