#pragma once
// The S3 store the integration tests use: IMGPIPE_TEST_S3 (the endpoint),
// IMGPIPE_TEST_S3_BUCKET, _ACCESS_KEY and _SECRET_KEY (ops/test starts
// SeaweedFS with ops/s3/start and sets them), under a fresh prefix per test.

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>

#include "storage/s3/s3_config.h"

namespace imgpipe::storage::s3::testenv {

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A fresh prefix per test so runs never see each other's objects.
inline std::string fresh_prefix() {
  std::random_device rd;
  return "test/" + std::to_string(rd()) + std::to_string(rd());
}

// Fails the test (never skips) when the store is not named.
inline S3Config test_store_config() {
  S3Config cfg;
  cfg.endpoint = env("IMGPIPE_TEST_S3");
  if (cfg.endpoint.empty()) ADD_FAILURE() << "IMGPIPE_TEST_S3 is not set (ops/test starts SeaweedFS: ops/s3/start)";
  cfg.bucket = env("IMGPIPE_TEST_S3_BUCKET");
  cfg.access_key = env("IMGPIPE_TEST_S3_ACCESS_KEY");
  cfg.secret_key = env("IMGPIPE_TEST_S3_SECRET_KEY");
  cfg.path_style = true;  // an IP address endpoint
  cfg.prefix = fresh_prefix();
  return cfg;
}

}  // namespace imgpipe::storage::s3::testenv
