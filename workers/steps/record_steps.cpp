// Steps that make results durable and announce them.
#include <chrono>
#include <system_error>

#include "schemas/errors.h"
#include "workers/steps/steps.h"

namespace imgpipe::workers::steps {
namespace {

std::chrono::milliseconds time_left(const JobContext& ctx) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1000));
}

void publish_event(JobContext& ctx, const char* type) {
  schemas::ImageEvent event{type, ctx.job.image_id, ctx.job.request_id, ctx.record, std::nullopt};
  ctx.services.bus.publish_sync(storage::topics::images, ctx.job.image_id, schemas::encode(event), time_left(ctx));
}

}  // namespace

void store_original(JobContext& ctx) {
  const auto& img = *ctx.normalised;
  schemas::ImageRecord record;
  record.id = ctx.job.image_id;
  record.name = ctx.job.name;
  record.owner = ctx.job.owner;
  record.ns = ctx.job.ns;
  record.tags = ctx.job.tags;
  record.format = std::string(image::name(img.format));
  record.width = img.size.width;
  record.height = img.size.height;
  record.filesize = img.bytes.size();
  record.blob = ctx.services.blobs.put(img.bytes);
  record.created_at = ctx.job.created_at;
  record.expires_at = ctx.job.expires_at;
  record.caption = ctx.job.caption;
  record.labels = ctx.job.labels;
  record.metadata = ctx.job.metadata;
  record.is_public = ctx.job.is_public;
  record.created_ms = ctx.job.created_ms;
  record.request_hash = ctx.job.request_hash;
  ctx.services.blobs.put_manifest(manifest_name(record.id), schemas::encode_record(record));
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
