#include "ops/serve_metrics.h"

#include <chrono>
#include <filesystem>
#include <mutex>

#include "schemas/metrics.h"
#include "storage/disk_space.h"

namespace imgpipe::ops {
namespace {

using metrics::Labels;
using Values = std::vector<std::pair<Labels, double>>;

// Bus::describe asks the cluster (a new client on Kafka): at most once per
// few seconds, however often Prometheus scrapes.
class CachedDescribe {
 public:
  CachedDescribe(storage::Bus& bus, std::string topic, std::string group)
      : bus_(bus), topic_(std::move(topic)), group_(std::move(group)) {}
  std::vector<storage::PartitionState> get() {
    std::lock_guard lock(mu_);
    if (std::chrono::steady_clock::now() - at_ > std::chrono::seconds(5)) {
      value_ = bus_.describe(topic_, group_);  // throws when the bus is away: the gauge is left out
      at_ = std::chrono::steady_clock::now();
    }
    return value_;
  }

 private:
  storage::Bus& bus_;
  const std::string topic_, group_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point at_{};
  std::vector<storage::PartitionState> value_;
};

}  // namespace

void register_gauges(storage::Bus& bus, storage::BlobStore& blobs, storage::ImageIndex* index,
                     const workers::IngestPipeline* pipeline, const gateway::Gateway* gateway,
                     const gateway::HttpServer* http) {
  // The workers' group (JobRunnerConfig's default), the same in every worker process.
  auto ingest = std::make_shared<CachedDescribe>(bus, storage::topics::ingest, "imgpipe-workers");
  metrics::gauge("imgpipe_consumer_lag", "Ingest jobs not yet committed by the worker group, per partition.", [ingest] {
    Values out;
    for (const auto& p : ingest->get()) {
      const int64_t done = p.committed >= 0 ? p.committed : p.low;
      out.push_back({{{"topic", storage::topics::ingest}, {"partition", std::to_string(p.partition)}},
                     static_cast<double>(std::max<int64_t>(0, p.high - done))});
    }
    return out;
  });
  metrics::gauge("imgpipe_topic_messages", "Messages in the log (high - low watermark) per topic and partition.", [ingest] {
    Values out;
    for (const auto& p : ingest->get())
      out.push_back({{{"topic", storage::topics::ingest}, {"partition", std::to_string(p.partition)}},
                     static_cast<double>(p.high - p.low)});
    return out;
  });
  if (index != nullptr) {
    auto images = std::make_shared<CachedDescribe>(bus, storage::topics::images, "");
    metrics::gauge("imgpipe_index_lag", "Image events on the topic this gateway's index has not applied yet, per partition.",
                   [images, index] {
                     Values out;
                     auto positions = index->positions();
                     for (const auto& p : images->get()) {
                       auto it = positions.find(p.partition);
                       const int64_t at = it == positions.end() ? p.low : std::max(it->second, p.low);
                       out.push_back({{{"partition", std::to_string(p.partition)}},
                                      static_cast<double>(std::max<int64_t>(0, p.high - at))});
                     }
                     return out;
                   });
  }
  const auto staging = blobs.staging_dir();
  metrics::gauge("imgpipe_staging_files", "Files in the staging folder: uploads waiting for a worker, imports downloading.",
                 [staging] {
                   double n = 0;
                   std::error_code ec;
                   for (std::filesystem::directory_iterator it(staging, ec), end; !ec && it != end; it.increment(ec)) ++n;
                   return Values{{{}, n}};
                 });
  if (pipeline != nullptr)
    metrics::gauge("imgpipe_worker_jobs_in_flight", "Ingest jobs this process is running.",
                   [pipeline] { return Values{{{}, static_cast<double>(pipeline->in_flight())}}; });
  if (pipeline != nullptr)
    metrics::gauge("imgpipe_worker_paused", "1 while this process's workers take no new job: paused (SIGUSR1) or its disk below half --min-free-disk-mb.",
                   [pipeline] {
                     return Values{{{{"reason", "signal"}}, pipeline->paused() ? 1.0 : 0.0},
                                   {{{"reason", "disk"}}, pipeline->disk_low() ? 1.0 : 0.0}};
                   });
  if (pipeline != nullptr)
    metrics::gauge("imgpipe_worker_variant_backlog", "Jobs past `ready` whose variants wait or are rendering (--variant-backlog).",
                   [pipeline] { return Values{{{}, static_cast<double>(pipeline->variant_backlog())}}; });
  if (gateway != nullptr)
    metrics::gauge("imgpipe_ingest_pending", "Uploads and imports waiting for their worker's answer.",
                   [gateway] { return Values{{{}, static_cast<double>(gateway->pending_ingests())}}; });
  if (gateway != nullptr)
    metrics::gauge("imgpipe_index_ready", "1 when the index has caught up with the images topic (GET /readyz).",
                   [gateway] { return Values{{{}, gateway->ready() ? 1.0 : 0.0}}; });
  if (http != nullptr)
    metrics::gauge("imgpipe_http_connections_open", "Open HTTP connections.",
                   [http] { return Values{{{}, static_cast<double>(http->stats().connections_open)}}; });
  if (http != nullptr)
    metrics::gauge("imgpipe_http_requests_in_flight",
                   "Requests whose header has been read and that are not answered yet (this one included).",
                   [http] { return Values{{{}, static_cast<double>(http->stats().requests_in_flight)}}; });
  if (gateway != nullptr && gateway->config().min_free_disk_bytes > 0) {
    // Alert well before free reaches the reserve: at the reserve, new images are refused (507).
    metrics::gauge("imgpipe_disk_free_bytes", "Bytes available on the filesystem of each folder the reserve watches.",
                   [dirs = gateway->config().disk_dirs] {
                     Values out;
                     for (const auto& dir : dirs)
                       if (auto bytes = storage::available_bytes(dir))
                         out.push_back({{{"dir", dir}}, static_cast<double>(*bytes)});
                     return out;
                   });
    metrics::gauge("imgpipe_disk_reserve_bytes", "--min-free-disk-mb in bytes: below it, new images answer 507.",
                   [reserve = gateway->config().min_free_disk_bytes] {
                     return Values{{{}, static_cast<double>(reserve)}};
                   });
  }
  metrics::gauge("imgpipe_build_info", "Constant 1, labelled with the bus in use.",
                 [kind = bus.kind()] { return Values{{{{"bus", kind}}, 1.0}}; });
}

void register_storage_gauges(storage::Db& db, storage::BlobStore& blobs, const storage::LeftoverSweeper& sweeper) {
  const auto staging = blobs.staging_dir();
  metrics::gauge("imgpipe_disk_bytes",
                 "Bytes on disk by part: bus (the embedded bus log), index (RocksDB), blobs (as of the last sweep), staging.",
                 [&db, &sweeper, staging] {
                   uint64_t bus = 0, index = 0;
                   for (const auto* family : {storage::cf::images, storage::cf::variants, storage::cf::listings,
                                              storage::cf::expiry, storage::cf::keys,
                                              storage::cf::positions, storage::cf::bus_log, storage::cf::bus_groups}) {
                     const auto bytes = db.disk_bytes(family);
                     (std::string_view(family).starts_with("bus_") ? bus : index) += bytes;
                   }
                   uint64_t staged = 0;
                   std::error_code ec;
                   for (std::filesystem::directory_iterator it(staging, ec), end; !ec && it != end; it.increment(ec)) {
                     std::error_code size_ec;
                     const auto size = it->file_size(size_ec);
                     if (!size_ec) staged += size;
                   }
                   return Values{{{{"part", "bus"}}, static_cast<double>(bus)},
                                 {{{"part", "index"}}, static_cast<double>(index)},
                                 {{{"part", "blobs"}}, static_cast<double>(sweeper.last().blob_bytes)},
                                 {{{"part", "staging"}}, static_cast<double>(staged)}};
                 });
  metrics::gauge("imgpipe_sweep_last_timestamp_seconds", "When the last leftover sweep finished (unix seconds; 0: none yet).",
                 [&sweeper] { return Values{{{}, static_cast<double>(sweeper.last().finished_at)}}; });
  metrics::gauge("imgpipe_sweep_last_removed", "Files the last leftover sweep removed, by kind.", [&sweeper] {
    const auto r = sweeper.last();
    return Values{{{{"kind", "temporary"}}, static_cast<double>(r.temp_files)},
                  {{{"kind", "staged"}}, static_cast<double>(r.staged_files)},
                  {{{"kind", "multipart_upload"}}, static_cast<double>(r.multipart_uploads)},
                  {{{"kind", "manifest"}}, static_cast<double>(r.manifests)},
                  {{{"kind", "blob"}}, static_cast<double>(r.blobs)}};
  });
  metrics::gauge("imgpipe_sweep_last_freed_bytes", "Bytes the last leftover sweep freed.",
                 [&sweeper] { return Values{{{}, static_cast<double>(sweeper.last().bytes_freed)}}; });
  metrics::gauge("imgpipe_sweep_last_blob_files", "Blob files left after the last sweep.",
                 [&sweeper] { return Values{{{}, static_cast<double>(sweeper.last().blob_files)}}; });
}

}  // namespace imgpipe::ops
