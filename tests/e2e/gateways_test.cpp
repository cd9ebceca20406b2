// Several gateways on one Kafka installation, as separate processes: two
// gateways and a worker on the broker named by IMGPIPE_TEST_KAFKA (ops/test
// starts it), on a topic prefix of this run's own, one shared blob dir and
// one --token-secret.
//   - a key made on gateway A uploads through gateway B within seconds
//     (editable), and once revoked on A with `imgpipe keys revoke`, B refuses it;
//   - a fresh gateway joining a topic with images answers /readyz 200 only
//     when it serves every one of them;
//   - an Idempotency-Key sent to both gateways at once, and again later to
//     either, makes one image; another request with it is 409 on both;
//   - while the first request with a key is in flight on A, the same key on
//     B is 409 idempotency_key_in_progress (B's index has A's `accepted`);
//   - a bulk producer's import job (kcat) is listed as processing while the
//     worker holds it, then ready; one that fails for good is listed failed.
// Runs only with IMGPIPE_E2E_BUS=kafka (registered as kafka.e2e_gateways).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <vips/vips8>

#include "tests/e2e/child_process.h"
#include "tests/e2e/harness.h"
#include "tests/workers/fetch/http_fixture.h"

namespace imgpipe::e2e {
namespace {

using json = nlohmann::json;

using Proc = ChildProcess;

struct Reply {
  int status = 0;
  std::string body;
  Headers headers;
  json js() const { return json::parse(body, nullptr, false); }
  std::string header(const std::string& h) const {
    auto it = headers.find(h);
    return it == headers.end() ? "" : it->second;
  }
};

// POST /v1/upload with an optional API key and Idempotency-Key, exact bytes over loopback.
Reply upload_as(int port, const std::string& key, const std::string& bytes, const std::string& filename,
                const std::string& idempotency_key = "") {
  const std::string boundary = "----imgpipe-gateways-boundary";
  std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
                     "\"\r\nContent-Type: image/jpeg\r\n\r\n" + bytes + "\r\n--" + boundary + "--\r\n";
  std::string req = "POST /v1/upload HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nContent-Type: multipart/form-data; boundary=" + boundary +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (!key.empty()) req += "Authorization: Bearer " + key + "\r\n";
  if (!idempotency_key.empty()) req += "Idempotency-Key: " + idempotency_key + "\r\n";
  auto raw = parse_raw(raw_exchange(port, req + "\r\n" + body, 60s));
  return {raw.status, raw.body, raw.headers};
}

class Gateways : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!kafka_mode()) return;
    VIPS_INIT("gateways-test");
    char tmpl[] = "/tmp/imgpipe-gateways.XXXXXX";
    root_ = mkdtemp(tmpl);
    broker_ = std::getenv("IMGPIPE_TEST_KAFKA");
    prefix_ = "gw" + std::to_string(std::random_device{}() % 1000000000) + ".";
    auto r = run({imgpipe_binary().string(), "topics", "create", "--kafka", broker_, "--topic-prefix", prefix_,
                  "--partitions", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    fs::create_directories(root_ / "blobs");
    std::ofstream(root_ / "plans.json") << R"({"anonymous": {"uploads_per_hour": 100000, "uploads_per_day": 100000}})";
    for (int i = 0; i < 2; ++i) start_gateway(i);
    worker_ = std::make_unique<Proc>(
        std::vector<std::string>{imgpipe_binary().string(), "worker", "--kafka", broker_, "--topic-prefix", prefix_,
                                 "--data-dir", (root_ / "w0").string(), "--blob-dir", (root_ / "blobs").string(),
                                 "--workers", "2", "--image-threads", "1",
                                 // The origins of these tests are on loopback (never a private address).
                                 "--import-allow-private"},
        root_ / "worker.log");
    worker_->start();
    for (int i = 0; i < 2; ++i)
      ASSERT_TRUE(eventually([&] { return http_get(url(i, "/readyz"), {}, 2s).status == 200; }, 60s))
          << gateways_[i]->tail();
  }

  // Gateway i: its own data dir and port, the shared blob dir and secret.
  static void start_gateway(int i) {
    ports_[i] = free_port();
    gateways_[i] = std::make_unique<Proc>(
        std::vector<std::string>{imgpipe_binary().string(), "gateway", "--kafka", broker_, "--topic-prefix", prefix_,
                                 "--data-dir", data_dir(i).string(), "--blob-dir", (root_ / "blobs").string(),
                                 "--listen", "127.0.0.1:" + std::to_string(ports_[i]), "--public-url",
                                 "http://127.0.0.1:" + std::to_string(ports_[i]), "--ingest-timeout", "30",
                                 "--io-threads", "2", "--plans-file", (root_ / "plans.json").string(),
                                 "--token-secret", "gateways-test-secret-0123456789-abcdefghij"},
        root_ / ("gateway" + std::to_string(i) + ".log"));
    gateways_[i]->start();
  }

  static void TearDownTestSuite() {
    worker_.reset();
    for (auto& g : gateways_) g.reset();
    if (!root_.empty() && std::getenv("IMGPIPE_TEST_KEEP") == nullptr) fs::remove_all(root_);
  }

  void SetUp() override {
    if (!kafka_mode()) GTEST_SKIP() << "set IMGPIPE_E2E_BUS=kafka and IMGPIPE_TEST_KAFKA (ops/test does)";
  }

  static fs::path data_dir(int g) { return root_ / ("g" + std::to_string(g)); }
  static std::string url(int g, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(ports_[g]) + path;
  }

  static inline fs::path root_;
  static inline std::string broker_, prefix_;
  static inline int ports_[3] = {0, 0, 0};
  static inline std::unique_ptr<Proc> gateways_[3];
  static inline std::unique_ptr<Proc> worker_;
};

TEST_F(Gateways, AKeyMadeOnOneGatewayWorksOnAnotherUntilRevoked) {
  auto created = post_json(url(0, "/v1/keys"), {{"email", "multi@gateways.test"}});
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string key = created.json().value("key", ""), key_id = created.json().value("key_id", "");
  ASSERT_FALSE(key.empty());

  // Gateway B learns the key from imgpipe.accounts within seconds.
  Reply r;
  int n = 0;
  ASSERT_TRUE(eventually([&] { return (r = upload_as(ports_[1], key, synthetic_jpeg(1000 + n++), "k.jpg")).status == 201; }, 15s, 250ms))
      << "gateway B never accepted the key: " << r.status << " " << r.body << "\n" << gateways_[1]->tail();
  EXPECT_EQ(r.js()["editable"], true) << r.body;
  auto src = r.js().value("src", "");
  EXPECT_EQ(http_get(src).status, 200);

  // Revoked with the operator CLI against gateway A.
  auto revoke = run({imgpipe_binary().string(), "keys", "revoke", key_id, "--data-dir", data_dir(0).string()}, 30s);
  ASSERT_EQ(revoke.exit_code, 0) << revoke.out;
  EXPECT_EQ(upload_as(ports_[0], key, synthetic_jpeg(1100), "k.jpg").status, 401) << "A applies its own revocation at once";
  ASSERT_TRUE(eventually([&] { return (r = upload_as(ports_[1], key, synthetic_jpeg(1101), "k.jpg")).status == 401; }, 15s, 250ms))
      << "gateway B still accepts a revoked key: " << r.status << " " << r.body;
  EXPECT_EQ(r.js().value("error", ""), "unauthorized") << r.body;
}

TEST_F(Gateways, AFreshGatewayIsReadyOnlyWhenItServesEveryImage) {
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    auto r = upload_as(ports_[i % 2], "", synthetic_jpeg(i), "img" + std::to_string(i) + ".jpg");
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(r.js().value("id", ""));
  }
  // Let the variants events land too, so the fresh gateway has more to read:
  // a job is committed once its variants' events are published.
  ASSERT_TRUE(eventually([&] { return metric_sum(http_get(url(0, "/metrics")).body, "imgpipe_consumer_lag") == 0; },
                         60s, 50ms))
      << gateways_[0]->tail();

