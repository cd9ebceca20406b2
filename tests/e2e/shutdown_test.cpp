// SIGTERM under load: a dozen uploads in flight when the signal comes. Each
// gets its 201 or a 503 with Retry-After (never a cut connection), the
// process exits 0 within its drain deadline, and after a restart every id
// that got a 201 is served, and every job that was queued has run (the
// worker group's lag is back to zero). The workers are paused (SIGUSR1) once
// the first uploads are done and the rest are sent after that, so that some
// are certainly still waiting for a worker when the drain ends, whatever
// the machine's speed.
#include <atomic>
#include <thread>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

TEST(Shutdown, SigtermUnderLoadLosesNothing) {
  constexpr int kUploads = 12;
  ServerOptions options;
  options.extra_args = {"--workers", "2", "--image-threads", "1"};
  ServerProcess s(options);
  s.start();

  struct Outcome {
    Response response;
  };
  std::vector<Outcome> outcomes(kUploads);
  std::atomic<int> started{0}, answered{0};
  std::vector<std::thread> clients;
  clients.reserve(kUploads);
  auto start_upload = [&](int i) {
    clients.emplace_back([&, i] {
      Multipart m;
      m.bytes = synthetic_jpeg(i, 1600, 1200);
      m.filename = "load" + std::to_string(i) + ".jpg";
      m.content_type = "image/jpeg";
      m.throttle = 20ms;  // bodies take a while, as over a real network
      m.on_body_started = [&] { ++started; };
      outcomes[i].response = post_multipart(s.url("/v1/upload"), m, 120s);
      ++answered;
    });
  };
  // The first third: some answered, the others running or queued when the
  // workers pause.
  constexpr int kEarly = kUploads / 3;
  for (int i = 0; i < kEarly; ++i) start_upload(i);
  ASSERT_TRUE(eventually([&] { return answered.load() >= 2; }, 120s, 5ms));
  s.signal(SIGUSR1);  // no new jobs start; those running finish
  ASSERT_TRUE(eventually([&] { return s.log_tail(1 << 20).find("workers_paused") != std::string::npos; }, 30s, 5ms));
  // The rest arrive after the pause: however fast the machine, they are
  // still waiting for a worker when the drain ends (a slow test thread once
  // let every upload finish before the pause).
  for (int i = kEarly; i < kUploads; ++i) start_upload(i);
  ASSERT_TRUE(eventually([&] { return started.load() == kUploads; }, 60s, 5ms));
  // Every upload not yet answered is in the server, waiting for a worker: a
  // client that has started sending may still be in the listen backlog, and
  // what the backlog holds when the listener closes is reset, not answered.
  ASSERT_TRUE(eventually([&] {
    const int unanswered = kUploads - answered.load();
    return metric_sum(http_get(s.url("/metrics")).body, "imgpipe_ingest_pending") >= unanswered;
  }, 60s, 5ms));
  s.signal(SIGTERM);
  for (auto& t : clients) t.join();
  // Inside the drain deadline (15 s) plus the time to stop the rest.
  EXPECT_EQ(s.wait(60s), 0) << s.log_tail();

  std::vector<std::string> accepted;  // src
  int unavailable = 0;
  for (auto& o : outcomes) {
    const auto& r = o.response;
    if (r.status == 201) {
      accepted.push_back(r.json().value("src", ""));
    } else {
      EXPECT_EQ(r.status, 503) << r.describe();
      EXPECT_TRUE(r.has_header("Retry-After")) << r.describe();
      ++unavailable;
    }
  }
  std::cerr << "after SIGTERM: " << accepted.size() << " x 201, " << unavailable << " x 503\n";
  EXPECT_GE(accepted.size(), 2u);
  EXPECT_LE(accepted.size(), static_cast<size_t>(kEarly)) << "a job sent after workers_paused was run";
  EXPECT_GE(unavailable, 1) << "the paused workers left no upload waiting at the drain's end";

  s.start();
  for (const auto& src : accepted) {
    auto r = http_get(s.url(path_of(src)));
    EXPECT_EQ(r.status, 200) << src << " got a 201 before the restart";
    auto d = decode(r.body);
    EXPECT_TRUE(d.ok) << src << ": " << d.error;
    EXPECT_EQ(d.width, 1600);
    EXPECT_EQ(d.height, 1200);
  }
  // Every job queued before the signal runs after the restart: the worker group's lag drains to zero.
  std::string metrics;
  EXPECT_TRUE(eventually([&] {
    metrics = http_get(s.url("/metrics")).body;
    return metric_sum(metrics, "imgpipe_consumer_lag") == 0;
  }, 120s)) << metrics;
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace imgpipe::e2e
