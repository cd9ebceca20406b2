#include "storage/blob_cache.h"

#include <gtest/gtest.h>

#include <fstream>

#include "storage/blob_store.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::storage {
namespace {

namespace fs = std::filesystem;

// A blob file of `size` bytes in the layout of blobs/; returns its sha256.
std::string add_blob(const fs::path& blobs, char fill, size_t size) {
  const std::string bytes(size, fill);
  const auto sha = sha256_hex(bytes);
  fs::create_directories(blobs / sha.substr(0, 2));
  std::ofstream(blobs / sha.substr(0, 2) / sha, std::ios::binary) << bytes;
  return sha;
}

bool cached(const fs::path& blobs, const std::string& sha) { return fs::exists(blobs / sha.substr(0, 2) / sha); }

TEST(BlobCache, LeastRecentlyUsedGoFirstBeyondTheBound) {
  testing::TempDir dir;
  const auto blobs = dir.path() / "blobs";
  BlobCache cache(blobs, 250, std::chrono::milliseconds(0));
  const auto a = add_blob(blobs, 'a', 100), b = add_blob(blobs, 'b', 100), c = add_blob(blobs, 'c', 100);
  cache.used(a, 100);
  cache.used(b, 100);
  cache.used(a, 100);  // a hit: a is now more recent than b
  EXPECT_EQ(cache.bytes(), 200u);
  cache.used(c, 100);  // 300 > 250: the least recently used (b) goes
  EXPECT_TRUE(cached(blobs, a));
  EXPECT_FALSE(cached(blobs, b));
  EXPECT_TRUE(cached(blobs, c));
  EXPECT_EQ(cache.bytes(), 200u);
  EXPECT_EQ(cache.files(), 2u);
}

TEST(BlobCache, JustUsedFilesAreKeptEvenOverTheBound) {
  testing::TempDir dir;
  const auto blobs = dir.path() / "blobs";
  BlobCache cache(blobs, 150);  // the default in-use window
  const auto a = add_blob(blobs, 'a', 100), b = add_blob(blobs, 'b', 100);
  cache.used(a, 100);
  cache.used(b, 100);  // a was handed out a moment ago: it may be opened now
  EXPECT_TRUE(cached(blobs, a));
  EXPECT_TRUE(cached(blobs, b));
  EXPECT_EQ(cache.bytes(), 200u);
}

TEST(BlobCache, TakesInWhatIsOnDiskAndHoldsItToTheBound) {
  testing::TempDir dir;
  const auto blobs = dir.path() / "blobs";
  const auto old_one = add_blob(blobs, 'o', 100);
  fs::last_write_time(blobs / old_one.substr(0, 2) / old_one, fs::file_time_type::clock::now() - std::chrono::hours(1));
  const auto new_one = add_blob(blobs, 'n', 100);
  BlobCache cache(blobs, 150, std::chrono::milliseconds(0));
  EXPECT_FALSE(cached(blobs, old_one)) << "the oldest file goes first";
  EXPECT_TRUE(cached(blobs, new_one));
  EXPECT_EQ(cache.bytes(), 100u);
  cache.forget(new_one);
  EXPECT_EQ(cache.files(), 0u);
}

}  // namespace
}  // namespace imgpipe::storage
