// Steps that make results durable and announce them.
#include <chrono>
#include <system_error>

#include "schemas/errors.h"
#include "schemas/log.h"
#include "workers/steps/steps.h"

namespace imgpipe::workers::steps {
namespace {

std::chrono::milliseconds time_left(const JobContext& ctx) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1000));
}

void publish_event(JobContext& ctx, const char* type) {
  schemas::ImageEvent event{type, ctx.job.image_id, ctx.job.request_id, ctx.record, std::nullopt};
  ctx.services.bus.publish_sync(storage::topics::images, schemas::event_key(event), schemas::encode(event),
                                time_left(ctx));
}

}  // namespace

void announce_accepted(JobContext& ctx) {
  // A gateway's job (reply_to set) was announced by the gateway before it
  // was queued (gateway/ingest_client.cpp); a bulk producer's was not.
  if (!ctx.job.reply_to.empty()) return;
  // Not waited for: `ready` follows on the same key from the same producer,
  // in order; the index applies it only to an image it has no record of
  // (storage/image_index.cpp).
  schemas::ImageEvent event{"accepted", ctx.job.image_id, ctx.job.request_id,
                            schemas::record_of(ctx.job, schemas::kProcessing), std::nullopt};
  ctx.services.bus.publish(storage::topics::images, schemas::event_key(event), schemas::encode(event),
                           [id = ctx.job.image_id](std::optional<schemas::Error> err) {
                             if (err) log::warn("accepted_not_published", {{"image_id", id}, {"error", err->what()}});
                           });
}

void store_original(JobContext& ctx) {
  const auto& img = *ctx.normalised;
  schemas::ImageRecord record = schemas::record_of(ctx.job, schemas::kReady);
  record.format = std::string(image::name(img.format));
  record.width = img.size.width;
  record.height = img.size.height;
  record.filesize = img.bytes.size();
  record.blob = ctx.services.blobs.put(img.bytes);
  ctx.services.blobs.put_manifest(storage::BlobStore::manifest_of(record.id), schemas::encode_record(record));
  ctx.record = std::move(record);
  ctx.normalised.reset();  // free the encoded bytes before variants
}

void announce_ready(JobContext& ctx) {
  publish_event(ctx, "ready");
  if (!ctx.source_is_temporary) return;
  try {
    ctx.services.blobs.remove_staged(ctx.source.filename().string());
  } catch (const std::exception&) {
    // The image is ready; a staged object the store did not delete now is
    // left to its lifecycle rule (docs/s3.md).
  }
}

void announce_variants(JobContext& ctx) {
  if (!ctx.record->variants.empty()) publish_event(ctx, "variants");
}

}  // namespace imgpipe::workers::steps
