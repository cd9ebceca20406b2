// imgpipe-bench-vips-limit: the libvips work alone, as the limit ingest
// throughput is compared with (ops/bench section 6). For each input: decode
// it fully, orient it, encode the original (JPEG Q92 / PNG compression 6 /
// WebP Q90) — an upright JPEG's original is instead rewritten from its DCT
// coefficients by libjpeg, the least work for the worker's output (the
// worker calls the same function: workers/image/jpeg_rewrite.h); then one shrink-on-load decode to the l size (short edge 1080),
// m (640) and s (320) resampled from it in memory, each encoded in the
// source format and WebP (JPEG Q85, WebP Q80): the same seven outputs as the
// worker, with nothing else (no HTTP, bus, hashing, fsync, index). THREADS
// threads take inputs from one list; libvips runs one thread per operation
// (imgpipe serve's setting). Outputs are kept in memory and dropped.
//
// Usage: imgpipe-bench-vips-limit THREADS FILE...   (each FILE once; repeat a
// file to process it again). Prints "images wall_s images_per_s".
#include <vips/vips8>

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "workers/image/jpeg_rewrite.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using vips::VImage;

namespace {

int short_edge_fit(int w, int h, int edge, int& tw, int& th) {
  const int shortest = std::min(w, h);
  if (edge >= shortest) edge = shortest;  // never upscaled
  const double scale = double(edge) / shortest;
  tw = std::max(1, int(w * scale + 0.5));
  th = std::max(1, int(h * scale + 0.5));
  return edge;
}

size_t encode(const VImage& img, const std::string& format, bool original) {
  void* buf = nullptr;
  size_t len = 0;
  if (format == "jpeg")
    img.write_to_buffer(".jpg", &buf, &len, VImage::option()->set("Q", original ? 92 : 85)->set("strip", true));
  else if (format == "png")
    img.write_to_buffer(".png", &buf, &len, VImage::option()->set("compression", 6)->set("strip", true));
  else
    img.write_to_buffer(".webp", &buf, &len, VImage::option()->set("Q", original ? 90 : 80)->set("strip", true));
  g_free(buf);
  return len;
}

void process(const std::string& file) {
  const std::string ext = file.substr(file.rfind('.') + 1);
  const std::string format = ext == "jpg" ? "jpeg" : ext;
  VImage decoded = VImage::new_from_file(file.c_str(), VImage::option()->set("fail_on", VIPS_FAIL_ON_ERROR));
  const bool upright = decoded.get_typeof("orientation") == 0 || decoded.get_int("orientation") == 1;
  bool rewritten = false;
  if (format == "jpeg" && upright) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    rewritten = imgpipe::workers::image::detail::rewrite_jpeg(bytes).has_value();
  }
  if (!rewritten) {
    decoded = decoded.autorot().copy_memory();
    encode(decoded, format, true);
  }
  int lw, lh;
  short_edge_fit(decoded.width(), decoded.height(), 1080, lw, lh);
  VImage l = VImage::thumbnail(file.c_str(), lw, VImage::option()->set("height", lh)->set("size", VIPS_SIZE_FORCE))
                 .copy_memory();
  for (int edge : {1080, 640, 320}) {
    int tw, th;
    short_edge_fit(decoded.width(), decoded.height(), edge, tw, th);
    VImage v = edge == 1080 ? l : l.thumbnail_image(tw, VImage::option()->set("height", th)->set("size", VIPS_SIZE_FORCE));
    encode(v, format, false);
    if (format != "webp") encode(v, "webp", false);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: imgpipe-bench-vips-limit THREADS FILE...\n");
    return 2;
  }
  if (VIPS_INIT(argv[0])) vips_error_exit(nullptr);
  vips_cache_set_max(0);
  vips_concurrency_set(1);
  const int threads = std::max(1, std::atoi(argv[1]));
  std::vector<std::string> files(argv + 2, argv + argc);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < files.size();) {
        try {
          process(files[i]);
        } catch (const std::exception& e) {  // vips::VError, or a refused JPEG rewrite
          std::fprintf(stderr, "%s: %s\n", files[i].c_str(), e.what());
          failed = true;
        }
      }
      vips_thread_shutdown();
    });
  for (auto& t : pool) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%zu %.3f %.3f\n", files.size(), wall, files.size() / wall);
  return failed ? 1 : 0;
}
