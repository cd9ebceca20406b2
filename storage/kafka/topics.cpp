#include "storage/kafka/topics.h"

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "storage/kafka/kafka_log.h"

namespace imgpipe::storage::kafka {
namespace {

// Admin requests: long enough for a controller to create topics on a loaded
// cluster, short enough that an unreachable one fails the command quickly.
constexpr int admin_timeout_ms = 15'000;

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using Client = std::unique_ptr<rd_kafka_t, Deleter<rd_kafka_destroy>>;
using Queue = std::unique_ptr<rd_kafka_queue_t, Deleter<rd_kafka_queue_destroy>>;
using Options = std::unique_ptr<rd_kafka_AdminOptions_t, Deleter<rd_kafka_AdminOptions_destroy>>;
using Event = std::unique_ptr<rd_kafka_event_t, Deleter<rd_kafka_event_destroy>>;
using NewTopic = std::unique_ptr<rd_kafka_NewTopic_t, Deleter<rd_kafka_NewTopic_destroy>>;
using Resource = std::unique_ptr<rd_kafka_ConfigResource_t, Deleter<rd_kafka_ConfigResource_destroy>>;

schemas::Error unavailable(const std::string& what, const std::string& detail) {
  spdlog::warn("kafka admin: {}: {}", what, detail);
  return schemas::Error(schemas::ErrorCode::service_unavailable,
                        "The message bus is unavailable; try again shortly.");
}

void log_cb(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  log_librdkafka("admin", level, fac, buf);
}

Client admin_client(const std::string& brokers, const KafkaOverrides& overrides) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& key, const std::string& value) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::invalid_argument("kafka property " + key + "=" + value + ": " + err);
    }
  };
  set("bootstrap.servers", brokers);
  set("client.id", "imgpipe-admin");
  for (const auto& [key, value] : overrides) set(key, value);
  rd_kafka_conf_set_log_cb(conf, log_cb);
  // A producer handle is the lightest client that can send admin requests.
  Client rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::invalid_argument(std::string("kafka admin client: ") + err);
  }
  return rk;
}

Options admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op) {
  Options o(rd_kafka_AdminOptions_new(rk, op));
  char err[512];
  rd_kafka_AdminOptions_set_request_timeout(o.get(), admin_timeout_ms, err, sizeof err);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
    rd_kafka_AdminOptions_set_operation_timeout(o.get(), admin_timeout_ms, err, sizeof err);
  return o;
}