  start_gateway(2);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  long status = 0;
  int not_ready = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = http_get(url(2, "/readyz"), {}, 2s).status;
    if (status == 200) break;
    if (status == 503) ++not_ready;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(status, 200) << gateways_[2]->tail();
  // At the moment it first says ready, every image is served, without retrying.
  for (const auto& id : ids) {
    auto viewer = http_get(url(2, "/" + id), {}, 10s);
    EXPECT_EQ(viewer.status, 200) << "ready, yet " << id << " is " << viewer.describe();
  }
  std::cout << "[ info ] /readyz answered 503 " << not_ready << " time(s) before 200\n";
  gateways_[2]->stop();
}

// The image id comes from the owner and the key (HMAC with the shared
// secret): both gateways name the same image, and the worker makes it once.
// At once, the second may also be told the first is in progress (when the
// first's `accepted` reached its gateway first); sent again, it gets the image.
TEST_F(Gateways, AnIdempotencyKeyMakesOneImageWhicheverGatewayItReaches) {
  const std::string bytes = synthetic_jpeg(2000);
  auto a = std::async(std::launch::async, [&] { return upload_as(ports_[0], "", bytes, "i.jpg", "gw-key-1"); });
  auto b = std::async(std::launch::async, [&] { return upload_as(ports_[1], "", bytes, "i.jpg", "gw-key-1"); });
  Reply answers[2] = {a.get(), b.get()};
  for (int g : {0, 1}) {
    auto& r = answers[g];
    if (r.status == 409) {
      EXPECT_EQ(r.js().value("error", ""), "idempotency_key_in_progress") << r.body;
      ASSERT_TRUE(eventually([&] { return (r = upload_as(ports_[g], "", bytes, "i.jpg", "gw-key-1")).status != 409; }, 30s))
          << r.body;
    }
    ASSERT_EQ(r.status, 201) << "gateway " << g << ": " << r.body;
  }
  const std::string id = answers[0].js().value("id", "");
  EXPECT_EQ(answers[1].js().value("id", ""), id);
  for (int g : {0, 1}) {
    auto again = upload_as(ports_[g], "", bytes, "i.jpg", "gw-key-1");
    EXPECT_EQ(again.status, 201) << again.body;
    EXPECT_EQ(again.js().value("id", ""), id) << "gateway " << g;
    auto other = upload_as(ports_[g], "", synthetic_jpeg(2001), "i.jpg", "gw-key-1");
    EXPECT_EQ(other.status, 409) << other.body;
    EXPECT_EQ(other.js().value("error", ""), "idempotency_key_conflict") << other.body;
  }
  EXPECT_EQ(http_get(url(1, "/" + id)).status, 200);
}


