// A worker-only process can be watched: `imgpipe worker --metrics-listen`
// serves /metrics (jobs by type and outcome, time per step, failures by step
// and code, consumer lag, queue depths) and /healthz on its own address. A
// gateway and a worker as separate processes on the broker named by
// IMGPIPE_TEST_KAFKA, on a topic prefix of this run's own.
// Runs only with IMGPIPE_E2E_BUS=kafka (registered as kafka.e2e_worker_metrics).
#include <random>
#include <regex>

#include "tests/e2e/child_process.h"
#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

// The value of one sample (name plus exact label text, e.g. `{step="store"}`); -1 when absent.
double sample(const std::string& text, const std::string& name_and_labels) {
  auto at = text.find("\n" + name_and_labels + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name_and_labels.size() + 2));
}

TEST(WorkerMetrics, AWorkerProcessServesMetricsAndHealth) {
  if (!kafka_mode()) GTEST_SKIP() << "set IMGPIPE_E2E_BUS=kafka and IMGPIPE_TEST_KAFKA (ops/test does)";
  char tmpl[] = "/tmp/imgpipe-worker-metrics.XXXXXX";
  fs::path root = mkdtemp(tmpl);
  const std::string broker = std::getenv("IMGPIPE_TEST_KAFKA");
  const std::string prefix = "wm" + std::to_string(std::random_device{}() % 1000000000) + ".";
  auto topics = run({imgpipe_binary().string(), "topics", "create", "--kafka", broker, "--topic-prefix", prefix,
                     "--partitions", "2"});
  ASSERT_EQ(topics.exit_code, 0) << topics.out;
  const int gw_port = free_port(), metrics_port = free_port();
  const std::string gw = "http://127.0.0.1:" + std::to_string(gw_port);
  const std::string wk = "http://127.0.0.1:" + std::to_string(metrics_port);
  ChildProcess gateway({imgpipe_binary().string(), "gateway", "--kafka", broker, "--topic-prefix", prefix, "--data-dir",
                        (root / "g").string(), "--blob-dir", (root / "blobs").string(), "--listen",
                        "127.0.0.1:" + std::to_string(gw_port), "--public-url", gw},
                       root / "gateway.log");
  ChildProcess worker({imgpipe_binary().string(), "worker", "--kafka", broker, "--topic-prefix", prefix, "--data-dir",
                       (root / "w").string(), "--blob-dir", (root / "blobs").string(), "--workers", "2",
                       "--image-threads", "1", "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)},
                      root / "worker.log");
  gateway.start();
  worker.start();
  ASSERT_TRUE(eventually([&] { return http_get(wk + "/healthz", {}, 2s).status == 200; }, 60s)) << worker.tail();
  auto health = http_get(wk + "/healthz").json();
  EXPECT_EQ(health.value("status", ""), "ok");
  EXPECT_EQ(health.value("role", ""), "worker");
  ASSERT_TRUE(eventually([&] { return http_get(gw + "/readyz", {}, 2s).status == 200; }, 60s)) << gateway.tail();

  // Two good uploads and one that passes the gateway's sniffing but not the worker's decoder.
  for (int i = 0; i < 2; ++i) {
    Multipart m;
    m.bytes = synthetic_jpeg(i);
    m.filename = "w.jpg";
    auto r = post_multipart(gw + "/v1/upload", m);
    ASSERT_EQ(r.status, 201) << r.describe() << worker.tail();
  }
  Multipart broken;
  broken.bytes = synthetic_jpeg(7).substr(0, 200);
  broken.filename = "broken.jpg";
  auto bad = post_multipart(gw + "/v1/upload", broken);
  EXPECT_EQ(bad.status / 100, 4) << bad.describe();

  std::string text;
  ASSERT_TRUE(eventually([&] {
    text = http_get(wk + "/metrics").body;
    return sample(text, R"(imgpipe_jobs_total{type="upload",outcome="done"})") >= 2 &&
           text.find("\nimgpipe_jobs_failed_total{") != std::string::npos;
  }, 60s)) << text;
  EXPECT_EQ(sample(text, R"(imgpipe_jobs_total{type="upload",outcome="done"})"), 2);
  for (const char* step : {"probe", "normalise", "store", "announce_ready"})
    EXPECT_GE(sample(text, std::string("imgpipe_job_step_seconds_count{step=\"") + step + "\"}"), 2) << step;
  EXPECT_NE(text.find("imgpipe_consumer_lag{"), std::string::npos) << text;
  EXPECT_NE(text.find("\nimgpipe_worker_jobs_in_flight "), std::string::npos);
  EXPECT_NE(text.find("\nimgpipe_staging_files "), std::string::npos);
  // Only the status routes: nothing of the API.
  EXPECT_EQ(http_get(wk + "/v1/upload").status, 404);
  EXPECT_EQ(post_json(wk + "/metrics", nlohmann::json::object()).status, 405);

  worker.term();
  gateway.term();
  if (!std::getenv("IMGPIPE_TEST_KEEP")) fs::remove_all(root);
}

}  // namespace
}  // namespace imgpipe::e2e
