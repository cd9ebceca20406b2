// The one module that calls libvips. Every libvips failure is translated
// into schemas::Error here; the libvips message goes to the log only.

#include "workers/image/engine.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>
#include <vips/vips8>

#include "schemas/errors.h"
#include "workers/image/container_edit.h"
#include "workers/image/gif_rewrite.h"
#include "workers/image/glib_log.h"
#include "workers/image/jpeg_rewrite.h"

namespace imgpipe::workers::image {
namespace {

using schemas::Error;
using schemas::ErrorCode;
using vips::VError;
using vips::VImage;

EngineConfig g_config;
std::once_flag g_init_once;
std::atomic<bool> g_ready{false};

// Loaders we accept. Everything else under VipsForeignLoad stays blocked, so
// neither a crafted file nor thumbnail()'s loader search can reach the SVG,
// PDF, TIFF, magick, matrix ... parsers.
constexpr std::array<const char*, 5> kAllowedLoaders{
    "VipsForeignLoadJpeg", "VipsForeignLoadPng", "VipsForeignLoadWebp", "VipsForeignLoadNsgif",
    "VipsForeignLoadHeif"};

constexpr std::string_view kUnsupported = "The file is not a JPEG, PNG, WebP, GIF, AVIF or HEIC image.";
constexpr std::string_view kBadHeader = "The image header could not be read; the file is corrupt.";
constexpr std::string_view kBadData = "The image data is corrupt or truncated.";
constexpr std::string_view kEncodeFailed = "The image could not be encoded.";
constexpr std::string_view kRenderFailed = "The image variant could not be rendered.";

void do_init(const EngineConfig& config) {
  route_glib_log();  // first: VIPS_INIT itself may warn
  if (VIPS_INIT("imgpipe") != 0) {
    spdlog::critical("libvips failed to start: {}", vips_error_buffer());
    throw Error(ErrorCode::internal_error, "The image engine could not start.");
  }

  // Results are never reused across jobs; caching only holds memory.
  vips_cache_set_max(0);
  vips_cache_set_max_mem(0);
  vips_cache_set_max_files(0);
  vips_concurrency_set(config.vips_concurrency);
  vips_block_untrusted_set(TRUE);
  vips_operation_block_set("VipsForeignLoad", TRUE);
  for (const char* loader : kAllowedLoaders) vips_operation_block_set(loader, FALSE);

  g_config = config;
  g_ready.store(true, std::memory_order_release);
  spdlog::info("image engine: libvips {}, concurrency {}, max {} pixels, {} pages", vips_version_string(),
               vips_concurrency_get(), config.max_pixels, config.max_pages);
}

// Brackets one public call: the engine must be up, and the per-thread vips
// error buffer starts and ends empty so one job never sees another's errors.
class VipsCall {
 public:
  VipsCall() {
    if (!g_ready.load(std::memory_order_acquire))
      throw Error(ErrorCode::internal_error, "The image engine is not initialised.");
    vips_error_clear();
  }
  ~VipsCall() { vips_error_clear(); }
  VipsCall(const VipsCall&) = delete;
  VipsCall& operator=(const VipsCall&) = delete;
};

// Runs `f`, turning any libvips (or container-edit) failure into `code` with
// a public message; the library's own message is logged, never returned.
template <class F>
auto guarded(ErrorCode code, std::string_view public_message, F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const VError& e) {
    spdlog::debug("libvips: {}", e.what());
  } catch (const std::invalid_argument& e) {
    spdlog::warn("image container: {}", e.what());
  }
  vips_error_clear();
  throw Error(code, std::string(public_message));
}

std::vector<uint8_t> read_head(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    spdlog::error("image engine: cannot open {}", path.string());
    throw Error(ErrorCode::internal_error, "The image file could not be read.");
  }
  std::vector<uint8_t> head(512);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

Format sniff_file(const std::filesystem::path& path) {
  const auto head = read_head(path);
  const auto format = sniff(head);
  if (!format) throw Error(ErrorCode::unsupported_format, std::string(kUnsupported));
  return *format;
}

bool may_animate(Format f) { return f == Format::gif || f == Format::webp; }

// The loader is chosen from the sniffed bytes, never from the name or by
// libvips' own search.
VImage load(const std::filesystem::path& path, Format f, vips::VOption* options) {
  const char* file = path.c_str();
  switch (f) {
    case Format::jpeg: return VImage::jpegload(file, options);
    case Format::png: return VImage::pngload(file, options);
    case Format::webp: return VImage::webpload(file, options);
    case Format::gif: return VImage::gifload(file, options);
    case Format::avif:
    case Format::heic: return VImage::heifload(file, options);
  }
  throw Error(ErrorCode::internal_error, std::string(kUnsupported));
}

// Decodes into memory. libvips 8.14.1's heifload attaches the ICC profile
// without copying it out of libheif's image handle; once the loader is freed
// (and with the cache off that is as soon as the pipeline goes) the profile
// bytes are freed memory. So the profile is copied while the lazy pipeline,
// and with it the loader, is still alive.
VImage materialise(const VImage& lazy) {
  VImage mem = lazy.copy_memory().copy();
  if (lazy.get_typeof(VIPS_META_ICC_NAME) != 0) {
    size_t length = 0;
    const void* data = lazy.get_blob(VIPS_META_ICC_NAME, &length);
    vips_image_set_blob_copy(mem.get_image(), VIPS_META_ICC_NAME, data, length);
  }
  return mem;
}

int page_height(const VImage& img) { return vips_image_get_page_height(img.get_image()); }
int page_count(const VImage& img) { return img.height() / page_height(img); }
Dimensions frame_size(const VImage& img) { return {img.width(), page_height(img)}; }

int orientation_of(const VImage& img) {
  if (img.get_typeof(VIPS_META_ORIENTATION) == 0) return 1;
  const int o = img.get_int(VIPS_META_ORIENTATION);
  return o >= 1 && o <= 8 ? o : 1;
}

// Frame `i` of a toilet-roll image, as a standalone single-page image.
VImage frame(const VImage& img, int i) {
  const int ph = page_height(img);
  VImage f = img.crop(0, i * ph, img.width(), ph).copy();
  f.remove(VIPS_META_PAGE_HEIGHT);
  return f;
}

VImage join_frames(const std::vector<VImage>& frames) {
  if (frames.size() == 1) return frames.front();
  VImage out = VImage::arrayjoin(frames, VImage::option()->set("across", 1)).copy();
  out.set(VIPS_META_PAGE_HEIGHT, frames.front().height());
  return out;
}

// Applies the EXIF orientation frame by frame (vips_autorot would rotate a
// whole animation strip as one image) and drops the tag.
VImage orient(const VImage& img) {
  if (orientation_of(img) == 1) return img;
  const int pages = page_count(img);
  if (pages == 1) return img.autorot();
  std::vector<VImage> frames;
  frames.reserve(static_cast<size_t>(pages));
  for (int i = 0; i < pages; ++i) frames.push_back(frame(img, i).autorot());
  return join_frames(frames);
}

// Resamples one frame to exactly `t`. vips_resize (and vips_thumbnail) may
// round an edge a pixel away from variant_dimensions; such a difference is
// fixed by cropping or edge-extending that pixel, not by resampling again.
VImage resize_frame(const VImage& in, Dimensions t) {
  VImage x = in;
  if (std::abs(x.width() - t.width) > 1 || std::abs(x.height() - t.height) > 1) {
    const bool alpha = x.has_alpha();
    const VipsBandFormat format = x.format();
    if (alpha) x = x.premultiply();  // as thumbnail does: no dark fringes (libvips#291)
    x = x.resize(static_cast<double>(t.width) / x.width(),
                 VImage::option()->set("vscale", static_cast<double>(t.height) / x.height()));
    if (alpha) x = x.unpremultiply().cast(format);
  }
  if (x.width() > t.width || x.height() > t.height)
    x = x.crop(0, 0, std::min(x.width(), t.width), std::min(x.height(), t.height));
  if (x.width() < t.width || x.height() < t.height)
    x = x.embed(0, 0, t.width, t.height, VImage::option()->set("extend", VIPS_EXTEND_COPY));
  return x;
}

VImage resize_exact(const VImage& in, Dimensions t) {
  if (frame_size(in) == t) return in;
  const int pages = page_count(in);
  if (pages == 1) return resize_frame(in, t);
  std::vector<VImage> frames;
  frames.reserve(static_cast<size_t>(pages));
  for (int i = 0; i < pages; ++i) frames.push_back(resize_frame(frame(in, i), t));
  return join_frames(frames);
}

// A copy whose metadata is only the ICC profile, plus the animation fields
// when there is more than one frame: EXIF (GPS, serial numbers, ...), XMP,
// IPTC, comments, orientation and format-specific fields all go.
VImage only_icc(const VImage& in) {
  const bool animated = page_count(in) > 1;
  VImage out = in.copy();
  gchar** fields = vips_image_get_fields(out.get_image());
  for (gchar** f = fields; *f != nullptr; ++f) {
    const std::string_view n(*f);
    if (n == VIPS_META_ICC_NAME) continue;
    if (animated && (n == VIPS_META_PAGE_HEIGHT || n == "delay" || n == "loop" || n == "gif-delay" || n == "gif-loop"))
      continue;
    vips_image_remove(out.get_image(), *f);  // a no-op for the fixed header fields
  }
  g_strfreev(fields);
  return out;
}

std::string take_blob(VipsBlob* blob) {
  std::unique_ptr<VipsBlob, void (*)(VipsBlob*)> owned(blob, [](VipsBlob* b) { vips_area_unref(VIPS_AREA(b)); });
  size_t length = 0;
  const void* data = vips_blob_get(blob, &length);
  return {static_cast<const char*>(data), length};
}

struct EncodeSettings {
  int quality = 80;
  bool webp_lossless = false;
  bool jpeg_444 = false;  // chroma subsampling off
  double gif_dither = 1.0;
  int gif_effort = 7;  // libimagequant's, 1-10 (libvips' default)
  bool heif_keep_icc = false;  // see encode_as
};

// Saves with `strip` off so the ICC profile is written; only_icc() has
// removed everything else, and the EXIF block libvips 8.14 rebuilds from the
// header (resolution, orientation 1, dimensions: nothing from the source) is
// cut out of JPEG and WebP by container_edit. HEIF has no such cut (the block
// is an item in the meta box; only libheif could remove it), so:
//  - AVIF/HEIC variants are converted to sRGB and saved with `strip`: no
//    EXIF, no profile, and a profile-less HEIF image means sRGB;
//  - AVIF/HEIC originals keep their profile (wide-gamut HEIC from phones)
//    and therefore carry that rebuilt, source-free EXIF block.
std::string encode_as(const VImage& image, Format f, const EncodeSettings& s) {
  VImage img = only_icc(image);
  switch (f) {
    case Format::jpeg: {
      if (img.has_alpha()) img = img.flatten(VImage::option()->set("background", std::vector<double>{255.0}));
      return detail::drop_jpeg_metadata(take_blob(img.jpegsave_buffer(
          VImage::option()
              ->set("Q", s.quality)
              ->set("subsample_mode", s.jpeg_444 ? VIPS_FOREIGN_SUBSAMPLE_OFF : VIPS_FOREIGN_SUBSAMPLE_ON)
              ->set("optimize_coding", false)
              ->set("interlace", false)
              ->set("strip", false))));
    }
    case Format::png:
      return take_blob(
          img.pngsave_buffer(VImage::option()->set("compression", 6)->set("interlace", false)->set("strip", false)));
    case Format::webp:
      return detail::drop_webp_metadata(take_blob(img.webpsave_buffer(
          VImage::option()->set("Q", s.quality)->set("lossless", s.webp_lossless)->set("strip", false))));
    case Format::gif:
      // cgif quantises with libimagequant; its output is a pure function of
      // the pixels, so GIF output is deterministic too.
      return take_blob(img.gifsave_buffer(VImage::option()->set("dither", s.gif_dither)->set("effort", s.gif_effort)));
    case Format::avif:
    case Format::heic: {
      if (!s.heif_keep_icc && img.get_typeof(VIPS_META_ICC_NAME) != 0)
        img = img.icc_transform("srgb", VImage::option()->set("embedded", true));
      auto* options = VImage::option()
                          ->set("Q", s.quality)
                          ->set("compression", f == Format::avif ? VIPS_FOREIGN_HEIF_COMPRESSION_AV1
                                                                 : VIPS_FOREIGN_HEIF_COMPRESSION_HEVC)
                          ->set("strip", !s.heif_keep_icc);
      if (f == Format::avif) options->set("effort", g_config.avif_effort);
      // Variants: 4:2:0 chosen by measurement; originals keep libvips' auto (4:4:4 from Q90).
      if (!s.heif_keep_icc) options->set("subsample_mode", VIPS_FOREIGN_SUBSAMPLE_ON);
      return take_blob(img.heifsave_buffer(options));
    }
  }
  throw Error(ErrorCode::internal_error, std::string(kEncodeFailed));
}

// HEVC encoding needs libheif built with x265 (Debian 12's libheif1 is).
// Where it is missing, HEIC is re-encoded as AVIF rather than failing: the
// same HEIF container family, an open codec every current browser decodes,
// and the result's `format` tells the caller what was stored.
EncodedImage encode(const VImage& img, Format f, const EncodeSettings& s) {
  EncodedImage out{.bytes = {}, .format = f, .size = frame_size(img), .pages = page_count(img)};
  if (f == Format::heic) {
    try {
      out.bytes = encode_as(img, f, s);
      return out;
    } catch (const VError& e) {
      spdlog::warn("image engine: HEIC encoding failed ({}); storing AVIF instead", e.what());
      vips_error_clear();
      out.format = Format::avif;
    }
  }
  out.bytes = guarded(ErrorCode::internal_error, kEncodeFailed, [&] { return encode_as(img, out.format, s); });
  return out;
}

EncodeSettings variant_settings(Format f) {
  const EngineConfig& c = g_config;
  EncodeSettings s;
  switch (f) {
    case Format::jpeg: s.quality = c.jpeg_quality; break;
    case Format::webp: s.quality = c.webp_quality; break;
    case Format::avif: s.quality = c.avif_quality; break;
    case Format::heic: s.quality = c.heic_quality; break;
    // Quantising every frame is most of a GIF variant's cost: effort 4 took
    // 35-60 % less time than 7 for the same size within 1 % and PSNR within
    // 0.6 dB (docs/performance.md).
    case Format::gif: s.gif_effort = 4; break;
    case Format::png: break;
  }
  return s;
}

FitGeometry geometry_of(Dimensions source, const Fit& fit) {
  auto g = fit_geometry(source, fit);
  if (!g) throw Error(ErrorCode::bad_request, "The image cannot be fitted to that box.");
  return *g;
}

// The image's own size in the output: a fit's picture, a named size, or full.
Dimensions target_of(Dimensions source, const VariantRequest& r) {
  if (r.fit) return geometry_of(source, *r.fit).picture;
  return r.short_edge ? variant_dimensions(source, *r.short_edge) : source;
}

// Which decode a request is resampled from: a named size's anchor (the
// variant policy), or for a fit its picture itself, shrunk on load straight
// to that size (no worker makes a fit, so no batch shares its decode; a
// picture larger than the image is enlarged from the whole image).
Dimensions anchor_for(Dimensions source, const VariantRequest& r) {
  if (!r.fit) return anchor_dimensions(source, r.short_edge);
  const Dimensions picture = target_of(source, r);
  return picture.width <= source.width && picture.height <= source.height ? picture : source;
}

// The anchor decode of the variant policy, in memory: the image at `anchor`
// size, shrink-on-load where the loader can. Animations are decoded whole
// (a toilet roll of every frame) and resized frame by frame so no frame
// bleeds into its neighbour.
VImage decode_anchor(const std::filesystem::path& normalised, Format source_format, Dimensions source, int pages,
                     Dimensions anchor) {
  VImage base;
  if (pages > 1) {
    base = resize_exact(load(normalised, source_format, VImage::option()->set("n", -1)), anchor);
  } else if (anchor == source) {
    base = load(normalised, source_format, VImage::option()->set("fail_on", VIPS_FAIL_ON_ERROR));
  } else {
    base = resize_exact(VImage::thumbnail(normalised.c_str(), anchor.width,
                                          VImage::option()
                                              ->set("height", anchor.height)
                                              ->set("size", VIPS_SIZE_DOWN)
                                              ->set("crop", VIPS_INTERESTING_NONE)
                                              ->set("no_rotate", true)
                                              ->set("fail_on", VIPS_FAIL_ON_ERROR)),
                        anchor);
  }
  return materialise(base);
}

// A Gaussian blur of `sigma` at a bounded cost: a wide one runs on a copy
// shrunk until sigma is 4, then enlarged back (the detail it drops is what
// the blur removes anyway).
VImage blurred(const VImage& in, double sigma) {
  constexpr double kDirectSigma = 4;
  if (sigma <= kDirectSigma) return in.gaussblur(sigma);
  const double shrink = sigma / kDirectSigma;
  const Dimensions size = frame_size(in);
  const Dimensions small{std::max(1, static_cast<int>(size.width / shrink)),
                         std::max(1, static_cast<int>(size.height / shrink))};
  return resize_exact(resize_exact(in, small).gaussblur(kDirectSigma), size);
}

// One frame with the adjustments applied, in 8-bit sRGB; alpha untouched.
VImage adjusted_frame(const VImage& in, const Adjustments& a) {
  VImage img = in.colourspace(VIPS_INTERPRETATION_sRGB).cast(VIPS_FORMAT_UCHAR);
  std::optional<VImage> alpha;
  if (img.has_alpha()) {
    alpha = img.extract_band(img.bands() - 1);
    img = img.extract_band(0, VImage::option()->set("n", img.bands() - 1));
  }
  if (a.saturation != 1)
    img = img.colourspace(VIPS_INTERPRETATION_LCH)
              .linear({1.0, a.saturation, 1.0}, {0.0, 0.0, 0.0})
              .colourspace(VIPS_INTERPRETATION_sRGB);
  // brightness, then contrast about mid-grey: (x * b - 128) * c + 128
  if (a.brightness != 1 || a.contrast != 1)
    img = img.linear(a.brightness * a.contrast, 128.0 * (1 - a.contrast));
  img = img.cast(VIPS_FORMAT_UCHAR);  // clips to 0-255
  if (a.gamma != 1) img = img.gamma(VImage::option()->set("exponent", a.gamma));
  if (a.blur > 0) img = blurred(img, a.blur / 2).cast(VIPS_FORMAT_UCHAR);
  if (a.sharp > 0)
    img = img.sharpen(VImage::option()->set("sigma", 1.0)->set("m2", a.sharp)).colourspace(VIPS_INTERPRETATION_sRGB);
  img = img.cast(VIPS_FORMAT_UCHAR).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  return alpha ? img.bandjoin(*alpha) : img;
}

VImage adjusted(const VImage& in, const Adjustments& a) {
  if (!a.any()) return in;
  std::vector<VImage> frames;
  for (int i = 0; i < page_count(in); ++i) frames.push_back(adjusted_frame(frame(in, i), a));
  return join_frames(frames);
}

// One variant from its anchor: resampled to `target` (nothing to do when the
// anchor has that size), adjusted, and encoded with the format's variant
// settings. GIF and WebP carry animation; the other formats get the first frame.
EncodedImage derive(const VImage& anchor, Dimensions target, Format f, const Adjustments& a) {
  const VImage frames = page_count(anchor) > 1 && !may_animate(f) ? frame(anchor, 0) : anchor;
  return encode(adjusted(resize_exact(frames, target), a), f, variant_settings(f));
}

// One frame of the fit's picture size on its canvas, centred: cut to it, or
// (padding) in 8-bit sRGB flattened on white and embedded in white, so a
// JPEG and a PNG of it look alike.
VImage place(const VImage& picture, Dimensions canvas, bool pad) {
  const Dimensions p = frame_size(picture);
  if (!pad) return picture.crop((p.width - canvas.width) / 2, (p.height - canvas.height) / 2, canvas.width, canvas.height);
  const std::vector<double> white{255.0};
  VImage img = picture.colourspace(VIPS_INTERPRETATION_sRGB);
  if (img.has_alpha()) img = img.flatten(VImage::option()->set("background", white));
  return img.cast(VIPS_FORMAT_UCHAR)
      .embed((canvas.width - p.width) / 2, (canvas.height - p.height) / 2, canvas.width, canvas.height,
             VImage::option()->set("extend", VIPS_EXTEND_BACKGROUND)->set("background", white));
}

// A fit from its anchor: resampled to the picture size, then each frame
// placed on the canvas and adjusted: a cut before the adjustments (less to
// adjust under cover), padding after them (it stays white). GIF and WebP
// carry animation, but for the card and where every frame enlarged would
// pass the pixel limit (cover and pad enlarge: 200 tiny frames at 4096x4096
// would be 3.4 billion pixels): those get the first frame.
EncodedImage derive_fit(const VImage& anchor, const FitGeometry& g, FitMode mode, Format f, const Adjustments& a) {
  const uint64_t all_frames = uint64_t(g.canvas.width) * uint64_t(g.canvas.height) * uint64_t(page_count(anchor));
  const bool animate = page_count(anchor) > 1 && may_animate(f) && mode != FitMode::card &&
                       all_frames <= g_config.max_pixels;
  const VImage resized = resize_exact(animate || page_count(anchor) == 1 ? anchor : frame(anchor, 0), g.picture);
  if (g.canvas == g.picture) return encode(adjusted(resized, a), f, variant_settings(f));
  const bool pad = mode == FitMode::pad || mode == FitMode::card;
  std::vector<VImage> frames;
  for (int i = 0; i < page_count(resized); ++i)
    frames.push_back(pad ? place(adjusted(frame(resized, i), a), g.canvas, true)
                         : adjusted(place(frame(resized, i), g.canvas, false), a));
  return encode(join_frames(frames), f, variant_settings(f));
}

// The variant policy over one normalised image: its header is read once,
// and the last anchor decode is kept for the next request that shares it.
// Every request is derived from its anchor only, so its bytes do not depend
// on what else was rendered before it.
class AnchoredRenderer {
 public:
  AnchoredRenderer(std::filesystem::path normalised, Format source_format)
      : path_(std::move(normalised)), format_(source_format) {
    if (sniff_file(path_) != format_) {
      spdlog::error("image engine: {} is not a normalised {}", path_.string(), extension(format_));
      throw Error(ErrorCode::internal_error, std::string(kRenderFailed));
    }
    guarded(ErrorCode::internal_error, kRenderFailed, [&] {
      auto header_options = VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL);
      if (may_animate(format_)) header_options->set("n", -1);
      const VImage header = load(path_, format_, header_options);
      source_ = frame_size(header);
      pages_ = page_count(header);
    });
  }

