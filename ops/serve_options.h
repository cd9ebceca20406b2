#pragma once
// Every flag of `imgpipe serve|gateway|worker`, with its default, its
// IMGPIPE_* environment name and its help line, in one place.

#include <string>
#include <utility>
#include <vector>

#include "gateway/gateway_config.h"
#include "gateway/http/http_server.h"
#include "ops/account_options.h"
#include "ops/storage_options.h"
#include "workers/worker_config.h"

namespace imgpipe::ops {

struct ServeOptions {
  std::string data_dir = "./data";
  std::string blob_dir;  // --blob-dir: empty = data_dir; a shared filesystem when gateways and workers run apart
  std::string blob_store;  // --blob-store s3://BUCKET/PREFIX: blobs, staging and manifests in S3 (docs/s3.md)
  std::string s3_endpoint, s3_region = "us-east-1";
  bool s3_path_style = false;
  uint64_t blob_cache_mb = 1024;  // --blob-cache-mb: the local read cache of the store's blobs
  std::string blob_fallback;      // --blob-fallback DIR: the old folder store, read during a move
  std::string log_level = "info";
  std::string kafka;                                       // empty: the embedded bus
  std::vector<std::pair<std::string, std::string>> kafka_config;
  std::string topic_prefix;
  int embedded_partitions = 1;
  gateway::GatewayConfig gateway;
  AccountOptions accounts;                                 // ops/account_options.h
  StorageOptions storage;                                  // ops/storage_options.h
  gateway::HttpServerConfig http;
  workers::WorkerConfig worker;
  std::string metrics_listen;  // --metrics-listen (worker only): HOST:PORT of /metrics and /healthz
  bool run_gateway = true;
  bool run_worker = true;
};

// Parses argv (after the subcommand) and IMGPIPE_* variables; flags win.
// Prints help and exits 0 on --help; reports every problem at once and
// exits 2 on bad input.
ServeOptions parse_serve_options(const std::string& command, int argc, char** argv);

}  // namespace imgpipe::ops
