#pragma once
// The Bus: the one interface between the pipeline and its transport.
// Two implementations: EmbeddedBus (a durable log in RocksDB, one process)
// and KafkaBus (Apache Kafka through librdkafka). Everything above this
// header is the same code in both modes.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "schemas/errors.h"

namespace imgpipe::storage {

namespace topics {
inline constexpr const char* ingest = "imgpipe.ingest";
inline constexpr const char* images = "imgpipe.images";
inline constexpr const char* accounts = "imgpipe.accounts";
inline constexpr const char* ingest_dlq = "imgpipe.ingest.dlq";
}  // namespace topics

struct BusMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  int64_t timestamp_ms = 0;
};

// Called once: no error means the message is durable (embedded: synced
// RocksDB write; Kafka: acked by all in-sync replicas).
using PublishDone = std::function<void(std::optional<schemas::Error>)>;

// Where a reader starts in each partition of a topic.
struct StartAt {
  enum class Kind { beginning, end, offsets, time };
  Kind kind = Kind::beginning;
  std::map<int32_t, int64_t> offsets;  // kind == offsets: next offset per partition (missing: beginning)
  int64_t time_ms = 0;                 // kind == time: first message at or after this time
  static StartAt from_beginning() { return {}; }
  static StartAt from_end() { return {Kind::end, {}, 0}; }
  static StartAt from_offsets(std::map<int32_t, int64_t> o) { return {Kind::offsets, std::move(o), 0}; }
  static StartAt from_time(int64_t t) { return {Kind::time, {}, t}; }
};

struct PartitionState {
  int32_t partition = 0;
  int64_t low = 0;        // first offset still in the log
  int64_t high = 0;       // next offset to be written
  int64_t committed = -1; // group's committed next offset, -1 if none
};

class BusConsumer {
 public:
  virtual ~BusConsumer() = default;
  // Next message, or nullopt when none arrived within `timeout`.
  // Throws schemas::Error(service_unavailable) when the transport is down for good.
  virtual std::optional<BusMessage> poll(std::chrono::milliseconds timeout) = 0;
  // Group consumers only: everything before `next_offset` in that partition is done.
  // Call only after the effects of those messages are durable.
  virtual void commit(const std::string& topic, int32_t partition, int64_t next_offset) = 0;
  // Partitions currently assigned to this consumer (changes on rebalance);
  // none once closed. Throws schemas::Error(service_unavailable) when the
  // transport cannot say.
  virtual std::vector<int32_t> assignment(const std::string& topic) = 0;
  // Wakes a blocked poll() and makes further polls return nullopt.
  virtual void close() = 0;
};

class Bus {
 public:
  virtual ~Bus() = default;

  virtual void publish(const std::string& topic, std::string key, std::string value, PublishDone done) = 0;

  // Blocking convenience: waits up to `timeout` for durability, throws
  // schemas::Error(service_unavailable) on failure or time-out.
  void publish_sync(const std::string& topic, std::string key, std::string value,
                    std::chrono::milliseconds timeout);

  // A member of consumer group `group`: partitions are shared among members,
  // starting at the group's committed offsets (earliest when none).
  virtual std::unique_ptr<BusConsumer> subscribe(const std::string& group, const std::vector<std::string>& topics) = 0;

  // A reader of every partition of `topic` from explicit positions; no group, no commits.
  virtual std::unique_ptr<BusConsumer> read(const std::string& topic, const StartAt& from) = 0;

  // Offsets of every partition; `group` may be empty.
  virtual std::vector<PartitionState> describe(const std::string& topic, const std::string& group) = 0;

  // "embedded" or "kafka", for logs and /metrics.
  virtual std::string kind() const = 0;
  // True when publishes become durable in the order they were made, across
  // topics (the embedded bus: one log, one writer), so a message that must
  // not be durable before another may be published without waiting for it
  // (and shares its sync). Kafka: false (each partition has its own leader).
  virtual bool durable_in_order() const { return false; }
};

}  // namespace imgpipe::storage
