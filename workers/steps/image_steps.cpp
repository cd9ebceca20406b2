// Steps that do image work: each holds an image slot so CPU-bound libvips
// work is bounded separately from jobs waiting on the network.
#include "schemas/errors.h"
#include "workers/steps/steps.h"

namespace imgpipe::workers::steps {
namespace {

class ImageSlot {
 public:
  ImageSlot(ImageSlots& s, ImageSlots::Priority p) : s_(s), p_(p) { s_.acquire(p); }
  ~ImageSlot() { s_.release(p_); }
  ImageSlot(const ImageSlot&) = delete;
  ImageSlot& operator=(const ImageSlot&) = delete;

 private:
  ImageSlots& s_;
  ImageSlots::Priority p_;
};

}  // namespace

void probe(JobContext& ctx) {
  ImageSlot slot(ctx.services.image_slots, ImageSlots::Priority::ready_path);
  ctx.probe = image::probe_file(ctx.source);
}

void normalise(JobContext& ctx) {
  ImageSlot slot(ctx.services.image_slots, ImageSlots::Priority::ready_path);
  ctx.normalised = image::normalise_file(ctx.source, *ctx.probe);
}

void derive_variants(JobContext& ctx) {
  if (!ctx.services.config.pregenerate_variants) return;
  auto& record = *ctx.record;
  auto source_format = image::format_from_name(record.format);
  if (!source_format) return;
  // Which variants and how each is made is the engine's variant policy: a
  // lost m or s made again here, or rendered on demand by a gateway, is the
  // same bytes (same sha256) as the first run's.
  std::vector<image::VariantRequest> wanted;
  std::vector<std::string_view> sizes;
  for (auto size : image::kVariantSizes) {
    for (auto format : image::pregenerated_formats(*source_format)) {
      bool have = false;
      for (const auto& v : record.variants)
        have |= v.size == size && v.format == image::name(format) && ctx.services.blobs.contains(v.blob);
      if (have) continue;
      wanted.push_back(*image::variant_request(size, format));
      sizes.push_back(size);
    }
  }
  if (wanted.empty()) return;
  // One output per slot: ready-path work that comes meanwhile shares the
  // cores with this one encode, not with the rest of the image, and the next
  // output waits while ready-path work waits. The renderer keeps the l
  // decode between outputs (one decode for all six, as in one call).
  image::VariantRenderer renderer(ctx.services.blobs.path_of(record.blob), *source_format);
  for (size_t i = 0; i < wanted.size(); ++i) {
    const auto out = [&] {
      ImageSlot slot(ctx.services.image_slots, ImageSlots::Priority::background);  // nobody waits for these
      return renderer.render(wanted[i]);
    }();
    schemas::VariantRecord v{std::string(sizes[i]), std::string(image::name(out.format)), out.size.width,
                             out.size.height, out.bytes.size(), ctx.services.blobs.put(out.bytes)};
    std::erase_if(record.variants, [&](const auto& x) { return x.size == v.size && x.format == v.format; });
    record.variants.push_back(std::move(v));
  }
  ctx.services.blobs.put_manifest(storage::BlobStore::manifest_of(record.id), schemas::encode_record(record));
}

}  // namespace imgpipe::workers::steps
