#pragma once
// The gateway role: the route table and thin handlers (parse, call a
// service, render). Transport-free: http_server.cpp drives it.

#include <atomic>
#include <memory>

#include "gateway/accounts/accounts_service.h"
#include "gateway/gateway_config.h"
#include "gateway/http/http_types.h"
#include "gateway/image_events.h"
#include "gateway/ingest_client.h"
#include "gateway/src_service.h"
#include "storage/blob_store.h"
#include "storage/bus.h"
#include "storage/image_index.h"

namespace imgpipe::gateway {

class Gateway : public Handler {
 public:
  // Without `accounts` only anonymous callers are served, with no rate limits.
  Gateway(GatewayConfig config, storage::Bus& bus, storage::ImageIndex& index, storage::BlobStore& blobs,
          accounts::AccountsService* accounts = nullptr);
  ~Gateway() override;

  void start();  // follows the images topic
  void stop();

  BodyPlan plan_body(const Request& head) override;
  void handle(Request request, Respond respond) override;

  const GatewayConfig& config() const { return config_; }
  bool ready() const { return events_.caught_up(); }
  size_t pending_ingests() const { return ingest_.pending(); }  // uploads waiting for their worker (/metrics)
  // Shutdown: uploads and imports still waiting for their worker at `until`
  // get 503 with Retry-After then (their jobs stay queued and run later).
  void drain_by(std::chrono::steady_clock::time_point until) { events_.cap_deadlines(until); }

 private:
  BodyPlan plan_upload(const Request& head);
  void handle_import(const Request& request, Respond respond);
  void handle_viewer(const Request& request, Respond respond);
  void submit(schemas::IngestJob job, Respond respond, std::shared_ptr<accounts::Admission> admission = nullptr);
  // Who the job belongs to and its tier: owner, expiry, byte limit, tags, namespace.
  void bind_caller(schemas::IngestJob& job, const accounts::Admission& admission, const std::string& tags,
                   const std::string& ns);
  schemas::IngestJob new_job(const Request& request, std::string type);

  GatewayConfig config_;
  storage::Bus& bus_;
  storage::ImageIndex& index_;
  storage::BlobStore& blobs_;
  ImageEventFollower events_;
  IngestClient ingest_;
  SrcService src_;
  accounts::AccountsService* accounts_ = nullptr;
};

}  // namespace imgpipe::gateway
