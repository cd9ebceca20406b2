// Moving an install's blobs from its folder into an S3 store (SeaweedFS,
// IMGPIPE_TEST_S3) while it serves, as docs/operations.md describes: the
// server restarts on the store with --blob-fallback OLD, `imgpipe blobs
// migrate` copies everything meanwhile, and afterwards a server with no
// fallback (and an empty cache) serves every image from the store alone.
// A run killed with SIGKILL part-way is resumed by running it again.
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <algorithm>
#include <random>
#include <set>
#include <regex>

#include "storage/s3/s3_blob_store.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) ADD_FAILURE() << name << " is not set (ops/test starts SeaweedFS: ops/s3/start)";
  return v ? v : "";
}

struct Store {
  std::string endpoint = env_or_fail("IMGPIPE_TEST_S3");
  std::string location = "s3://" + env_or_fail("IMGPIPE_TEST_S3_BUCKET") + "/migrate" + std::to_string(::getpid());
  std::map<std::string, std::string> credentials{{"AWS_ACCESS_KEY_ID", env_or_fail("IMGPIPE_TEST_S3_ACCESS_KEY")},
                                                 {"AWS_SECRET_ACCESS_KEY", env_or_fail("IMGPIPE_TEST_S3_SECRET_KEY")}};
  std::vector<std::string> flags() const { return {"--blob-store", location, "--s3-endpoint", endpoint, "--s3-path-style"}; }
};

struct Uploaded {
  std::string src, bytes;
};

Uploaded upload_one(const ServerProcess& s, int i) {
  Multipart m;
  m.bytes = synthetic_jpeg(i, 300, 200);
  m.filename = "m" + std::to_string(i) + ".jpg";
  m.content_type = "image/jpeg";
  auto r = post_multipart(s.url("/v1/upload"), m);
  EXPECT_EQ(r.status, 201) << r.describe();
  Uploaded u{r.json().value("src", ""), ""};
  auto got = http_get(u.src);
  EXPECT_EQ(got.status, 200) << got.describe();
  u.bytes = got.body;
  return u;
}

void expect_served(const ServerProcess& s, const std::vector<Uploaded>& images) {
  for (const auto& u : images) {
    auto r = http_get(s.url(path_of(u.src)));
    EXPECT_EQ(r.status, 200) << u.src << " " << r.describe();
    EXPECT_EQ(r.body, u.bytes) << u.src;
  }
}

RunResult migrate(const fs::path& from, const Store& store) {
  return run({imgpipe_binary().string(), "blobs", "migrate", "--from", from.string(), "--to", store.location,
              "--s3-endpoint", store.endpoint, "--s3-path-style"},
             120s, store.credentials);
}

// The counts of the last progress line.
std::string done_line(const std::string& out) {
  static const std::regex done(R"(\{[^\n]*"migrate_done"[^\n]*\})");
  std::string last;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), done); it != std::sregex_iterator(); ++it)
    last = it->str();
  return last;
}

uint64_t count(const std::string& line, const std::string& field) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("\"" + field + "\":(\\d+)"))) return UINT64_MAX;
  return std::stoull(m[1]);
}

