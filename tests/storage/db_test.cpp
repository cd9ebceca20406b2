#include "storage/db.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <string>
#include <utility>
#include <vector>

#include "schemas/errors.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::storage {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs scan_all(Db& db, std::string_view family, std::string_view prefix, std::string_view start = {}) {
  Pairs out;
  db.scan(
      family, prefix,
      [&](std::string_view k, std::string_view v) {
        out.emplace_back(k, v);
        return true;
      },
      start);
  return out;
}

TEST(Db, PutGetRemove) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  EXPECT_FALSE(db->get(cf::images, "a"));
  db->put(cf::images, "a", "1", false);
  db->put(cf::images, "b", std::string("with\0nul", 8), true);
  EXPECT_EQ(db->get(cf::images, "a"), "1");
  EXPECT_EQ(db->get(cf::images, "b"), std::string("with\0nul", 8));
  // Families are separate key spaces.
  EXPECT_FALSE(db->get(cf::variants, "a"));
  db->remove(cf::images, "a", true);
  EXPECT_FALSE(db->get(cf::images, "a"));
}

TEST(Db, SurvivesReopen) {
  testing::TempDir dir;
  {
    auto db = Db::open(dir.path());
    db->put(cf::keys, "k", "v", true);
  }
  auto db = Db::open(dir.path());
  EXPECT_EQ(db->get(cf::keys, "k"), "v");
}

TEST(Db, ScanPrefixAndStart) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  for (auto k : {"a/1", "a/2", "a/3", "ab", "b/1", "a"}) db->put(cf::listings, k, std::string("v") + k, false);
  EXPECT_EQ(scan_all(*db, cf::listings, "a/"), (Pairs{{"a/1", "va/1"}, {"a/2", "va/2"}, {"a/3", "va/3"}}));
  EXPECT_EQ(scan_all(*db, cf::listings, "a/", "a/2"), (Pairs{{"a/2", "va/2"}, {"a/3", "va/3"}}));
  EXPECT_EQ(scan_all(*db, cf::listings, "").size(), 6u);
  EXPECT_TRUE(scan_all(*db, cf::listings, "c").empty());

  // Stop early.
  int seen = 0;
  db->scan(cf::listings, "a", [&](std::string_view, std::string_view) { return ++seen < 2; });
  EXPECT_EQ(seen, 2);
}

TEST(Db, ScanPrefixEndingInFF) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  const std::string p("x\xff", 2);
  db->put(cf::listings, p + "1", "a", false);
  db->put(cf::listings, p + "\xff", "b", false);
  db->put(cf::listings, "y", "c", false);
  EXPECT_EQ(scan_all(*db, cf::listings, p).size(), 2u);
}

TEST(Db, Last) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  EXPECT_FALSE(db->last(cf::bus_log, "t"));
  db->put(cf::bus_log, "t/1", "1", false);
  db->put(cf::bus_log, "t/2", "2", false);
  db->put(cf::bus_log, "u", "3", false);
  auto last = db->last(cf::bus_log, "t/");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->first, "t/2");
  EXPECT_EQ(last->second, "2");
  EXPECT_EQ(db->last(cf::bus_log, "")->first, "u");
  EXPECT_FALSE(db->last(cf::bus_log, "s"));
}

TEST(Db, BatchIsAppliedTogether) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  db->put(cf::images, "old", "x", false);
  db->write({{WriteOp::Kind::put, cf::images, "new", "y"},
             {WriteOp::Kind::remove, cf::images, "old", ""},
             {WriteOp::Kind::put, cf::expiry, be64(42) + "new", ""}},
            true);
  EXPECT_EQ(db->get(cf::images, "new"), "y");
  EXPECT_FALSE(db->get(cf::images, "old"));
  EXPECT_TRUE(db->get(cf::expiry, be64(42) + "new"));

  // An unknown family fails the whole batch.
  try {
    db->write({{WriteOp::Kind::put, cf::images, "c", "z"}, {WriteOp::Kind::put, "nope", "k", "v"}}, true);
    FAIL() << "expected an error";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), schemas::ErrorCode::internal_error);
  }
  EXPECT_FALSE(db->get(cf::images, "c"));
}

