#pragma once
// Configuration of the worker role (flags: ops/serve_options.cpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "workers/fetch/url_fetcher.h"
#include "workers/image/engine.h"

namespace imgpipe::workers {

struct WorkerConfig {
  size_t jobs = 8;                         // --workers: ingest jobs in flight (imports wait on the network)
  size_t image_threads = 2;                // --image-threads: jobs decoding/encoding at once (CPU bound)
  std::chrono::seconds job_deadline{120};  // a job past this fails with processing_timeout
  bool pregenerate_variants = true;        // s/m/l in the source format and WebP after `ready`
  // --variant-backlog: jobs whose variants wait; at this many no new job
  // starts. A waiting one costs its job record (~2 KB, 200 KB at most), so
  // the bound is about lag: under sustained load variants fall behind
  // `ready` by about backlog x variant CPU per image / cores (docs/performance.md).
  size_t variant_backlog = 256;
  uint64_t default_max_bytes = 20ull << 20;  // imports without a tier limit in the job (bulk producers)
  // Below this free on a disk_dirs filesystem no new job is taken (half of
  // --min-free-disk-mb; workers/disk_watch.h). 0: off.
  uint64_t min_free_disk_bytes = 0;
  std::vector<std::string> disk_dirs;  // the data dir and the blob folder, one per filesystem
  image::EngineConfig engine;
  fetch::FetchConfig fetch;
};

}  // namespace imgpipe::workers
