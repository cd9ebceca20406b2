#pragma once
// Content-addressed blob files: written to a temporary name, fsynced, renamed,
// the folder fsynced; identical bytes are stored once. Also holds the staging
// folder for uploads and small named manifests, on the same filesystem so a
// rename is atomic (a shared filesystem in the distributed mode).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

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
  // fetch a blob missing here into blobs/ first (a cache filled by reads).
  void set_remote(std::shared_ptr<RemoteBlobs> remote) { remote_ = std::move(remote); }
  bool has_remote() const { return remote_ != nullptr; }
  // Staged uploads by file name in staging_dir(): publish sends a finished
  // one to the remote store; fetch brings it here when it is missing (false
  // when it is nowhere); remove deletes it here and there. Without a remote
  // store publish does nothing and fetch only looks here.
  void publish_staged(const std::string& name);
  bool fetch_staged(const std::string& name);
  void remove_staged(const std::string& name);

 private:
  std::filesystem::path local_path(const std::string& sha256) const;
  bool fetch_blob(const std::string& sha256) const;

  std::filesystem::path root_, blobs_, staging_, manifests_;
  std::shared_ptr<RemoteBlobs> remote_;
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
