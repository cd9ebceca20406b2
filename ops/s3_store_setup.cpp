#include "ops/s3_store_setup.h"

#include <stdexcept>

#include "schemas/log.h"

namespace imgpipe::ops {

std::shared_ptr<storage::s3::S3BlobStore> open_s3_store(const S3StoreFlags& flags) {
  storage::s3::S3Config cfg;
  cfg.endpoint = flags.endpoint;
  cfg.region = flags.region;
  cfg.path_style = flags.path_style;
  try {
    storage::s3::parse_s3_location(flags.location, cfg);
    storage::s3::credentials_from_environment(cfg);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("--blob-store: ") + e.what());
  }
  auto store = std::make_shared<storage::s3::S3BlobStore>(std::move(cfg));
  store->check_writable();
  log::info("blob_store", {{"store", flags.location}, {"endpoint", store->client().config().endpoint}});
  return store;
}

}  // namespace imgpipe::ops
