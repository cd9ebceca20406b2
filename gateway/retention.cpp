#include "gateway/retention.h"

#include "schemas/log.h"

namespace imgpipe::gateway {

using namespace std::chrono_literals;

Retention::Retention(const GatewayConfig& gateway, storage::Bus& bus,
                     storage::ImageIndex& index, storage::BlobStore& blobs, accounts::UsageLedger& ledger,
                     std::function<bool()> ready, std::function<bool(const std::string&)> is_permanent)
    : gateway_(gateway),
      bus_(bus),
      index_(index),
      blobs_(blobs),
      ledger_(ledger),
      ready_(std::move(ready)),
      is_permanent_(std::move(is_permanent)) {}

Retention::~Retention() { stop(); }

void Retention::start() {
  std::lock_guard lock(mutex_);
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void Retention::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    running_ = false;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Retention::sweep() {
  int64_t now = gateway_.clock->now();
  for (;;) {
    auto ids = index_.expired(now, 100);
    if (ids.empty()) break;
    for (const auto& id : ids) {
      schemas::ImageEvent event;
      event.image_id = id;
      auto record = index_.get(id);
      if (record && record->ready() && is_permanent_(record->owner)) {
        // Verified after this event was written: make it permanent instead.
        // (An image still processing at its expiry is given up: deleted.)
        record->expires_at = 0;
        event.type = "updated";
        event.image = *record;
      } else {
        event.type = "deleted";
        log::info("image_expired", {{"image_id", id}});
      }
      bus_.publish_sync(storage::topics::images, schemas::event_key(event), schemas::encode(event), 10s);
    }
    // Wait until our own index applied them, or the next tick does it.
    bool applied = false;
    for (int i = 0; i < 50 && !applied; ++i) {
      // One read: the index applies events on its own thread, so a second
      // read could find the list emptied since the first.
      const auto next = index_.expired(now, 1);
      applied = next.empty() || next.front() != ids.front();
      if (!applied) std::this_thread::sleep_for(100ms);
    }
    if (!applied) break;
  }
  give_up_processing(now);
  ledger_.collect_orphans(blobs_, gateway_.blob_grace_seconds);
}

// An image stays processing until its job's ready or failed event. A gateway
// that died, or lost the bus, between publishing `accepted` and the job (or
// the `failed` that a refused job gets) leaves it so for good: after
// --processing-timeout it is announced failed. A job that still finishes
// later wins: ready always overrides failed (storage/image_index.cpp). Every
// gateway may announce the same one; a second failed event changes nothing.
void Retention::give_up_processing(int64_t now) {
  for (const auto& id : index_.processing_before(now - gateway_.processing_timeout_seconds, 100)) {
    auto record = index_.get(id);
    if (!record || record->status != schemas::kProcessing) continue;
    record->status = schemas::kFailed;
    schemas::ImageEvent event{"failed", id, "", std::move(record),
                              schemas::ErrorDetail{"processing_timeout",
                                                   "No worker finished this image; upload or import it again.",
                                                   "accept"}};
    log::warn("processing_given_up", {{"image_id", id}, {"after_seconds", gateway_.processing_timeout_seconds}});
    bus_.publish_sync(storage::topics::images, schemas::event_key(event), schemas::encode(event), 10s);
  }
}

void Retention::run() {
  std::unique_lock lock(mutex_);
  while (running_) {
    wake_.wait_for(lock, std::chrono::seconds(gateway_.sweep_interval_seconds), [this] { return !running_; });
    if (!running_) break;
    lock.unlock();
    try {
      if (ready_()) sweep();
    } catch (const std::exception& e) {
      log::warn("sweep_failed", {{"error", e.what()}});
    }
    lock.lock();
  }
}

}  // namespace imgpipe::gateway
