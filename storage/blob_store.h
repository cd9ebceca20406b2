#pragma once
// Content-addressed blob files: written to a temporary name, fsynced, renamed,
// the folder fsynced; identical bytes are stored once. Also holds the staging
// folder for uploads and small named manifests, on the same filesystem so a
// rename is atomic (a shared filesystem in the distributed mode).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/blob_cache.h"
#include "storage/remote_blobs.h"

namespace imgpipe::storage {

class BlobStore {
 public:
  // Layout under root: blobs/ab/<sha256>, staging/, manifests/<name>.
  // `staging` (--staging-dir) puts the staging folder elsewhere, e.g. on its
  // own filesystem so a flood of uploads cannot fill the blobs' disk.
  explicit BlobStore(std::filesystem::path root, std::filesystem::path staging = {});

  // Stores `bytes` durably; returns their sha256 (lowercase hex). Idempotent.
  std::string put(std::string_view bytes);

  bool contains(const std::string& sha256) const;
  std::filesystem::path path_of(const std::string& sha256) const;
  std::optional<uint64_t> size_of(const std::string& sha256) const;
  std::optional<std::string> read(const std::string& sha256) const;
  void remove(const std::string& sha256);

  // Small named documents written atomically (temp, fsync, rename).
  void put_manifest(const std::string& name, std::string_view content);
  std::optional<std::string> get_manifest(const std::string& name) const;
  void remove_manifest(const std::string& name);  // here and in a remote store; gone already is fine
  // The name of the manifest a worker keeps of an image's record (its
  // durable "done" marker: workers/steps, `imgpipe replay`, the ledger).
  static std::string manifest_of(const std::string& image_id) { return image_id + ".json"; }
  // A name the manifest (and staging) calls accept: letters, digits, . _ -
  static bool is_manifest_name(const std::string& name);

  const std::filesystem::path& staging_dir() const { return staging_; }
  const std::filesystem::path& root() const { return root_; }
  const std::filesystem::path& blobs_dir() const { return blobs_; }
  const std::filesystem::path& manifests_dir() const { return manifests_; }

  // For the leftover sweeper: removes `file` (a blob, manifest, staged or
  // temporary file of this store) only if it was last modified before
  // `cutoff`. A put() of the same bytes refreshes a blob's time under the
  // same lock, so a blob a new image just deduplicated against survives.
  // Returns the bytes freed, or nothing when the file was kept (or gone).
  std::optional<uint64_t> remove_if_older(const std::filesystem::path& file, std::filesystem::file_time_type cutoff);

  // With a remote store (--blob-store s3://...), blobs, staged uploads and
  // manifests live there: put() writes only to it, path_of() and read()
  // fetch a blob missing here into blobs/ first: a cache filled by reads,
  // held to `cache_bytes` (--blob-cache-mb), least recently used out first.
  static constexpr uint64_t kDefaultCacheBytes = uint64_t{1} << 30;
  void set_remote(std::shared_ptr<RemoteBlobs> remote, uint64_t cache_bytes = kDefaultCacheBytes);
  bool has_remote() const { return remote_ != nullptr; }
  const BlobCache* cache() const { return cache_.get(); }  // null without a remote store
  // --blob-fallback DIR, while `imgpipe blobs migrate` moves a folder store
  // there: blobs, staged uploads and manifests the remote store has not got
  // yet are read from DIR (never written there).
  void set_fallback(std::filesystem::path dir) { fallback_ = std::move(dir); }
  // Staged uploads by file name. With a remote store an upload streams
  // straight into its staging area (open_remote_staged; nullptr without one:
  // stage to staging_dir()); fetch brings it here when it is missing (false
  // when it is nowhere); remove deletes it here and there.
  std::unique_ptr<RemoteWriter> open_remote_staged(const std::string& name);
  bool fetch_staged(const std::string& name);
  void remove_staged(const std::string& name);

  // For the leftover sweeper, with a remote store: what one of its areas
  // holds, and the removal of a listed object unless it changed at or after
  // `cutoff`. A blob counts as changed when a put() of its bytes (which the
  // store leaves as it is, create-only) came then: the dedup a new image
  // just made survives, as with a folder's refreshed file time.
  std::vector<RemoteEntry> list_remote(RemoteArea area) const;
  bool remove_remote_if_older(RemoteArea area, const RemoteEntry& entry, std::chrono::system_clock::time_point cutoff);
  // The remote store's unfinished multipart uploads in an area (none
  // without one), and the abort of one the sweeper judged abandoned.
  std::vector<RemoteUpload> list_remote_uploads(RemoteArea area) const;
  void abort_remote_upload(RemoteArea area, const RemoteUpload& upload);

 private:
  std::filesystem::path local_path(const std::string& sha256) const;
  bool fetch_blob(const std::string& sha256) const;
  void note_remote_put(const std::string& sha256);
  bool copy_from_fallback(const std::filesystem::path& relative, const std::filesystem::path& to) const;

  std::filesystem::path root_, blobs_, staging_, manifests_;
  std::shared_ptr<RemoteBlobs> remote_;
  std::unique_ptr<BlobCache> cache_;  // of blobs/, with a remote store
  std::filesystem::path fallback_;     // --blob-fallback
  std::mutex puts_mu_;
  std::unordered_map<std::string, std::chrono::system_clock::time_point> remote_puts_;  // the last hour's
  mutable std::shared_mutex sweep_mu_;  // put()s shared, remove_if_older() exclusive
};

// sha256 of bytes, lowercase hex.
std::string sha256_hex(std::string_view bytes);

// Incremental sha256 for streams.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex();  // finishes

 private:
  void* ctx_;
};

}  // namespace imgpipe::storage
