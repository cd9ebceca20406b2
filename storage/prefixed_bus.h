#pragma once
// A Bus decorator that puts several installations (or test runs) on one
// cluster: every logical topic name ("imgpipe.ingest") and consumer group
// becomes prefix + name on the wire, and messages come back with the logical
// name in BusMessage::topic. The one place bus traffic gets --topic-prefix
// (topic admin names the same topics through ops/bus_setup.h topic_specs());
// the code above sees the names of storage/bus.h only.

#include <memory>
#include <string>

#include "storage/bus.h"

namespace imgpipe::storage {

// Returns `inner` itself when `prefix` is empty.
std::unique_ptr<Bus> make_prefixed_bus(std::unique_ptr<Bus> inner, std::string prefix);

}  // namespace imgpipe::storage
