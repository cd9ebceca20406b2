#include "storage/kafka/kafka_bus.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <initializer_list>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "storage/kafka/kafka_log.h"
#include "storage/partition_key.h"

namespace imgpipe::storage::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Longest a blocked poll() waits inside librdkafka before it looks at
// close(): the bound on how long close() waits for a concurrent poll.
constexpr milliseconds poll_slice{100};

// Where the bus's librdkafka failures become our error (topics.cpp has the
// admin client's twin). The detail goes to the log; the message is what a
// client may see.
schemas::Error unavailable(std::string_view what, const std::string& detail) {
  spdlog::warn("kafka: {}: {}", what, detail);
  return schemas::Error(schemas::ErrorCode::service_unavailable,
                        "The message bus is unavailable; try again shortly.");
}

schemas::Error unavailable(std::string_view what, RdKafka::ErrorCode err) {
  return unavailable(what, RdKafka::err2str(err));
}

std::string random_hex(int bytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rng() & 0xff);
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

// librdkafka's errors, logs and throttling, as our log lines (kafka_log.h).
class EventLogger : public RdKafka::EventCb {
 public:
  explicit EventLogger(std::string name) : name_(std::move(name)) {}

  void event_cb(RdKafka::Event& e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_ERROR:
        log_librdkafka_error(name_, RdKafka::err2str(e.err()), e.str(), e.fatal());
        break;
      case RdKafka::Event::EVENT_LOG:
        log_librdkafka(name_, static_cast<int>(e.severity()), e.fac(), e.str());
        break;
      case RdKafka::Event::EVENT_THROTTLE:
        log_librdkafka_throttle(name_, e.broker_name(), e.throttle_time());
        break;
      default:  // statistics: not enabled
        break;
    }
  }

 private:
  std::string name_;
};

using Props = std::initializer_list<std::pair<const char*, std::string>>;

// The producer's partitioner: Kafka's murmur2 on the key's partition part
// (storage/partition_key.h), so "id#variants" goes where "id" goes; the
// same partition as librdkafka's murmur2_random for every key without '#'.
int32_t partition_by_key(const rd_kafka_topic_t* topic, const void* key, size_t key_size, int32_t partitions,
                         void* topic_opaque, void* message_opaque) {
  if (key == nullptr || key_size == 0)
    return rd_kafka_msg_partitioner_random(topic, key, key_size, partitions, topic_opaque, message_opaque);
  return partition_for(std::string_view(static_cast<const char*>(key), key_size), partitions);
}

// Ours first, the operator's overrides last so they win.
std::unique_ptr<RdKafka::Conf> make_conf(const KafkaBusConfig& c, Props ours, RdKafka::EventCb* events) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  auto set = [&](const std::string& key, const std::string& value) {
    if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK)
      throw std::invalid_argument("kafka property " + key + "=" + value + ": " + err);
  };
  set("bootstrap.servers", c.brokers);
  set("client.id", c.client_id.empty() ? std::string("imgpipe") : c.client_id);
  for (const auto& [key, value] : ours) set(key, value);
  for (const auto& [key, value] : c.overrides) set(key, value);
  if (events != nullptr && conf->set("event_cb", events, err) != RdKafka::Conf::CONF_OK)
    throw std::invalid_argument("kafka event_cb: " + err);
  return conf;
}

// A group member never commits on its own: the pipeline commits each
// partition's next offset only after the effects are durable (at least once).
std::unique_ptr<RdKafka::Conf> group_conf(const KafkaBusConfig& c, const std::string& group, RdKafka::EventCb* ev) {
  return make_conf(c,
                   {{"group.id", group},
                    {"enable.auto.commit", "false"},
                    {"enable.auto.offset.store", "false"},
                    {"auto.offset.reset", "earliest"},
                    {"max.poll.interval.ms", "600000"},
                    {"partition.assignment.strategy", "range"},
                    {"enable.partition.eof", "false"},
                    {"allow.auto.create.topics", "false"}},
                   ev);
}

std::unique_ptr<RdKafka::KafkaConsumer> create_consumer(const RdKafka::Conf& conf) {
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(&conf, err));
  if (!consumer) throw std::invalid_argument("kafka consumer: " + err);
  return consumer;
}

