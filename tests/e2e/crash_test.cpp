// kill -9 at random moments while clients upload real photos, restarting
// each time (issue 15). The moments follow observed progress, never a
// clock: a request body starting (receiving, staging), a job running
// (normalising, storing, rendering variants), a 201 arriving (announcing,
// variants after ready), and the sweeper runs every 0.3 s throughout.
// Oracle kept by the test: every id that got a 201 serves the bytes it
// served right after its 201, has every variant, appears once; after the
// sweeper has run, blob files are exactly those the manifests name.
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

struct Accepted {
  std::string src;
  std::string original;  // as served right after the 201 (empty: the server died first)
};

// Blobs the manifests name, and every blob file on disk.
std::pair<std::set<std::string>, std::set<std::string>> blobs_named_and_present(const fs::path& data) {
  std::set<std::string> named, present;
  for (const auto& e : fs::directory_iterator(data / "manifests")) {
    if (e.path().extension() != ".json") continue;
    auto j = nlohmann::json::parse(read_file(e.path()));
    named.insert(j.value("blob", ""));
    for (const auto& v : j.value("variants", nlohmann::json::array())) named.insert(v.value("blob", ""));
  }
  for (const auto& e : fs::recursive_directory_iterator(data / "blobs"))
    if (e.is_regular_file()) present.insert(e.path().filename().string());
  return {named, present};
}

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

