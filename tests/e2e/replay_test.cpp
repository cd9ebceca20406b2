// The operator commands end to end (docs/operations.md), on the real binary
// and the bus the e2e run uses (embedded, or Kafka with IMGPIPE_E2E_BUS=kafka
// and IMGPIPE_TEST_KAFKA, on this server's own topic prefix):
//   - `imgpipe replay` of the ingest topic after variant blobs were lost:
//     same ids, byte-identical originals, the lost variants made again
//     (same sha256), no new image; `--dry-run` changes nothing; under its
//     disk reserve it waits and does nothing;
//   - `imgpipe reindex` rebuilds a stopped server's index, and refuses while
//     the server holds the data dir;
//   - /readyz answers 200 once the server is up.
#include <set>

#include <vips/vips8>

#include "tests/e2e/child_process.h"
#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

using json = nlohmann::json;


struct Uploaded {
  std::string id, src, original;  // original: the bytes first served at src
};

std::vector<Uploaded> upload_photos(const ServerProcess& s, int n) {
  std::vector<Uploaded> out;
  for (int i = 0; i < n; ++i) {
    Multipart m;
    m.bytes = synthetic_jpeg(i, 1000, 700);
    m.filename = "photo" + std::to_string(i) + ".jpg";
    m.content_type = "image/jpeg";
    auto r = post_multipart(s.url("/v1/upload"), m, 60s);
    EXPECT_EQ(r.status, 201) << r.describe();
    if (r.status != 201) continue;
    Uploaded u{r.json().value("id", ""), r.json().value("src", ""), ""};
    auto got = http_get(u.src);
    EXPECT_EQ(got.status, 200) << got.describe();
    u.original = got.body;
    out.push_back(u);
  }
  return out;
}

fs::path manifest_path(const ServerProcess& s, const std::string& id) { return s.data_dir() / "manifests" / (id + ".json"); }
fs::path blob_path(const ServerProcess& s, const std::string& sha) { return s.data_dir() / "blobs" / sha.substr(0, 2) / sha; }

json manifest(const ServerProcess& s, const std::string& id) {
  std::error_code ec;
  if (!fs::exists(manifest_path(s, id), ec)) return nullptr;
  return json::parse(read_file(manifest_path(s, id)), nullptr, false);
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file()) ++n;
  return n;
}

// Variants are made after the 201: wait until every manifest lists all six.
bool all_variants_made(const ServerProcess& s, const std::vector<Uploaded>& images) {
  return eventually([&] {
    for (const auto& u : images) {
      auto m = manifest(s, u.id);
      if (!m.is_object() || m["variants"].size() != 6) return false;
    }
    return true;
  }, 60s);
}

std::vector<std::string> cli_args(const ServerProcess& s, std::vector<std::string> args) {
  args.insert(args.begin(), imgpipe_binary().string());
  for (auto& a : transport_args(s.topic_prefix())) args.push_back(a);
  return args;
}

// Every image is served as before: viewer page, and the original byte for byte.
void expect_all_served(const ServerProcess& s, const std::vector<Uploaded>& images) {
  for (const auto& u : images) {
    auto viewer = http_get(s.url("/" + u.id), {}, 10s);
    EXPECT_EQ(viewer.status, 200) << u.id << ": " << viewer.describe();
    auto original = http_get(u.src, {}, 10s);
    EXPECT_EQ(original.status, 200) << u.id << ": " << original.describe();
    EXPECT_TRUE(original.body == u.original) << u.id << ": the original changed (" << original.body.size() << " vs "
                                             << u.original.size() << " bytes)";
  }
}

class Ops : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { VIPS_INIT("replay-test"); }
};

