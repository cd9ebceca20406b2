#pragma once
// Submits ingest jobs and waits, with a deadline, for their outcome on the
// images topic. Nothing here blocks: the answer comes through a callback.

#include <atomic>
#include <chrono>
#include <functional>
#include <variant>

#include "gateway/gateway_config.h"
#include "gateway/image_events.h"
#include "schemas/errors.h"
#include "schemas/messages.h"
#include "storage/bus.h"

namespace imgpipe::gateway {

using IngestOutcome = std::variant<schemas::ImageRecord, schemas::Error>;

class IngestClient {
 public:
  IngestClient(const GatewayConfig& config, storage::Bus& bus, ImageEventFollower& events);

  // Publishes `job` and calls `done` once: the `ready` record, or the error
  // (the job's own failure, 503 when the bus refused it or no worker answered
  // in time, 503 when too many jobs are already waiting).
  void submit(const schemas::IngestJob& job, std::function<void(IngestOutcome)> done);
  size_t pending() const { return pending_; }

 private:
  const GatewayConfig& config_;
  storage::Bus& bus_;
  ImageEventFollower& events_;
  std::atomic<size_t> pending_{0};
};

}  // namespace imgpipe::gateway
