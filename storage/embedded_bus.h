#pragma once
// The embedded bus: Kafka's model (topics, partitions, offsets, consumer
// groups) over a durable log in this process's RocksDB, so one machine needs
// no external service and a crash loses nothing. A publish is acknowledged
// after a synced write; concurrent publishes share one sync (group commit).
// The topic policies of the design apply here too (retention below).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "storage/bus.h"
#include "storage/db.h"

namespace imgpipe::storage {

struct EmbeddedBusConfig {
  int partitions = 1;  // per topic

  // Delete topics (ingest, dead letters): a record goes once it is older
  // than retention_ms or once the partition holds more than retention_bytes
  // (flags --bus-retention-days, --bus-retention-bytes; Kafka's
  // retention.ms and retention.bytes). 0 = no limit of that kind.
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;
  int64_t retention_bytes = 1LL << 30;
  // Compacted topics (images, accounts) keep the last record per key; a
  // deletion (a `deleted` image event) and a lone `failed` event go after
  // this delay, so readers that are catching up still see them
  // (--bus-tombstone-hours; Kafka's delete.retention.ms).
  int64_t tombstone_ms = 24LL * 3600 * 1000;
  // How often the background pass runs; 0 = never (tests call apply_retention()).
  std::chrono::milliseconds retention_interval{std::chrono::minutes(5)};
  // Milliseconds since the epoch: message timestamps and record ages. Tests
  // inject a clock to age records without sleeping.
  std::function<int64_t()> clock = nullptr;
};

// What one retention pass did, summed over every partition.
struct RetentionReport {
  uint64_t removed = 0;  // records deleted (trimmed or compacted away)
  uint64_t kept = 0;     // records left in the log
  uint64_t held_back = 0;  // records that were due but a consumer group has not committed them yet
};

class EmbeddedBus : public Bus {
 public:
  // Applies every topic's policy once (the background thread calls the
  // same). Never removes a record at or after a consumer group's committed
  // offset, nor a partition's last record (it carries the next offset
  // across restarts). Publishes and reads go on meanwhile.
  virtual RetentionReport apply_retention() = 0;
};

std::unique_ptr<EmbeddedBus> make_embedded_bus(Db& db, const EmbeddedBusConfig& config = {});

}  // namespace imgpipe::storage
