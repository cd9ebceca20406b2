#include "ops/serve_command.h"

#include <csignal>
#include <filesystem>
#include <iostream>
#include <pthread.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "gateway/http/http_server.h"
#include "ops/bus_setup.h"
#include "ops/s3_store_setup.h"
#include "ops/serve_metrics.h"
#include "ops/serve_options.h"
#include "ops/worker_status.h"
#include "schemas/metrics.h"
#include "schemas/log.h"
#include "storage/blob_store.h"
#include "storage/db.h"
#include "storage/disk_space.h"
#include "storage/image_index.h"
#include "storage/leftover_sweeper.h"
#include "workers/image/engine.h"
#include "workers/ingest_pipeline.h"

namespace imgpipe::ops {
namespace {

// Blocks the signals we handle in every thread (call before starting any),
// so that sigwait() in the main thread receives them.
sigset_t block_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return set;
}

BusOptions bus_options(const ServeOptions& o) {
  BusOptions b;
  b.kafka = o.kafka;
  b.kafka_config = o.kafka_config;
  b.topic_prefix = o.topic_prefix;
  b.embedded_partitions = o.embedded_partitions;
  b.embedded = o.storage.bus;
  return b;
}

}  // namespace

namespace {

// The blob store: a folder (--blob-dir or the data dir), or with
// --blob-store an S3 store, checked before anything starts, in front of
// which that folder is a bounded read cache.
void open_remote_store(const ServeOptions& options, storage::BlobStore& blobs) {
  if (options.blob_store.empty()) return;
  // The cache evicts what it holds: it must never be the old store itself.
  std::error_code ec;
  if (!options.blob_fallback.empty() && std::filesystem::equivalent(options.blob_fallback, blobs.root(), ec))
    throw std::runtime_error("--blob-fallback " + options.blob_fallback +
                             " is this process's own blob folder (its cache with --blob-store); give a new --blob-dir");
  blobs.set_remote(open_s3_store({options.blob_store, options.s3_endpoint, options.s3_region, options.s3_path_style}),
                   options.blob_cache_mb << 20);
  if (options.blob_fallback.empty()) return;
  blobs.set_fallback(options.blob_fallback);
  log::info("blob_fallback", {{"dir", options.blob_fallback}});
}

}  // namespace

int serve_command(const char* command, int argc, char** argv) {
  auto options = parse_serve_options(command, argc, argv);
  auto signals = block_signals();
  log::setup(options.log_level);
  try {
    std::filesystem::path data(options.data_dir);
    std::filesystem::create_directories(data);
    auto db = storage::Db::open(data / "index");
    storage::BlobStore blobs(options.blob_dir.empty() ? data : std::filesystem::path(options.blob_dir),
                             options.storage.staging_dir);
    open_remote_store(options, blobs);
    // Kafka: refuse to start on missing or misconfigured topics (a clear
    // message naming `imgpipe topics create`), rather than fail every upload.
    require_topics(bus_options(options));
    auto bus = open_bus(bus_options(options), db.get());
    storage::ImageIndex index(*db);
    workers::image::init_engine(options.worker.engine);

    const auto disk_dirs = storage::one_dir_per_filesystem({data.string(), blobs.root().string()});
    std::unique_ptr<workers::IngestPipeline> pipeline;
    if (options.run_worker) {
      options.worker.disk_dirs = disk_dirs;
      pipeline = std::make_unique<workers::IngestPipeline>(*bus, blobs, options.worker);
      pipeline->start();
    }
    std::unique_ptr<gateway::accounts::AccountsService> accounts;
    std::unique_ptr<gateway::Gateway> gw;
    std::unique_ptr<gateway::HttpServer> http;
    if (options.run_gateway) {
      options.gateway.instance_id = "gw-" + std::to_string(::getpid());
      options.gateway.disk_dirs = disk_dirs;
      if (!options.accounts.clock_file.empty()) {
        options.gateway.clock = gateway::accounts::offset_file_clock(options.accounts.clock_file);
        log::warn("test_clock", {{"clock_file", options.accounts.clock_file}});
      }
      accounts = std::make_unique<gateway::accounts::AccountsService>(make_accounts_config(options.accounts, data),
                                                                      options.gateway, *bus, *db, index);
      options.gateway.owner_is_permanent = [a = accounts.get()](const std::string& owner) {
        return a->owner_is_permanent(owner);
      };
      gw = std::make_unique<gateway::Gateway>(options.gateway, *bus, index, blobs, *accounts);
      gw->start();
      options.http.on_response = [g = gw.get()](const gateway::AccessRecord& r) { g->observe(r); };
      http = std::make_unique<gateway::HttpServer>(options.http, *gw);
      http->start();
      write_admin_url(data, options.http.listen, http->port());
    }
    // A worker-only process has no gateway to ask: its own small server for /metrics and /healthz.
    std::unique_ptr<WorkerStatusHandler> status;
    if (!http && pipeline && !options.metrics_listen.empty()) {
      status = std::make_unique<WorkerStatusHandler>(*pipeline);
      auto config = options.http;
      config.listen = options.metrics_listen;
      config.threads = 1;
      config.on_response = nullptr;
      http = std::make_unique<gateway::HttpServer>(config, *status);
      http->start();
      log::info("metrics_listening", {{"listen", options.metrics_listen}, {"port", http->port()}});
    }
    // Blobs and manifests are judged against this index: only where it sees
    // every image, i.e. one process on the embedded bus.
    auto sweep_config = options.storage.sweep;
    sweep_config.collect_blobs = gw != nullptr && options.kafka.empty();
    storage::LeftoverSweeper sweeper(blobs, *db, *bus, sweep_config,
                                     [g = gw.get()] { return g != nullptr && g->ready(); });
    if (sweep_config.interval.count() > 0) sweeper.start();
    register_gauges(*bus, blobs, gw ? &index : nullptr, pipeline.get(), gw.get(), http.get());
    register_storage_gauges(*db, blobs, sweeper);
    log::info("started", {{"command", command}, {"bus", bus->kind()}, {"listen", options.http.listen},
                          {"public_url", options.gateway.public_url}, {"data_dir", options.data_dir},
                          {"gateway", options.run_gateway}, {"worker", options.run_worker}});
    // For a person at a terminal, so on stdout: stderr carries JSON lines only.
    if (http) std::cout << "imgpipe: serving on http://" << options.http.listen << " (open " << options.gateway.public_url << ")" << std::endl;

    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGUSR1 && pipeline) pipeline->pause();
      else if (sig == SIGUSR2 && pipeline) pipeline->resume();
      else if (sig == SIGTERM || sig == SIGINT) break;
    }
    constexpr auto kDrain = std::chrono::seconds(15);
    log::info("stopping", {{"drain_seconds", kDrain.count()}});
    // Uploads still waiting for their worker get 503 + Retry-After 3 s before
    // the drain ends, while their connections can still carry an answer.
    if (gw) gw->drain_by(std::chrono::steady_clock::now() + kDrain - std::chrono::seconds(3));
    if (http) http->stop(kDrain);
    if (gw) gw->stop();
    if (pipeline) pipeline->stop();
    sweeper.stop();
    metrics::clear_gauges();
    log::info("stopped");
    return 0;
  } catch (const std::exception& e) {
    log::error("fatal", {{"command", command}, {"error", e.what()}});  // the one report of it
    return 1;
  }
}

}  // namespace imgpipe::ops