TEST(BlobsMigrate, MovesAServingInstallToTheStoreWithNoFailedRequest) {
  if (kafka_mode()) GTEST_SKIP() << "restarts one embedded install on its data dir; on Kafka each process moves the same way";
  Store store;
  ServerProcess old_server;
  old_server.start();
  std::vector<Uploaded> images;
  for (int i = 0; i < 3; ++i) images.push_back(upload_one(old_server, i));
  ASSERT_EQ(old_server.stop(), 0);
  const fs::path old_blobs = old_server.data_dir();  // the folder store: blobs/, manifests/ under the data dir

  // The same install (index, bus) on the store, reading the old folder
  // where the store has nothing yet; its read cache in a folder of its own.
  const auto root = old_blobs.parent_path();
  auto on_store = [&](const fs::path& cache, bool fallback) {
    ServerOptions o;
    o.config_via_env = true;
    o.extra_args = {"--data-dir", old_blobs.string(), "--blob-dir", cache.string()};
    for (const auto& f : store.flags()) o.extra_args.push_back(f);
    if (fallback) o.extra_args.insert(o.extra_args.end(), {"--blob-fallback", old_blobs.string()});
    o.env = store.credentials;
    return ServerOptions(o);
  };
  ServerProcess moving(on_store(root / "cache1", true));
  moving.start();
  expect_served(moving, images);  // from the fallback

  auto first = migrate(old_blobs, store);
  ASSERT_EQ(first.exit_code, 0) << first.out;
  const auto done = done_line(first.out);
  ASSERT_FALSE(done.empty()) << first.out;
  EXPECT_EQ(count(done, "failed"), 0u) << done;
  EXPECT_GT(count(done, "copied"), 3u) << done;  // originals, variants, manifests
  EXPECT_EQ(count(done, "copied") + count(done, "skipped"), count(done, "total")) << done;
  expect_served(moving, images);
  images.push_back(upload_one(moving, 3));  // goes to the store only
  EXPECT_EQ(moving.stop(), 0);

  // Resumable: a second run finds everything there.
  auto second = migrate(old_blobs, store);
  ASSERT_EQ(second.exit_code, 0) << second.out;
  EXPECT_EQ(count(done_line(second.out), "copied"), 0u) << second.out;

  // The old folder is no longer needed: no fallback, an empty cache.
  ServerProcess moved(on_store(root / "cache2", false));
  moved.start();
  expect_served(moved, images);
  EXPECT_EQ(moved.stop(), 0);
}

TEST(BlobsMigrate, ABlobDamagedOnDiskIsReportedAndNotCopied) {
  Store store;
  auto dir = fs::temp_directory_path() / ("imgpipe-migrate-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string sha(64, 'a');  // the name promises bytes these are not
  fs::create_directories(dir / "blobs" / "aa");
  std::ofstream(dir / "blobs" / "aa" / sha) << "not the bytes of that hash";
  auto r = migrate(dir, store);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("do not match its name"), std::string::npos) << r.out;
  EXPECT_EQ(count(done_line(r.out), "failed"), 1u) << r.out;
  fs::remove_all(dir);
}

// A folder store of many files: small and multipart-sized blobs (named by
// their sha256), staged uploads and manifests. Returns each file's key
// relative to the store's prefix with the sha256 of its bytes.
std::map<std::string, std::string> make_folder_store(const fs::path& dir) {
  std::map<std::string, std::string> files;
  std::mt19937_64 rng(17);
  auto bytes = [&](size_t n) {
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(rng());
    return out;
  };
  auto write = [&](const std::string& rel, const std::string& content) {
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel, std::ios::binary) << content;
    files[rel] = storage::sha256_hex(content);
  };
  for (int i = 0; i < 600; ++i) {
    // Four of them larger than a part (8 MiB): sent as multipart uploads.
    const auto content = bytes(i % 150 == 0 ? 20 * 1024 * 1024 : 1024 + i % 3000);
    const auto sha = storage::sha256_hex(content);
    write("blobs/" + sha.substr(0, 2) + "/" + sha, content);
  }
  for (int i = 0; i < 100; ++i) write("staging/u" + std::to_string(i) + ".upload", bytes(i == 0 ? 12 << 20 : 2048));
  for (int i = 0; i < 200; ++i)
    write("manifests/img" + std::to_string(i) + ".json", R"({"id":"img)" + std::to_string(i) + R"(","n":)" + std::to_string(rng()) + "}");
  return files;
}

