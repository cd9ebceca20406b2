#include "storage/embedded_bus.h"
#include "storage/partition_key.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace imgpipe::storage {
namespace {

using schemas::Error;
using schemas::ErrorCode;
using Clock = std::chrono::steady_clock;

// Memory bound on publishes waiting for the writer: beyond it publish fails
// fast with 503 rather than queueing without limit.
constexpr size_t max_pending_bytes = 64u << 20;
// One WriteBatch holds at most this many messages, so a burst is cut into
// several syncs rather than one huge write that delays the first callers.
constexpr size_t max_batch_messages = 4096;

// Kafka's rules for names (letters, digits, '.', '_', '-'; at most 249), which
// also keeps '\0' out so it can separate the parts of a key.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 249) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// Keys: bus_log    topic '\0' be32(partition) be64(offset)
//       bus_groups group '\0' topic '\0' be32(partition) -> be64(next offset)
constexpr size_t log_suffix = 1 + 4 + 8;

std::string log_prefix(const std::string& topic, int32_t partition) {
  std::string k = topic;
  k.push_back('\0');
  k += be32(static_cast<uint32_t>(partition));
  return k;
}

std::string log_key(const std::string& topic, int32_t partition, int64_t offset) {
  return log_prefix(topic, partition) + be64(static_cast<uint64_t>(offset));
}

std::string group_key(const std::string& group, const std::string& topic, int32_t partition) {
  std::string k = group;
  k.push_back('\0');
  k += topic;
  k.push_back('\0');
  k += be32(static_cast<uint32_t>(partition));
  return k;
}

// Value: be64(timestamp_ms) be32(key size) key value.
std::string encode(int64_t timestamp_ms, std::string_view key, std::string_view value) {
  std::string out = be64(static_cast<uint64_t>(timestamp_ms));
  out += be32(static_cast<uint32_t>(key.size()));
  out.append(key);
  out.append(value);
  return out;
}

bool decode(std::string_view raw, BusMessage& m) {
  if (raw.size() < 12) return false;
  m.timestamp_ms = static_cast<int64_t>(read_be64(raw.substr(0, 8)));
  const size_t key_size = read_be32(raw.substr(8, 4));
  if (raw.size() - 12 < key_size) return false;
  m.key.assign(raw.substr(12, key_size));
  m.value.assign(raw.substr(12 + key_size));
  return true;
}

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The offset in a log key.
int64_t offset_of(std::string_view log_key) {
  return static_cast<int64_t>(read_be64(log_key.substr(log_key.size() - 8)));
}

// Splits a bus_groups key into its topic and partition.
bool parse_group_key(std::string_view k, std::string& topic, int32_t& partition) {
  const auto first = k.find('\0');
  if (first == std::string_view::npos || k.size() < first + 1 + 5 || k[k.size() - 5] != '\0') return false;
  topic.assign(k.substr(first + 1, k.size() - 5 - first - 1));
  partition = static_cast<int32_t>(read_be32(k.substr(k.size() - 4)));
  return true;
}

// The design's topic policies. A prefix (--topic-prefix) is allowed in front.
enum class Policy { keep, trim, compact };
Policy policy_of(std::string_view topic) {
  if (topic.ends_with(topics::ingest) || topic.ends_with(topics::ingest_dlq)) return Policy::trim;
  if (topic.ends_with(topics::images) || topic.ends_with(topics::accounts)) return Policy::compact;
  return Policy::keep;  // topics of other producers (tests): ours to leave alone
}

// In a compacted topic, what a record means for the records of its key:
// `state` carries the key's whole state (every account event; an image's
// accepted, ready, variants and updated events, and a failed event with its
// record: the image is listed as processing or failed) and replaces every
// earlier record; `tombstone` (an image's deleted event) too, with the older
// records of the image's other keys ("id#variants"), and then goes
// itself after the tombstone delay; `transient` (a failed event without a
// record: a message that was no valid job, or one from before records were
// sent) replaces nothing and goes once anything newer exists for its key or
// after the delay. A failure after `ready` publishes no failed event at all
// (workers/ingest_pipeline.cpp), so no failed record hides a ready image.
enum class Role { state, tombstone, transient };
Role role_of(std::string_view topic, std::string_view value) {
  if (!topic.ends_with(topics::images)) return Role::state;
  // A full parse: a look for "type" in the text could be fooled by a tag.
  const auto j = nlohmann::json::parse(value, nullptr, false);
  const auto type = j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "";
  if (type == "deleted") return Role::tombstone;
  if (type == "accepted" || type == "ready" || type == "variants" || type == "updated") return Role::state;
  if (type == "failed" && j.contains("image") && j["image"].is_object()) return Role::state;
  return Role::transient;
}

[[noreturn]] void shut_down() { throw Error(ErrorCode::service_unavailable, "The message bus is shut down."); }

struct PartitionLog {
  int64_t low = 0;   // first offset in the log
  int64_t next = 0;  // next offset the writer hands out
  int64_t high = 0;  // next offset after the last durable one: what readers may see
};

struct Topic {
  std::vector<PartitionLog> parts;
  uint32_t round_robin = 0;  // partition for messages without a key
};

struct Pending {
  std::string topic;
  int32_t partition;
  std::string key, value;
  int64_t timestamp_ms;
  size_t bytes;
  PublishDone done;
};

struct GroupMember {
  uint64_t id;
  std::vector<std::string> topics;
};

struct Group {
  std::vector<GroupMember> members;  // in join order
  uint64_t generation = 0;           // bumped on every join and leave
};

// State shared by the bus and its consumers. One mutex guards all of it:
// the critical sections are short (no fsync happens under it).
struct Core {
  Core(Db& d, const EmbeddedBusConfig& c)
      : db(d), partitions(std::max(1, c.partitions)), config(c), now_ms(c.clock ? c.clock : system_now_ms) {}

