#pragma once
// Collects what crashes and deletions leave in the blob store: temporary
// files (.tmp-*) of interrupted writes, staged uploads and imports nobody
// will process, a remote store's multipart uploads a killed gateway left
// open in its staging area, manifests of images the index does not have, and blobs no
// image, variant or manifest refers to (variants of deleted images among
// them). `imgpipe serve` runs sweep() every --leftover-sweep-interval.
//
// What is never removed: anything modified within the grace period (a
// write in progress, an upload between staging and its job, a blob a new
// image just deduplicated against: BlobStore::put refreshes its time), the
// staged file and manifest of any ingest job the worker group has not
// committed (a live or queued job), and anything the index refers to.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "storage/blob_store.h"
#include "storage/bus.h"
#include "storage/db.h"

namespace imgpipe::storage {

struct SweepConfig {
  std::chrono::seconds grace{3600};               // --leftover-sweep-grace: younger files are left alone
  std::chrono::milliseconds interval{std::chrono::minutes(10)};  // --leftover-sweep-interval, for start()
  std::string worker_group = "imgpipe-workers";   // whose uncommitted jobs keep their files
  // Manifests and blobs are judged against this process's index, so only a
  // process whose index sees every image may collect them (the embedded
  // mode). Otherwise only temporary and staged files are swept.
  bool collect_blobs = true;
};

struct SweepReport {
  int64_t finished_at = 0;        // unix seconds; 0: no sweep yet
  double seconds = 0;             // how long it took
  bool blobs_checked = false;     // false: the index was not caught up (or collect_blobs off)
  uint64_t temp_files = 0;        // removed, per kind
  uint64_t staged_files = 0;
  uint64_t multipart_uploads = 0;  // unfinished ones aborted
  uint64_t manifests = 0;
  uint64_t blobs = 0;
  uint64_t bytes_freed = 0;
  uint64_t blob_files = 0;        // left after the sweep
  uint64_t blob_bytes = 0;
  uint64_t staging_bytes = 0;
};

class LeftoverSweeper {
 public:
  // `index_ready`: the index has caught up with the images topic (manifests
  // and blobs are only judged then). Everything must outlive the sweeper.
  LeftoverSweeper(BlobStore& blobs, Db& db, Bus& bus, SweepConfig config, std::function<bool()> index_ready);
  ~LeftoverSweeper();

  SweepReport sweep();        // one pass, now
  SweepReport last() const;   // the last finished pass
  void start();               // sweep() every config.interval on a thread of its own
  void stop();

 private:
  void run();

  BlobStore& blobs_;
  Db& db_;
  Bus& bus_;
  const SweepConfig config_;
  const std::function<bool()> index_ready_;
  std::mutex sweep_mu_;  // one pass at a time
  mutable std::mutex mu_;
  SweepReport last_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace imgpipe::storage