TEST(Db, ClearEmptiesOneFamily) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  for (int i = 0; i < 100; ++i) db->put(cf::images, be32(static_cast<uint32_t>(i)) + "\xff\xff", "v", false);
  db->put(cf::variants, "keep", "v", false);
  db->clear(cf::images);
  EXPECT_TRUE(scan_all(*db, cf::images, "").empty());
  EXPECT_EQ(db->get(cf::variants, "keep"), "v");
  db->clear(cf::images);  // already empty
  db->put(cf::images, "again", "v", false);
  EXPECT_EQ(db->get(cf::images, "again"), "v");
}

TEST(Db, UnknownFamilyIsInternalError) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  try {
    db->get("nope", "k");
    FAIL() << "expected an error";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), schemas::ErrorCode::internal_error);
  }
}

TEST(Db, SecondOpenOfSameFolderIsUnavailable) {
  testing::TempDir dir;
  auto db = Db::open(dir.path());
  try {
    Db::open(dir.path());  // the LOCK file is held
    FAIL() << "expected an error";
  } catch (const schemas::Error& e) {
    EXPECT_EQ(e.id(), schemas::ErrorCode::service_unavailable);
    EXPECT_EQ(std::string(e.what()).find(dir.path().string()), std::string::npos);
  }
}

TEST(Db, BigEndianKeysSortNumerically) {
  EXPECT_EQ(read_be32(be32(0xdeadbeef)), 0xdeadbeefu);
  EXPECT_EQ(read_be64(be64(0x0123456789abcdefull)), 0x0123456789abcdefull);
  EXPECT_LT(be64(255), be64(256));
  EXPECT_LT(be32(1), be32(0x01000000));
}

// A disk that fills up fails writes with a 507 or 503 and reads go on. With
// RocksDB's own LOG file in the data dir, the line it logs about the failed
// write hit the full disk too, and its next line aborted the process
// (RocksDB 7.8 asserts when a file writer is used after a failed write).
TEST(Db, AFullDiskFailsWritesAndTheProcessGoesOn) {
  ASSERT_EQ(::geteuid(), 0u) << "this test mounts a tmpfs and needs root";
  testing::TempDir dir;
  const auto mount_point = dir.path() / "small";
  std::filesystem::create_directories(mount_point);
  const std::string mount = "mount -t tmpfs -o size=4m tmpfs " + mount_point.string();
  ASSERT_EQ(std::system(mount.c_str()), 0);
  struct Unmount {
    std::string cmd;
    ~Unmount() { (void)std::system(cmd.c_str()); }
  } unmount{"umount -l " + mount_point.string()};

  auto db = Db::open(mount_point / "db");
  for (int i = 0; i < 50; ++i) db->put(cf::images, "before" + std::to_string(i), std::string(200, 'v'), true);
  {
    std::ofstream filler(mount_point / "filler", std::ios::binary);
    const std::string chunk(4096, 'x');
    while (filler.write(chunk.data(), chunk.size()) && filler.flush()) {
    }
  }
  int refused = 0;
  for (int i = 0; i < 200; ++i) {
    try {
      db->put(cf::images, "during" + std::to_string(i), std::string(2000, 'x'), true);
    } catch (const schemas::Error& e) {
      const auto code = e.info().code;
      EXPECT_TRUE(code == "insufficient_storage" || code == "service_unavailable") << code;
      ++refused;
    }
  }
  EXPECT_GT(refused, 0) << "400 KB of writes fit on a full 4 MB disk";
  EXPECT_EQ(db->get(cf::images, "before7"), std::string(200, 'v')) << "reads go on";
  EXPECT_FALSE(std::filesystem::exists(mount_point / "db" / "LOG")) << "RocksDB logs to the process's log";
}

}  // namespace
}  // namespace imgpipe::storage