  Db& db;
  const int partitions;
  const EmbeddedBusConfig config;
  const std::function<int64_t()> now_ms;

  std::mutex mu;
  std::condition_variable writer_cv;  // the writer: work queued or stopping
  std::condition_variable data_cv;    // pollers: new durable messages, membership change, close
  std::map<std::string, Topic> topics;
  std::deque<Pending> queue;
  size_t queue_bytes = 0;
  bool stopping = false;  // no new publishes
  bool stopped = false;   // writer gone; the Db may be gone too: do not touch it
  std::map<std::string, Group> groups;
  uint64_t next_member_id = 1;
  std::thread writer;

  // Topics are created on first use with `partitions` partitions.
  Topic& topic_locked(const std::string& name) {
    auto& t = topics[name];
    if (t.parts.size() < static_cast<size_t>(partitions)) t.parts.resize(static_cast<size_t>(partitions));
    return t;
  }

  // Rebuilds every partition's low/high from the log: the first key of each
  // partition, then a backwards seek to its last key.
  void recover() {
    std::string cursor;
    for (;;) {
      std::optional<std::string> first;
      db.scan(
          cf::bus_log, "",
          [&](std::string_view k, std::string_view) {
            first.emplace(k);
            return false;
          },
          cursor);
      if (!first) break;
      const auto& k = *first;
      if (k.size() <= log_suffix || k[k.size() - log_suffix] != '\0') {
        spdlog::warn("embedded bus: skipping a malformed log key");
        cursor = k + '\0';
        continue;
      }
      const std::string topic = k.substr(0, k.size() - log_suffix);
      const auto partition = static_cast<int32_t>(read_be32(std::string_view(k).substr(k.size() - 12, 4)));
      const auto prefix = log_prefix(topic, partition);
      auto& t = topics[topic];
      if (t.parts.size() <= static_cast<size_t>(partition)) t.parts.resize(static_cast<size_t>(partition) + 1);
      auto& p = t.parts[static_cast<size_t>(partition)];
      p.low = static_cast<int64_t>(read_be64(std::string_view(k).substr(k.size() - 8)));
      auto last = db.last(cf::bus_log, prefix);
      p.high = p.next = last ? static_cast<int64_t>(read_be64(std::string_view(last->first).substr(last->first.size() - 8))) + 1
                             : p.low;
      // Next partition: just past every key of this one (be32 never is all 0xff here).
      cursor = prefix;
      for (size_t i = cursor.size(); i-- > 0;) {
        auto& c = reinterpret_cast<unsigned char&>(cursor[i]);
        if (c != 0xff) {
          ++c;
          break;
        }
        c = 0;
      }
    }
    // A partition count smaller than what is on disk would move keys between
    // partitions; keep the larger. TODO: persist each topic's partition count.
    for (auto& [name, t] : topics) topic_locked(name);
    for (const auto& [name, t] : topics)
      for (size_t i = 0; i < t.parts.size(); ++i)
        if (t.parts[i].high > 0)
          spdlog::info("embedded bus: {}[{}] offsets {}..{}", name, i, t.parts[i].low, t.parts[i].high);
  }

