// imgpipe-bench-process: what the worker does to one upload, timed, without
// the gateway or the bus — probe, normalise, then the s/m/l variants in the
// source format and WebP from the normalised original, exactly as the
// pipeline's steps call the engine (workers/steps/image_steps.cpp). ops/bench
// runs it one process per image and compares it with vipsthumbnail.
//
// Usage: imgpipe-bench-process [--per-variant] OUT_DIR FILE...
// Prints tab-separated lines: file, stage, cpu_ms (user+sys, all threads),
// wall_ms, bytes; then "peak_rss_kb". --per-variant also renders each variant
// alone (the on-demand path) and prints one line per variant.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "schemas/errors.h"
#include "workers/image/engine.h"

namespace {

namespace image = imgpipe::workers::image;

double cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ms = [](timeval t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

struct Timer {
  double cpu0 = cpu_ms();
  std::chrono::steady_clock::time_point wall0 = std::chrono::steady_clock::now();
  void print(const std::string& file, const std::string& stage, size_t bytes) const {
    double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall0).count();
    std::printf("%s\t%s\t%.2f\t%.2f\t%zu\n", file.c_str(), stage.c_str(), cpu_ms() - cpu0, wall, bytes);
  }
};

void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The same list as derive_variants: the engine's variant policy.
std::vector<image::VariantRequest> worker_variants(image::Format source) {
  std::vector<image::VariantRequest> out;
  for (auto size : image::kVariantSizes)
    for (auto format : image::pregenerated_formats(source)) out.push_back({image::short_edge_for(size), format});
  return out;
}

std::string label(const image::VariantRequest& r) {
  const int e = r.short_edge.value_or(0);
  const char* size = e == 320 ? "s" : e == 640 ? "m" : e == 1080 ? "l" : "o";
  return std::string(size) + "." + std::string(image::extension(r.format));
}

}  // namespace

int main(int argc, char** argv) {
  bool per_variant = false;
  int i = 1;
  if (i < argc && std::strcmp(argv[i], "--per-variant") == 0) per_variant = true, ++i;
  if (argc - i < 2) {
    std::fprintf(stderr, "usage: imgpipe-bench-process [--per-variant] OUT_DIR FILE...\n");
    return 2;
  }
  const std::filesystem::path out_dir = argv[i++];
  std::filesystem::create_directories(out_dir);
  image::init_engine({});  // the defaults imgpipe serve uses (vips concurrency 1)
  try {
    for (; i < argc; ++i) {
      const std::filesystem::path in = argv[i];
      const std::string name = in.filename().string();
      Timer total;
      Timer t;
      const auto probe = image::probe_file(in);
      t.print(name, "probe", 0);
      t = Timer{};
      const auto original = image::normalise_file(in, probe);
      const auto normalised = out_dir / (in.stem().string() + ".o." + std::string(image::extension(original.format)));
      write_file(normalised, original.bytes);
      t.print(name, "normalise", original.bytes.size());
      t = Timer{};
      const auto wanted = worker_variants(original.format);
      const auto variants = image::render_variants(normalised, original.format, wanted);
      size_t bytes = 0;
      for (size_t k = 0; k < variants.size(); ++k) {
        write_file(out_dir / (in.stem().string() + "." + label(wanted[k])), variants[k].bytes);
        bytes += variants[k].bytes.size();
      }
      t.print(name, "variants", bytes);
      total.print(name, "total", original.bytes.size() + bytes);
      if (per_variant) {
        for (const auto& r : wanted) {
          Timer v;
          const auto one = image::render_variant(normalised, original.format, r);
          v.print(name, "alone:" + label(r), one.bytes.size());
        }
      }
    }
  } catch (const imgpipe::schemas::Error& e) {
    std::fprintf(stderr, "imgpipe-bench-process: %s\n", e.what());
    return 1;
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("peak_rss_kb\t%ld\n", u.ru_maxrss);
  image::release_thread();
  return 0;
}
