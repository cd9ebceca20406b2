#pragma once
// Test images generated with libvips at run time: no committed binaries.

#include <glib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <vips/vips8>

#include "workers/image/engine.h"

namespace imgpipe::workers::image::testing {

using vips::VImage;

// The engine must be up before libvips is used at all (init blocks loaders).
inline void ensure_engine() {
  static const bool done = [] {
    init_engine(EngineConfig{});
    return true;
  }();
  (void)done;
}

// A smooth RGB gradient: compresses well, survives resampling visibly.
inline VImage gradient(int width, int height, int bands = 3) {
  VImage xy = VImage::xyz(width, height);
  VImage x = xy[0] * (255.0 / width);
  VImage y = xy[1] * (255.0 / height);
  VImage rgb = x.bandjoin(y).bandjoin((x + y) * 0.5);
  if (bands == 4) rgb = rgb.bandjoin(x);  // alpha ramps left to right
  return rgb.cast(VIPS_FORMAT_UCHAR).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

// `frames` frames of width x height, stacked as libvips expects animations.
inline VImage animation(int width, int height, int frames) {
  std::vector<VImage> pages;
  for (int i = 0; i < frames; ++i) pages.push_back(gradient(width, height).invert().linear(1.0, 40.0 * i).cast(VIPS_FORMAT_UCHAR));
  VImage strip = VImage::arrayjoin(pages, VImage::option()->set("across", 1)).copy();
  strip.set("page-height", height);
  strip.set("delay", std::vector<int>(static_cast<size_t>(frames), 100));
  strip.set("loop", 0);
  return strip;
}

inline std::string encode(const VImage& img, const char* suffix, vips::VOption* options = nullptr) {
  void* buf = nullptr;
  size_t size = 0;
  img.write_to_buffer(suffix, &buf, &size, options);
  std::string out(static_cast<const char*>(buf), size);
  g_free(buf);
  return out;
}

// Decoded into memory. The ICC profile is copied while the loader lives:
// libvips 8.14.1 heifload hands out profile bytes that die with the loader.
inline VImage decode(const std::string& bytes, bool all_pages = false) {
  const VImage lazy = VImage::new_from_buffer(bytes.data(), bytes.size(), "",
                                              all_pages ? VImage::option()->set("n", -1) : nullptr);
  VImage mem = lazy.copy_memory().copy();
  if (lazy.get_typeof("icc-profile-data") != 0) {
    size_t length = 0;
    const void* data = lazy.get_blob("icc-profile-data", &length);
    vips_image_set_blob_copy(mem.get_image(), "icc-profile-data", data, length);
  }
  return mem;
}

inline int pages_of(const VImage& img) { return img.height() / vips_image_get_page_height(img.get_image()); }

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("imgpipe_image_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path write(std::string_view name, std::string_view bytes) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path path_;
};

inline std::string heic_bytes_or_empty(const VImage& img) {
  try {
    return encode(img, ".heic", VImage::option()->set("compression", VIPS_FOREIGN_HEIF_COMPRESSION_HEVC));
  } catch (const vips::VError&) {
    vips_error_clear();
    return {};
  }
}

}  // namespace imgpipe::workers::image::testing