  // Group commit: everything queued while the previous sync ran goes into one
  // WriteBatch with one sync, then every caller's callback runs.
  void run_writer() {
    std::unique_lock lock(mu);
    for (;;) {
      writer_cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, and everything acknowledged has been written

      std::vector<Pending> batch;
      while (!queue.empty() && batch.size() < max_batch_messages) {
        queue_bytes -= queue.front().bytes;
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      std::vector<WriteOp> ops;
      ops.reserve(batch.size());
      for (auto& m : batch) {
        auto& part = topics[m.topic].parts[static_cast<size_t>(m.partition)];
        ops.push_back({WriteOp::Kind::put, cf::bus_log, log_key(m.topic, m.partition, part.next++),
                       encode(m.timestamp_ms, m.key, m.value)});
      }
      lock.unlock();

      std::optional<Error> err;
      try {
        db.write(ops, /*sync=*/true);
      } catch (const Error& e) {
        err = e;
      } catch (const std::exception& e) {
        spdlog::error("embedded bus write: {}", e.what());
        err = Error(ErrorCode::service_unavailable, "The message bus is unavailable.");
      }

      lock.lock();
      // Only this thread hands out offsets, so on failure nothing after
      // `high` exists: give the same offsets out again.
      for (auto& m : batch) {
        auto& part = topics[m.topic].parts[static_cast<size_t>(m.partition)];
        if (err)
          part.next = part.high;
        else
          part.high = part.next;
      }
      if (!err) data_cv.notify_all();
      lock.unlock();

      for (auto& m : batch) {
        try {
          m.done(err);
        } catch (const std::exception& e) {
          spdlog::error("embedded bus: publish callback threw: {}", e.what());
        } catch (...) {
          spdlog::error("embedded bus: publish callback threw");
        }
      }
      lock.lock();
    }
  }
};

struct Position {
  std::string topic;
  int32_t partition;
  int64_t next;
};

// A group member (group non-empty) or a plain reader (group empty, fixed
// positions, commit is a no-op). Every field is guarded by core->mu.
class Consumer final : public BusConsumer {
 public:
  Consumer(std::shared_ptr<Core> core, std::string group, uint64_t id, std::vector<std::string> topics,
           std::vector<Position> positions = {})
      : core_(std::move(core)),
        group_(std::move(group)),
        id_(id),
        topics_(std::move(topics)),
        assigned_(std::move(positions)) {}

  ~Consumer() override { close(); }