  Dimensions anchor_of(const VariantRequest& r) const { return anchor_for(source_, r); }

  EncodedImage render(const VariantRequest& r) {
    const Dimensions size = anchor_of(r);
    const Derived key{size, target_of(source_, r), r.format, r.fit, r.adjust};
    // An image no larger than m has the same m and l (and s, below s): the
    // same anchor, target and format are the same bytes, made once.
    for (const auto& [done, out] : derived_)
      if (done == key) return out;
    if (!anchor_ || anchor_size_ != size) {
      anchor_.reset();  // one anchor in memory at a time
      anchor_ = decode_anchor(path_, format_, source_, pages_, size);
      anchor_size_ = size;
    }
    return derived_
        .emplace_back(key, r.fit ? derive_fit(*anchor_, geometry_of(source_, *r.fit), r.fit->mode, r.format, r.adjust)
                                 : derive(*anchor_, key.target, r.format, r.adjust))
        .second;
  }

 private:
  struct Derived {
    Dimensions anchor, target;
    Format format;
    std::optional<Fit> fit;
    Adjustments adjust;
    bool operator==(const Derived&) const = default;
  };

  std::filesystem::path path_;
  Format format_;
  Dimensions source_;
  int pages_ = 1;
  std::optional<VImage> anchor_;
  Dimensions anchor_size_;
  std::vector<std::pair<Derived, EncodedImage>> derived_;  // one per request rendered (a handful)
};

}  // namespace

