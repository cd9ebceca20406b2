#pragma once
// Retention: the sweeper that deletes images past their expiry (a `deleted`
// event on the images topic), gives up on images left processing with no
// job (a `failed` event after --processing-timeout) and collects original
// and variant blobs no image references any more. Which images expire is the tiers' decision
// (accounts: expires_at on the job, permanence of verified keys); carrying
// it out is this module's.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/accounts/usage_ledger.h"
#include "gateway/gateway_config.h"
#include "storage/blob_store.h"
#include "storage/bus.h"
#include "storage/image_index.h"

namespace imgpipe::gateway {

class Retention {
 public:
  // `ready`: the account store and the image index have caught up (a sweep
  // from a stale view could delete an image a later event made permanent).
  // `is_permanent`: a verified key's images never expire.
  // Intervals: GatewayConfig::sweep_interval_seconds, processing_timeout_seconds, blob_grace_seconds.
  Retention(const GatewayConfig& gateway, storage::Bus& bus, storage::ImageIndex& index,
            storage::BlobStore& blobs, accounts::UsageLedger& ledger, std::function<bool()> ready,
            std::function<bool(const std::string& owner)> is_permanent);
  ~Retention();

  void start();  // the sweeper thread: sweep() every interval once ready
  void stop();
  // One sweep now (the thread calls it every interval).
  void sweep();

 private:
  void run();
  void give_up_processing(int64_t now);

  const GatewayConfig& gateway_;
  storage::Bus& bus_;
  storage::ImageIndex& index_;
  storage::BlobStore& blobs_;
  accounts::UsageLedger& ledger_;
  std::function<bool()> ready_;
  std::function<bool(const std::string&)> is_permanent_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool running_ = false;
};

}  // namespace imgpipe::gateway
