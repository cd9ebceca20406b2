#pragma once
// Which partition a message key goes to, the same rule in both transports:
// Kafka's default partitioner (murmur2 of the key, made positive, modulo the
// partition count) applied to the key's partition part, what comes before a
// '#'. So "id#variants" lands beside "id": an image's events stay in order
// in one partition while a compacted topic keeps the newest record of each
// key (schemas::event_key says which events have their own key).
#include <cstdint>
#include <string_view>

namespace imgpipe::storage {

// Kafka's murmur2 (clients/.../utils/Utils.java, librdkafka's rd_murmur2).
uint32_t murmur2(std::string_view data);

// The part of `key` that chooses its partition: up to the first '#'.
std::string_view partition_part(std::string_view key);

// The partition of a non-empty key among `partitions` (> 0).
int32_t partition_for(std::string_view key, int32_t partitions);

}  // namespace imgpipe::storage