// Partition ids of `topic`, sorted. Retries while the topic is unknown or
// leaderless (just created) until `timeout`; then throws service_unavailable.
std::vector<int32_t> partitions_of(RdKafka::Handle& handle, const std::string& topic, milliseconds timeout) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> rkt(RdKafka::Topic::create(&handle, topic, nullptr, err));
  if (!rkt) throw unavailable("topic handle " + topic, err);
  const auto deadline = Clock::now() + timeout;
  RdKafka::ErrorCode last = RdKafka::ERR_NO_ERROR;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    RdKafka::Metadata* raw = nullptr;
    last = handle.metadata(false, rkt.get(), &raw, static_cast<int>(std::max(left, milliseconds{100}).count()));
    std::unique_ptr<RdKafka::Metadata> md(raw);
    if (last == RdKafka::ERR_NO_ERROR && md) {
      for (const auto* t : *md->topics()) {
        if (t->topic() != topic) continue;
        last = t->err();
        if (last != RdKafka::ERR_NO_ERROR || t->partitions()->empty()) break;
        std::vector<int32_t> ids;
        for (const auto* p : *t->partitions()) ids.push_back(p->id());
        std::sort(ids.begin(), ids.end());
        return ids;
      }
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(milliseconds{100});
  }
  throw unavailable("metadata of " + topic, last == RdKafka::ERR_NO_ERROR ? RdKafka::ERR_UNKNOWN_TOPIC_OR_PART : last);
}

// Owns a vector of TopicPartition* as librdkafka's C++ API hands them out.
struct TopicPartitions {
  std::vector<RdKafka::TopicPartition*> v;
  TopicPartitions() = default;
  TopicPartitions(const TopicPartitions&) = delete;
  TopicPartitions& operator=(const TopicPartitions&) = delete;
  ~TopicPartitions() { RdKafka::TopicPartition::destroy(v); }
  void add(const std::string& topic, int32_t partition, int64_t offset) {
    v.push_back(RdKafka::TopicPartition::create(topic, partition, offset));
  }
};

BusMessage to_bus(const RdKafka::Message& m) {
  BusMessage out;
  out.topic = m.topic_name();
  out.partition = m.partition();
  out.offset = m.offset();
  if (m.key_pointer() != nullptr) out.key.assign(static_cast<const char*>(m.key_pointer()), m.key_len());
  if (m.payload() != nullptr) out.value.assign(static_cast<const char*>(m.payload()), m.len());
  out.timestamp_ms = m.timestamp().timestamp;
  return out;
}

class KafkaConsumer final : public BusConsumer {
 public:
  // group == false: a reader with a throw-away group id that never commits.
  KafkaConsumer(std::unique_ptr<EventLogger> events, std::unique_ptr<RdKafka::KafkaConsumer> consumer, bool group,
                std::string name)
      : events_(std::move(events)), consumer_(std::move(consumer)), group_(group), name_(std::move(name)) {}

  ~KafkaConsumer() override { close(); }