  std::optional<BusMessage> poll(std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(core_->mu);
    for (;;) {
      if (closed_) return std::nullopt;
      if (core_->stopped) shut_down();
      refresh_locked();
      const size_t n = assigned_.size();
      for (size_t i = 0; i < n; ++i) {
        auto& pos = assigned_[(cursor_ + i) % n];
        const auto& part = core_->topics[pos.topic].parts[static_cast<size_t>(pos.partition)];
        pos.next = std::max(pos.next, part.low);
        while (pos.next < part.high) {
          int64_t offset = pos.next++;
          auto raw = core_->db.get(cf::bus_log, log_key(pos.topic, pos.partition, offset));
          if (!raw) {
            // A hole left by retention or compaction: on to the next record kept.
            core_->db.scan(
                cf::bus_log, log_prefix(pos.topic, pos.partition),
                [&](std::string_view k, std::string_view v) {
                  offset = offset_of(k);
                  raw.emplace(v);
                  return false;
                },
                log_key(pos.topic, pos.partition, offset));
            if (!raw || offset >= part.high) {
              pos.next = part.high;
              break;
            }
            pos.next = offset + 1;
          }
          BusMessage m;
          if (!decode(*raw, m)) {
            spdlog::error("embedded bus: {}[{}]@{} missing or malformed, skipped", pos.topic, pos.partition, offset);
            continue;
          }
          m.topic = pos.topic;
          m.partition = pos.partition;
          m.offset = offset;
          cursor_ = (cursor_ + i + 1) % n;  // round-robin across partitions
          return m;
        }
      }
      if (Clock::now() >= deadline) return std::nullopt;
      core_->data_cv.wait_until(lock, deadline);
    }
  }

  void commit(const std::string& topic, int32_t partition, int64_t next_offset) override {
    if (group_.empty()) return;
    {
      std::lock_guard lock(core_->mu);
      if (core_->stopped) shut_down();
    }
    core_->db.put(cf::bus_groups, group_key(group_, topic, partition), be64(static_cast<uint64_t>(next_offset)),
                  /*sync=*/true);
  }

  std::vector<int32_t> assignment(const std::string& topic) override {
    std::lock_guard lock(core_->mu);
    std::vector<int32_t> out;
    if (closed_ || core_->stopped) return out;
    refresh_locked();
    for (const auto& p : assigned_)
      if (p.topic == topic) out.push_back(p.partition);
    std::sort(out.begin(), out.end());
    return out;
  }

  void close() override {
    std::lock_guard lock(core_->mu);
    if (closed_) return;
    closed_ = true;
    if (!group_.empty()) {
      auto& g = core_->groups[group_];
      std::erase_if(g.members, [&](const GroupMember& m) { return m.id == id_; });
      ++g.generation;
    }
    core_->data_cv.notify_all();
  }

 private:
  // Takes the group's current membership into account: partition p of a
  // topic goes to the (p mod n)-th live member subscribed to it, in join
  // order. Partitions kept keep their position; new ones start at the
  // group's committed offset, so an uncommitted message is redelivered.
  void refresh_locked() {
    if (group_.empty()) return;
    auto& g = core_->groups[group_];
    if (g.generation == generation_) return;

    std::vector<Position> next;
    for (const auto& topic : topics_) {
      std::vector<uint64_t> members;
      for (const auto& m : g.members)
        if (std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end()) members.push_back(m.id);
      const auto me = std::find(members.begin(), members.end(), id_);
      if (me == members.end()) continue;
      const auto index = static_cast<size_t>(me - members.begin());
      const auto& t = core_->topic_locked(topic);
      for (size_t p = 0; p < t.parts.size(); ++p) {
        if (p % members.size() != index) continue;
        const auto partition = static_cast<int32_t>(p);
        auto kept = std::find_if(assigned_.begin(), assigned_.end(),
                                 [&](const Position& x) { return x.topic == topic && x.partition == partition; });
        if (kept != assigned_.end()) {
          next.push_back(*kept);
          continue;
        }
        const auto& part = t.parts[p];
        int64_t start = part.low;
        if (auto c = core_->db.get(cf::bus_groups, group_key(group_, topic, partition)))
          start = std::clamp(static_cast<int64_t>(read_be64(*c)), part.low, part.high);
        next.push_back({topic, partition, start});
      }
    }
    assigned_ = std::move(next);
    cursor_ = 0;
    generation_ = g.generation;
  }

