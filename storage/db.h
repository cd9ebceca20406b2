#pragma once
// The process's RocksDB: one database, a column family per concern. Wraps
// rocksdb::Status into schemas::Error at this wall; nothing above includes
// RocksDB headers.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgpipe::storage {

// Column families, with who writes them. Every process opens all of them
// (and any a newer build left behind).
namespace cf {
// ImageIndex (storage/image_index.h), from the images topic:
inline constexpr const char* images = "images";      // image id -> ImageRecord JSON
inline constexpr const char* variants = "variants";  // id '\0' size '\0' format -> a rendered-on-demand variant (record-shaped JSON)
inline constexpr const char* expiry = "expiry";      // be64(expires_at) id -> ""
// UsageLedger (gateway/accounts/usage_ledger.h), from the images topic and
// cleared with the index: usage counters, each owner's images, blob references;
// and ImageIndex's "deleted:" id tombstones (a late event never revives an image).
// ImageIndex writes its listing keys there too (newest first: be64(INT64_MAX - created_ms)):
//   "t:" owner '\0' time id -> ""   "l:" owner '\0' label key '\0' value '\0' time id -> ""
//   "p:" be64(created_at) id -> "" (images still processing, oldest first)
inline constexpr const char* listings = "listings";
// AccountStore (gateway/accounts/account_store.h), from the accounts topic:
// "id:" key_id -> Account JSON, "h:" sha256(key) -> key_id, "e:" email '\0' key_id -> "".
inline constexpr const char* keys = "keys";
// TopicFollower (storage/topic_follower.h): name '\0' be32(partition) -> be64(next offset).
inline constexpr const char* positions = "positions";
// EmbeddedBus (storage/embedded_bus.h):
inline constexpr const char* bus_log = "bus_log";        // topic '\0' be32(partition) be64(offset) -> message
inline constexpr const char* bus_groups = "bus_groups";  // group '\0' topic '\0' be32(partition) -> be64(next)
}  // namespace cf

struct WriteOp {
  enum class Kind { put, remove } kind = Kind::put;
  std::string column_family;
  std::string key;
  std::string value;
};

class Db {
 public:
  // Opens (creating if missing) with every column family of cf::.
  static std::unique_ptr<Db> open(const std::filesystem::path& dir);
  virtual ~Db() = default;

  virtual std::optional<std::string> get(std::string_view column_family, std::string_view key) = 0;
  // `sync`: the write is on disk (WAL fsynced) when this returns.
  virtual void put(std::string_view column_family, std::string_view key, std::string_view value, bool sync) = 0;
  virtual void remove(std::string_view column_family, std::string_view key, bool sync) = 0;
  virtual void write(const std::vector<WriteOp>& batch, bool sync) = 0;  // atomic
  // Visits keys starting with `prefix` in order, from `start` (>= prefix) if given; stop by returning false.
  virtual void scan(std::string_view column_family, std::string_view prefix,
                    const std::function<bool(std::string_view key, std::string_view value)>& visit,
                    std::string_view start = {}) = 0;
  // The last key (and its value) starting with `prefix`, if any: how the
  // embedded bus recovers each partition's next offset at open. The default
  // scans forward; the RocksDB implementation seeks backwards.
  virtual std::optional<std::pair<std::string, std::string>> last(std::string_view column_family,
                                                                  std::string_view prefix);
  // Deletes every key of a column family (reindex).
  virtual void clear(std::string_view column_family) = 0;
  // A consistent copy of the whole database at this moment in `dir` (which
  // must not exist), openable with Db::open: a RocksDB checkpoint, its table
  // files hard-linked where `dir` is on the same filesystem. Writes go on meanwhile.
  virtual void checkpoint(const std::filesystem::path& dir) = 0;
  // Deletes the keys in [begin, end) with one range tombstone (not synced:
  // used for data that may come back after a crash, such as trimmed logs).
  virtual void remove_range(std::string_view column_family, std::string_view begin, std::string_view end) = 0;
  // Rewrites the files holding [begin, end) so deleted keys give their disk
  // space back; runs beside writes and reads (it does not pause them).
  virtual void compact_range(std::string_view column_family, std::string_view begin, std::string_view end) = 0;
  // Bytes on disk of a column family (table files plus memtables): /metrics.
  virtual uint64_t disk_bytes(std::string_view column_family) = 0;
};

// Big-endian encodings so that byte order is numeric order in keys.
std::string be32(uint32_t v);
std::string be64(uint64_t v);
uint32_t read_be32(std::string_view s);
uint64_t read_be64(std::string_view s);

}  // namespace imgpipe::storage
