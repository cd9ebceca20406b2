#include "ops/serve_options.h"

#include <cstdlib>
#include <iostream>
#include <thread>

#include <boost/program_options.hpp>

namespace imgpipe::ops {
namespace po = boost::program_options;

namespace {

std::string env_name_to_option(const std::string& env) {
  // IMGPIPE_PUBLIC_URL -> public-url
  const std::string prefix = "IMGPIPE_";
  if (env.rfind(prefix, 0) != 0) return {};
  std::string name = env.substr(prefix.size());
  for (auto& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

ServeOptions parse_serve_options(const std::string& command, int argc, char** argv) {
  ServeOptions o;
  o.run_gateway = command != "worker";
  o.run_worker = command != "gateway";
  size_t cores = std::max(2u, std::thread::hardware_concurrency());
  o.worker.image_threads = cores;
  o.gateway.render_threads = cores;
  std::vector<std::string> kafka_config;
  long long anon_mb = 20;
  uint64_t src_cache_mb = o.gateway.src_cache_bytes >> 20;
  uint64_t min_free_disk_mb = o.gateway.min_free_disk_bytes >> 20;
  long long min_rate_grace_ms = o.http.min_rate_grace.count();
  uint64_t max_buffered_body_mb = o.http.max_buffered_body_bytes >> 20;
  int ingest_timeout = 60, job_deadline = 120;
  long long processing_timeout = 3600;
  long long import_timeout = 30, import_min_rate = 1024, import_min_rate_window = 10;
  bool no_pregenerate = false;

  po::options_description common("Options (each also as IMGPIPE_<NAME> in the environment, e.g. IMGPIPE_DATA_DIR)");
  common.add_options()
      ("help,h", "show this help")
      ("data-dir", po::value(&o.data_dir)->default_value(o.data_dir), "folder for the index, blobs and staging (created)")
      ("blob-dir", po::value(&o.blob_dir), "folder for blobs and staging if not --data-dir: shared by every gateway and worker of a distributed install")
      ("blob-store", po::value(&o.blob_store), "s3://BUCKET/PREFIX: blobs, staged uploads and manifests in an S3-compatible bucket (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); --blob-dir is then a local cache")
      ("s3-endpoint", po::value(&o.s3_endpoint), "S3 endpoint URL, e.g. http://10.0.0.5:8333; default: AWS S3 in --s3-region")
      ("s3-region", po::value(&o.s3_region)->default_value(o.s3_region), "S3 region for signing")
      ("s3-path-style", po::bool_switch(&o.s3_path_style), "path-style addressing (endpoint/bucket/key), needed for an endpoint given as an IP address")
      ("blob-cache-mb", po::value(&o.blob_cache_mb)->default_value(o.blob_cache_mb), "with --blob-store: size of the local disk cache of blobs read from the store (under --blob-dir or --data-dir), least recently used out first")
      ("blob-fallback", po::value(&o.blob_fallback), "with --blob-store, while `imgpipe blobs migrate` moves a folder store there: that folder, read for what the store has not got yet (docs/operations.md)")
      ("log-level", po::value(&o.log_level)->default_value(o.log_level), "debug, info, warn or error; logs are JSON lines on stderr")
      ("kafka", po::value(&o.kafka), command == "serve" ? "Kafka bootstrap servers HOST:PORT[,...]; unset: the embedded bus in --data-dir"
                                                         : "Kafka bootstrap servers HOST:PORT[,...] (required)")
      ("kafka-config", po::value(&kafka_config)->composing(), "librdkafka setting key=value, repeatable (SASL, TLS, tuning)")
      ("topic-prefix", po::value(&o.topic_prefix)->default_value(""), "prefix of every topic name (several installations on one cluster)")
      ("embedded-partitions", po::value(&o.embedded_partitions)->default_value(1), "partitions per topic of the embedded bus");
  po::options_description gw("Gateway");
  gw.add_options()
      ("listen", po::value(&o.http.listen)->default_value(o.http.listen), "HOST:PORT to serve HTTP on")
      ("public-url", po::value(&o.gateway.public_url)->default_value(o.gateway.public_url), "base URL of viewer pages and API links, as users reach it")
      ("src-url", po::value(&o.gateway.src_url)->default_value(""), "base URL of image (src) URLs; empty: --public-url")
      ("upgrade-url", po::value(&o.gateway.upgrade_url)->default_value(""), "where anonymous callers are sent to get an API key (answers and error actions); empty: <public-url>/keys")
      ("max-connections", po::value(&o.http.max_connections)->default_value(o.http.max_connections), "connections open at once from all clients; more are closed at accept (0: no cap)")
      ("max-connections-per-ip", po::value(&o.http.max_connections_per_ip)->default_value(o.http.max_connections_per_ip), "connections open at once from one TCP peer address; behind a reverse proxy that is the proxy's address: raise it or set 0 and cap per client at the proxy (docs/security.md)")
      ("max-idle-connections", po::value(&o.http.max_idle_connections)->default_value(o.http.max_idle_connections), "keep-alive connections waiting for a next request; past it answers close the connection (0: no cap)")
      ("min-receive-rate", po::value(&o.http.min_receive_rate)->default_value(o.http.min_receive_rate), "bytes/s a request's header and body must average once --min-rate-grace-ms has passed; slower clients are cut (0: off)")
      ("min-rate-grace-ms", po::value(&min_rate_grace_ms)->default_value(min_rate_grace_ms), "ms before --min-receive-rate applies to a header or body; a new connection must start its request within it")
      ("max-buffered-body-mb", po::value(&max_buffered_body_mb)->default_value(max_buffered_body_mb), "MB of request bodies read whole into memory at once over all clients (JSON, MCP messages with base64 files; uploads stream to disk); past it such a request is answered 503 with Retry-After before its body is read (0: no cap)")
      ("io-threads", po::value(&o.http.threads)->default_value(o.http.threads), "HTTP event loops, a thread each; a new connection goes to a loop waiting for work and stays on it (one serves ~50k hot requests/s; on a box shared with heavy load, fewer can be faster: docs/performance.md)")
      ("render-threads", po::value(&o.gateway.render_threads)->default_value(o.gateway.render_threads), "on-demand renders at once (default: cores)")
      ("src-cache-mb", po::value(&src_cache_mb)->default_value(src_cache_mb), "memory for hot image files up to 1 MB each (variants), MB, plus a quarter of it for renditions made for w/h/fit or colour parameters (kept in memory only); larger files are sent from disk with sendfile; 0: off")
      ("min-free-disk-mb", po::value(&min_free_disk_mb)->default_value(min_free_disk_mb),
       "with less free than this on the data dir's (or blob folder's) disk, new images answer 507 and Retry-After; "
       "the room left is for images under way and the index; below half of it, workers take no new job "
       "(it waits in the topic) until space is freed; 0: off")
      ("anonymous-max-mb", po::value(&anon_mb)->default_value(anon_mb), "largest anonymous upload or import, MB")
      ("ingest-timeout", po::value(&ingest_timeout)->default_value(ingest_timeout), "seconds an upload waits for its worker before 503")
      ("processing-timeout", po::value(&processing_timeout)->default_value(processing_timeout),
       "seconds an image may stay processing before the sweeper marks it failed (its gateway died or lost the bus "
       "before queueing the job); more than --ingest-timeout");
  po::options_description wk("Worker");
  wk.add_options()
      ("workers", po::value(&o.worker.jobs)->default_value(o.worker.jobs), "ingest jobs in flight (imports wait on the network)")
      ("image-threads", po::value(&o.worker.image_threads)->default_value(o.worker.image_threads), "jobs decoding or encoding at once (default: cores)")
      ("max-pixels", po::value(&o.worker.engine.max_pixels)->default_value(o.worker.engine.max_pixels), "largest image in pixels (width x height x frames), decided from the header")
      ("job-deadline", po::value(&job_deadline)->default_value(job_deadline), "seconds one job may take")
      ("no-pregenerate", po::bool_switch(&no_pregenerate), "do not pre-generate s/m/l variants (render on demand only)")
      ("variant-backlog", po::value(&o.worker.variant_backlog)->default_value(o.worker.variant_backlog),
       "jobs past `ready` whose variants wait or render; at this many no new job starts. Under sustained load "
       "variants then lag `ready` by about this x one image's variant CPU / cores (256: ~40 s for 4 MP photos "
       "on 2 cores); each costs ~2 KB (at most 200 KB) and is replayed after a crash")
      ("import-allow-private", po::bool_switch(&o.worker.fetch.allow_private),
       "UNSAFE: let imports fetch loopback and private addresses (tests, trusted networks only)")
      ("import-timeout", po::value(&import_timeout)->default_value(import_timeout),
       "seconds one import download may take in all (redirects included)")
      ("import-min-rate", po::value(&import_min_rate)->default_value(import_min_rate),
       "bytes per second an import download must keep up; 0: no minimum")
      ("import-min-rate-window", po::value(&import_min_rate_window)->default_value(import_min_rate_window),
       "seconds below --import-min-rate before an import is aborted");

  if (command == "worker")
    wk.add_options()("metrics-listen", po::value(&o.metrics_listen)->default_value(""),
                     "HOST:PORT serving GET /metrics and /healthz of this worker (e.g. 127.0.0.1:9464); empty: none");
  po::options_description all;
  all.add(common).add(gw).add(wk);
  po::options_description accounts, storage;
  if (command != "worker") add_account_options(accounts, o.accounts);
  add_storage_options(storage, o.storage);
  all.add(accounts).add(storage);
  // --help shows what this command uses: a worker serves no HTTP API and a
  // gateway renders no jobs (both still accept the other's flags, so one
  // environment can configure every process of an install).
  po::options_description shown;
  shown.add(common);
  if (command != "worker") shown.add(gw);
  if (command != "gateway") shown.add(wk);
  shown.add(accounts).add(storage);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    po::store(po::parse_environment(all, [&](const std::string& env) {
                auto name = env_name_to_option(env);
                return !name.empty() && all.find_nothrow(name, false) ? name : std::string();
              }), vm);
    if (vm.count("help")) {
      std::cout << "Usage: imgpipe " << command << " [options]\n\n";
      if (command == "serve") std::cout << "Runs the gateway and the workers in one process.\n\n";
      if (command == "gateway") std::cout << "Runs the HTTP gateway only (needs --kafka).\n\n";
      if (command == "worker") std::cout << "Runs the image workers only (needs --kafka).\n\n";
      std::cout << shown << "\n";
      std::exit(0);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "imgpipe " << command << ": " << e.what() << "\nSee 'imgpipe " << command << " --help'.\n";
    std::exit(2);
  }

  std::vector<std::string> problems;
  for (const auto& kv : kafka_config) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) problems.push_back("--kafka-config takes key=value, got '" + kv + "'");
    else o.kafka_config.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (anon_mb <= 0) problems.push_back("--anonymous-max-mb must be positive");
  if (min_rate_grace_ms <= 0) problems.push_back("--min-rate-grace-ms must be positive");
  if (ingest_timeout <= 0) problems.push_back("--ingest-timeout must be positive");
  if (processing_timeout <= ingest_timeout) problems.push_back("--processing-timeout must be more than --ingest-timeout");
  if (o.worker.engine.max_pixels == 0) problems.push_back("--max-pixels must be positive");
  if (import_timeout <= 0) problems.push_back("--import-timeout must be positive");
  if (import_min_rate < 0) problems.push_back("--import-min-rate must not be negative");
  if (import_min_rate_window <= 0) problems.push_back("--import-min-rate-window must be positive");
  if (o.gateway.public_url.rfind("http://", 0) != 0 && o.gateway.public_url.rfind("https://", 0) != 0)
    problems.push_back("--public-url must start with http:// or https://");
  if (!o.gateway.src_url.empty() && o.gateway.src_url.rfind("http", 0) != 0)
    problems.push_back("--src-url must start with http:// or https://");
  if (!o.gateway.upgrade_url.empty() && o.gateway.upgrade_url.rfind("http://", 0) != 0 &&
      o.gateway.upgrade_url.rfind("https://", 0) != 0)
    problems.push_back("--upgrade-url must start with http:// or https://");
  if (command != "worker")
    for (auto& p : check_account_options(vm, o.accounts)) problems.push_back(std::move(p));
  for (auto& p : check_storage_options(vm, o.storage)) problems.push_back(std::move(p));
  if (!o.blob_fallback.empty() && o.blob_store.empty()) problems.push_back("--blob-fallback needs --blob-store");
  if (o.blob_cache_mb == 0) problems.push_back("--blob-cache-mb must be positive");
  if (command != "serve" && o.kafka.empty()) problems.push_back("imgpipe " + command + " needs --kafka");
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << "imgpipe " << command << ": " << p << "\n";
    std::exit(2);
  }
  while (!o.gateway.public_url.empty() && o.gateway.public_url.back() == '/') o.gateway.public_url.pop_back();
  while (!o.gateway.src_url.empty() && o.gateway.src_url.back() == '/') o.gateway.src_url.pop_back();
  o.accounts.anonymous_max_bytes = static_cast<uint64_t>(anon_mb) << 20;
  o.gateway.src_cache_bytes = src_cache_mb << 20;
  o.gateway.min_free_disk_bytes = min_free_disk_mb << 20;
  o.worker.min_free_disk_bytes = o.gateway.min_free_disk_bytes / 2;  // workers/disk_watch.h
  o.gateway.sweep_interval_seconds = o.accounts.sweep_interval;
  o.gateway.blob_grace_seconds = o.accounts.blob_grace;
  o.http.min_rate_grace = std::chrono::milliseconds(min_rate_grace_ms);
  o.http.max_buffered_body_bytes = max_buffered_body_mb << 20;
  o.worker.default_max_bytes = o.accounts.anonymous_max_bytes;
  o.gateway.ingest_timeout = std::chrono::seconds(ingest_timeout);
  o.gateway.processing_timeout_seconds = processing_timeout;
  o.http.handler_timeout = std::chrono::seconds(ingest_timeout + 10);
  o.worker.job_deadline = std::chrono::seconds(job_deadline);
  o.worker.pregenerate_variants = !no_pregenerate;
  o.worker.fetch.total_deadline = std::chrono::seconds(import_timeout);
  o.worker.fetch.min_bytes_per_second = static_cast<uint64_t>(import_min_rate);
  o.worker.fetch.min_rate_window = std::chrono::seconds(import_min_rate_window);
  o.worker.engine.vips_concurrency = 1;  // parallelism comes from jobs, not from inside one image
  return o;
}

}  // namespace imgpipe::ops
