#pragma once
// The flags of `imgpipe serve` that keep its disk use bounded: the embedded
// bus's topic policies, the leftover sweeper and a separate staging folder.

#include <chrono>
#include <string>
#include <vector>

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include "storage/embedded_bus.h"
#include "storage/leftover_sweeper.h"

namespace imgpipe::ops {

struct StorageOptions {
  std::string staging_dir;              // --staging-dir: empty = <blob dir>/staging
  storage::EmbeddedBusConfig bus;       // retention fields only (partitions come from --embedded-partitions)
  storage::SweepConfig sweep;
};

void add_storage_options(boost::program_options::options_description& all, StorageOptions& o);
// Turns the raw flag values into `o`; returns every problem.
std::vector<std::string> check_storage_options(const boost::program_options::variables_map& vm, StorageOptions& o);

}  // namespace imgpipe::ops
