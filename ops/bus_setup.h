#pragma once
// How every imgpipe command opens its Bus: the embedded bus in the data dir
// or KafkaBus, wrapped once in the topic prefix (storage/prefixed_bus.h).
// Also the shared --kafka/--kafka-config/--topic-prefix flags of the
// operator commands (topics, reindex, replay).

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options/options_description.hpp>

#include "storage/bus.h"
#include "storage/db.h"
#include "storage/embedded_bus.h"
#include "storage/kafka/topics.h"

namespace imgpipe::ops {

struct BusOptions {
  std::string kafka;                                               // --kafka; empty: the embedded bus
  std::vector<std::pair<std::string, std::string>> kafka_config;  // --kafka-config key=value
  std::string topic_prefix;                                        // --topic-prefix
  int embedded_partitions = 1;
  // The embedded bus's topic policies. Off unless the caller turns them on
  // (`imgpipe serve` from its flags): an operator command must not trim a
  // log by defaults that differ from the server's.
  storage::EmbeddedBusConfig embedded{.retention_interval = std::chrono::milliseconds(0)};
  // message.timeout.ms: a publish that the cluster does not acknowledge in
  // this time fails, so an upload answers 503 quickly when Kafka is away.
  std::chrono::milliseconds publish_timeout{5'000};
};

// `db` is needed (and used) only for the embedded bus.
std::unique_ptr<storage::Bus> open_bus(const BusOptions& options, storage::Db* db);

// imgpipe's topics as they are named on the cluster (with the prefix).
std::vector<storage::kafka::TopicSpec> topic_specs(const std::string& prefix);

// Kafka mode: throws std::runtime_error naming every missing or
// misconfigured topic and the command that fixes it. Embedded: no-op.
void require_topics(const BusOptions& options);

// The transport flags shared by the operator commands; parse_kafka_config
// turns the raw "key=value" strings into pairs, reporting bad ones.
// `embedded`: the command also runs on the embedded bus when --kafka is unset.
void add_bus_flags(boost::program_options::options_description& d, BusOptions& o, std::vector<std::string>& raw_kv,
                   bool embedded = true);
std::vector<std::string> parse_kafka_config(const std::vector<std::string>& raw_kv, BusOptions& o);

// True when another process (a running imgpipe) holds the RocksDB lock of
// the index in `index_dir`: offline commands must not touch it then.
bool index_in_use(const std::string& index_dir);

}  // namespace imgpipe::ops
