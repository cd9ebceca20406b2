// imgpipe replay: re-runs past ingest jobs (a range of the ingest topic, or of
// the DLQ) through IngestPipeline::process, the worker's own code. Jobs are
// idempotent: a job whose original is stored resumes from its manifest
// (same id, no duplicate), announces it again and regenerates missing variants.
// Like the workers it runs beside, it takes no job while a disk it writes to
// is under its reserve: it waits, and goes on when space is freed.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include <boost/program_options.hpp>

#include "ops/bus_setup.h"
#include "ops/maintenance_commands.h"
#include "ops/s3_store_setup.h"
#include "schemas/log.h"
#include "schemas/messages.h"
#include "storage/blob_store.h"
#include "storage/db.h"
#include "storage/disk_space.h"
#include "workers/disk_watch.h"
#include "workers/image/engine.h"
#include "workers/ingest_pipeline.h"
#include "workers/steps/job_context.h"

namespace imgpipe::ops {
namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

// "2025-01-31T12:00:00Z", "2025-01-31T12:00:00.250+02:00", "2025-01-31" (UTC
// midnight) -> unix milliseconds.
std::optional<int64_t> parse_iso8601(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return std::nullopt;
  size_t pos = static_cast<size_t>(n);
  int64_t millis = 0, tz_seconds = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != ' ') return std::nullopt;
    int m = 0;
    if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &m) != 3) return std::nullopt;
    pos += 1 + static_cast<size_t>(m);
    if (pos < s.size() && s[pos] == '.') {
      int64_t scale = 100;
      for (++pos; pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])); ++pos, scale /= 10)
        millis += (s[pos] - '0') * scale;
    }
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
      ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
      int th = 0, tm = 0;
      if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d", &th, &tm) != 2) return std::nullopt;
      tz_seconds = (s[pos] == '+' ? 1 : -1) * (th * 3600 + tm * 60);
      pos += 6;
    } else if (pos < s.size()) {
      return std::nullopt;
    }
    if (pos != s.size()) return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return (static_cast<int64_t>(timegm(&tm)) - tz_seconds) * 1000 + millis;
}

}  // namespace

