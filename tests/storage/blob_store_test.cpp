#include "storage/blob_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "schemas/errors.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::storage {
namespace {

namespace fs = std::filesystem;

// Every regular file under `dir`, recursively.
std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

void write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, IncrementalMatchesOneShotAndResets) {
  Sha256 h;
  h.update("a", 1);
  h.update("bc", 2);
  EXPECT_EQ(h.hex(), sha256_hex("abc"));
  h.update("abc", 3);  // hex() leaves it ready for a new stream
  EXPECT_EQ(h.hex(), sha256_hex("abc"));
}

TEST(BlobStore, PutIsIdempotentAndContentAddressed) {
  testing::TempDir dir;
  BlobStore store(dir.path());
  const std::string bytes = "some image bytes";
  const auto sha = store.put(bytes);
  EXPECT_EQ(sha, sha256_hex(bytes));
  EXPECT_EQ(store.put(bytes), sha);

  EXPECT_TRUE(store.contains(sha));
  EXPECT_EQ(store.path_of(sha), dir.path() / "blobs" / sha.substr(0, 2) / sha);
  EXPECT_EQ(store.size_of(sha), bytes.size());
  ASSERT_EQ(store.read(sha), bytes);
  EXPECT_EQ(sha256_hex(*store.read(sha)), sha);
  // Exactly one file, no temporary left behind.
  EXPECT_EQ(files_under(dir.path() / "blobs"), std::vector<fs::path>{store.path_of(sha)});

  store.remove(sha);
  EXPECT_FALSE(store.contains(sha));
  EXPECT_FALSE(store.read(sha));
  EXPECT_FALSE(store.size_of(sha));
  store.remove(sha);  // already gone: fine
}

TEST(BlobStore, EmptyBlob) {
  testing::TempDir dir;
  BlobStore store(dir.path());
  const auto sha = store.put("");
  EXPECT_EQ(store.read(sha), "");
}

TEST(BlobStore, RejectsMalformedHashes) {
  testing::TempDir dir;
  BlobStore store(dir.path());
  EXPECT_FALSE(store.contains("../../etc/passwd"));
  EXPECT_FALSE(store.read("ABC"));
  try {
    store.path_of("../x");
    FAIL() << "expected an error";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), schemas::ErrorCode::bad_request);
  }
}

TEST(BlobStore, Manifests) {
  testing::TempDir dir;
  BlobStore store(dir.path());
  EXPECT_FALSE(store.get_manifest("gc-state.json"));
  store.put_manifest("gc-state.json", R"({"v":1})");
  EXPECT_EQ(store.get_manifest("gc-state.json"), R"({"v":1})");
  store.put_manifest("gc-state.json", R"({"v":2})");
  EXPECT_EQ(store.get_manifest("gc-state.json"), R"({"v":2})");
  EXPECT_EQ(files_under(dir.path() / "manifests").size(), 1u);
  EXPECT_THROW(store.put_manifest("../escape", "x"), schemas::Error);
}

TEST(BlobStore, ConcurrentPutsOfTheSameBytes) {
  testing::TempDir dir;
  BlobStore store(dir.path());
  std::string bytes(1 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 % 251);
  const auto expected = sha256_hex(bytes);

  std::vector<std::string> results(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) results[t] = store.put(bytes);
    });
  for (auto& t : threads) t.join();

  for (const auto& r : results) EXPECT_EQ(r, expected);
  EXPECT_EQ(files_under(dir.path() / "blobs"), std::vector<fs::path>{store.path_of(expected)});
  EXPECT_EQ(sha256_hex(*store.read(expected)), expected);
}

TEST(BlobStore, IoFailureIsUnavailableWithoutPath) {
  testing::TempDir dir;
  const auto not_a_dir = dir.path() / "file";
  write_file(not_a_dir, "x");
  try {
    BlobStore store(not_a_dir);
    FAIL() << "expected an error";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), schemas::ErrorCode::service_unavailable);
    EXPECT_EQ(std::string(e.what()).find(dir.path().string()), std::string::npos);
  }
}

}  // namespace
}  // namespace imgpipe::storage
