#pragma once
// The gateway role: the route table and thin handlers (parse, call a
// service, render). Transport-free: http_server.cpp drives it.

#include <atomic>
#include <memory>

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
  Gateway(GatewayConfig config, storage::Bus& bus, storage::ImageIndex& index, storage::BlobStore& blobs);
  ~Gateway() override;

  void start();  // follows the images topic
  void stop();

  BodyPlan plan_body(const Request& head) override;
  void handle(Request request, Respond respond) override;

  const GatewayConfig& config() const { return config_; }
  bool ready() const { return events_.caught_up(); }

 private:
  BodyPlan plan_upload(const Request& head);
  void handle_import(const Request& request, Respond respond);
  void handle_viewer(const Request& request, Respond respond);
  void submit(schemas::IngestJob job, Respond respond);
  schemas::IngestJob new_job(const Request& request, std::string type);

  GatewayConfig config_;
  storage::Bus& bus_;
  storage::ImageIndex& index_;
  storage::BlobStore& blobs_;
  ImageEventFollower events_;
  IngestClient ingest_;
  SrcService src_;
};

}  // namespace imgpipe::gateway
