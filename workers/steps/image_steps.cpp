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

// Variants come in the source format (or JPEG where browsers cannot show it) and WebP.
std::vector<image::Format> variant_formats(image::Format source) {
  image::Format first = source == image::Format::heic ? image::Format::jpeg : source;
  if (first == image::Format::webp) return {first};
  return {first, image::Format::webp};
}

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
  std::vector<image::VariantRequest> wanted;
  std::vector<std::string> sizes;
  for (const char* size : {"l", "m", "s"}) {
    for (auto format : variant_formats(*source_format)) {
      bool have = false;
      for (const auto& v : record.variants)
        have |= v.size == size && v.format == image::name(format) && ctx.services.blobs.contains(v.blob);
      if (have) continue;
      wanted.push_back({image::short_edge_for(size), format});
      sizes.emplace_back(size);
    }
  }
  if (wanted.empty()) return;
  // Every variant is resampled from one decode at the largest size asked for
  // (render_variants). A lost m or s made again from the source directly
  // would differ from its first rendering: decode at the l size as the first
  // run did, so a regenerated variant is byte-identical (same sha256).
  const bool anchored = sizes.front() != "l";
  if (anchored) {
    wanted.insert(wanted.begin(), {image::short_edge_for("l"), variant_formats(*source_format).front()});
    sizes.insert(sizes.begin(), "l");
  }
  std::vector<image::EncodedImage> rendered;
  {
    ImageSlot slot(ctx.services.image_slots, ImageSlots::Priority::background);  // nobody waits for these
    rendered = image::render_variants(ctx.services.blobs.path_of(record.blob), *source_format, wanted);
  }
  for (size_t i = anchored ? 1 : 0; i < rendered.size(); ++i) {  // the anchor is stored already
    auto& out = rendered[i];
    schemas::VariantRecord v{sizes[i], std::string(image::name(out.format)), out.size.width, out.size.height,
                             out.bytes.size(), ctx.services.blobs.put(out.bytes)};
    std::erase_if(record.variants, [&](const auto& x) { return x.size == v.size && x.format == v.format; });
    record.variants.push_back(std::move(v));
  }
  ctx.services.blobs.put_manifest(manifest_name(record.id), schemas::encode_record(record));
}

}  // namespace imgpipe::workers::steps
