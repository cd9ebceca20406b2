#include "storage/db.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "schemas/errors.h"
#include "storage/rocksdb_logger.h"

namespace imgpipe::storage {
namespace {

using schemas::Error;
using schemas::ErrorCode;

constexpr const char* all_families[] = {cf::images, cf::variants,  cf::expiry,  cf::listings,
                                        cf::keys,   cf::positions, cf::bus_log, cf::bus_groups};

// Families read mostly by exact key: a bloom filter and a hash index inside
// each data block make a miss or a hit cost one block probe.
bool point_lookup_family(std::string_view name) { return name == cf::images || name == cf::keys; }

// The one translation of rocksdb::Status. Transient conditions (I/O errors
// including a full disk, lock contention, shutdown) become 503 so clients
// retry; anything else (corruption, invalid arguments) is our bug or a broken
// disk and becomes 500. The real status goes to the log, never to a client.
[[noreturn]] void raise(const rocksdb::Status& s, std::string_view what) {
  spdlog::error("rocksdb {} failed: {}", what, s.ToString());
  if (s.IsNoSpace()) throw Error(ErrorCode::insufficient_storage, "The server has no room to store this.");
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsShutdownInProgress() ||
      s.IsNoSpace() || s.IsMemoryLimit())
    throw Error(ErrorCode::service_unavailable, "The index storage is unavailable.");
  throw Error(ErrorCode::internal_error, "The index storage failed.");
}

void check(const rocksdb::Status& s, std::string_view what) {
  if (!s.ok()) raise(s, what);
}

rocksdb::Slice slice(std::string_view v) { return {v.data(), v.size()}; }
std::string_view view(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// The smallest string greater than every string starting with `prefix`;
// empty when there is none (prefix all 0xff).
std::string prefix_successor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(s.back());
    if (c != 0xff) {
      ++c;
      return s;
    }
    s.pop_back();
  }
  return s;
}

class RocksDb final : public Db {
 public:
  explicit RocksDb(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      spdlog::error("cannot create index folder {}: {}", dir.string(), ec.message());
      throw Error(ErrorCode::service_unavailable, "The index storage is unavailable.");
    }

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.IncreaseParallelism(static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
    db_options.max_open_files = 512;          // bounded file descriptors
    db_options.info_log = make_rocksdb_logger();  // no LOG file: see rocksdb_logger.h
    db_options.max_total_wal_size = 256 << 20;  // flush memtables rather than keep a huge WAL

    // A modest cache shared by every family: a small server, not a DB host.
    cache_ = rocksdb::NewLRUCache(64 << 20);

    std::vector<std::string> names(std::begin(all_families), std::end(all_families));
    // Open any family this build does not know (a newer build created it)
    // too: RocksDB refuses to open a database with families left out.
    std::vector<std::string> existing;
    if (rocksdb::DB::ListColumnFamilies(db_options, dir.string(), &existing).ok()) {
      for (auto& name : existing)
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    if (std::find(names.begin(), names.end(), rocksdb::kDefaultColumnFamilyName) == names.end())
      names.push_back(rocksdb::kDefaultColumnFamilyName);

    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (auto& name : names) descriptors.emplace_back(name, family_options(name));

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    check(rocksdb::DB::Open(db_options, dir.string(), descriptors, &handles, &raw), "open");
    db_.reset(raw);
    for (auto* h : handles) handles_.emplace(h->GetName(), h);
  }

  ~RocksDb() override {
    for (auto& [name, h] : handles_) db_->DestroyColumnFamilyHandle(h);
    auto s = db_->Close();
    if (!s.ok()) spdlog::warn("rocksdb close: {}", s.ToString());
  }

  std::optional<std::string> get(std::string_view column_family, std::string_view key) override {
    rocksdb::PinnableSlice value;
    auto s = db_->Get(rocksdb::ReadOptions(), handle(column_family), slice(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    check(s, "get");
    return value.ToString();
  }

  void put(std::string_view column_family, std::string_view key, std::string_view value, bool sync) override {
    resume_if_stopped();
    check_write(db_->Put(write_options(sync), handle(column_family), slice(key), slice(value)), "put");
  }

  void remove(std::string_view column_family, std::string_view key, bool sync) override {
    resume_if_stopped();
    check_write(db_->Delete(write_options(sync), handle(column_family), slice(key)), "delete");
  }

  void write(const std::vector<WriteOp>& batch, bool sync) override {
    rocksdb::WriteBatch wb;
    for (const auto& op : batch) {
      auto* h = handle(op.column_family);
      if (op.kind == WriteOp::Kind::put)
        check(wb.Put(h, op.key, op.value), "batch put");
      else
        check(wb.Delete(h, op.key), "batch delete");
    }
    resume_if_stopped();
    check_write(db_->Write(write_options(sync), &wb), "write");
  }

  void scan(std::string_view column_family, std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& visit,
            std::string_view start) override {
    auto upper = prefix_successor(prefix);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions options;
    if (!upper.empty()) options.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, handle(column_family)));
    it->Seek(slice(start > prefix ? start : prefix));
    for (; it->Valid(); it->Next()) {
      if (!visit(view(it->key()), view(it->value()))) return;
    }
    check(it->status(), "scan");
  }

  std::optional<std::pair<std::string, std::string>> last(std::string_view column_family,
                                                          std::string_view prefix) override {
    auto upper = prefix_successor(prefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(column_family)));
    if (upper.empty())
      it->SeekToLast();
    else {
      it->SeekForPrev(upper);
      // SeekForPrev lands on `upper` itself when that key exists.
      if (it->Valid() && it->key() == rocksdb::Slice(upper)) it->Prev();
    }
    if (it->Valid() && it->key().starts_with(slice(prefix)))
      return std::make_pair(it->key().ToString(), it->value().ToString());
    check(it->status(), "seek last");
    return std::nullopt;
  }

