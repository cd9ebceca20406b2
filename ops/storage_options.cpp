#include "ops/storage_options.h"

#include <boost/program_options.hpp>

namespace imgpipe::ops {
namespace po = boost::program_options;

void add_storage_options(po::options_description& all, StorageOptions& o) {
  po::options_description d("Disk (bounded growth)");
  d.add_options()
      ("staging-dir", po::value(&o.staging_dir)->default_value(""),
       "folder for uploads being received; empty: <blob dir>/staging (may be its own filesystem)")
      ("bus-retention-days", po::value<double>()->default_value(7),
       "embedded bus: ingest jobs and dead letters are kept this long (replay reaches back this far); 0: no age limit")
      ("bus-retention-mb", po::value<double>()->default_value(1024),
       "embedded bus: ingest jobs and dead letters kept per partition, MB; 0: no size limit")
      ("bus-tombstone-hours", po::value<double>()->default_value(24),
       "embedded bus: how long a deleted image's event stays in the compacted images topic")
      ("bus-retention-interval", po::value<double>()->default_value(300),
       "embedded bus: seconds between retention passes; 0: never")
      ("leftover-sweep-interval", po::value<double>()->default_value(600),
       "seconds between sweeps of crash leftovers and unreferenced blobs; 0: never")
      ("leftover-sweep-grace", po::value<double>()->default_value(3600),
       "seconds a file must be untouched before the sweeper may remove it (keep it above --job-deadline)");
  all.add(d);
}

std::vector<std::string> check_storage_options(const po::variables_map& vm, StorageOptions& o) {
  std::vector<std::string> problems;
  auto value = [&](const char* name) {
    const double v = vm[name].as<double>();
    if (v < 0) problems.push_back(std::string("--") + name + " must not be negative");
    return std::max(v, 0.0);
  };
  o.bus.retention_ms = static_cast<int64_t>(value("bus-retention-days") * 24 * 3600 * 1000);
  o.bus.retention_bytes = static_cast<int64_t>(value("bus-retention-mb") * (1 << 20));
  o.bus.tombstone_ms = static_cast<int64_t>(value("bus-tombstone-hours") * 3600 * 1000);
  o.bus.retention_interval = std::chrono::milliseconds(static_cast<int64_t>(value("bus-retention-interval") * 1000));
  o.sweep.interval = std::chrono::milliseconds(static_cast<int64_t>(value("leftover-sweep-interval") * 1000));
  o.sweep.grace = std::chrono::seconds(static_cast<int64_t>(value("leftover-sweep-grace")));
  return problems;
}

}  // namespace imgpipe::ops
