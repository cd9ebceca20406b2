// A full disk, for real: the data dir and the staging folder each on a small
// tmpfs mounted by the test (it runs as root). Uploads that cannot be stored
// get 507 insufficient_storage (or 503 with Retry-After), never a 201 and
// never half an image; serving goes on; once space is freed, uploads succeed
// again in the same process (RocksDB's stopped writes resumed).
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

class Tmpfs {
 public:
  Tmpfs(const fs::path& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    auto r = run({"mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.string()});
    mounted_ = r.exit_code == 0;
    if (!mounted_) error_ = r.out;
  }
  ~Tmpfs() {
    if (mounted_) run({"umount", "-l", dir_.string()});
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

  // Takes all but `leave` bytes of free space with one file.
  void fill(uint64_t leave) {
    struct statvfs st {};
    ASSERT_EQ(::statvfs(dir_.c_str(), &st), 0);
    const uint64_t free = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    std::ofstream out(dir_ / "filler", std::ios::binary);
    const std::string chunk(64 << 10, 'x');
    for (uint64_t written = 0; written + leave + chunk.size() <= free; written += chunk.size()) out << chunk;
  }
  void free_space() { fs::remove(dir_ / "filler"); }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string error_;
};

// A 201, or a refusal a client can act on; anything else is a failure.
::testing::AssertionResult refused_for_space(const Response& r) {
  if (r.status == 507) return is_error(r, 507, "insufficient_storage");
  if (r.status == 503 && r.has_header("Retry-After")) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected 507 (or 503 with Retry-After), got " << r.describe();
}

// Every manifest's blobs exist: nothing half-written is announced.
void expect_manifests_whole(const fs::path& data) {
  for (const auto& e : fs::directory_iterator(data / "manifests")) {
    if (e.path().extension() != ".json") continue;
    auto j = nlohmann::json::parse(read_file(e.path()));
    std::vector<std::string> blobs{j.value("blob", "")};
    for (const auto& v : j.value("variants", nlohmann::json::array())) blobs.push_back(v.value("blob", ""));
    for (const auto& b : blobs)
      EXPECT_TRUE(fs::exists(data / "blobs" / b.substr(0, 2) / b)) << e.path() << " refers to a missing blob";
  }
}

TEST(DiskFull, DataDirOnAFullFilesystem) {
  ASSERT_EQ(::geteuid(), 0u) << "this test mounts a tmpfs and needs root";
  const fs::path staging_mount = fs::temp_directory_path() / ("imgpipe-staging-" + std::to_string(::getpid()));
  ServerOptions o;
  o.extra_args = {"--staging-dir", staging_mount.string(), "--leftover-sweep-interval", "0"};
  ServerProcess s(o);
  Tmpfs data(s.data_dir(), "8m"), staging(staging_mount, "4m");
  ASSERT_TRUE(data.mounted() && staging.mounted()) << data.error() << staging.error();
  ASSERT_NO_THROW(s.start());

  auto first = upload(s, corpus("medium.jpg"));
  ASSERT_EQ(first.status, 201) << first.describe() << s.log_tail();
  const std::string src = first.json().value("src", "");
  const auto original = http_get(src);
  ASSERT_EQ(original.status, 200);
  ASSERT_TRUE(eventually([&] { return http_get(with_size(src, "s")).status == 200; }));

  // /metrics says where the disk goes.
  auto metrics = http_get(s.url("/metrics")).body;
  for (const char* part : {"bus", "index", "blobs", "staging"})
    EXPECT_NE(metrics.find(std::string("imgpipe_disk_bytes{part=\"") + part + "\"}"), std::string::npos) << part;

  // The data dir's disk full: the worker cannot store the original.
  data.fill(16 << 10);
  int full = 0;
  for (const char* photo : {"portrait.jpg", "landscape.jpg", "under-1mp.jpg"}) {
    auto r = upload(s, corpus(photo));
    EXPECT_TRUE(refused_for_space(r)) << photo << "\n" << s.log_tail();
    full += r.status == 507;
  }
  RecordProperty("answers_507_of_3", full);
  auto again = http_get(src);
  EXPECT_EQ(again.status, 200) << "serving goes on";
  EXPECT_EQ(again.body, original.body);
  expect_manifests_whole(s.data_dir());

  // Space comes back: uploads work again, same process.
  data.free_space();
  const pid_t pid = s.pid();
  Response ok;
  ASSERT_TRUE(eventually([&] {
    ok = upload(s, corpus("portrait.jpg"));
    return ok.status == 201;
  }, 60s, 500ms)) << ok.describe() << "\n" << s.log_tail();
  EXPECT_EQ(s.pid(), pid);
  auto served = http_get(ok.json().value("src", ""));
  ASSERT_EQ(served.status, 200);
  EXPECT_TRUE(decode(served.body).ok);

  // The staging folder's own disk full: refused while the body arrives.
  staging.fill(8 << 10);
  auto r = upload(s, corpus("landscape.jpg"));
  EXPECT_TRUE(is_error(r, 507, "insufficient_storage")) << r.describe();
  EXPECT_EQ(http_get(src).status, 200);
  staging.free_space();
  auto after = upload(s, corpus("landscape.jpg"));
  EXPECT_EQ(after.status, 201) << after.describe() << s.log_tail();
  expect_manifests_whole(s.data_dir());
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

}  // namespace
}  // namespace imgpipe::e2e