int replay_command(int argc, char** argv) {
  BusOptions bus;
  std::vector<std::string> raw_kv;
  std::string data_dir = "./data", blob_dir, topic = storage::topics::ingest, from_time, to_time;
  int64_t from_offset = -1, to_offset = -1;
  int partition = -1, idle_seconds = 10;
  // serve's workers' reserve at its default --min-free-disk-mb (64): half of it.
  uint64_t min_free_disk_mb = 32;
  bool dry_run = false, allow_private = false;
  S3StoreFlags s3;
  po::options_description d("Options");
  d.add_options()("help,h", "show this help")
      ("data-dir", po::value(&data_dir)->default_value(data_dir), "data dir: the embedded bus's log, and the blobs unless --blob-dir")
      ("blob-dir", po::value(&blob_dir), "the (shared) blob store the workers use; default: --data-dir; with --blob-store a local cache")
      ("blob-store", po::value(&s3.location), "s3://BUCKET/PREFIX: the S3 store the workers use (staged uploads, blobs, manifests; credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
      ("s3-endpoint", po::value(&s3.endpoint), "S3 endpoint URL; default: AWS S3 in --s3-region")
      ("s3-region", po::value(&s3.region)->default_value(s3.region), "S3 region for signing")
      ("s3-path-style", po::bool_switch(&s3.path_style), "path-style addressing (endpoint/bucket/key)");
  add_bus_flags(d, bus, raw_kv);
  d.add_options()
      ("topic", po::value(&topic)->default_value(topic), "imgpipe.ingest, or imgpipe.ingest.dlq to retry dead letters (without the prefix)")
      ("from-offset", po::value(&from_offset), "first offset to replay (in every partition, or in --partition)")
      ("from-time", po::value(&from_time), "first message at or after this time, ISO 8601 (2025-01-31T12:00:00Z)")
      ("to-offset", po::value(&to_offset), "last offset to replay, inclusive; default: the end at start")
      ("to-time", po::value(&to_time), "stop at messages after this time, ISO 8601")
      ("partition", po::value(&partition), "only this partition")
      ("dry-run", po::bool_switch(&dry_run), "list what would be replayed; change nothing")
      ("import-allow-private", po::bool_switch(&allow_private), "UNSAFE: let imports fetch loopback and private addresses")
      ("min-free-disk-mb", po::value(&min_free_disk_mb)->default_value(min_free_disk_mb),
       "with less free than this on the data dir's (or blob folder's) disk, wait before the next job until space is "
       "freed, as serve's workers do (theirs: half of serve's --min-free-disk-mb); 0: off")
      ("idle-timeout", po::value(&idle_seconds)->default_value(idle_seconds), "stop when nothing arrives for this many seconds");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, d), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "imgpipe replay: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "Usage: imgpipe replay [--kafka HOST:PORT] (--from-offset N | --from-time T) [--to-offset N | --to-time T]\n"
                 "                      [--partition P] [--dry-run] [--data-dir D] [--blob-dir B | --blob-store s3://...]\n\n"
                 "Runs past ingest jobs again through the worker pipeline. Safe to repeat: a job whose image\n"
                 "exists keeps its id, creates no duplicate and regenerates missing variants.\n\n"
              << d << "\n";
    return 0;
  }
  auto problems = parse_kafka_config(raw_kv, bus);
  std::optional<int64_t> from_ms, to_ms;
  if ((from_offset >= 0) == !from_time.empty()) problems.push_back("give exactly one of --from-offset and --from-time");
  if (to_offset >= 0 && !to_time.empty()) problems.push_back("give at most one of --to-offset and --to-time");
  if (!from_time.empty() && !(from_ms = parse_iso8601(from_time))) problems.push_back("--from-time: not ISO 8601: " + from_time);
  if (!to_time.empty() && !(to_ms = parse_iso8601(to_time))) problems.push_back("--to-time: not ISO 8601: " + to_time);
  if (topic != storage::topics::ingest && topic != storage::topics::ingest_dlq)
    problems.push_back("--topic must be imgpipe.ingest or imgpipe.ingest.dlq");
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << "imgpipe replay: " << p << "\n";
    return 2;
  }
  log::setup("warn");
  const auto index_dir = std::filesystem::path(data_dir) / "index";
  if (bus.kafka.empty() && index_in_use(index_dir.string())) {
    std::cerr << "imgpipe replay: the data dir " << data_dir
              << " is in use by a running imgpipe serve (its embedded bus is locked). Stop it first;\n"
                 "with Kafka, replay runs beside the running processes.\n";
    return 1;
  }
  try {
    std::unique_ptr<storage::Db> db;
    if (bus.kafka.empty()) db = storage::Db::open(index_dir);
    require_topics(bus);
    auto b = open_bus(bus, db.get());
    storage::BlobStore blobs(blob_dir.empty() ? std::filesystem::path(data_dir) : std::filesystem::path(blob_dir));
    // Manifests, staged uploads and blobs where the workers keep them.
    if (!s3.location.empty()) blobs.set_remote(open_s3_store(s3));

    // The end of each selected partition, fixed at start: jobs published
    // while the replay runs are the live workers' business.
    std::map<int32_t, int64_t> end;    // partition -> one past the last offset to replay
    std::map<int32_t, int64_t> start;  // for --from-offset
    for (const auto& p : b->describe(topic, "")) {
      if (partition >= 0 && p.partition != partition) {
        start[p.partition] = p.high;  // not selected: start at its end
        continue;
      }
      int64_t last = to_offset >= 0 ? std::min(p.high, to_offset + 1) : p.high;
      int64_t first = from_offset >= 0 ? std::max(from_offset, p.low) : p.low;
      start[p.partition] = from_offset >= 0 ? first : p.low;
      if (last > first) end[p.partition] = last;
    }
    if (partition >= 0 && !start.count(partition)) {
      std::cerr << "imgpipe replay: " << topic << " has no partition " << partition << "\n";
      return 2;
    }
    int64_t planned = 0;
    for (const auto& [p, e] : end) planned += e - (from_offset >= 0 ? start[p] : 0);
    std::cerr << "imgpipe replay: " << topic << ", " << end.size() << " partition(s)"
              << (from_ms ? "" : ", up to " + std::to_string(planned) + " messages") << (dry_run ? " (dry run)" : "")
              << "\n";

    workers::WorkerConfig config;
    config.image_threads = std::max(2u, std::thread::hardware_concurrency());
    config.engine.vips_concurrency = 1;
    config.fetch.allow_private = allow_private;
    workers::image::init_engine(config.engine);
    workers::IngestPipeline pipeline(*b, blobs, config);  // never started: we drive process() ourselves
    const auto disk_dirs = storage::one_dir_per_filesystem({data_dir, blobs.root().string()});
    workers::DiskWatch disk(disk_dirs, min_free_disk_mb << 20);

    auto reader = b->read(topic, from_ms ? storage::StartAt::from_time(*from_ms) : storage::StartAt::from_offsets(start));
    int64_t seen = 0, resumed = 0, ran = 0, failed = 0, malformed = 0;
    auto last_progress = Clock::now(), last_message = Clock::now();
    while (!end.empty()) {
      auto m = reader->poll(std::chrono::milliseconds(200));
      if (Clock::now() - last_progress > std::chrono::seconds(2)) {
        last_progress = Clock::now();
        std::cerr << "imgpipe replay: " << seen << " jobs replayed so far\n";
      }
      if (!m) {
        if (Clock::now() - last_message > std::chrono::seconds(idle_seconds)) break;  // nothing left in range
        continue;
      }
      last_message = Clock::now();
      auto it = end.find(m->partition);
      if (it == end.end() || m->offset >= it->second) continue;
      if (m->offset + 1 >= it->second) end.erase(it);
      if (to_ms && m->timestamp_ms > *to_ms) {
        end.erase(m->partition);
        continue;
      }
      storage::BusMessage job_message = *m;
      if (topic == storage::topics::ingest_dlq) {
        // A dead letter carries the job as it was: replay that.
        try {
          auto letter = schemas::decode_dead_letter(m->value);
          job_message.topic = letter.original_topic;
          job_message.value = letter.original_value;
        } catch (const schemas::Error& e) {
          ++malformed;
          std::cerr << "  " << m->partition << "@" << m->offset << " not a dead letter: " << e.what() << "\n";
          continue;
        }
      }
      ++seen;
      std::string id, type;
      try {
        auto job = schemas::decode_ingest_job(job_message.value);
        id = job.image_id;
        type = job.type;
      } catch (const schemas::Error& e) {
        ++malformed;
        std::cerr << "  " << m->partition << "@" << m->offset << " malformed (" << e.what() << ")"
                  << (dry_run ? "" : ": dead-lettered") << "\n";
        if (!dry_run) pipeline.process(job_message);
        continue;
      }
      const bool existed = blobs.get_manifest(storage::BlobStore::manifest_of(id)).has_value();
      if (dry_run) {
        std::cout << m->partition << "@" << m->offset << " " << type << " " << id
                  << (existed ? " exists: would announce again and complete variants" : " would run") << "\n";
        existed ? ++resumed : ++ran;
        continue;
      }
      if (!disk.ok()) {
        // As a job the workers leave in the topic: nothing of it is done until there is room.
        std::cerr << "imgpipe replay: waiting before " << m->partition << "@" << m->offset << ": less than "
                  << min_free_disk_mb << " MB free (--min-free-disk-mb) on " << disk_dirs.front()
                  << (disk_dirs.size() > 1 ? " or " + disk_dirs.back() : "")
                  << "; it goes on when space is freed (Ctrl-C stops it; run again from that offset)\n";
        while (!disk.ok()) std::this_thread::sleep_for(std::chrono::seconds(1));
        std::cerr << "imgpipe replay: disk room is back, going on\n";
      }
      for (int attempt = 1;; ++attempt) {
        try {
          pipeline.process(job_message);
          break;
        } catch (const schemas::Error& e) {
          if (attempt == 5) throw;  // the bus is away: stop, the operator runs the rest later
          std::cerr << "  " << id << ": " << e.what() << "; retrying\n";
          std::this_thread::sleep_for(std::chrono::seconds(attempt));
        }
      }
      if (existed) ++resumed;
      else if (blobs.get_manifest(storage::BlobStore::manifest_of(id))) ++ran;
      else ++failed;
    }
    reader->close();
    std::cout << "replay " << (dry_run ? "(dry run) " : "") << "done: " << seen << " jobs; " << resumed
              << " already stored (same id, announced again, missing variants made), " << ran << " processed, "
              << failed << " failed (see the DLQ), " << malformed << " malformed\n";
    return failed > 0 ? 3 : 0;
  } catch (const std::exception& e) {
    std::cerr << "imgpipe replay: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace imgpipe::ops