void init_engine(const EngineConfig& config) {
  bool first = false;
  std::call_once(g_init_once, [&] {
    do_init(config);
    first = true;
  });
  if (!first) spdlog::warn("image engine: already initialised; the new configuration is ignored");
}

const EngineConfig& engine_config() { return g_config; }

void release_thread() {
  if (g_ready.load(std::memory_order_acquire)) vips_thread_shutdown();
}

namespace {

// A progressive JPEG may carry thousands of scans, each a pass over every
// coefficient: a few KB that keep a decoder busy for minutes (libjpeg-turbo
// advises a cap, as djpeg's -maxscans). Each scan starts with an SOS marker
// (FF DA), which entropy-coded data cannot contain, so counting those bytes
// counts the scans (plus those of an EXIF thumbnail).
constexpr int kMaxJpegScans = 1000;

void check_jpeg_scans(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chunk(1 << 20);
  int scans = 0;
  bool after_ff = false;
  auto count = [&] {
    if (++scans > kMaxJpegScans)
      throw Error(ErrorCode::image_too_large, "The JPEG has more than " + std::to_string(kMaxJpegScans) +
                                                  " scans; at most " + std::to_string(kMaxJpegScans) + " are accepted.");
  };
  while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0) {
    const char* p = chunk.data();
    const char* end = p + in.gcount();
    if (after_ff && p < end && static_cast<unsigned char>(*p) == 0xDA) count();  // FF at the previous chunk's end
    after_ff = static_cast<unsigned char>(end[-1]) == 0xFF;
    // memchr from FF to FF: a few per KB of entropy-coded data.
    while ((p = static_cast<const char*>(std::memchr(p, 0xFF, static_cast<size_t>(end - p)))) != nullptr) {
      if (++p < end && static_cast<unsigned char>(*p) == 0xDA) count();
    }
  }
}

}  // namespace

