// imgpipe-bench-list: what a page of GET /v1/images costs as an owner's
// images grow (ops/bench section 7). Fills a fresh RocksDB index the way the
// images topic does (ImageIndex::apply of `ready` events): one owner with N
// images (default 100,000), one with 10, interleaved in time, every tenth
// image labelled env=prod. Then times pages of 100 through the gateway's
// listing code (list_page, the body of ImageCatalog::list): the first page,
// a page deep in (after following the cursor), and a label-filtered page,
// for both owners. HTTP parsing and the JSON rendering of a page cost the
// same for both owners and are left out.
//
// Usage: imgpipe-bench-list [IMAGES] [REPEATS]   (defaults 100000 and 200)
// Prints a markdown table: case, median and p95 microseconds per page.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include <unistd.h>
#include <string>
#include <vector>

#include "gateway/image_catalog.h"
#include "storage/db.h"
#include "storage/image_index.h"

namespace fs = std::filesystem;
using namespace imgpipe;

namespace {

schemas::ImageRecord record(const std::string& owner, int i, int64_t created_at) {
  schemas::ImageRecord r;
  char id[16];
  std::snprintf(id, sizeof id, "%c%011d", owner == "key:big" ? 'B' : 'S', i);
  r.id = id;
  r.owner = owner;
  r.name = r.id + ".jpg";
  r.format = "jpeg";
  r.width = 1200;
  r.height = 800;
  r.filesize = 150000;
  r.blob = std::string(64, 'a');
  r.created_at = created_at;
  r.created_ms = created_at * 1000 + i % 1000;
  if (i % 10 == 0) r.labels["env"] = "prod";
  r.metadata["post"] = std::to_string(i);
  return r;
}

struct Timing {
  double median_us, p95_us;
  size_t items;
};

Timing time_pages(const std::function<size_t()>& page, int repeats) {
  std::vector<double> us;
  size_t items = 0;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    items = page();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 95 / 100)], items};
}

}  // namespace

int main(int argc, char** argv) {
  const int images = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 200;
  auto dir = fs::temp_directory_path() / ("imgpipe-bench-list." + std::to_string(::getpid()));
  fs::remove_all(dir);
  int status = 0;
  {
    auto db = storage::Db::open(dir);
    storage::ImageIndex index(*db);
    gateway::GatewayConfig config;
    const int64_t start = 1700000000;
    auto fill0 = std::chrono::steady_clock::now();
    int small = 0;
    for (int i = 0; i < images; ++i) {
      auto big = record("key:big", i, start + i);
      index.apply({"ready", big.id, "", big, std::nullopt});
      if (small < 10 && i % (images / 10 > 0 ? images / 10 : 1) == 0) {
        auto r = record("key:small", small++, start + i);
        index.apply({"ready", r.id, "", r, std::nullopt});
      }
    }
    double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - fill0).count();
    std::fprintf(stderr, "filled %d + %d images in %.1f s\n", images, small, fill_s);

    auto page_of = [&](const std::string& owner, std::vector<gateway::Label> labels, int skip_pages, int limit = 100) {
      gateway::ImageQuery q;
      q.limit = limit;
      q.labels = std::move(labels);
      for (int p = 0; p < skip_pages; ++p) {
        auto page = gateway::list_page(index, config, owner, q);
        if (!page.has_more) break;
        q.cursor = page.next_cursor;
      }
      return q;
    };
    struct Case {
      const char* name;
      gateway::ImageQuery query;
      std::string owner;
    };
    std::vector<Case> cases = {
        {"10 images: first page", page_of("key:small", {}, 0), "key:small"},
        {"big owner: first page", page_of("key:big", {}, 0), "key:big"},
        {"big owner: page 500 (cursor)", page_of("key:big", {}, 499), "key:big"},
        // The same number of items as the small owner's page: what owner size alone costs.
        {"big owner: first page of 10 (limit=10)", page_of("key:big", {}, 0, 10), "key:big"},
        {"big owner: page 1000 of 10 (cursor)", page_of("key:big", {}, 999, 10), "key:big"},
        {"10 images: label env=prod", page_of("key:small", {{"env", "prod"}}, 0), "key:small"},
        {"big owner: label env=prod, first page", page_of("key:big", {{"env", "prod"}}, 0), "key:big"},
        {"big owner: label env=prod, page 50 (cursor)", page_of("key:big", {{"env", "prod"}}, 49), "key:big"},
    };
    std::printf("| case (pages of 100 unless said, %d images) | items | median µs | p95 µs |\n| --- | --- | --- | --- |\n", images);
    for (const auto& c : cases) {
      auto t = time_pages([&] { return gateway::list_page(index, config, c.owner, c.query).images.size(); }, repeats);
      std::printf("| %s | %zu | %.0f | %.0f |\n", c.name, t.items, t.median_us, t.p95_us);
      if (t.items == 0) status = 1;
    }
  }
  fs::remove_all(dir);
  return status;
}
