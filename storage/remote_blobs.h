#pragma once
// A store of record behind the local BlobStore (storage/s3/ implements it on
// an S3 bucket). With one set, blobs, staged uploads and manifests live
// there and the local folder only caches blobs that were read.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace imgpipe::storage {

class RemoteBlobs {
 public:
  virtual ~RemoteBlobs() = default;
  // Create-only: identical bytes already there are left as they are.
  virtual void put_blob(const std::string& sha256, std::string_view bytes) = 0;
  virtual std::optional<uint64_t> blob_size(const std::string& sha256) = 0;
  // Streams the blob into `file` (created or truncated); false when there is none.
  virtual bool get_blob_to(const std::string& sha256, const std::filesystem::path& file) = 0;
  virtual void remove_blob(const std::string& sha256) = 0;

  // Staged uploads by file name: sent from a local file, fetched into one.
  virtual void put_staged_from(const std::string& name, const std::filesystem::path& file) = 0;
  virtual bool get_staged_to(const std::string& name, const std::filesystem::path& file) = 0;
  virtual void remove_staged(const std::string& name) = 0;

  virtual void put_manifest(const std::string& name, std::string_view content) = 0;
  virtual std::optional<std::string> get_manifest(const std::string& name) = 0;
};

}  // namespace imgpipe::storage