  std::optional<BusMessage> poll(milliseconds timeout) override {
    std::shared_lock lock(mu_);
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (closed_) return std::nullopt;
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      const auto slice = std::clamp(left, milliseconds{0}, poll_slice);
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(static_cast<int>(slice.count())));
      switch (m->err()) {
        case RdKafka::ERR_NO_ERROR:
          return to_bus(*m);
        case RdKafka::ERR__TIMED_OUT:
        case RdKafka::ERR__PARTITION_EOF:
          break;
        case RdKafka::ERR__FATAL: {
          std::string why;
          consumer_->fatal_error(why);
          throw unavailable(name_ + " fatal error", why);
        }
        default:
          // Unknown topic, broker down, a message too large, max.poll.interval
          // exceeded: librdkafka recovers (rejoins, reconnects, skips) by itself.
          note(m->err(), m->errstr());
          break;
      }
      if (Clock::now() >= deadline) return std::nullopt;
    }
  }

  void commit(const std::string& topic, int32_t partition, int64_t next_offset) override {
    if (!group_) return;
    std::shared_lock lock(mu_);
    if (closed_) {
      spdlog::warn("kafka {}: commit {}[{}]@{} after close ignored", name_, topic, partition, next_offset);
      return;
    }
    TopicPartitions tp;
    tp.add(topic, partition, next_offset);
    auto err = consumer_->commitSync(tp.v);
    if (err == RdKafka::ERR_NO_ERROR) err = tp.v[0]->err();
    if (err == RdKafka::ERR_NO_ERROR) return;
    if (err == RdKafka::ERR__FATAL) throw unavailable(name_ + " commit", err);
    // Typically a rebalance took the partition away: its new owner starts at
    // the last commit, so these messages run again, which is harmless.
    spdlog::warn("kafka {}: commit {}[{}]@{} failed: {}; the messages will be delivered again", name_, topic,
                 partition, next_offset, RdKafka::err2str(err));
  }

  std::vector<int32_t> assignment(const std::string& topic) override {
    std::shared_lock lock(mu_);
    std::vector<int32_t> out;
    if (closed_) return out;
    TopicPartitions tp;
    // Not an empty list: a caller would take it for "every partition left".
    if (auto err = consumer_->assignment(tp.v); err != RdKafka::ERR_NO_ERROR)
      throw unavailable(name_ + " assignment", err);
    for (const auto* p : tp.v)
      if (p->topic() == topic) out.push_back(p->partition());
    std::sort(out.begin(), out.end());
    return out;
  }

  void close() override {
    closed_ = true;
    std::unique_lock lock(mu_);  // waits at most one poll slice
    if (left_) return;
    left_ = true;
    // Leaves the group at once, so the others get its partitions now rather
    // than after session.timeout.ms.
    if (auto err = consumer_->close(); err != RdKafka::ERR_NO_ERROR)
      spdlog::warn("kafka {}: close: {}", name_, RdKafka::err2str(err));
  }

 private:
  // Logs a recoverable error once per kind per 30 s, not once per poll.
  void note(RdKafka::ErrorCode err, const std::string& text) {
    std::lock_guard lock(note_mu_);
    const auto now = Clock::now();
    if (err == last_err_ && now - last_note_ < std::chrono::seconds{30}) return;
    last_err_ = err;
    last_note_ = now;
    spdlog::warn("kafka {}: {}", name_, text);
  }

  std::unique_ptr<EventLogger> events_;  // outlives consumer_
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  const bool group_;
  const std::string name_;
  std::atomic<bool> closed_{false};
  bool left_ = false;           // guarded by mu_ (exclusive)
  std::shared_mutex mu_;        // shared: poll, commit, assignment; exclusive: close
  std::mutex note_mu_;
  RdKafka::ErrorCode last_err_ = RdKafka::ERR_NO_ERROR;
  Clock::time_point last_note_{};
};

class DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& m) override {
    std::unique_ptr<PublishDone> done(static_cast<PublishDone*>(m.msg_opaque()));
    if (!done) return;
    if (m.err() == RdKafka::ERR_NO_ERROR)
      finish(*done, std::nullopt);
    else
      finish(*done, unavailable("publish to " + m.topic_name(), m.err()));
  }

  static void finish(PublishDone& done, std::optional<schemas::Error> result) {
    try {
      done(std::move(result));
    } catch (const std::exception& e) {
      // A callback must not unwind into librdkafka's thread.
      spdlog::error("kafka: publish callback threw: {}", e.what());
    }
  }
};

