#include "storage/partition_key.h"

namespace imgpipe::storage {

// A fixed hash: a key maps to the same partition in every build, in both
// transports and in Kafka's Java clients.
uint32_t murmur2(std::string_view data) {
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const auto len = static_cast<uint32_t>(data.size());
  uint32_t h = 0x9747b28c ^ len;
  const auto* b = reinterpret_cast<const unsigned char*>(data.data());
  const uint32_t blocks = len / 4;
  for (uint32_t i = 0; i < blocks; ++i) {
    uint32_t k = b[4 * i] | (b[4 * i + 1] << 8) | (b[4 * i + 2] << 16) | (static_cast<uint32_t>(b[4 * i + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint32_t tail = len & ~3u;
  switch (len % 4) {
    case 3:
      h ^= static_cast<uint32_t>(b[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(b[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= b[tail];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

std::string_view partition_part(std::string_view key) { return key.substr(0, key.find('#')); }

int32_t partition_for(std::string_view key, int32_t partitions) {
  return static_cast<int32_t>((murmur2(partition_part(key)) & 0x7fffffff) % static_cast<uint32_t>(partitions));
}

}  // namespace imgpipe::storage