// A shape C request as a key holder, with an optional JSON body and Idempotency-Key.
Reply send_as(int port, const std::string& key, const std::string& method, const std::string& target,
              const std::string& body = {}, const std::string& idempotency_key = "") {
  std::string req = method + " " + target + " HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nAuthorization: Bearer " + key + "\r\n";
  if (!idempotency_key.empty()) req += "Idempotency-Key: " + idempotency_key + "\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  auto raw = parse_raw(raw_exchange(port, req + "\r\n" + body, 60s));
  return {raw.status, raw.body, raw.headers};
}

// An origin that answers when the test says so: a worker holds the job.
struct HeldOrigin {
  HeldOrigin() : released(release.get_future().share()) {}
  ~HeldOrigin() { open(); }
  void open() { std::call_once(opened, [&] { release.set_value(); }); }
  std::promise<void> release;
  std::shared_future<void> released;
  std::once_flag opened;
  std::atomic<int> asked{0};
  workers::fetch::test::HttpFixture origin{[this](int fd, const std::string& request, const auto&) {
    ++asked;
    if (request.rfind("GET /text", 0) == 0)  // not an image: the job fails for good
      return (void)workers::fetch::test::send_all(fd, workers::fetch::test::response(200, "hello", "Content-Type: image/jpeg\r\n"));
    (void)released.wait_for(std::chrono::seconds(60));  // bounded: a failed test does not hang here
    workers::fetch::test::send_all(fd, workers::fetch::test::response(200, synthetic_jpeg(2100), "Content-Type: image/jpeg\r\n"));
  }};
};

