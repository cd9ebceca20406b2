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
#include "storage/topic_follower.h"

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

    auto last_progress = Clock::now();
    storage::TopicFollower follower(
        *b, *db,
        {storage::topics::images, storage::ImageIndex::positions_name, std::chrono::milliseconds(200),
         [&](const storage::TopicFollower& f) {
           if (Clock::now() - last_progress < std::chrono::seconds(2)) return;
           last_progress = Clock::now();
           std::cerr << "imgpipe reindex: " << f.applied() + f.skipped() << " / ~" << f.behind_at_start()
                     << " events\n";
         }},
        [&](const storage::BusMessage& m, storage::WriteOp position) {
          auto event = schemas::decode_image_event(m.value);
          ledger.observe(event);
          index.apply(event, {std::move(position)});
        });
    index.clear();
    follower.forget_positions();
    std::cerr << "imgpipe reindex: index cleared; reading the images topic from the beginning\n";
    const auto started = Clock::now();
    if (!follower.catch_up(std::chrono::seconds(idle_seconds))) {
      std::cerr << "imgpipe reindex: no event for " << idle_seconds
                << " s before every partition reached its end; is the bus reachable? The index is incomplete.\n";
      return 1;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - started).count();
    std::cout << "reindex done: " << follower.applied() << " events applied, " << follower.skipped()
              << " skipped (malformed) in " << secs << " s\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "imgpipe reindex: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace imgpipe::ops
