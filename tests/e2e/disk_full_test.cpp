// A full disk, for real: the data dir and the staging folder each on a small
// tmpfs mounted by the test (it runs as root). Uploads that cannot be stored
// get 507 insufficient_storage (or 503 with Retry-After), never a 201 and
// never half an image; serving goes on; once space is freed, uploads succeed
// again in the same process.
#include <sys/statvfs.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <future>

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

// The image uploaded before the disk fills: its src and the bytes served.
struct FirstImage {
  std::string src;
  std::string bytes;
};
void upload_first_image(const ServerProcess& s, FirstImage& out) {
  auto first = upload(s, corpus("medium.jpg"));
  ASSERT_EQ(first.status, 201) << first.describe() << s.log_tail();
  out.src = first.json().value("src", "");
  const auto original = http_get(out.src);
  ASSERT_EQ(original.status, 200);
  out.bytes = original.body;
}

size_t count_of(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
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

// The reserve (--min-free-disk-mb): with less free than that, a new image
// is refused before its body is read, so what is under way keeps its room.
TEST(DiskFull, NewImagesStopAtTheReserve) {
  ASSERT_EQ(::geteuid(), 0u) << "this test mounts a tmpfs and needs root";
  const fs::path staging_mount = fs::temp_directory_path() / ("imgpipe-staging-" + std::to_string(::getpid()));
  ServerOptions o;
  o.extra_args = {"--staging-dir", staging_mount.string(), "--leftover-sweep-interval", "0",
                  "--min-free-disk-mb", "4"};
  ServerProcess s(o);
  Tmpfs data(s.data_dir(), "16m"), staging(staging_mount, "4m");
  ASSERT_TRUE(data.mounted() && staging.mounted()) << data.error() << staging.error();
  ASSERT_NO_THROW(s.start());

  FirstImage first;
  ASSERT_NO_FATAL_FAILURE(upload_first_image(s, first));
  const std::string& src = first.src;
  ASSERT_TRUE(eventually([&] { return http_get(with_size(src, "s")).status == 200; }));

  // /metrics says where the disk goes.
  auto metrics = http_get(s.url("/metrics")).body;
  for (const char* part : {"bus", "index", "blobs", "staging"})
    EXPECT_NE(metrics.find(std::string("imgpipe_disk_bytes{part=\"") + part + "\"}"), std::string::npos) << part;

  // 2 MB free, under the 4 MB reserve: refused, with when to try again.
  data.fill(2 << 20);
  // /metrics shows the free space next to the reserve (the data dir holds the blobs: one line).
  metrics = http_get(s.url("/metrics")).body;
  const std::string free_line = "imgpipe_disk_free_bytes{dir=\"" + s.data_dir().string() + "\"} ";
  const auto at = metrics.find(free_line);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_LT(std::stod(metrics.substr(at + free_line.size())), 4 << 20);
  EXPECT_EQ(metrics.find("imgpipe_disk_free_bytes{", at + 1), std::string::npos) << "one filesystem, one line";
  EXPECT_NE(metrics.find("imgpipe_disk_reserve_bytes 4194304"), std::string::npos) << metrics;
  for (const char* photo : {"portrait.jpg", "landscape.jpg"}) {
    auto r = upload(s, corpus(photo));
    EXPECT_TRUE(is_error(r, 507, "insufficient_storage")) << photo << "\n" << r.describe();
    EXPECT_TRUE(r.has_header("Retry-After")) << r.describe();
  }
  Multipart create;
  create.file = corpus("portrait.jpg");
  auto v2 = post_multipart(s.url("/v1/images"), create);
  EXPECT_EQ(v2.status, 507) << v2.describe();  // the newer shape: {"error":{"code":...}}
  EXPECT_EQ(v2.json()["error"].value("code", ""), "insufficient_storage") << v2.describe();
  // The operator is told once, not once per refused request.
  EXPECT_EQ(count_of(s.log_tail(1 << 20), R"("event":"disk_low")"), 1u) << s.log_tail();
  auto again = http_get(src);
  EXPECT_EQ(again.status, 200) << "serving goes on";
  EXPECT_EQ(again.body, first.bytes);

  // Space comes back: uploads work again, same process.
  data.free_space();
  auto ok = upload(s, corpus("portrait.jpg"));
  ASSERT_EQ(ok.status, 201) << ok.describe() << "\n" << s.log_tail();
  EXPECT_EQ(count_of(s.log_tail(1 << 20), R"("event":"disk_room_back")"), 1u) << s.log_tail();
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

// Below half the reserve the workers take no new job: an upload the gateway
// accepted before the disk filled waits in the topic (it would fail for
// good on a disk with 16 KB left) and is done once space is freed, in the
// same process; no job fails.
TEST(DiskFull, WorkersWaitForRoomInsteadOfFailingAJob) {
  ASSERT_EQ(::geteuid(), 0u) << "this test mounts a tmpfs and needs root";
  ServerOptions o;
  o.extra_args = {"--leftover-sweep-interval", "0", "--min-free-disk-mb", "4"};
  ServerProcess s(o);
  Tmpfs data(s.data_dir(), "32m");
  ASSERT_TRUE(data.mounted()) << data.error();
  ASSERT_NO_THROW(s.start());
  auto logged = [&](const char* event) {
    return s.log_tail(1 << 20).find(std::string("\"event\":\"") + event + "\"") != std::string::npos;
  };

  // Accepted with room to spare, held by paused workers until the disk is full.
  s.signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return logged("workers_paused"); })) << s.log_tail();
  auto pending = std::async(std::launch::async, [&] { return upload(s, corpus("under-1mp.jpg")); });
  ASSERT_TRUE(eventually([&] { return metric_sum(http_get(s.url("/metrics")).body, "imgpipe_ingest_pending") >= 1; }))
      << s.log_tail();
  data.fill(16 << 10);
  ASSERT_TRUE(eventually([&] { return logged("workers_disk_low"); })) << s.log_tail();
  s.signal(SIGUSR2);
  ASSERT_TRUE(eventually([&] { return logged("workers_resumed"); })) << s.log_tail();
  EXPECT_EQ(pending.wait_for(0s), std::future_status::timeout) << "the job ran on a full disk\n" << s.log_tail();
  auto metrics = http_get(s.url("/metrics")).body;
  EXPECT_NE(metrics.find("imgpipe_worker_paused{reason=\"disk\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("imgpipe_worker_paused{reason=\"signal\"} 0\n"), std::string::npos) << metrics;

  data.free_space();
  ASSERT_EQ(pending.wait_for(60s), std::future_status::ready) << s.log_tail();
  auto r = pending.get();
  ASSERT_EQ(r.status, 201) << r.describe() << "\n" << s.log_tail();
  EXPECT_TRUE(logged("workers_disk_room_back")) << s.log_tail();
  metrics = http_get(s.url("/metrics")).body;
  EXPECT_NE(metrics.find("imgpipe_worker_paused{reason=\"disk\"} 0\n"), std::string::npos) << metrics;
  EXPECT_FALSE(logged("job_failed")) << s.log_tail();
  auto served = http_get(r.json().value("src", ""));
  ASSERT_EQ(served.status, 200);
  EXPECT_TRUE(decode(served.body).ok);
  expect_manifests_whole(s.data_dir());
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

// Without the reserve (or filled by someone else past it), the disk runs out
// under the worker and the index: uploads get 507 or 503, never a 201 and
// never half an image; the process lives (RocksDB 7.8 used to abort on its
// own LOG file); once 16 MB are free RocksDB's writes resume by themselves.
TEST(DiskFull, DataDirFullUnderTheWorker) {
  ASSERT_EQ(::geteuid(), 0u) << "this test mounts a tmpfs and needs root";
  ServerOptions o;
  o.extra_args = {"--leftover-sweep-interval", "0", "--min-free-disk-mb", "0"};
  ServerProcess s(o);
  Tmpfs data(s.data_dir(), "32m");
  ASSERT_TRUE(data.mounted()) << data.error();
  ASSERT_NO_THROW(s.start());

  FirstImage first;
  ASSERT_NO_FATAL_FAILURE(upload_first_image(s, first));
  const std::string& src = first.src;
  // The first job done (variants stored, its staged upload removed): nothing
  // frees space behind the filler, so the disk stays full.
  ASSERT_TRUE(eventually([&] { return s.log_tail(1 << 20).find("\"job_done\"") != std::string::npos; }))
      << s.log_tail();

  data.fill(16 << 10);
  const pid_t pid = s.pid();
  for (const char* photo : {"portrait.jpg", "landscape.jpg", "under-1mp.jpg"}) {
    auto r = upload(s, corpus(photo));
    EXPECT_TRUE(refused_for_space(r)) << photo << "\n" << s.log_tail();
  }
  ASSERT_TRUE(s.running()) << s.log_tail();
  auto again = http_get(src);
  EXPECT_EQ(again.status, 200) << "serving goes on";
  EXPECT_EQ(again.body, first.bytes);
  expect_manifests_whole(s.data_dir());

  data.free_space();
  Response ok;
  ASSERT_TRUE(eventually([&] {
    ok = upload(s, corpus("portrait.jpg"));
    return ok.status == 201;
  }, 60s, 500ms)) << ok.describe() << "\n" << s.log_tail();
  EXPECT_EQ(s.pid(), pid);
  EXPECT_TRUE(decode(http_get(ok.json().value("src", "")).body).ok);
  expect_manifests_whole(s.data_dir());
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

}  // namespace
}  // namespace imgpipe::e2e