// Waits for the result of one admin request; throws when the request as a
// whole failed (unreachable cluster, time-out).
Event await_result(rd_kafka_queue_t* q, rd_kafka_event_type_t type, const std::string& what) {
  Event ev(rd_kafka_queue_poll(q, admin_timeout_ms + 5'000));
  if (!ev) throw unavailable(what, "no answer");
  if (rd_kafka_event_type(ev.get()) != type) throw unavailable(what, "unexpected admin event");
  if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw unavailable(what, rd_kafka_event_error_string(ev.get()));
  return ev;
}

// The controller answers CreateTopics before every broker's metadata cache
// has the new topics; wait until they are served with a leader for every
// partition, so a caller may produce and consume right away.
void await_visible(rd_kafka_t* rk, const std::vector<TopicSpec>& topics) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(admin_timeout_ms);
  for (;;) {
    const struct rd_kafka_metadata* md = nullptr;
    std::size_t ready = 0;
    // All topics: asking for one by name could auto-create it on some clusters.
    if (rd_kafka_metadata(rk, 1, nullptr, &md, 5'000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (const auto& spec : topics) {
        for (int i = 0; i < md->topic_cnt; ++i) {
          const auto& t = md->topics[i];
          if (spec.name != t.topic || t.err != RD_KAFKA_RESP_ERR_NO_ERROR || t.partition_cnt == 0) continue;
          bool led = true;
          for (int j = 0; j < t.partition_cnt; ++j) led = led && t.partitions[j].leader >= 0;
          if (led) ++ready;
        }
      }
      rd_kafka_metadata_destroy(md);
    }
    if (ready == topics.size()) return;
    if (std::chrono::steady_clock::now() >= deadline)
      throw unavailable("create topics", "the new topics did not appear in the cluster's metadata in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

std::vector<TopicSpec> imgpipe_topics() {
  constexpr int64_t week_ms = 7LL * 24 * 3600 * 1000;
  return {
      {topics::ingest, "delete", week_ms},
      {topics::images, "compact", std::nullopt},
      {topics::accounts, "compact", std::nullopt},
      {topics::ingest_dlq, "delete", std::nullopt},
  };
}

void create_topics(const std::string& brokers, const KafkaOverrides& overrides, int partitions, int replication,
                   const std::vector<TopicSpec>& topics) {
  if (partitions < 1 || replication < 1) throw std::invalid_argument("kafka topics: partitions and replication must be >= 1");
  if (topics.empty()) return;
  auto rk = admin_client(brokers, overrides);
  // Below 3 replicas a second copy cannot be required without stopping all
  // writes while one broker is away; from 3 up, losing one broker is survivable.
  const std::string min_isr = std::to_string(replication >= 3 ? replication - 1 : 1);

  std::vector<NewTopic> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  char err[512];
  for (const auto& spec : topics) {
    NewTopic nt(rd_kafka_NewTopic_new(spec.name.c_str(), partitions, replication, err, sizeof err));
    if (!nt) throw std::invalid_argument("kafka topic " + spec.name + ": " + err);
    rd_kafka_NewTopic_set_config(nt.get(), "cleanup.policy", spec.cleanup_policy.c_str());
    rd_kafka_NewTopic_set_config(nt.get(), "min.insync.replicas", min_isr.c_str());
    if (spec.retention_ms)
      rd_kafka_NewTopic_set_config(nt.get(), "retention.ms", std::to_string(*spec.retention_ms).c_str());
    raw.push_back(nt.get());
    owned.push_back(std::move(nt));
  }

  Queue q(rd_kafka_queue_new(rk.get()));
  auto options = admin_options(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_CreateTopics(rk.get(), raw.data(), raw.size(), options.get(), q.get());
  auto ev = await_result(q.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, "create topics");

  size_t n = 0;
  const auto* result = rd_kafka_event_CreateTopics_result(ev.get());
  const auto** results = rd_kafka_CreateTopics_result_topics(result, &n);
  std::string failed;
  for (size_t i = 0; i < n; ++i) {
    const auto code = rd_kafka_topic_result_error(results[i]);
    const std::string name = rd_kafka_topic_result_name(results[i]);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::info("kafka admin: created topic {} ({} partitions, {} replicas)", name, partitions, replication);
    } else if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      spdlog::debug("kafka admin: topic {} exists", name);
    } else {
      const char* why = rd_kafka_topic_result_error_string(results[i]);
      failed += (failed.empty() ? "" : "; ") + name + ": " + (why ? why : rd_kafka_err2str(code));
    }
  }
  if (!failed.empty()) throw unavailable("create topics", failed);
  await_visible(rk.get(), topics);
}

std::vector<std::string> check_topics(const std::string& brokers, const KafkaOverrides& overrides,
                                      const std::vector<TopicSpec>& topics) {
  std::vector<std::string> problems;
  if (topics.empty()) return problems;
  auto rk = admin_client(brokers, overrides);

  std::vector<Resource> owned;
  std::vector<rd_kafka_ConfigResource_t*> raw;
  for (const auto& spec : topics) {
    owned.emplace_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, spec.name.c_str()));
    raw.push_back(owned.back().get());
  }
  Queue q(rd_kafka_queue_new(rk.get()));
  auto options = admin_options(rk.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_DescribeConfigs(rk.get(), raw.data(), raw.size(), options.get(), q.get());
  auto ev = await_result(q.get(), RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "describe topic configs");

  size_t n = 0;
  const auto* result = rd_kafka_event_DescribeConfigs_result(ev.get());
  const auto** resources = rd_kafka_DescribeConfigs_result_resources(result, &n);
  std::map<std::string, const rd_kafka_ConfigResource_t*> by_name;
  for (size_t i = 0; i < n; ++i) by_name[rd_kafka_ConfigResource_name(resources[i])] = resources[i];

  for (const auto& spec : topics) {
    auto it = by_name.find(spec.name);
    if (it == by_name.end()) {
      problems.push_back("topic " + spec.name + ": no answer from the cluster");
      continue;
    }
    const auto code = rd_kafka_ConfigResource_error(it->second);
    if (code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      problems.push_back("topic " + spec.name + " is missing");
      continue;
    }
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* why = rd_kafka_ConfigResource_error_string(it->second);
      problems.push_back("topic " + spec.name + ": " + (why ? why : rd_kafka_err2str(code)));
      continue;
    }
    size_t m = 0;
    const auto** entries = rd_kafka_ConfigResource_configs(it->second, &m);
    std::string policy;
    for (size_t j = 0; j < m; ++j) {
      if (std::string(rd_kafka_ConfigEntry_name(entries[j])) == "cleanup.policy") {
        const char* v = rd_kafka_ConfigEntry_value(entries[j]);
        policy = v ? v : "";
      }
    }
    if (policy != spec.cleanup_policy)
      problems.push_back("topic " + spec.name + " has cleanup.policy=" + (policy.empty() ? "(unset)" : policy) +
                         ", expected " + spec.cleanup_policy);
  }
  return problems;
}

}  // namespace imgpipe::storage::kafka
