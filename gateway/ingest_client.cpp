#include "gateway/ingest_client.h"

#include <memory>

#include "schemas/log.h"

namespace imgpipe::gateway {
namespace {

using schemas::Error;
using schemas::ErrorCode;

}  // namespace

IngestClient::IngestClient(const GatewayConfig& config, storage::Bus& bus, ImageEventFollower& events)
    : config_(config), bus_(bus), events_(events) {}

void IngestClient::submit(const schemas::IngestJob& job, std::function<void(IngestOutcome)> done) {
  if (pending_ >= config_.max_pending_ingests) {
    Error busy(ErrorCode::service_unavailable, "Too many uploads are waiting to be processed.");
    busy.retry_after_seconds = 5;
    return done(busy);
  }
  ++pending_;
  // Both the bus acknowledgement and the outcome may fail; answer once.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto answer = [this, answered, done](IngestOutcome outcome) {
    if (answered->exchange(true)) return;
    --pending_;
    done(std::move(outcome));
  };
  auto deadline = std::chrono::steady_clock::now() + config_.ingest_timeout;
  events_.await(job.image_id, deadline, [answer, id = job.image_id](std::optional<schemas::ImageEvent> event) {
    if (!event) {
      Error late(ErrorCode::processing_timeout);
      late.retry_after_seconds = 5;
      log::warn("ingest_timeout", {{"image_id", id}});
      return answer(late);
    }
    if (event->type == "failed") return answer(schemas::error_from_code(event->error->code, event->error->message));
    answer(*event->image);
  });
  // `accepted` first, the job once it is durable: another client lists the
  // image as processing from now on, and no accepted event can land after
  // the worker's ready (a ready image never turns processing on the
  // compacted topic). A job the bus refused leaves the image failed. On a
  // bus that makes publishes durable in order (embedded), the job follows
  // at once and both share one sync.
  auto unavailable = [answer] {
    Error down(ErrorCode::service_unavailable, "The job queue is unavailable; try again shortly.");
    down.retry_after_seconds = 5;
    answer(down);
  };
  auto publish_job = [this, job, unavailable] {
    bus_.publish(storage::topics::ingest, job.image_id, schemas::encode(job),
                 [this, job, unavailable](std::optional<Error> refused) {
                   if (!refused) return;
                   schemas::ImageEvent failed{"failed", job.image_id, job.request_id,
                                              schemas::record_of(job, schemas::kFailed),
                                              schemas::ErrorDetail{"service_unavailable", refused->what(), "publish"}};
                   auto key = schemas::event_key(failed);
                   bus_.publish(storage::topics::images, std::move(key), schemas::encode(failed),
                                [](std::optional<Error>) {});  // best effort
                   unavailable();
                 });
  };
  const bool in_order = bus_.durable_in_order();
  schemas::ImageEvent accepted{"accepted", job.image_id, job.request_id, schemas::record_of(job, schemas::kProcessing),
                               std::nullopt};
  bus_.publish(storage::topics::images, schemas::event_key(accepted), schemas::encode(accepted),
               [in_order, publish_job, unavailable](std::optional<Error> err) {
                 if (in_order) return;  // the job is on its way: its own outcome answers
                 if (err) return unavailable();
                 publish_job();
               });
  if (in_order) publish_job();
}

}  // namespace imgpipe::gateway