  std::shared_ptr<Core> core_;
  const std::string group_;
  const uint64_t id_;
  const std::vector<std::string> topics_;
  std::vector<Position> assigned_;
  uint64_t generation_ = 0;  // groups start at 1 once someone joins
  size_t cursor_ = 0;
  bool closed_ = false;
};

// Retention deletes old bus_log keys and raises a partition's `low`; readers
// skip to `low` and over holes. It runs on its own thread and holds the
// core's mutex only to read and raise the watermarks, never during I/O.
class EmbeddedLog final : public EmbeddedBus {
 public:
  EmbeddedLog(Db& db, const EmbeddedBusConfig& config) : core_(std::make_shared<Core>(db, config)) {
    core_->recover();
    core_->writer = std::thread([core = core_.get()] { core->run_writer(); });
    if (config.retention_interval.count() > 0) retainer_ = std::thread([this] { run_retention(); });
  }

  ~EmbeddedLog() override {
    {
      std::lock_guard lock(retention_wake_mu_);
      retention_stop_ = true;
    }
    retention_wake_.notify_all();
    if (retainer_.joinable()) retainer_.join();
    {
      std::lock_guard lock(core_->mu);
      core_->stopping = true;
    }
    core_->writer_cv.notify_all();
    core_->writer.join();
    std::lock_guard lock(core_->mu);
    core_->stopped = true;
    core_->data_cv.notify_all();
  }

  // `done` runs on the writer thread after the synced write: keep it short.
  void publish(const std::string& topic, std::string key, std::string value, PublishDone done) override {
    if (!valid_name(topic)) {
      done(Error(ErrorCode::internal_error, "Invalid topic name."));
      return;
    }
    const size_t bytes = topic.size() + key.size() + value.size() + sizeof(Pending);
    std::unique_lock lock(core_->mu);
    if (core_->stopping) {
      lock.unlock();
      done(Error(ErrorCode::service_unavailable, "The message bus is shut down."));
      return;
    }
    if (!core_->queue.empty() && core_->queue_bytes + bytes > max_pending_bytes) {
      lock.unlock();
      done(Error(ErrorCode::service_unavailable, "The message bus is overloaded."));
      return;
    }
    auto& t = core_->topic_locked(topic);
    const auto n = static_cast<uint32_t>(t.parts.size());
    // Kafka's rule (storage/partition_key.h); round-robin without a key.
    const uint32_t p =
        key.empty() ? t.round_robin++ % n : static_cast<uint32_t>(partition_for(key, static_cast<int32_t>(n)));
    core_->queue.push_back(
        Pending{topic, static_cast<int32_t>(p), std::move(key), std::move(value), core_->now_ms(), bytes, std::move(done)});
    core_->queue_bytes += bytes;
    lock.unlock();
    core_->writer_cv.notify_one();
  }

  std::unique_ptr<BusConsumer> subscribe(const std::string& group, const std::vector<std::string>& topics) override {
    if (!valid_name(group)) throw Error(ErrorCode::bad_request, "Invalid consumer group name.");
    std::vector<std::string> unique;
    for (const auto& t : topics) {
      if (!valid_name(t)) throw Error(ErrorCode::bad_request, "Invalid topic name.");
      if (std::find(unique.begin(), unique.end(), t) == unique.end()) unique.push_back(t);
    }
    std::lock_guard lock(core_->mu);
    if (core_->stopped) shut_down();
    for (const auto& t : unique) core_->topic_locked(t);
    const uint64_t id = core_->next_member_id++;
    auto& g = core_->groups[group];
    g.members.push_back({id, unique});
    ++g.generation;
    core_->data_cv.notify_all();  // other members pick up the new assignment
    return std::make_unique<Consumer>(core_, group, id, unique);
  }