TEST(Crash, KillNineAtRandomMomentsLosesNoAcceptedUpload) {
  ServerOptions o;
  o.extra_args = {"--leftover-sweep-interval", "0.3", "--leftover-sweep-grace", "3", "--workers", "2"};
  ServerProcess s(o);
  ASSERT_NO_THROW(s.start());
  const std::vector<std::string> photos = {"medium.jpg", "portrait.jpg", "landscape.jpg", "under-1mp.jpg",
                                           "over-1mp.jpg"};

  std::mutex mu;
  std::condition_variable cv;
  bool up = true, stopping = false;
  std::map<std::string, Accepted> accepted;
  std::vector<std::string> accepted_order;
  std::atomic<int> attempts{0}, bodies_started{0}, created{0};

  auto client = [&](int n) {
    for (int i = n;; i += 3) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return up || stopping; });
        if (stopping) return;
      }
      Multipart m;
      m.file = corpus(photos[static_cast<size_t>(i) % photos.size()]);
      m.content_type = "image/jpeg";
      m.throttle = 2ms;  // several pieces per body: kills land mid-receive too
      m.on_body_started = [&] { ++bodies_started; };
      ++attempts;
      auto r = post_multipart(s.url("/v1/upload"), m, 60s);
      if (r.status != 201) continue;  // refused or cut by a kill: the client would retry
      const auto j = r.json();
      Accepted a{j.value("src", ""), ""};
      if (auto g = http_get(a.src, {}, 10s); g.status == 200) a.original = g.body;
      std::lock_guard lock(mu);
      const auto id = j.value("id", "");
      EXPECT_TRUE(accepted.emplace(id, a).second) << "id " << id << " answered twice";
      accepted_order.push_back(id);
      ++created;
    }
  };
  std::vector<std::thread> clients;
  for (int n = 0; n < 3; ++n) clients.emplace_back(client, n);

  std::mt19937 rng(std::random_device{}());
  constexpr int kKills = 22;
  std::map<std::string, int> moments;
  for (int k = 0; k < kKills; ++k) {
    const int kind = static_cast<int>(rng() % 3);
    bool reached = false;
    if (kind == 0) {  // a body is being received and staged
      const int at = bodies_started + 1 + static_cast<int>(rng() % 2);
      reached = eventually([&] { return bodies_started >= at; }, 60s, 5ms);
      moments["receiving"]++;
    } else if (kind == 1) {  // a job is running in the worker
      const int polls = static_cast<int>(rng() % 4);
      int seen = 0;
      reached = eventually([&] {
        auto m = http_get(s.url("/metrics"), {}, 5s);
        return m.status == 200 && metric_sum(m.body, "imgpipe_worker_jobs_in_flight") > 0 && seen++ >= polls;
      }, 60s, 5ms);
      moments["processing"]++;
    } else {  // just after a 201: variants being rendered and announced
      const int at = created + 1;
      reached = eventually([&] { return created >= at; }, 60s, 5ms);
      moments["after_201"]++;
    }
    ASSERT_TRUE(reached) << "no progress before kill " << k << "\n" << s.log_tail();
    {
      std::lock_guard lock(mu);
      up = false;
    }
    s.kill9();
    ASSERT_NO_THROW(s.restart()) << "restart " << k;
    {
      std::lock_guard lock(mu);
      up = true;
    }
    cv.notify_all();
  }
  // Enough accepted uploads to judge, however many the kills cut short.
  ASSERT_TRUE(eventually([&] { return created >= 10; }, 120s)) << s.log_tail();
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  cv.notify_all();
  for (auto& t : clients) t.join();
  RecordProperty("kills", kKills);
  RecordProperty("uploads_attempted", attempts.load());
  RecordProperty("uploads_created", created.load());
  for (const auto& [moment, n] : moments) RecordProperty("kills_" + moment, n);

  // Idle: every queued job done (replayed ones included).
  ASSERT_TRUE(eventually([&] {
    auto m = http_get(s.url("/metrics"), {}, 5s);
    return m.status == 200 && metric_sum(m.body, "imgpipe_consumer_lag") == 0 &&
           metric_sum(m.body, "imgpipe_worker_jobs_in_flight") == 0 && metric_sum(m.body, "imgpipe_index_ready") == 1;
  }, 90s)) << s.log_tail();

  // Every 201: the same original bytes, every variant pre-generated, once.
  for (const auto& id : accepted_order) {
    const auto& a = accepted.at(id);
    auto g = http_get(a.src);
    ASSERT_EQ(g.status, 200) << id << " lost: " << g.describe();
    if (!a.original.empty()) {
      EXPECT_EQ(g.body, a.original) << id << " changed";
    }
    EXPECT_TRUE(decode(g.body).ok) << id;
    const auto manifest = s.data_dir() / "manifests" / (id + ".json");
    ASSERT_TRUE(eventually([&] {
      return fs::exists(manifest) &&
             nlohmann::json::parse(read_file(manifest)).value("variants", nlohmann::json::array()).size() == 6;
    }, 60s)) << id << " lacks variants";
  }
  // No image twice: at most one manifest per upload that reached the server.
  EXPECT_LE(files_in(s.data_dir() / "manifests"), static_cast<size_t>(attempts.load()));

  // After sweeps older than the grace period: no orphan, nothing missing,
  // no temporary or staged file left.
  std::set<std::string> named, present;
  const bool settled = eventually([&] {
    std::tie(named, present) = blobs_named_and_present(s.data_dir());
    return named == present && files_in(s.data_dir() / "staging") == 0;
  }, 60s, 500ms);
  std::vector<std::string> orphans, missing;
  std::set_difference(present.begin(), present.end(), named.begin(), named.end(), std::back_inserter(orphans));
  std::set_difference(named.begin(), named.end(), present.begin(), present.end(), std::back_inserter(missing));
  EXPECT_TRUE(settled) << orphans.size() << " orphaned blobs, " << missing.size() << " missing, "
                       << files_in(s.data_dir() / "staging") << " staged files\n" << s.log_tail();
  RecordProperty("blob_files", static_cast<int>(present.size()));
  auto m = http_get(s.url("/metrics")).body;
  EXPECT_GT(metric_sum(m, "imgpipe_sweep_last_timestamp_seconds"), 0) << "the sweeper ran";
  EXPECT_EQ(metric_sum(m, "imgpipe_sweep_last_blob_files"), static_cast<double>(present.size()));

  // Variants are served (from the stored files: they are all named above).
  for (const auto& id : accepted_order)
    for (const char* size : {"s", "m", "l"})
      for (const char* ext : {"jpeg", "webp"}) {
        auto v = http_get(with_size(with_ext(accepted.at(id).src, ext), size));
        EXPECT_EQ(v.status, 200) << id << " " << size << "." << ext;
      }
  EXPECT_EQ(s.stop(), 0) << s.log_tail();
}

}  // namespace
}  // namespace imgpipe::e2e
