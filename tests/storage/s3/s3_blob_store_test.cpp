#include "storage/s3/s3_blob_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "schemas/errors.h"
#include "storage/blob_store.h"
#include "tests/storage/s3/s3_test_config.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::storage::s3 {
namespace {

// Bytes that do not repeat in a way a store could deduplicate.
std::string pseudo_random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class S3Store : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg = testenv::test_store_config();
    if (cfg.endpoint.empty()) GTEST_FAIL();
  }
  S3Config cfg;
};

TEST_F(S3Store, PutReadRangeAndExists) {
  S3BlobStore store(cfg);
  store.check_writable();
  const std::string bytes = pseudo_random_bytes(100000, 1);
  const auto sha = store.put(bytes);
  EXPECT_EQ(sha, sha256_hex(bytes));
  EXPECT_TRUE(store.contains(sha));
  EXPECT_EQ(store.size_of(sha), bytes.size());
  EXPECT_EQ(store.read(sha), bytes);

  std::string part;
  ASSERT_TRUE(store.read_range(sha, 1000, 500, [&](std::string_view c) { part.append(c); }));
  EXPECT_EQ(part, bytes.substr(1000, 500));
  std::string tail;
  ASSERT_TRUE(store.read_range(sha, 99000, std::nullopt, [&](std::string_view c) { tail.append(c); }));
  EXPECT_EQ(tail, bytes.substr(99000));

  const std::string other = sha256_hex("never stored");
  EXPECT_FALSE(store.contains(other));
  EXPECT_EQ(store.read(other), std::nullopt);
  EXPECT_FALSE(store.read_range(other, 0, 10, [](std::string_view) {}));

  store.remove(sha);
  EXPECT_FALSE(store.contains(sha));
  store.remove(sha);  // removing twice is fine
}

TEST_F(S3Store, BlobsAreWrittenCreateOnly) {
  S3BlobStore store(cfg);
  const std::string bytes = "identical bytes are stored once";
  const auto sha = store.put(bytes);
  EXPECT_EQ(store.put(bytes), sha);
  // The conditional PUT refuses to replace the existing object.
  EXPECT_FALSE(store.client().put_object(store.blob_key(sha), "other bytes", /*create_only=*/true));
  EXPECT_EQ(store.read(sha), bytes);
  EXPECT_EQ(store.client().list_keys(cfg.prefix + "/blobs/"), std::vector<std::string>{store.blob_key(sha)});
}

TEST_F(S3Store, LargeStagedObjectGoesUpInPartsAndLeavesNoUpload) {
  S3BlobStore store(cfg, 5 * 1024 * 1024);
  const std::string bytes = pseudo_random_bytes(12 * 1024 * 1024 + 123, 2);
  auto writer = store.stage("upload-1");
  for (size_t at = 0; at < bytes.size(); at += 65536) writer->write(std::string_view(bytes).substr(at, 65536));
  const auto result = writer->finish();
  EXPECT_EQ(result.sha256, sha256_hex(bytes));
  EXPECT_EQ(result.size, bytes.size());
  EXPECT_EQ(store.read_staged("upload-1"), bytes);
  EXPECT_TRUE(store.client().list_multipart_uploads(cfg.prefix + "/").empty());
  store.remove_staged("upload-1");
  EXPECT_EQ(store.read_staged("upload-1"), std::nullopt);
}

TEST_F(S3Store, SmallStagedObjectIsOnePut) {
  S3BlobStore store(cfg, 5 * 1024 * 1024);
  auto writer = store.stage("small");
  writer->write("abc");
  writer->write("def");
  const auto result = writer->finish();
  EXPECT_EQ(result.sha256, sha256_hex("abcdef"));
  EXPECT_EQ(store.read_staged("small"), "abcdef");
}

TEST_F(S3Store, AbandonedMultipartUploadIsAborted) {
  S3BlobStore store(cfg, 5 * 1024 * 1024);
  {
    auto writer = store.stage("abandoned");
    writer->write(pseudo_random_bytes(11 * 1024 * 1024, 3));  // two parts sent
    ASSERT_EQ(store.client().list_multipart_uploads(cfg.prefix + "/"),
              std::vector<std::string>{store.staging_key("abandoned")});
  }  // dropped without finish(): the client gave up mid-upload
  EXPECT_TRUE(store.client().list_multipart_uploads(cfg.prefix + "/").empty());
  EXPECT_EQ(store.read_staged("abandoned"), std::nullopt);
}

TEST_F(S3Store, ManifestsRoundTrip) {
  S3BlobStore store(cfg);
  EXPECT_EQ(store.get_manifest("job-1"), std::nullopt);
  store.put_manifest("job-1", R"({"done":true})");
  EXPECT_EQ(store.get_manifest("job-1"), R"({"done":true})");
  store.put_manifest("job-1", R"({"done":false})");  // manifests may be replaced
  EXPECT_EQ(store.get_manifest("job-1"), R"({"done":false})");
  EXPECT_THROW(store.put_manifest("../escape", "x"), schemas::Error);
}