class KafkaBus final : public Bus {
 public:
  explicit KafkaBus(const KafkaBusConfig& config)
      : config_(config), events_(std::make_unique<EventLogger>("producer")) {
    if (config_.brokers.empty()) throw std::invalid_argument("kafka: no brokers given");
    // Fail on a bad override now rather than at the first subscribe.
    group_conf(config_, "imgpipe-check", nullptr);
    auto conf = make_conf(config_,
                          {{"enable.idempotence", "true"},
                           {"acks", "all"},
                           {"message.timeout.ms", std::to_string(config_.publish_timeout.count())},
                           {"partitioner", "murmur2_random"},  // replaced below; creates the default topic conf
                           // 0, not librdkafka's 5: a client waits for its 201 behind two
                           // publishes (the ingest job, then the ready event), and 5 ms each was
                           // over half of what Kafka added to a small upload. Messages that
                           // arrive while a request is in flight still share the next one;
                           // durability (acks, idempotence) does not depend on it.
                           {"linger.ms", "0"}},
                          events_.get());
    auto* topic_defaults = rd_kafka_conf_get_default_topic_conf(conf->c_ptr_global());
    if (topic_defaults == nullptr) throw std::logic_error("kafka: no default topic configuration");
    rd_kafka_topic_conf_set_partitioner_cb(topic_defaults, partition_by_key);
    std::string err;
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&reports_), err) != RdKafka::Conf::CONF_OK)
      throw std::invalid_argument("kafka dr_cb: " + err);
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) throw std::invalid_argument("kafka producer: " + err);
    poller_ = std::thread([this] {
      while (!stop_) producer_->poll(static_cast<int>(poll_slice.count()));
    });
    warmer_ = std::thread([this] { warm_loop(); });
  }

  ~KafkaBus() override {
    {
      std::lock_guard lock(warm_mu_);
      stop_ = true;
    }
    warm_cv_.notify_all();
    warmer_.join();  // waits for at most one metadata request
    poller_.join();
    // Give what is in flight its chance, then fail the rest: every
    // PublishDone is called exactly once.
    if (producer_->flush(static_cast<int>(config_.publish_timeout.count())) != RdKafka::ERR_NO_ERROR) {
      producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      producer_->flush(1000);
    }
  }

  void publish(const std::string& topic, std::string key, std::string value, PublishDone done) override {
    auto* opaque = new PublishDone(done ? std::move(done) : PublishDone([](std::optional<schemas::Error>) {}));
    // No key: librdkafka spreads the messages; with a key, murmur2 as the
    // Java client does (of the part before '#': partition_by_key), so every
    // client puts an image id in one partition.
    const auto err = producer_->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                        value.data(), value.size(), key.empty() ? nullptr : key.data(), key.size(),
                                        0, opaque);
    if (err != RdKafka::ERR_NO_ERROR) {
      std::unique_ptr<PublishDone> owned(opaque);
      DeliveryReports::finish(*owned, unavailable("publish to " + topic, err));
      return;
    }
    std::lock_guard lock(warm_mu_);
    if (warmed_.insert(topic).second) {
      to_warm_.push_back(topic);
      warm_cv_.notify_one();
    }
  }

  std::unique_ptr<BusConsumer> subscribe(const std::string& group, const std::vector<std::string>& topics) override {
    auto events = std::make_unique<EventLogger>("consumer " + group);
    auto consumer = create_consumer(*group_conf(config_, group, events.get()));
    if (auto err = consumer->subscribe(topics); err != RdKafka::ERR_NO_ERROR)
      throw unavailable("subscribe " + group, err);
    return std::make_unique<KafkaConsumer>(std::move(events), std::move(consumer), true, "consumer " + group);
  }

  std::unique_ptr<BusConsumer> read(const std::string& topic, const StartAt& from) override {
    auto events = std::make_unique<EventLogger>("reader " + topic);
    // A group id is required by the client; this one is never joined nor committed.
    auto consumer = create_consumer(*group_conf(config_, "imgpipe-reader-" + random_hex(8), events.get()));
    const auto parts = partitions_of(*consumer, topic, config_.request_timeout);
    TopicPartitions tp;
    for (auto p : parts) {
      switch (from.kind) {
        case StartAt::Kind::beginning:
          tp.add(topic, p, RdKafka::Topic::OFFSET_BEGINNING);
          break;
        case StartAt::Kind::end:
          tp.add(topic, p, RdKafka::Topic::OFFSET_END);
          break;
        case StartAt::Kind::offsets: {
          auto it = from.offsets.find(p);
          tp.add(topic, p, it == from.offsets.end() ? RdKafka::Topic::OFFSET_BEGINNING : it->second);
          break;
        }
        case StartAt::Kind::time:
          tp.add(topic, p, from.time_ms);
          break;
      }
    }
    if (from.kind == StartAt::Kind::time) {
      auto err = consumer->offsetsForTimes(tp.v, static_cast<int>(config_.request_timeout.count()));
      if (err != RdKafka::ERR_NO_ERROR) throw unavailable("offsets for time in " + topic, err);
      for (auto* p : tp.v) {
        if (p->err() != RdKafka::ERR_NO_ERROR) throw unavailable("offsets for time in " + topic, p->err());
        // No message at or after that time: start at the end (-1 already is OFFSET_END).
        if (p->offset() < 0) p->set_offset(RdKafka::Topic::OFFSET_END);
      }
    }
    if (auto err = consumer->assign(tp.v); err != RdKafka::ERR_NO_ERROR) throw unavailable("assign " + topic, err);
    return std::make_unique<KafkaConsumer>(std::move(events), std::move(consumer), false, "reader " + topic);
  }

  std::vector<PartitionState> describe(const std::string& topic, const std::string& group) override {
    // A consumer with the group's id that never joins it: committed() reads
    // the group's offsets without disturbing its members.
    auto consumer = create_consumer(*group_conf(config_, group.empty() ? "imgpipe-describe-" + random_hex(8) : group,
                                                events_.get()));
    const int timeout = static_cast<int>(config_.request_timeout.count());
    std::vector<PartitionState> out;
    for (auto p : partitions_of(*consumer, topic, config_.request_timeout)) {
      PartitionState s;
      s.partition = p;
      if (auto err = consumer->query_watermark_offsets(topic, p, &s.low, &s.high, timeout);
          err != RdKafka::ERR_NO_ERROR)
        throw unavailable("watermarks of " + topic, err);
      out.push_back(s);
    }
    if (!group.empty()) {
      TopicPartitions tp;
      for (const auto& s : out) tp.add(topic, s.partition, RdKafka::Topic::OFFSET_INVALID);
      if (auto err = consumer->committed(tp.v, timeout); err != RdKafka::ERR_NO_ERROR)
        throw unavailable("committed offsets of " + group, err);
      for (const auto* c : tp.v)
        for (auto& s : out)
          if (s.partition == c->partition() && c->offset() >= 0) s.committed = c->offset();
    }
    consumer->close();
    return out;
  }

  std::string kind() const override { return "kafka"; }

 private:
  // librdkafka 2.0.2 looks up the partitions of a topic it has not produced
  // to only on its 1 s topic scan (librdkafka issue #3202), so the first
  // message to each topic waited up to a second: the first upload after a
  // start took ~1.8 s (two topics). A metadata request for the topic, sent
  // here once when it is first published to, makes librdkafka place the
  // waiting message at once. Off the caller's thread: publish never blocks.
  // A failed request changes nothing (the scan still finds the topic).
  void warm_loop() {
    std::unique_lock lock(warm_mu_);
    for (;;) {
      warm_cv_.wait(lock, [this] { return stop_ || !to_warm_.empty(); });
      if (stop_) return;
      const std::string topic = std::move(to_warm_.front());
      to_warm_.pop_front();
      lock.unlock();
      std::string err;
      std::unique_ptr<RdKafka::Topic> rkt(RdKafka::Topic::create(producer_.get(), topic, nullptr, err));
      RdKafka::Metadata* raw = nullptr;
      // No longer than a publish may take: after that the message has failed anyway.
      const auto timeout = std::min(config_.request_timeout, config_.publish_timeout);
      if (rkt) producer_->metadata(false, rkt.get(), &raw, static_cast<int>(timeout.count()));
      delete raw;
      lock.lock();
    }
  }

  const KafkaBusConfig config_;
  std::unique_ptr<EventLogger> events_;
  DeliveryReports reports_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
  std::mutex warm_mu_;
  std::condition_variable warm_cv_;
  std::set<std::string> warmed_;     // guarded by warm_mu_
  std::deque<std::string> to_warm_;  // guarded by warm_mu_
  std::thread warmer_;
};

}  // namespace

std::unique_ptr<Bus> make_kafka_bus(const KafkaBusConfig& config) { return std::make_unique<KafkaBus>(config); }

}  // namespace imgpipe::storage::kafka
