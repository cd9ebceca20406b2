#include "gateway/blob_cache.h"

#include <gtest/gtest.h>

namespace imgpipe::gateway {
namespace {

BlobCache::Bytes bytes(size_t n) { return std::make_shared<const std::string>(n, 'x'); }

TEST(BlobCache, KeepsSmallBlobsWithinItsBudget) {
  BlobCache cache(10, 4);
  EXPECT_FALSE(cache.get("a"));
  cache.put("a", bytes(4));
  cache.put("big", bytes(5));  // over max_item: never kept
  EXPECT_TRUE(cache.get("a"));
  EXPECT_FALSE(cache.contains("big"));
  cache.put("b", bytes(4));
  cache.get("a");               // a is now the most recent
  cache.put("c", bytes(4));     // 12 > 10: the least recent (b) goes
  EXPECT_TRUE(cache.contains("a"));
  EXPECT_FALSE(cache.contains("b"));
  EXPECT_TRUE(cache.contains("c"));
  EXPECT_LE(cache.bytes(), 10u);
}

TEST(BlobCache, ZeroBudgetIsOff) {
  BlobCache cache(0, 1 << 20);
  cache.put("a", bytes(1));
  EXPECT_FALSE(cache.get("a"));
}

}  // namespace
}  // namespace imgpipe::gateway
