#pragma once
// New images stop before the disk is full. Below --min-free-disk-mb free on
// the data dir's filesystem (or the blob folder's), a create answers 507 with
// Retry-After before a byte of its body is read. The headroom is for what is
// already under way: images accepted a moment ago, their variants, and
// RocksDB (index, embedded bus), which stops writing on ENOSPC and resumes
// only once 16 MB (its write buffer) are free again.

#include "gateway/gateway_config.h"

namespace imgpipe::gateway {

// Throws insufficient_storage (507, Retry-After) when a watched folder's
// filesystem has less than config.min_free_disk_bytes available.
void require_disk_room(const GatewayConfig& config);

}  // namespace imgpipe::gateway
