#pragma once
// What a worker-only process (`imgpipe worker --metrics-listen HOST:PORT`)
// serves so a distributed install can be watched: GET /metrics (the same
// registry as the gateway's: jobs by type and outcome, time per step,
// failures by step and code, consumer lag, queue depths) and GET /healthz.
// Nothing else: no API, no admin routes.

#include "gateway/http/http_types.h"
#include "workers/ingest_pipeline.h"

namespace imgpipe::ops {

class WorkerStatusHandler : public gateway::Handler {
 public:
  // `pipeline` must outlive the handler.
  explicit WorkerStatusHandler(const workers::IngestPipeline& pipeline) : pipeline_(pipeline) {}
  gateway::BodyPlan plan_body(gateway::Request& head) override;
  void handle(gateway::Request&& request, gateway::Respond respond) override;

 private:
  const workers::IngestPipeline& pipeline_;
};

}  // namespace imgpipe::ops