  std::unique_ptr<BusConsumer> read(const std::string& topic, const StartAt& from) override {
    const auto parts = partitions_of(topic);
    std::vector<Position> positions;
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto partition = static_cast<int32_t>(i);
      const auto& part = parts[i];
      int64_t start = part.low;
      switch (from.kind) {
        case StartAt::Kind::beginning:
          break;
        case StartAt::Kind::end:
          start = part.high;
          break;
        case StartAt::Kind::offsets:
          if (auto it = from.offsets.find(partition); it != from.offsets.end())
            start = std::clamp(it->second, part.low, part.high);
          break;
        case StartAt::Kind::time:
          start = first_at_or_after(topic, partition, part, from.time_ms);
          break;
      }
      positions.push_back({topic, partition, start});
    }
    return std::make_unique<Consumer>(core_, "", 0, std::vector<std::string>{topic}, std::move(positions));
  }

  std::vector<PartitionState> describe(const std::string& topic, const std::string& group) override {
    const auto parts = partitions_of(topic);
    std::vector<PartitionState> out;
    for (size_t i = 0; i < parts.size(); ++i) {
      PartitionState s;
      s.partition = static_cast<int32_t>(i);
      s.low = parts[i].low;
      s.high = parts[i].high;
      if (!group.empty())
        if (auto c = core_->db.get(cf::bus_groups, group_key(group, topic, s.partition)))
          s.committed = static_cast<int64_t>(read_be64(*c));
      out.push_back(s);
    }
    return out;
  }

  std::string kind() const override { return "embedded"; }
  bool durable_in_order() const override { return true; }  // run_writer: one queue, in order

  RetentionReport apply_retention() override {
    std::lock_guard pass(retention_mu_);  // one pass at a time
    std::vector<std::pair<std::string, std::vector<PartitionLog>>> snapshot;
    {
      std::lock_guard lock(core_->mu);
      if (core_->stopped) shut_down();
      for (const auto& [name, t] : core_->topics)
        if (policy_of(name) != Policy::keep) snapshot.emplace_back(name, t.parts);
    }
    const auto committed = committed_floor();
    const int64_t now = core_->now_ms();
    RetentionReport report;
    for (const auto& [topic, parts] : snapshot) {
      for (size_t i = 0; i < parts.size(); ++i) {
        const auto partition = static_cast<int32_t>(i);
        const auto& part = parts[i];
        if (part.high - part.low <= 1) {
          report.kept += static_cast<uint64_t>(part.high - part.low);
          continue;
        }
        // Deletions stay below every group's committed offset and below the
        // last record, which carries the next offset across a restart.
        int64_t limit = part.high - 1;
        if (auto it = committed.find({topic, partition}); it != committed.end()) limit = std::min(limit, it->second);
        if (policy_of(topic) == Policy::trim)
          trim(topic, partition, part, limit, now, report);
        else
          compact(topic, partition, part, limit, now, report);
      }
    }
    if (report.removed > 0)
      spdlog::info("embedded bus retention: {} records removed, {} kept, {} held back for consumer groups",
                   report.removed, report.kept, report.held_back);
    return report;
  }

 private:
  // A copy of a topic's partition bounds (created on first use), taken under the lock.
  std::vector<PartitionLog> partitions_of(const std::string& topic) {
    if (!valid_name(topic)) throw Error(ErrorCode::bad_request, "Invalid topic name.");
    std::lock_guard lock(core_->mu);
    if (core_->stopped) shut_down();
    return core_->topic_locked(topic).parts;
  }

  void run_retention() {
    std::unique_lock lock(retention_wake_mu_);
    for (;;) {
      if (retention_wake_.wait_for(lock, core_->config.retention_interval, [&] { return retention_stop_; })) return;
      lock.unlock();
      try {
        apply_retention();
      } catch (const std::exception& e) {
        spdlog::warn("embedded bus retention failed: {}", e.what());
      }
      lock.lock();
    }
  }

