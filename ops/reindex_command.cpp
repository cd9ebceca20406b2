// imgpipe reindex: rebuilds this data dir's index from the images topic, from
// scratch (the topic is compacted: the last event per image is its state).
// Offline: the gateway that owns the data dir must be stopped.
#include "ops/maintenance_commands.h"

#include <chrono>
#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>

#include "gateway/accounts/usage_ledger.h"
#include "ops/bus_setup.h"
#include "schemas/log.h"
#include "schemas/messages.h"
#include "storage/db.h"
#include "storage/image_index.h"

namespace imgpipe::ops {
namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

int reindex_command(int argc, char** argv) {
  BusOptions bus;
  std::vector<std::string> raw_kv;
  std::string data_dir = "./data";
  int idle_seconds = 30;
  po::options_description d("Options");
  d.add_options()("help,h", "show this help")
      ("data-dir", po::value(&data_dir)->default_value(data_dir), "the gateway's data dir whose index is rebuilt");
  add_bus_flags(d, bus, raw_kv);
  d.add_options()("idle-timeout", po::value(&idle_seconds)->default_value(idle_seconds),
                  "give up when no event arrives for this many seconds before the end is reached");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, d), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "imgpipe reindex: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "Usage: imgpipe reindex --data-dir D [--kafka HOST:PORT --topic-prefix P]\n\n"
                 "Forgets the image index in D and rebuilds it from the images topic. Stop the imgpipe\n"
                 "process that uses D first (gateway or serve); image files are not touched.\n\n"
              << d << "\n";
    return 0;
  }
  for (const auto& p : parse_kafka_config(raw_kv, bus)) return std::cerr << "imgpipe reindex: " << p << "\n", 2;
  log::setup("warn");

  const auto index_dir = std::filesystem::path(data_dir) / "index";
  if (!std::filesystem::exists(index_dir) && bus.kafka.empty()) {
    std::cerr << "imgpipe reindex: " << index_dir.string() << " does not exist: nothing to rebuild from\n";
    return 1;
  }
  if (index_in_use(index_dir.string())) {
    std::cerr << "imgpipe reindex: the data dir " << data_dir
              << " is in use by a running imgpipe process (its index is locked).\n"
                 "Stop that gateway first (it serves from this index), or rebuild into a fresh --data-dir\n"
                 "and start a gateway on it.\n";
    return 1;
  }
  try {
    std::filesystem::create_directories(index_dir);
    auto db = storage::Db::open(index_dir);
    require_topics(bus);
    auto b = open_bus(bus, db.get());
    storage::ImageIndex index(*db);
    // Usage per owner and blob references live beside the index (cf::listings) and are rebuilt with it.
    gateway::accounts::UsageLedger ledger(*db, index, gateway::accounts::system_clock());

    std::map<int32_t, int64_t> target;  // partition -> high watermark at start
    int64_t total = 0;
    for (const auto& p : b->describe(storage::topics::images, "")) {
      if (p.high > p.low) target[p.partition] = p.high;
      total += p.high - p.low;
    }
    index.clear();
    std::cerr << "imgpipe reindex: index cleared; reading " << total << " events from " << target.size()
              << " partition(s) of the images topic\n";
    auto reader = b->read(storage::topics::images, storage::StartAt::from_beginning());
    int64_t applied = 0, skipped = 0;
    auto last_progress = Clock::now(), last_message = Clock::now();
    const auto started = Clock::now();
    while (!target.empty()) {
      auto m = reader->poll(std::chrono::milliseconds(200));
      if (Clock::now() - last_progress > std::chrono::seconds(2)) {
        last_progress = Clock::now();
        std::cerr << "imgpipe reindex: " << applied + skipped << " / ~" << total << " events\n";
      }
      if (!m) {
        if (Clock::now() - last_message > std::chrono::seconds(idle_seconds)) {
          std::cerr << "imgpipe reindex: no event for " << idle_seconds << " s with " << target.size()
                    << " partition(s) not at their end; is the bus reachable? The index is incomplete.\n";
          return 1;
        }
        continue;
      }
      last_message = Clock::now();
      try {
        auto event = schemas::decode_image_event(m->value);
        ledger.observe(event);
        index.apply(event, m->partition, m->offset);
        ++applied;
      } catch (const schemas::Error& e) {
        ++skipped;
        log::warn("image_event_skipped", {{"partition", m->partition}, {"offset", m->offset}, {"error", e.what()}});
      }
      auto it = target.find(m->partition);
      if (it != target.end() && m->offset + 1 >= it->second) target.erase(it);
    }
    reader->close();
    const double secs = std::chrono::duration<double>(Clock::now() - started).count();
    std::cout << "reindex done: " << applied << " events applied, " << skipped << " skipped (malformed) in "
              << secs << " s\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "imgpipe reindex: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace imgpipe::ops
