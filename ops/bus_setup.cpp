#include "ops/bus_setup.h"

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

#include <boost/program_options.hpp>

#include "storage/embedded_bus.h"
#include "storage/kafka/kafka_bus.h"
#include "storage/prefixed_bus.h"

namespace imgpipe::ops {
namespace po = boost::program_options;

std::unique_ptr<storage::Bus> open_bus(const BusOptions& o, storage::Db* db) {
  std::unique_ptr<storage::Bus> bus;
  if (o.kafka.empty()) {
    if (db == nullptr) throw std::logic_error("the embedded bus needs the data dir's index");
    auto config = o.embedded;
    config.partitions = o.embedded_partitions;
    bus = storage::make_embedded_bus(*db, config);
  } else {
    storage::kafka::KafkaBusConfig kc;
    kc.brokers = o.kafka;
    kc.overrides = o.kafka_config;
    kc.publish_timeout = o.publish_timeout;
    bus = storage::kafka::make_kafka_bus(kc);
  }
  return storage::make_prefixed_bus(std::move(bus), o.topic_prefix);
}

std::vector<storage::kafka::TopicSpec> topic_specs(const std::string& prefix) {
  auto specs = storage::kafka::imgpipe_topics();
  for (auto& s : specs) s.name = prefix + s.name;
  return specs;
}

void require_topics(const BusOptions& o) {
  if (o.kafka.empty()) return;
  std::vector<std::string> problems;
  try {
    problems = storage::kafka::check_topics(o.kafka, o.kafka_config, topic_specs(o.topic_prefix));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot reach Kafka at " + o.kafka + " to check the topics (" + e.what() + ")");
  }
  if (problems.empty()) return;
  std::string text = "the Kafka topics are not ready:";
  for (const auto& p : problems) text += "\n  - " + p;
  text += "\ncreate them with: imgpipe topics create --kafka " + o.kafka;
  if (!o.topic_prefix.empty()) text += " --topic-prefix " + o.topic_prefix;
  text += " [--partitions N --replication R]";
  throw std::runtime_error(text);
}

void add_bus_flags(po::options_description& d, BusOptions& o, std::vector<std::string>& raw_kv, bool embedded) {
  d.add_options()
      ("kafka", po::value(&o.kafka), embedded ? "Kafka bootstrap servers HOST:PORT[,...]; unset: the embedded bus in --data-dir"
                                              : "Kafka bootstrap servers HOST:PORT[,...] (required)")
      ("kafka-config", po::value(&raw_kv)->composing(), "librdkafka setting key=value, repeatable (SASL, TLS, tuning)")
      ("topic-prefix", po::value(&o.topic_prefix)->default_value(""), "prefix of every topic and consumer group name");
}

std::vector<std::string> parse_kafka_config(const std::vector<std::string>& raw_kv, BusOptions& o) {
  std::vector<std::string> problems;
  for (const auto& kv : raw_kv) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) problems.push_back("--kafka-config takes key=value, got '" + kv + "'");
    else o.kafka_config.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return problems;
}

bool index_in_use(const std::string& index_dir) {
  // RocksDB holds an fcntl write lock on LOCK for as long as the database is open.
  int fd = ::open((index_dir + "/LOCK").c_str(), O_RDWR);
  if (fd < 0) return false;
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  const bool held = ::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

}  // namespace imgpipe::ops