TEST_F(Ops, ReplayRegeneratesLostVariantsWithoutNewImages) {
  ServerProcess s;
  s.start();
  auto images = upload_photos(s, 10);
  ASSERT_EQ(images.size(), 10u);
  ASSERT_TRUE(all_variants_made(s, images)) << s.log_tail();
  ASSERT_EQ(s.stop(), 0) << s.log_tail();

  // Lose the m variants (both formats) and the s WebP of every other image.
  std::map<std::string, std::string> lost;  // blob sha -> image id
  std::map<std::string, json> before;       // id -> manifest
  for (size_t i = 0; i < images.size(); ++i) {
    auto m = manifest(s, images[i].id);
    before[images[i].id] = m;
    if (i % 2) continue;
    for (const auto& v : m["variants"]) {
      if (v["size"] == "m" || (v["size"] == "s" && v["format"] == "webp")) {
        std::string sha = v["blob"];
        ASSERT_TRUE(fs::remove(blob_path(s, sha))) << blob_path(s, sha);
        lost[sha] = images[i].id;
      }
    }
  }
  ASSERT_EQ(lost.size(), 15u);
  const size_t blobs_after_loss = count_files(s.data_dir() / "blobs");
  const size_t manifests = count_files(s.data_dir() / "manifests");
  ASSERT_EQ(manifests, 10u);

  const std::vector<std::string> range{"replay", "--data-dir", s.data_dir().string(), "--topic", "imgpipe.ingest",
                                       "--from-offset", "0", "--idle-timeout", "5"};
  // --dry-run lists every job and changes nothing.
  auto args = cli_args(s, range);
  args.push_back("--dry-run");
  auto dry = run(args, 90s);
  ASSERT_EQ(dry.exit_code, 0) << dry.out;
  for (const auto& u : images) EXPECT_NE(dry.out.find(u.id + " exists: would announce again"), std::string::npos) << u.id << "\n" << dry.out;
  EXPECT_NE(dry.out.find("replay (dry run) done: 10 jobs; 10 already stored"), std::string::npos) << dry.out;
  EXPECT_EQ(count_files(s.data_dir() / "blobs"), blobs_after_loss) << "a dry run made files";
  for (const auto& [sha, id] : lost) EXPECT_FALSE(fs::exists(blob_path(s, sha))) << "a dry run remade " << sha;
  for (const auto& u : images) EXPECT_EQ(manifest(s, u.id), before[u.id]) << "a dry run rewrote " << u.id;

  // Under its disk reserve (set above what the disk has free), replay waits
  // before its first job, with the offset to run again from, and does
  // nothing of it; Ctrl-C stops it.
  {
    auto args = cli_args(s, range);
    const auto free_mb = fs::space(s.data_dir()).available >> 20;
    args.insert(args.end(), {"--min-free-disk-mb", std::to_string(free_mb + 1024)});
    ChildProcess waiting(args, s.data_dir().parent_path() / "replay-low-disk.log");
    waiting.start();
    ASSERT_TRUE(eventually([&] { return waiting.tail().find("waiting before ") != std::string::npos; }, 90s))
        << waiting.tail();
    EXPECT_NE(waiting.tail().find("MB free (--min-free-disk-mb)"), std::string::npos) << waiting.tail();
    EXPECT_TRUE(waiting.alive()) << waiting.tail();
    EXPECT_EQ(count_files(s.data_dir() / "blobs"), blobs_after_loss) << "replay made files under its disk reserve";
    for (const auto& u : images) EXPECT_EQ(manifest(s, u.id), before[u.id]) << "replay under its reserve rewrote " << u.id;
    waiting.stop(SIGINT);
  }

  auto r = run(cli_args(s, range), 120s);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("replay done: 10 jobs; 10 already stored (same id, announced again, missing variants made), "
                       "0 processed, 0 failed (see the DLQ), 0 malformed"),
            std::string::npos)
      << r.out;
  // The lost variants are back with the same bytes (same sha256, same file name).
  for (const auto& [sha, id] : lost) {
    auto p = blob_path(s, sha);
    ASSERT_TRUE(fs::exists(p)) << "variant " << sha << " of " << id << " was not made again";
    EXPECT_EQ(read_file(p).size(), fs::file_size(p));
  }
  EXPECT_EQ(count_files(s.data_dir() / "blobs"), blobs_after_loss + lost.size()) << "replay made other files";
  EXPECT_EQ(count_files(s.data_dir() / "manifests"), 10u) << "replay made a new image";
  for (const auto& u : images) {
    auto m = manifest(s, u.id);
    EXPECT_EQ(m["blob"], before[u.id]["blob"]) << u.id;
    std::set<std::string> want, got;
    for (const auto& v : before[u.id]["variants"]) want.insert(v["blob"].get<std::string>());
    for (const auto& v : m["variants"]) got.insert(v["blob"].get<std::string>());
    EXPECT_EQ(got, want) << u.id;
  }

  s.start();
  expect_all_served(s, images);
  // The regenerated variants are what is served.
  for (const auto& [sha, id] : lost) {
    for (const auto& v : before[id]["variants"]) {
      if (v["blob"] != sha) continue;
      const auto& u = *std::find_if(images.begin(), images.end(), [&](const Uploaded& x) { return x.id == id; });
      auto url = with_size(with_ext(u.src, v["format"] == "webp" ? "webp" : ext_of(u.src)), v["size"].get<std::string>());
      auto got = http_get(url, {}, 10s);
      EXPECT_EQ(got.status, 200) << url << ": " << got.describe();
      EXPECT_TRUE(got.body == read_file(blob_path(s, sha))) << url << " is not the regenerated variant";
    }
  }
  EXPECT_EQ(count_files(s.data_dir() / "manifests"), 10u);
}