TEST_F(Gateways, AKeyInFlightOnOneGatewayIsInProgressOnTheOther) {
  HeldOrigin held;
  auto created = post_json(url(0, "/v1/keys"), {{"email", "inflight@gateways.test"}});
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string key = created.json().value("key", "");
  ASSERT_TRUE(eventually([&] { return send_as(ports_[1], key, "GET", "/v1/images").status == 200; }, 15s))
      << "gateway B never learnt the key";
  const std::string body = json{{"url", held.origin.url("/held.jpg")}, {"caption", "c"}}.dump();
  auto first = std::async(std::launch::async, [&] { return send_as(ports_[0], key, "POST", "/v1/images", body, "gw-inflight-1"); });
  // B knows the first attempt once A's `accepted` is in B's index: listed as processing.
  Reply list;
  ASSERT_TRUE(eventually([&] {
    list = send_as(ports_[1], key, "GET", "/v1/images");
    return list.js()["data"].size() == 1;
  }, 30s)) << list.body;
  EXPECT_EQ(list.js()["data"][0]["status"], "processing") << list.body;
  const std::string id = list.js()["data"][0]["id"];
  auto busy = send_as(ports_[1], key, "POST", "/v1/images", body, "gw-inflight-1");
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_EQ(busy.js()["error"]["code"], "idempotency_key_in_progress") << busy.body;
  EXPECT_EQ(busy.js()["error"]["type"], "idempotency_error") << busy.body;
  EXPECT_FALSE(busy.header("Retry-After").empty());
  auto other = send_as(ports_[1], key, "POST", "/v1/images", json{{"url", held.origin.url("/held.jpg")}}.dump(),
                       "gw-inflight-1");
  EXPECT_EQ(other.js()["error"]["code"], "idempotency_key_conflict") << other.body;
  EXPECT_EQ(held.asked.load(), 1) << "B started no second job";
  held.open();
  auto r = first.get();
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.js()["id"], id);
  Reply again;
  ASSERT_TRUE(eventually([&] { return (again = send_as(ports_[1], key, "POST", "/v1/images", body, "gw-inflight-1")).status == 201; }, 15s))
      << again.body;
  EXPECT_EQ(again.js()["id"], id);
  EXPECT_EQ(held.asked.load(), 1) << "a replay fetches nothing";
}

// A bulk producer's jobs (docs/bulk-import.md) for a key's owner: the worker
// announces each as it takes it, so both gateways list it as processing,
// then ready; a job that fails for good stays listed as failed.
TEST_F(Gateways, BulkJobsAreListedAsProcessingThenReadyOrFailed) {
  HeldOrigin held;
  auto created = post_json(url(0, "/v1/keys"), {{"email", "bulk@gateways.test"}});
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string key = created.json().value("key", ""), owner = "key:" + created.json().value("key_id", "");
  ASSERT_TRUE(eventually([&] { return send_as(ports_[1], key, "GET", "/v1/images").status == 200; }, 15s));
  const std::string id = "bulkheld" + std::to_string(::getpid()), bad = "bulktext" + std::to_string(::getpid());
  auto produce = [&](const std::string& image_id, const std::string& path) {
    std::ofstream(root_ / "job.json") << json{{"v", 1}, {"type", "import"}, {"image_id", image_id},
                                              {"url", held.origin.url(path)}, {"owner", owner},
                                              {"labels", {{"via", "kcat"}}}, {"created_at", 1700000000}}.dump();
    auto r = run({"kcat", "-P", "-b", broker_, "-t", prefix_ + "imgpipe.ingest", "-k", image_id, (root_ / "job.json").string()}, 60s);
    ASSERT_EQ(r.exit_code, 0) << r.out;
  };
  produce(id, "/held.jpg");
  for (int g : {0, 1}) {
    Reply got;
    ASSERT_TRUE(eventually([&] { return (got = send_as(ports_[g], key, "GET", "/v1/images/" + id)).status == 200; }, 30s))
        << "gateway " << g << ": " << got.body;
    EXPECT_EQ(got.js()["status"], "processing") << got.body;
    EXPECT_TRUE(got.js()["width"].is_null() && got.js()["bytes"].is_null()) << got.body;
    EXPECT_EQ(got.js()["labels"], (json{{"via", "kcat"}})) << got.body;
  }
  held.open();
  for (int g : {0, 1}) {
    Reply got;
    ASSERT_TRUE(eventually([&] { return (got = send_as(ports_[g], key, "GET", "/v1/images/" + id)).js()["status"] == "ready"; }, 30s))
        << got.body;
    EXPECT_EQ(got.js()["width"], 120) << got.body;
  }
  produce(bad, "/text.jpg");
  for (int g : {0, 1}) {
    Reply got;
    ASSERT_TRUE(eventually([&] { return (got = send_as(ports_[g], key, "GET", "/v1/images/" + bad)).js()["status"] == "failed"; }, 30s))
        << "gateway " << g << ": " << got.body;
    EXPECT_TRUE(got.js()["url"].is_null()) << got.body;
  }
  auto listed = send_as(ports_[1], key, "GET", "/v1/images?label[via]=kcat").js();
  EXPECT_EQ(listed["data"].size(), 2u) << listed;
}

}  // namespace
}  // namespace imgpipe::e2e