  // The lowest committed offset of any consumer group, per topic and partition.
  std::map<std::pair<std::string, int32_t>, int64_t> committed_floor() {
    std::map<std::pair<std::string, int32_t>, int64_t> out;
    core_->db.scan(cf::bus_groups, "", [&](std::string_view k, std::string_view v) {
      std::string topic;
      int32_t partition = 0;
      if (!parse_group_key(k, topic, partition)) return true;
      const auto next = static_cast<int64_t>(read_be64(v));
      auto [it, fresh] = out.emplace(std::pair{topic, partition}, next);
      if (!fresh) it->second = std::min(it->second, next);
      return true;
    });
    return out;
  }

  // Delete policy: the oldest records go while they are older than the
  // retention time or the partition is over its byte budget.
  void trim(const std::string& topic, int32_t partition, const PartitionLog& part, int64_t limit, int64_t now,
            RetentionReport& report) {
    struct Entry {
      int64_t offset, timestamp_ms;
      uint64_t bytes;
    };
    std::vector<Entry> entries;
    uint64_t total = 0;
    core_->db.scan(
        cf::bus_log, log_prefix(topic, partition),
        [&](std::string_view k, std::string_view v) {
          const auto offset = offset_of(k);
          if (offset >= part.high) return false;
          BusMessage m;
          const int64_t ts = decode(v, m) ? m.timestamp_ms : 0;
          entries.push_back({offset, ts, k.size() + v.size()});
          total += k.size() + v.size();
          return true;
        },
        log_key(topic, partition, part.low));
    const auto& c = core_->config;
    int64_t new_low = part.low;
    for (const auto& e : entries) {
      const bool due = (c.retention_ms > 0 && e.timestamp_ms < now - c.retention_ms) ||
                       (c.retention_bytes > 0 && total > static_cast<uint64_t>(c.retention_bytes));
      if (!due) break;
      if (e.offset >= limit) {
        report.held_back += static_cast<uint64_t>(part.high - e.offset - 1);
        break;
      }
      total -= e.bytes;
      new_low = e.offset + 1;
      ++report.removed;
    }
    report.kept += entries.size() - static_cast<size_t>(std::count_if(entries.begin(), entries.end(),
                                                                       [&](const Entry& e) { return e.offset < new_low; }));
    if (new_low == part.low) return;
    raise_low(topic, partition, new_low);
    core_->db.remove_range(cf::bus_log, log_key(topic, partition, part.low), log_key(topic, partition, new_low));
    core_->db.compact_range(cf::bus_log, log_key(topic, partition, part.low), log_key(topic, partition, new_low));
  }