TEST_F(Ops, ReindexRebuildsAStoppedServersIndex) {
  ServerProcess s;
  s.start();
  EXPECT_TRUE(eventually([&] { return http_get(s.url("/readyz"), {}, 2s).status == 200; }, 20s)) << "/readyz";
  auto images = upload_photos(s, 4);
  ASSERT_EQ(images.size(), 4u);
  ASSERT_TRUE(all_variants_made(s, images)) << s.log_tail();

  // Refused while the server holds the data dir; the index is left alone.
  auto busy = run(cli_args(s, {"reindex", "--data-dir", s.data_dir().string()}), 60s);
  EXPECT_NE(busy.exit_code, 0) << busy.out;
  EXPECT_NE(busy.out.find("is in use by a running imgpipe process"), std::string::npos) << busy.out;
  EXPECT_NE(busy.out.find("Stop that gateway first"), std::string::npos) << busy.out;
  expect_all_served(s, images);

  ASSERT_EQ(s.stop(), 0) << s.log_tail();
  auto r = run(cli_args(s, {"reindex", "--data-dir", s.data_dir().string(), "--idle-timeout", "10"}), 90s);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("imgpipe reindex: index cleared; reading "), std::string::npos) << r.out;
  // Each image: a ready and a variants event at least.
  auto at = r.out.find("reindex done: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  int applied = std::atoi(r.out.c_str() + at + 14);
  EXPECT_GE(applied, 8) << r.out;
  EXPECT_NE(r.out.find(" events applied, 0 skipped (malformed)"), std::string::npos) << r.out;

  s.start();
  EXPECT_TRUE(eventually([&] { return http_get(s.url("/readyz"), {}, 2s).status == 200; }, 20s)) << "/readyz";
  expect_all_served(s, images);
  // Reindexing twice is harmless.
  ASSERT_EQ(s.stop(), 0);
  r = run(cli_args(s, {"reindex", "--data-dir", s.data_dir().string(), "--idle-timeout", "10"}), 90s);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  s.start();
  expect_all_served(s, images);
}

TEST_F(Ops, ReindexWithoutADataDirSaysSo) {
  if (kafka_mode()) GTEST_SKIP() << "with Kafka a fresh data dir is a valid target";
  auto missing = fs::temp_directory_path() / "imgpipe-no-such-data-dir";
  auto r = run({imgpipe_binary().string(), "reindex", "--data-dir", missing.string()}, 30s);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("does not exist: nothing to rebuild from"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(missing)) << "reindex created the data dir";
}

}  // namespace
}  // namespace imgpipe::e2e
