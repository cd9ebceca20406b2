#pragma once
// Streams a multipart upload to a staging file, or with a remote store
// (--blob-store) straight into its staging area: never whole in memory,
// hashed and sniffed as it goes, stopped at the caller's byte limit.

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "gateway/http/http_types.h"
#include "gateway/http/multipart.h"
#include "storage/blob_store.h"

namespace imgpipe::gateway {

struct StagedUpload {
  std::string file_name;  // under the blob store's staging folder
  std::string sha256;
  uint64_t bytes = 0;
  std::string original_filename;
  std::string content_type;  // the file part's, as sent
  std::string name;       // the `name` field, if sent
  std::string tags;       // the `tags` field, raw
  std::string ns;         // the `namespace` field, raw
  // The image API's text fields (POST /v1/images), raw; checked by image_fields.h.
  std::string caption, labels, metadata, is_public, ttl;
  bool has_public = false;
};

class UploadSink : public BodySink {
 public:
  // `on_complete` gets the staged file once the whole body arrived.
  UploadSink(storage::BlobStore& blobs, std::string staged_name, std::string boundary, uint64_t max_file_bytes,
             std::function<void(StagedUpload, Respond)> on_complete);
  ~UploadSink() override;

  void write(const char* data, size_t size) override;
  void finish(Respond respond) override;

 private:
  void begin_file(const MultipartPart& part);
  void file_data(const char* data, size_t size);
  void write_pending();
  void check_magic();

  storage::BlobStore& blobs_;
  uint64_t max_file_bytes_;
  std::function<void(StagedUpload, Respond)> on_complete_;
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::unique_ptr<storage::RemoteWriter> remote_;  // instead of file_ with a remote store
  storage::Sha256 hash_;
  // File bytes not yet hashed and written. The multipart parser hands data
  // over in pieces cut at every CR (about 256 bytes apart in a JPEG): batched,
  // a 2 MB upload is 8 hash updates and writes instead of ~8000 and 500.
  std::string pending_;
  std::string head_;  // first bytes, for the magic-number check
  bool magic_checked_ = false;
  bool seen_file_ = false;
  std::set<std::string> seen_fields_;  // form fields kept so far: a repeat is refused, not appended
  bool done_ = false;
  std::string* field_ = nullptr;  // the text field being read
  StagedUpload staged_;
  std::unique_ptr<MultipartParser> parser_;
};

}  // namespace imgpipe::gateway
