#pragma once
// Opens the S3 blob store of --blob-store (or `blobs migrate --to`) the same
// way for every command: location, endpoint, region and addressing from the
// flags, credentials from the environment (never logged), then the start-up
// check that the bucket answers and takes a write under the prefix.

#include <memory>
#include <string>

#include "storage/s3/s3_blob_store.h"

namespace imgpipe::ops {

struct S3StoreFlags {
  std::string location;  // s3://BUCKET/PREFIX
  std::string endpoint;  // empty: AWS S3 in region
  std::string region = "us-east-1";
  bool path_style = false;
};

// Throws std::runtime_error naming the flag and the reason.
std::shared_ptr<storage::s3::S3BlobStore> open_s3_store(const S3StoreFlags& flags);

}  // namespace imgpipe::ops
