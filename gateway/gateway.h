#pragma once
// The gateway role, assembled: the services (image index follower, ingest
// client, src serving, the image catalog, retention) and the router over
// the route table (gateway/routes/). Transport-free: http_server.cpp
// drives it through the Handler interface.

#include <memory>

#include "gateway/accounts/accounts_service.h"
#include "gateway/gateway_config.h"
#include "gateway/http/http_server.h"
#include "gateway/image_catalog.h"
#include "gateway/image_events.h"
#include "gateway/ingest_client.h"
#include "gateway/retention.h"
#include "gateway/routes/router.h"
#include "gateway/src_service.h"
#include "storage/blob_store.h"
#include "storage/bus.h"
#include "storage/image_index.h"
#include "workers/task_pool.h"

namespace imgpipe::gateway {

class Gateway : public Handler {
 public:
  Gateway(GatewayConfig config, storage::Bus& bus, storage::ImageIndex& index, storage::BlobStore& blobs,
          accounts::AccountsService& accounts);
  ~Gateway() override;

  void start();  // follows the accounts and images topics, starts the retention sweeper
  void stop();

  BodyPlan plan_body(Request& head) override { return router_.plan_body(head); }
  void handle(Request&& request, Respond respond) override { router_.handle(std::move(request), std::move(respond)); }
  Response error_answer(const Request& head, const schemas::Error& e) override { return router_.error_answer(head, e); }
  // HttpServerConfig::on_response: the HTTP metrics, labelled by route.
  void observe(const AccessRecord& record) { router_.observe(record); }

  const GatewayConfig& config() const { return config_; }
  bool ready() const { return events_.caught_up(); }
  size_t pending_ingests() const { return ingest_.pending(); }  // uploads waiting for their worker (/metrics)
  routes::Services& services() { return services_; }
  routes::Router& router() { return router_; }
  Retention& retention() { return retention_; }
  // Shutdown: uploads and imports still waiting for their worker at `until`
  // get 503 with Retry-After then (their jobs stay queued and run later).
  void drain_by(std::chrono::steady_clock::time_point until) { events_.cap_deadlines(until); }

 private:
  GatewayConfig config_;
  accounts::AccountsService& accounts_;
  ImageEventFollower events_;
  IngestClient ingest_;
  SrcService src_;
  ImageCatalog images_;
  IdempotentCreates idempotency_;
  // MCP messages (up to a tier's file limit in base64: ~0.4 s to parse,
  // decode and stage 28 MB) run here, not on the I/O loop every other
  // connection of that loop waits on; a full queue answers 503.
  workers::TaskPool calls_{"mcp", 2, 16};
  Retention retention_;
  routes::Services services_;
  routes::Router router_;
};

}  // namespace imgpipe::gateway
