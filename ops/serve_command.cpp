#include "ops/serve_command.h"

#include <csignal>
#include <filesystem>
#include <iostream>
#include <pthread.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "gateway/http/http_server.h"
#include "ops/serve_options.h"
#include "schemas/log.h"
#include "storage/blob_store.h"
#include "storage/db.h"
#include "storage/embedded_bus.h"
#include "storage/image_index.h"
#include "storage/kafka/kafka_bus.h"
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

std::unique_ptr<storage::Bus> make_bus(const ServeOptions& o, storage::Db& db) {
  if (o.kafka.empty()) return storage::make_embedded_bus(db, {o.embedded_partitions});
  storage::kafka::KafkaBusConfig kc;
  kc.brokers = o.kafka;
  kc.overrides = o.kafka_config;
  return storage::kafka::make_kafka_bus(kc);
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
    storage::BlobStore blobs(data);
    auto bus = make_bus(options, *db);
    storage::ImageIndex index(*db);
    workers::image::init_engine(options.worker.engine);

    std::unique_ptr<workers::IngestPipeline> pipeline;
    if (options.run_worker) {
      pipeline = std::make_unique<workers::IngestPipeline>(*bus, blobs, options.worker);
      pipeline->start();
    }
    std::unique_ptr<gateway::Gateway> gw;
    std::unique_ptr<gateway::HttpServer> http;
    if (options.run_gateway) {
      options.gateway.instance_id = "gw-" + std::to_string(::getpid());
      gw = std::make_unique<gateway::Gateway>(options.gateway, *bus, index, blobs);
      gw->start();
      http = std::make_unique<gateway::HttpServer>(options.http, *gw);
      http->start();
    }
    log::info("started", {{"command", command}, {"bus", bus->kind()}, {"listen", options.http.listen},
                          {"public_url", options.gateway.public_url}, {"data_dir", options.data_dir},
                          {"gateway", options.run_gateway}, {"worker", options.run_worker}});
    if (http) std::cerr << "imgpipe: serving on http://" << options.http.listen << " (open " << options.gateway.public_url << ")\n";

    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGUSR1 && pipeline) pipeline->pause();
      else if (sig == SIGUSR2 && pipeline) pipeline->resume();
      else if (sig == SIGTERM || sig == SIGINT) break;
    }
    log::info("stopping", {{"drain_seconds", 15}});
    if (http) http->stop(std::chrono::seconds(15));
    if (gw) gw->stop();
    if (pipeline) pipeline->stop();
    log::info("stopped");
    return 0;
  } catch (const std::exception& e) {
    log::error("fatal", {{"error", e.what()}});
    std::cerr << "imgpipe " << command << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace imgpipe::ops