TEST_F(S3Store, WrongCredentialsRefuseToStart) {
  cfg.secret_key = "not-the-secret";
  S3BlobStore store(cfg);
  try {
    store.check_writable();
    FAIL() << "check_writable accepted a wrong secret";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("credentials are wrong"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("not-the-secret"), std::string::npos) << "the secret leaked into: " << e.what();
  }
}

TEST_F(S3Store, MissingBucketRefusesToStart) {
  cfg.bucket = "imgpipe-no-such-bucket";
  S3BlobStore store(cfg);
  try {
    store.check_writable();
    FAIL() << "check_writable accepted a missing bucket";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bucket does not exist"), std::string::npos) << e.what();
  }
}

// A loopback port bound but not listening: connections are refused.
struct RefusingPort {
  RefusingPort() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~RefusingPort() { ::close(fd); }
  int fd;
  int port;
};

TEST_F(S3Store, UnreachableStoreIsServiceUnavailableWithRetryAfter) {
  RefusingPort closed;
  cfg.endpoint = "http://127.0.0.1:" + std::to_string(closed.port);
  cfg.attempts = 2;
  cfg.first_backoff = std::chrono::milliseconds(10);
  S3BlobStore store(cfg);
  try {
    store.read(sha256_hex("x"));
    FAIL() << "a read from a closed port succeeded";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), schemas::ErrorCode::service_unavailable);
    EXPECT_EQ(e.info().http_status, 503);
    ASSERT_TRUE(e.retry_after_seconds.has_value());
    EXPECT_GT(*e.retry_after_seconds, 0);
  }
  EXPECT_THROW(store.check_writable(), std::runtime_error);
}

// Two machines: each a local folder of its own, one bucket between them.
TEST_F(S3Store, LocalStoresShareBlobsStagedUploadsAndManifestsThroughTheBucket) {
  auto remote = std::make_shared<S3BlobStore>(cfg);
  testing::TempDir dir_a, dir_b;
  BlobStore a(dir_a.path()), b(dir_b.path());
  a.set_remote(remote);
  b.set_remote(remote);

  const std::string bytes = pseudo_random_bytes(300000, 4);
  const auto sha = a.put(bytes);
  EXPECT_TRUE(remote->contains(sha));
  EXPECT_FALSE(std::filesystem::exists(dir_a.path() / "blobs" / sha.substr(0, 2) / sha)) << "put fills no cache";
  EXPECT_TRUE(b.contains(sha));
  EXPECT_EQ(b.size_of(sha), bytes.size());
  const auto path = b.path_of(sha);  // fetched into b's folder: libvips can open it
  EXPECT_EQ(path, dir_b.path() / "blobs" / sha.substr(0, 2) / sha);
  EXPECT_EQ(b.read(sha), bytes);
  EXPECT_FALSE(b.contains(sha256_hex("nothing")));

  a.put_manifest("img-1.json", "{\"id\":1}");
  EXPECT_EQ(b.get_manifest("img-1.json"), "{\"id\":1}");
  EXPECT_EQ(b.get_manifest("img-2.json"), std::nullopt);

  const std::string upload = pseudo_random_bytes(70000, 5);
  {
    auto writer = a.open_remote_staged("u1.upload");
    ASSERT_NE(writer, nullptr);
    writer->write(std::string_view(upload).substr(0, 1000));
    writer->write(std::string_view(upload).substr(1000));
    writer->finish();
  }
  EXPECT_FALSE(std::filesystem::exists(a.staging_dir() / "u1.upload")) << "streamed to the store, not staged here";
  ASSERT_TRUE(b.fetch_staged("u1.upload"));
  std::ifstream in(b.staging_dir() / "u1.upload", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), upload);
  b.remove_staged("u1.upload");
  EXPECT_FALSE(std::filesystem::exists(b.staging_dir() / "u1.upload"));
  EXPECT_EQ(remote->read_staged("u1.upload"), std::nullopt);
  testing::TempDir dir_c;
  BlobStore c(dir_c.path());
  c.set_remote(remote);
  EXPECT_FALSE(c.fetch_staged("u1.upload"));

  b.remove(sha);
  EXPECT_FALSE(a.contains(sha));
}

TEST(S3Location, ParsesBucketAndPrefix) {
  S3Config cfg;
  parse_s3_location("s3://my-bucket/some/prefix/", cfg);
  EXPECT_EQ(cfg.bucket, "my-bucket");
  EXPECT_EQ(cfg.prefix, "some/prefix");
  parse_s3_location("s3://my-bucket", cfg);
  EXPECT_EQ(cfg.prefix, "");
  EXPECT_THROW(parse_s3_location("s3://A_B/x", cfg), std::invalid_argument);
  EXPECT_THROW(parse_s3_location("s3://bucket/a b", cfg), std::invalid_argument);
  EXPECT_THROW(parse_s3_location("/var/blobs", cfg), std::invalid_argument);
}

}  // namespace
}  // namespace imgpipe::storage::s3
