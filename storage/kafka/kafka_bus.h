#pragma once
// KafkaBus: the Bus over Apache Kafka (librdkafka). No librdkafka type
// appears here; the library links it PRIVATE. Settings and the reason for
// each are in docs/kafka.md.

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage/bus.h"

namespace imgpipe::storage::kafka {

// librdkafka properties as key=value pairs, in order.
using KafkaOverrides = std::vector<std::pair<std::string, std::string>>;

struct KafkaBusConfig {
  // bootstrap.servers, e.g. "127.0.0.1:19092" (flag --kafka, env IMGPIPE_KAFKA).
  std::string brokers;
  // Operator's librdkafka properties (flag --kafka-config key=value, repeatable),
  // applied after ours to producer, consumers and readers alike, so they win.
  KafkaOverrides overrides;
  // client.id, shown in broker logs and quotas. Default "imgpipe".
  std::string client_id = "imgpipe";
  // How long a publish may wait for the acknowledgement of all in-sync
  // replicas before it fails with service_unavailable (message.timeout.ms).
  std::chrono::milliseconds publish_timeout{10'000};
  // Bound on metadata, watermark, offset and commit requests.
  std::chrono::milliseconds request_timeout{10'000};
};

// Throws std::invalid_argument when a property is unknown or has a bad value
// (operator error, reported at start-up); never contacts the broker itself.
std::unique_ptr<Bus> make_kafka_bus(const KafkaBusConfig& config);

}  // namespace imgpipe::storage::kafka