ProbeResult probe_file(const std::filesystem::path& path) {
  VipsCall call;
  const Format format = sniff_file(path);
  if (format == Format::jpeg) check_jpeg_scans(path);
  // Header only: a lazily-decoding sequential load reads no pixels here.
  const VImage img = guarded(ErrorCode::invalid_image, kBadHeader, [&] {
    return load(path, format, VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
  });

  ProbeResult r{.format = format, .stored = {img.width(), img.height()}, .displayed = {}, .pages = 1, .orientation = 1};
  if (r.stored.width <= 0 || r.stored.height <= 0) throw Error(ErrorCode::invalid_image, std::string(kBadHeader));
  if (may_animate(format) && img.get_typeof(VIPS_META_N_PAGES) != 0)
    r.pages = std::max(1, img.get_int(VIPS_META_N_PAGES));
  r.orientation = orientation_of(img);
  r.displayed = r.orientation >= 5 ? Dimensions{r.stored.height, r.stored.width} : r.stored;

  // Limits in a fixed order: pixels of all frames, then frames.
  const EngineConfig& c = g_config;
  const uint64_t pixels = uint64_t(r.stored.width) * uint64_t(r.stored.height) * uint64_t(r.pages);
  if (pixels > c.max_pixels)
    throw Error(ErrorCode::image_too_large, "The image has " + std::to_string(pixels) + " pixels; the limit is " +
                                                std::to_string(c.max_pixels) + " pixels (width x height x frames).");
  if (r.pages > c.max_pages)
    throw Error(ErrorCode::image_too_large, "The animation has " + std::to_string(r.pages) +
                                                " frames; the limit is " + std::to_string(c.max_pages) + " frames.");
  return r;
}

namespace {

std::string read_whole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error(ErrorCode::internal_error, std::string(kBadData));
  return bytes;
}

// An upright YCbCr or grey JPEG: its coefficients rewritten by libjpeg
// (jpeg_rewrite.h), no pixel decoded. nullopt: take the full path.
std::optional<EncodedImage> rewrite_upright_jpeg(const std::filesystem::path& path, const ProbeResult& probe) {
  if (probe.orientation != 1) return std::nullopt;  // rotating needs the pixels
  auto out = detail::rewrite_jpeg(read_whole(path));
  if (!out) return std::nullopt;
  if (Dimensions{out->width, out->height} != probe.stored) throw Error(ErrorCode::invalid_image, std::string(kBadData));
  return EncodedImage{std::move(out->bytes), Format::jpeg, probe.stored, 1};
}

// A GIF: its frames' palette indices LZW-coded again by giflib
// (gif_rewrite.h), no frame quantised again. What it makes is decoded whole
// by libvips, frame by frame without keeping them, before it is kept: it must
// have the probed screen and frame count, and corrupt frames fail as they
// would on the full path. nullopt: take the full path, which decides.
std::optional<EncodedImage> rewrite_gif(const std::filesystem::path& path, const ProbeResult& probe) {
  auto out = detail::rewrite_gif(read_whole(path), probe.pages);
  if (!out || Dimensions{out->width, out->height} != probe.stored || out->frames != probe.pages) return std::nullopt;
  try {
    const VImage check = VImage::new_from_buffer(out->bytes.data(), out->bytes.size(), "",
                                                 VImage::option()
                                                     ->set("n", -1)
                                                     ->set("fail_on", VIPS_FAIL_ON_ERROR)
                                                     ->set("access", VIPS_ACCESS_SEQUENTIAL));
    if (frame_size(check) != probe.stored || page_count(check) != probe.pages) return std::nullopt;
    (void)check.avg();  // decodes every frame
  } catch (const VError& e) {
    spdlog::info("image engine: {}: the GIF rewrite did not decode, taking the full path: {}", path.string(),
                 e.what());
    vips_error_clear();
    return std::nullopt;
  }
  return EncodedImage{std::move(out->bytes), Format::gif, probe.stored, probe.pages};
}

}  // namespace