  // Compact policy (Kafka's log cleaner): the dirty part of the log - what
  // arrived since the last pass - says which record is the newest per key;
  // every older record of a key that has a newer `state` or `tombstone`
  // record goes. Everything below the clean point was already cleaned
  // against itself, so memory is bounded by the dirty part, not the log.
  void compact(const std::string& topic, int32_t partition, const PartitionLog& part, int64_t limit, int64_t now,
               RetentionReport& report) {
    const auto prefix = log_prefix(topic, partition);
    int64_t& clean = clean_points_[{topic, partition}];
    clean = std::max(clean, part.low);
    struct Newest {
      int64_t any = -1;       // newest record of the key
      int64_t replacing = -1; // newest state or tombstone record of the key
    };
    std::unordered_map<std::string, Newest> newest;
    // A tombstone of "id" also replaces the older records of "id#..." keys
    // (an image's variants event): nothing of a deleted key outlives it.
    std::unordered_map<std::string, int64_t> tombstones;
    core_->db.scan(
        cf::bus_log, prefix,
        [&](std::string_view k, std::string_view v) {
          const auto offset = offset_of(k);
          if (offset >= part.high) return false;
          BusMessage m;
          if (!decode(v, m)) return true;
          auto& n = newest[m.key];
          n.any = offset;
          const auto role = role_of(topic, m.value);
          if (role != Role::transient) n.replacing = offset;
          if (role == Role::tombstone) tombstones[m.key] = offset;
          return true;
        },
        log_key(topic, partition, clean));

    std::vector<WriteOp> batch;
    uint64_t kept = 0;
    int64_t first_kept = -1;
    const int64_t expired_before = now - core_->config.tombstone_ms;
    core_->db.scan(
        cf::bus_log, prefix,
        [&](std::string_view k, std::string_view v) {
          const auto offset = offset_of(k);
          if (offset >= part.high) return false;
          BusMessage m;
          bool remove = false;
          if (offset < limit && decode(v, m)) {
            const auto n = newest.find(m.key);
            const auto role = role_of(topic, m.value);
            if (role == Role::transient)
              remove = (n != newest.end() && n->second.any > offset) || m.timestamp_ms < expired_before;
            else
              remove = (n != newest.end() && n->second.replacing > offset) ||
                       (role == Role::tombstone && m.timestamp_ms < expired_before);
            if (const auto base = partition_part(m.key); base.size() < m.key.size()) {
              const auto t = tombstones.find(std::string(base));
              remove = remove || (t != tombstones.end() && t->second > offset);
            }
          } else if (offset >= limit && offset < part.high - 1) {
            ++report.held_back;
          }
          if (remove) {
            batch.push_back({WriteOp::Kind::remove, cf::bus_log, std::string(k), ""});
          } else {
            ++kept;
            if (first_kept < 0) first_kept = offset;
          }
          return true;
        },
        log_key(topic, partition, part.low));
    report.kept += kept;
    report.removed += batch.size();
    if (batch.empty()) {
      clean = limit;
      return;
    }
    if (first_kept > part.low) raise_low(topic, partition, first_kept);
    // Not synced: a record that comes back after a crash is removed again.
    for (size_t i = 0; i < batch.size(); i += 1024)
      core_->db.write(std::vector<WriteOp>(batch.begin() + static_cast<ptrdiff_t>(i),
                                           batch.begin() + static_cast<ptrdiff_t>(std::min(batch.size(), i + 1024))),
                      false);
    clean = limit;  // only once the deletions are written: a failed pass starts over
    core_->db.compact_range(cf::bus_log, log_key(topic, partition, part.low), log_key(topic, partition, part.high));
  }

  // Readers below the new low skip to it; raised before the keys go so no
  // reader is sent to a key being deleted.
  void raise_low(const std::string& topic, int32_t partition, int64_t low) {
    std::lock_guard lock(core_->mu);
    auto& p = core_->topics[topic].parts[static_cast<size_t>(partition)];
    p.low = std::max(p.low, low);
  }

  // A linear scan: timestamps are only roughly ordered within a partition and
  // a time-based replay is an operator action, not a hot path.
  int64_t first_at_or_after(const std::string& topic, int32_t partition, const PartitionLog& part, int64_t time_ms) {
    int64_t found = part.high;
    const auto prefix = log_prefix(topic, partition);
    core_->db.scan(
        cf::bus_log, prefix,
        [&](std::string_view k, std::string_view v) {
          const auto offset = static_cast<int64_t>(read_be64(k.substr(k.size() - 8)));
          if (offset >= part.high) return false;
          BusMessage m;
          if (decode(v, m) && m.timestamp_ms >= time_ms) {
            found = offset;
            return false;
          }
          return true;
        },
        log_key(topic, partition, part.low));
    return found;
  }

  std::shared_ptr<Core> core_;
  std::mutex retention_mu_;                                          // one pass at a time
  std::map<std::pair<std::string, int32_t>, int64_t> clean_points_;  // guarded by retention_mu_
  std::mutex retention_wake_mu_;
  std::condition_variable retention_wake_;
  bool retention_stop_ = false;
  std::thread retainer_;
};

}  // namespace

std::unique_ptr<EmbeddedBus> make_embedded_bus(Db& db, const EmbeddedBusConfig& config) {
  return std::make_unique<EmbeddedLog>(db, config);
}

}  // namespace imgpipe::storage
