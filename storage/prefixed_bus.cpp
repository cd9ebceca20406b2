#include "storage/prefixed_bus.h"

namespace imgpipe::storage {
namespace {

class PrefixedConsumer final : public BusConsumer {
 public:
  PrefixedConsumer(std::unique_ptr<BusConsumer> inner, const std::string& prefix)
      : inner_(std::move(inner)), prefix_(prefix) {}

  std::optional<BusMessage> poll(std::chrono::milliseconds timeout) override {
    auto m = inner_->poll(timeout);
    if (m && m->topic.rfind(prefix_, 0) == 0) m->topic.erase(0, prefix_.size());
    return m;
  }
  void commit(const std::string& topic, int32_t partition, int64_t next_offset) override {
    inner_->commit(prefix_ + topic, partition, next_offset);
  }
  std::vector<int32_t> assignment(const std::string& topic) override { return inner_->assignment(prefix_ + topic); }
  void close() override { inner_->close(); }

 private:
  std::unique_ptr<BusConsumer> inner_;
  const std::string prefix_;
};

class PrefixedBus final : public Bus {
 public:
  PrefixedBus(std::unique_ptr<Bus> inner, std::string prefix) : inner_(std::move(inner)), prefix_(std::move(prefix)) {}

  void publish(const std::string& topic, std::string key, std::string value, PublishDone done) override {
    inner_->publish(prefix_ + topic, std::move(key), std::move(value), std::move(done));
  }
  std::unique_ptr<BusConsumer> subscribe(const std::string& group, const std::vector<std::string>& topics) override {
    std::vector<std::string> wire;
    for (const auto& t : topics) wire.push_back(prefix_ + t);
    // Groups too: two installations must not share (and rebalance) one group.
    return std::make_unique<PrefixedConsumer>(inner_->subscribe(prefix_ + group, wire), prefix_);
  }
  std::unique_ptr<BusConsumer> read(const std::string& topic, const StartAt& from) override {
    return std::make_unique<PrefixedConsumer>(inner_->read(prefix_ + topic, from), prefix_);
  }
  std::vector<PartitionState> describe(const std::string& topic, const std::string& group) override {
    return inner_->describe(prefix_ + topic, group.empty() ? group : prefix_ + group);
  }
  std::string kind() const override { return inner_->kind(); }
  bool durable_in_order() const override { return inner_->durable_in_order(); }

 private:
  std::unique_ptr<Bus> inner_;
  const std::string prefix_;
};

}  // namespace

std::unique_ptr<Bus> make_prefixed_bus(std::unique_ptr<Bus> inner, std::string prefix) {
  if (prefix.empty()) return inner;
  return std::make_unique<PrefixedBus>(std::move(inner), std::move(prefix));
}

}  // namespace imgpipe::storage