EncodedImage normalise_file(const std::filesystem::path& path, const ProbeResult& probe) {
  VipsCall call;
  const Format format = sniff_file(path);
  if (format != probe.format) {
    spdlog::error("image engine: {} changed format between probe and normalise", path.string());
    throw Error(ErrorCode::internal_error, std::string(kBadData));
  }
  if (format == Format::jpeg)
    if (auto rewritten = rewrite_upright_jpeg(path, probe)) return std::move(*rewritten);
  if (format == Format::gif)
    if (auto rewritten = rewrite_gif(path, probe)) return std::move(*rewritten);
  const bool animated = may_animate(format) && probe.pages > 1;

  // Decode everything now, so corrupt data fails here as invalid_image and
  // not later inside an encoder. fail_on=error: truncated or broken files
  // are refused instead of being stored half grey.
  const VImage decoded = guarded(ErrorCode::invalid_image, kBadData, [&] {
    auto* options = VImage::option()->set("fail_on", VIPS_FAIL_ON_ERROR);
    if (animated) options->set("n", -1);
    return materialise(load(path, format, options));
  });
  if (frame_size(decoded) != probe.stored || page_count(decoded) != probe.pages)
    throw Error(ErrorCode::invalid_image, std::string(kBadData));

  EncodeSettings s;
  const EngineConfig& c = g_config;
  switch (format) {
    case Format::jpeg:
      s.quality = c.original_jpeg_quality;
      // Keep the source's chroma layout: 4:4:4 sources (screenshots, text)
      // stay sharp, 4:2:0 photos do not grow. libvips' "auto" would switch
      // on the quality instead.
      s.jpeg_444 = decoded.get_typeof("jpeg-chroma-subsample") != 0 &&
                   std::string_view(decoded.get_string("jpeg-chroma-subsample")).starts_with("4:4:4");
      break;
    case Format::webp: {
      s.quality = c.original_webp_quality;
      s.webp_lossless = detail::webp_is_lossless(read_head(path));
      break;
    }
    case Format::gif: s.gif_dither = 0.0; break;  // frames already have <= 256 colours: no noise added
    case Format::avif:
    case Format::heic:
      s.quality = c.original_heif_quality;
      s.heif_keep_icc = true;
      break;
    case Format::png: break;
  }

  const VImage oriented = guarded(ErrorCode::internal_error, kEncodeFailed, [&] { return orient(decoded); });
  return encode(oriented, format, s);
}