TEST(BlobsMigrate, ARunKilledPartWayResumesAndDoesNotCopyAgainWhatItVerified) {
  Store store;
  store.location += "-resume";
  storage::s3::S3Config cfg;
  cfg.endpoint = store.endpoint;
  cfg.bucket = env_or_fail("IMGPIPE_TEST_S3_BUCKET");
  cfg.prefix = "migrate" + std::to_string(::getpid()) + "-resume";
  cfg.access_key = store.credentials["AWS_ACCESS_KEY_ID"];
  cfg.secret_key = store.credentials["AWS_SECRET_ACCESS_KEY"];
  cfg.path_style = true;
  storage::s3::S3Client s3(cfg);

  auto dir = fs::temp_directory_path() / ("imgpipe-migrate-resume-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const auto files = make_folder_store(dir);

  // The first run, killed once its progress (a line every 2 s) shows a
  // good part copied.
  for (const auto& [k, v] : store.credentials) ::setenv(k.c_str(), v.c_str(), 1);
  const auto log = dir.string() + ".log";
  fs::remove(log);
  ChildProcess first({imgpipe_binary().string(), "blobs", "migrate", "--from", dir.string(), "--to", store.location,
                      "--s3-endpoint", store.endpoint, "--s3-path-style"},
                     log);
  first.start();
  static const std::regex progress(R"(\{[^\n]*"migrate_progress"[^\n]*\})");
  std::string last_progress;
  ASSERT_TRUE(eventually(
      [&] {
        const auto out = read_file(log);
        for (auto it = std::sregex_iterator(out.begin(), out.end(), progress); it != std::sregex_iterator(); ++it)
          last_progress = it->str();
        return !last_progress.empty() && count(last_progress, "copied") >= 100;
      },
      120s, 20ms))
      << read_file(log);
  first.kill9();
  const auto before_kill = read_file(log);
  ASSERT_TRUE(done_line(before_kill).empty()) << "the run finished before it was killed: make the folder larger";
  // What the kill left (an upload in progress stays open), and one more as
  // a run killed inside a large blob leaves it: a part sent, never completed.
  const auto big = std::find_if(files.begin(), files.end(), [&](const auto& f) {
    return f.first.rfind("blobs/", 0) == 0 && fs::file_size(dir / f.first) > (8u << 20);
  });
  ASSERT_NE(big, files.end());
  const auto big_key = cfg.prefix + "/" + big->first;
  const auto upload_id = s3.create_multipart(big_key);
  s3.upload_part(big_key, upload_id, 1, std::string(5 << 20, 'x'));
  const auto left_open = s3.list_uploads(cfg.prefix + "/").size();
  ASSERT_GE(left_open, 1u);

  // The rerun copies only what is missing and finishes.
  auto second = migrate(dir, store);
  ASSERT_EQ(second.exit_code, 0) << second.out;
  const auto done = done_line(second.out);
  EXPECT_EQ(count(done, "total"), files.size()) << done;
  EXPECT_EQ(count(done, "failed"), 0u) << done;
  EXPECT_EQ(count(done, "copied") + count(done, "skipped"), files.size()) << done;
  EXPECT_GE(count(done, "skipped"), count(last_progress, "copied")) << "copied again: " << last_progress << " " << done;
  EXPECT_GT(count(done, "copied"), 0u) << done;
  EXPECT_EQ(count(done, "aborted"), left_open) << done;

  // Every object in the store is its source's bytes, none missing, none extra, no upload left open.
  std::set<std::string> keys;
  for (const auto& k : s3.list_keys(cfg.prefix + "/")) keys.insert(k.substr(cfg.prefix.size() + 1));
  EXPECT_EQ(keys.size(), files.size());
  for (const auto& [rel, sha] : files) {
    EXPECT_TRUE(keys.count(rel)) << rel << " is missing";
    storage::Sha256 got;
    ASSERT_TRUE(s3.get_object(cfg.prefix + "/" + rel, [&](std::string_view c) { got.update(c.data(), c.size()); }))
        << rel;
    EXPECT_EQ(got.hex(), sha) << rel;
  }
  EXPECT_TRUE(s3.list_uploads(cfg.prefix + "/").empty());

  // A third run has nothing left to do.
  auto third = migrate(dir, store);
  ASSERT_EQ(third.exit_code, 0) << third.out;
  EXPECT_EQ(count(done_line(third.out), "skipped"), files.size()) << third.out;
  for (const auto& k : s3.list_keys(cfg.prefix + "/")) s3.delete_object(k);
  fs::remove_all(dir);
  fs::remove(log);
}

}  // namespace
}  // namespace imgpipe::e2e
