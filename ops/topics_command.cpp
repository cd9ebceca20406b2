// imgpipe topics create|check: creates imgpipe's Kafka topics with their
// policies (idempotent: existing topics are left alone) or checks them.
#include "ops/topics_command.h"

#include <iostream>

#include <boost/program_options.hpp>

#include "ops/bus_setup.h"
#include "schemas/log.h"
#include "storage/kafka/topics.h"

namespace imgpipe::ops {
namespace po = boost::program_options;

int topics_command(int argc, char** argv) {
  // argv[0] is "topics"; argv[1] the action.
  const std::string action = argc >= 2 ? argv[1] : "";
  BusOptions bus;
  std::vector<std::string> raw_kv;
  int partitions = 4, replication = 1;
  po::options_description d("Options");
  d.add_options()("help,h", "show this help");
  add_bus_flags(d, bus, raw_kv, /*embedded=*/false);
  d.add_options()
      ("partitions", po::value(&partitions)->default_value(partitions), "partitions per topic (create): the most worker processes that share the ingest topic")
      ("replication", po::value(&replication)->default_value(replication), "replicas per partition (create): 3 in production, 1 on a single broker")
      ("log-level", po::value<std::string>()->default_value("warn"), "debug, info, warn or error");
  auto usage = [&] {
    std::cout << "Usage: imgpipe topics create|check --kafka HOST:PORT [options]\n\n"
                 "  create  creates the four topics with their policies; existing ones are left as they are\n"
                 "  check   reports missing or misconfigured topics (exit 1 if any)\n\n"
              << d << "\n";
  };
  if (action == "--help" || action == "-h" || action == "help") return usage(), 0;
  if (action.empty()) {
    std::cerr << "imgpipe topics: say 'create' or 'check'\n";
    return usage(), 2;
  }
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc - 1, argv + 1, d), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "imgpipe topics: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) return usage(), 0;
  auto problems = parse_kafka_config(raw_kv, bus);
  if (action != "create" && action != "check") problems.push_back("say 'create' or 'check'");
  if (bus.kafka.empty()) problems.push_back("--kafka HOST:PORT is required (the embedded bus needs no topics)");
  if (partitions < 1 || replication < 1) problems.push_back("--partitions and --replication must be >= 1");
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << "imgpipe topics: " << p << "\n";
    return 2;
  }
  log::setup(vm["log-level"].as<std::string>());
  const auto specs = topic_specs(bus.topic_prefix);
  try {
    if (action == "create") {
      storage::kafka::create_topics(bus.kafka, bus.kafka_config, partitions, replication, specs);
      for (const auto& s : specs) std::cout << "topic " << s.name << " (" << s.cleanup_policy << ") ok\n";
    }
    auto found = storage::kafka::check_topics(bus.kafka, bus.kafka_config, specs);
    for (const auto& p : found) std::cerr << "imgpipe topics: " << p << "\n";
    if (!found.empty()) return 1;
    if (action == "check") std::cout << "all " << specs.size() << " topics are present with their policies\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "imgpipe topics " << action << ": " << e.what() << " (is Kafka reachable at " << bus.kafka << "?)\n";
    return 1;
  }
}

}  // namespace imgpipe::ops
