#pragma once
// The embedded bus: Kafka's model (topics, partitions, offsets, consumer
// groups) over a durable log in this process's RocksDB, so one machine needs
// no external service and a crash loses nothing. A publish is acknowledged
// after a synced write; concurrent publishes share one sync (group commit).

#include <memory>

#include "storage/bus.h"
#include "storage/db.h"

namespace imgpipe::storage {

struct EmbeddedBusConfig {
  int partitions = 1;  // per topic
};

std::unique_ptr<Bus> make_embedded_bus(Db& db, const EmbeddedBusConfig& config = {});

}  // namespace imgpipe::storage
