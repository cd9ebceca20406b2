#pragma once
// The image engine: every libvips call lives behind this header (which does
// not include libvips). The worker pipeline, on-demand rendering, the CLI and
// the tests call these few functions. All of them throw schemas::Error with
// invalid_image / image_too_large / unsupported_format / internal_error; a
// client never sees a libvips message.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workers/image/adjust.h"
#include "workers/image/fit.h"
#include "workers/image/format.h"
#include "workers/image/sizes.h"
#include "workers/image/variant_policy.h"

namespace imgpipe::workers::image {

struct EngineConfig {
  int vips_concurrency = 1;                // libvips worker threads per operation
  uint64_t max_pixels = 100'000'000;       // width * height * pages, decided from the header
  int max_pages = 200;                     // frames of an animation
  int jpeg_quality = 85;
  int webp_quality = 80;
  // AVIF: effort 2 and Q60 with 4:2:0 chroma match WebP Q80's SSIM at half
  // its bytes for WebP's CPU per megapixel (docs/performance.md, "AVIF").
  int avif_quality = 60;
  int avif_effort = 2;                     // libaom speed; libvips' default 4 costs 4-6x more CPU
  int heic_quality = 50;
  int original_jpeg_quality = 92;          // re-encoding the normalised original
  int original_webp_quality = 90;          // lossy WebP originals (lossless ones stay lossless)
  int original_heif_quality = 75;          // AVIF and HEIC originals
};

// Once per process, before any other call: vips_init, cache off, untrusted
// loaders blocked, every loader but jpeg/png/webp/gif/heif blocked,
// concurrency set, GLib log routed to spdlog. Later calls are ignored (with a
// warning). Every other function throws internal_error before it.
void init_engine(const EngineConfig& config);
const EngineConfig& engine_config();
// Per job thread, when it ends: frees libvips thread-local state.
void release_thread();

struct ProbeResult {
  Format format;
  Dimensions stored;     // as in the file
  Dimensions displayed;  // EXIF orientation applied
  int pages = 1;
  int orientation = 1;
};

// Reads the header only (no decode): format from magic bytes, dimensions,
// pixel and page limits, and a JPEG's scan count (at most 1000: a
// progressive "scan bomb" costs minutes of CPU for a few KB). Throws
// unsupported_format, image_too_large, invalid_image.
ProbeResult probe_file(const std::filesystem::path& path);

struct EncodedImage {
  std::string bytes;
  Format format;    // may differ from the one asked for: see normalise_file
  Dimensions size;  // of one frame
  int pages = 1;    // frames kept (animated GIF/WebP)
};

// Decodes fully (fail_on=error), applies the orientation, drops every
// metadata block but the ICC profile, re-encodes in the source format. An
// upright YCbCr or grey JPEG is not decoded to pixels: libjpeg rewrites its
// DCT coefficients (lossless), with the same metadata rule; a JPEG libjpeg
// warns about takes the full decode, so the same files are refused.
// Deterministic: the same input gives the same bytes. Animated GIF/WebP keep
// every frame. If libheif has no HEVC encoder, a HEIC original is re-encoded
// as AVIF and the result says so in `format`.
// Throws invalid_image for corrupt or truncated data.
EncodedImage normalise_file(const std::filesystem::path& path, const ProbeResult& probe);

struct VariantRequest {
  std::optional<int> short_edge;  // nullopt: full size
  Format format;
  // Set: `w`/`h`/`fit` or the social card (fit.h), short_edge unused. The
  // picture is cut or padded to its canvas, centred; padding is white.
  // Animations stay animated in GIF and WebP but for the card (first frame).
  std::optional<Fit> fit = std::nullopt;
  // Colour, blur and sharpening (adjust.h), on the picture after resizing
  // (not on a fit's padding), in 8-bit sRGB.
  Adjustments adjust = {};
};

// The request for a size named in a src URL: "s", "m", "l", "social", or
// "o" (full size, another format). Another name: nullopt.
std::optional<VariantRequest> variant_request(std::string_view size, Format format);

// Renders variants of one normalised image (already oriented and stripped),
// following the variant policy (variant_policy.h): each request is resampled
// from its anchor decode, requests sharing an anchor share one decode
// (shrink-on-load from the file), and the result for a request is the same
// bytes whatever else is asked in the same call - so the worker's batch and
// the gateway's single on-demand render agree byte for byte. Results are in
// request order; each has exactly variant_dimensions(source, short_edge).
// Animated sources stay animated in GIF and WebP outputs; other formats get
// the first frame.
std::vector<EncodedImage> render_variants(const std::filesystem::path& normalised, Format source_format,
                                          const std::vector<VariantRequest>& requests);

// One variant, for on-demand rendering: render_variants with one request.
EncodedImage render_variant(const std::filesystem::path& normalised, Format source_format, VariantRequest request);

// render_variants one request at a time, so a caller can let other work run
// between outputs (the worker takes its image slot per output). It keeps the
// anchor decode of the last request for the next one: l, m and s asked in
// turn share one decode, and each result is the same bytes render_variant
// gives. Between calls it holds that one anchor in memory (l's size: about
// 6 MB for a 16:9 photo; the whole image when its short edge is under
// 1080, at most --max-pixels x 4 bytes). Use on one thread.
class VariantRenderer {
 public:
  VariantRenderer(std::filesystem::path normalised, Format source_format);  // reads nothing yet
  ~VariantRenderer();
  VariantRenderer(const VariantRenderer&) = delete;
  VariantRenderer& operator=(const VariantRenderer&) = delete;

  EncodedImage render(const VariantRequest& request);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace imgpipe::workers::image
