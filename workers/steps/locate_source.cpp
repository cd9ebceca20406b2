// Steps that find the bytes to work on: an earlier run's result, an upload's
// staged file, or an import's URL.
#include <fstream>

#include "schemas/errors.h"
#include "workers/fetch/url_fetcher.h"
#include "workers/image/format.h"
#include "workers/steps/steps.h"

namespace imgpipe::workers::steps {

using schemas::Error;
using schemas::ErrorCode;

void resume_if_done(JobContext& ctx) {
  auto manifest = ctx.services.blobs.get_manifest(storage::BlobStore::manifest_of(ctx.job.image_id));
  if (!manifest) return;
  auto record = schemas::decode_record(*manifest);
  if (!ctx.services.blobs.contains(record.blob)) return;  // lost blob: redo it from the source
  ctx.record = std::move(record);
  ctx.replayed = true;
  // A staged upload left by the crashed run is removed after `ready`.
  if (ctx.job.type == "upload" && !ctx.job.staged_path.empty()) {
    ctx.source = ctx.services.blobs.staging_dir() / std::filesystem::path(ctx.job.staged_path).filename();
    ctx.source_is_temporary = true;
  }
}

void locate_upload(JobContext& ctx) {
  auto name = std::filesystem::path(ctx.job.staged_path).filename();
  if (name.empty() || name != std::filesystem::path(ctx.job.staged_path))
    throw Error(ErrorCode::bad_request, "The staged file name is not a plain file name.");
  ctx.source = ctx.services.blobs.staging_dir() / name;
  ctx.source_is_temporary = true;
  ctx.services.blobs.fetch_staged(name.string());  // from the remote store, staged by another machine
  std::ifstream in(ctx.source, std::ios::binary);
  if (!in) throw Error(ErrorCode::invalid_image, "The uploaded file is no longer staged; upload it again.");
  storage::Sha256 hash;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) hash.update(buffer, static_cast<size_t>(in.gcount()));
  if (hash.hex() != ctx.job.sha256)
    throw Error(ErrorCode::invalid_image, "The staged file does not match its checksum; upload it again.");
}

void fetch(JobContext& ctx) {
  ctx.source = ctx.services.blobs.staging_dir() / (ctx.job.image_id + ".import");
  ctx.source_is_temporary = true;
  uint64_t limit = ctx.job.max_bytes ? ctx.job.max_bytes : ctx.services.config.default_max_bytes;
  fetch::fetch_to_file(ctx.job.url, ctx.source, limit, ctx.services.config.fetch);
  // The type is decided from the bytes, never from Content-Type.
  std::ifstream in(ctx.source, std::ios::binary);
  std::array<uint8_t, 64> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  if (!image::sniff(std::span<const uint8_t>(head.data(), static_cast<size_t>(in.gcount()))))
    throw Error(ErrorCode::unsupported_format);
}

}  // namespace imgpipe::workers::steps