  void clear(std::string_view column_family) override {
    auto* h = handle(column_family);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), h));
    it->SeekToLast();
    check(it->status(), "clear");
    if (!it->Valid()) return;
    // One range tombstone over ["", last key + '\0'), then compact so later
    // scans do not wade through it.
    std::string end = it->key().ToString();
    end.push_back('\0');
    it.reset();
    check(db_->DeleteRange(write_options(true), h, rocksdb::Slice(), end), "clear");
    rocksdb::CompactRangeOptions compact;
    check(db_->CompactRange(compact, h, nullptr, nullptr), "compact");
  }

  void checkpoint(const std::filesystem::path& dir) override {
    rocksdb::Checkpoint* raw = nullptr;
    check(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint");
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    // log_size_for_flush 0: memtables are flushed first, so the copy holds no WAL to replay.
    check(cp->CreateCheckpoint(dir.string(), 0), "checkpoint");
  }

  void remove_range(std::string_view column_family, std::string_view begin, std::string_view end) override {
    resume_if_stopped();
    check_write(db_->DeleteRange(write_options(false), handle(column_family), slice(begin), slice(end)),
                "delete range");
  }

  void compact_range(std::string_view column_family, std::string_view begin, std::string_view end) override {
    rocksdb::CompactRangeOptions options;
    options.exclusive_manual_compaction = false;  // automatic compactions (and so writes) go on meanwhile
    // Rewrite the bottom level too: that is where old log records live.
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    const auto b = slice(begin), e = slice(end);
    check_write(db_->CompactRange(options, handle(column_family), &b, &e), "compact range");
  }

  uint64_t disk_bytes(std::string_view column_family) override {
    auto* h = handle(column_family);
    uint64_t sst = 0, mem = 0;
    db_->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &sst);
    db_->GetIntProperty(h, rocksdb::DB::Properties::kCurSizeAllMemTables, &mem);
    return sst + mem;
  }

 private:
  rocksdb::ColumnFamilyOptions family_options(std::string_view name) const {
    rocksdb::ColumnFamilyOptions options;
    options.write_buffer_size = 16 << 20;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache_;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    if (point_lookup_family(name)) {
      table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
      table.data_block_hash_table_util_ratio = 0.75;
      options.memtable_whole_key_filtering = true;
      options.memtable_prefix_bloom_size_ratio = 0.02;
    }
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    options.compression = rocksdb::kNoCompression;  // values are small JSON; keep CPU for images
    return options;
  }

  rocksdb::ColumnFamilyHandle* handle(std::string_view name) const {
    auto it = handles_.find(name);
    if (it == handles_.end()) {
      spdlog::error("unknown column family {}", name);
      throw Error(ErrorCode::internal_error, "The index storage failed.");
    }
    return it->second;
  }

  static rocksdb::WriteOptions write_options(bool sync) {
    rocksdb::WriteOptions o;
    o.sync = sync;
    return o;
  }

  // A failed write to a full disk stops RocksDB's writes (a "background
  // error") until Resume(); reads go on. Once a write failed, each later write
  // first tries Resume() (at most once a second), so writes come back on
  // their own once space is freed, without a restart.
  void check_write(const rocksdb::Status& s, std::string_view what) {
    if (s.ok()) return;
    if (s.IsIOError() || s.IsNoSpace()) stopped_.store(true);
    raise(s, what);
  }

  void resume_if_stopped() {
    if (!stopped_.load()) return;
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch()).count();
    int64_t last = last_resume_ms_.load();
    if (now - last < 1000 || !last_resume_ms_.compare_exchange_strong(last, now)) return;
    auto s = db_->Resume();
    if (s.ok()) {
      stopped_.store(false);
      spdlog::info("rocksdb writes resumed after a storage error");
    } else {
      spdlog::warn("rocksdb resume: {}", s.ToString());
    }
  }

  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> last_resume_ms_{0};
  std::shared_ptr<rocksdb::Cache> cache_;
  std::unique_ptr<rocksdb::DB> db_;
  // Filled once at open, read-only afterwards: no lock needed.
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> handles_;
};

}  // namespace

std::unique_ptr<Db> Db::open(const std::filesystem::path& dir) { return std::make_unique<RocksDb>(dir); }

std::optional<std::pair<std::string, std::string>> Db::last(std::string_view column_family,
                                                            std::string_view prefix) {
  std::optional<std::pair<std::string, std::string>> result;
  scan(column_family, prefix, [&](std::string_view k, std::string_view v) {
    result.emplace(std::string(k), std::string(v));
    return true;
  });
  return result;
}

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 3; i >= 0; --i, v >>= 8) s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
  return s;
}

std::string be64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
  return s;
}

uint32_t read_be32(std::string_view s) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

uint64_t read_be64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

}  // namespace imgpipe::storage