std::optional<VariantRequest> variant_request(std::string_view size, Format format) {
  if (size == "o") return VariantRequest{std::nullopt, format};
  if (size == kSocialSize) return VariantRequest{std::nullopt, format, kSocialCard};
  if (auto edge = short_edge_for(size)) return VariantRequest{edge, format};
  return std::nullopt;
}

std::vector<EncodedImage> render_variants(const std::filesystem::path& normalised, Format source_format,
                                          const std::vector<VariantRequest>& requests) {
  VipsCall call;
  if (requests.empty()) return {};
  AnchoredRenderer renderer(normalised, source_format);
  return guarded(ErrorCode::internal_error, kRenderFailed, [&] {
    // Requests sharing an anchor are rendered together: one decode per
    // distinct anchor, freed before the next.
    std::vector<std::optional<EncodedImage>> out(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      if (out[i]) continue;
      const Dimensions anchor = renderer.anchor_of(requests[i]);
      for (size_t j = i; j < requests.size(); ++j)
        if (!out[j] && renderer.anchor_of(requests[j]) == anchor) out[j] = renderer.render(requests[j]);
    }
    std::vector<EncodedImage> results;
    results.reserve(out.size());
    for (auto& r : out) results.push_back(std::move(*r));
    return results;
  });
}

EncodedImage render_variant(const std::filesystem::path& normalised, Format source_format, VariantRequest request) {
  auto out = render_variants(normalised, source_format, {request});
  return std::move(out.front());
}

struct VariantRenderer::State {
  std::filesystem::path normalised;
  Format source_format;
  std::optional<AnchoredRenderer> renderer;  // opened by the first render
};

VariantRenderer::VariantRenderer(std::filesystem::path normalised, Format source_format)
    : state_(std::make_unique<State>(State{std::move(normalised), source_format, std::nullopt})) {}

VariantRenderer::~VariantRenderer() = default;

EncodedImage VariantRenderer::render(const VariantRequest& request) {
  VipsCall call;
  if (!state_->renderer) state_->renderer.emplace(state_->normalised, state_->source_format);
  return guarded(ErrorCode::internal_error, kRenderFailed, [&] { return state_->renderer->render(request); });
}

}  // namespace imgpipe::workers::image
