#pragma once
// RocksDB's own messages go to the process's one log (spdlog) instead of a
// LOG file in the data dir. Why: with a LOG file, a full disk makes RocksDB's
// next log line abort the process (7.8's WritableFileWriter asserts when
// appending after a failed write), and operators read one log, not two.

#include <memory>

namespace rocksdb {
class Logger;
}

namespace imgpipe::storage {

// Warnings and errors only: RocksDB's info chatter (options dumps, every
// flush and compaction) would drown the service's own events.
std::shared_ptr<rocksdb::Logger> make_rocksdb_logger();

}  // namespace imgpipe::storage
