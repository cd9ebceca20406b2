// The install on an S3 store (SeaweedFS, IMGPIPE_TEST_S3) where a folder
// store's tests do not reach, on the bus the e2e run uses (embedded, or
// Kafka with IMGPIPE_E2E_BUS=kafka):
//   - a gateway killed with SIGKILL in the middle of a large upload leaves
//     its multipart upload open; the leftover sweeper aborts it;
//   - deleting images collects their blobs from the bucket, and a blob two
//     images share only with the last of them;
//   - `imgpipe replay --blob-store` reads the manifests and staged uploads
//     in the store.
// Each test has a prefix of its own in the bucket; the store is inspected
// with the S3 client, as an operator would with the store's own tools.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <set>

#include "storage/s3/s3_blob_store.h"
#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

using json = nlohmann::json;

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) ADD_FAILURE() << name << " is not set (ops/test starts SeaweedFS: ops/s3/start)";
  return v ? v : "";
}

// A prefix of the test bucket, its client, and the server flags for it.
struct Store {
  storage::s3::S3Config cfg;
  std::unique_ptr<storage::s3::S3BlobStore> store;
  std::map<std::string, std::string> credentials;

  explicit Store(const std::string& name) {
    cfg.endpoint = env_or_fail("IMGPIPE_TEST_S3");
    cfg.bucket = env_or_fail("IMGPIPE_TEST_S3_BUCKET");
    cfg.access_key = env_or_fail("IMGPIPE_TEST_S3_ACCESS_KEY");
    cfg.secret_key = env_or_fail("IMGPIPE_TEST_S3_SECRET_KEY");
    cfg.path_style = true;
    cfg.prefix = name + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
    store = std::make_unique<storage::s3::S3BlobStore>(cfg);
    credentials = {{"AWS_ACCESS_KEY_ID", cfg.access_key}, {"AWS_SECRET_ACCESS_KEY", cfg.secret_key}};
  }
  ~Store() {
    for (const auto& k : client().list_keys(cfg.prefix + "/")) client().delete_object(k);
  }
  storage::s3::S3Client& client() { return store->client(); }
  std::vector<std::string> flags() const {
    return {"--blob-store", "s3://" + cfg.bucket + "/" + cfg.prefix, "--s3-endpoint", cfg.endpoint, "--s3-path-style"};
  }
  ServerOptions server(std::vector<std::string> extra = {}) const {
    ServerOptions o;
    o.extra_args = flags();
    o.extra_args.insert(o.extra_args.end(), extra.begin(), extra.end());
    o.env = credentials;
    return o;
  }
  std::vector<storage::s3::UploadInfo> open_uploads() { return store->client().list_uploads(cfg.prefix + "/"); }
};

// A connection that sends part of a request and holds it open.
class HeldRequest {
 public:
  explicit HeldRequest(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ADD_FAILURE() << "connect failed";
  }
  ~HeldRequest() { ::close(fd_); }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

 private:
  int fd_ = -1;
};

TEST(S3Store, AGatewayKilledMidUploadLeavesNoMultipartUploadOnceSwept) {
  Store store("killed-upload");
  // An 18 MiB upload (parts are 8 MiB): a JPEG, then padding.
  std::string file = synthetic_jpeg(1, 200, 100);
  std::mt19937_64 rng(5);
  while (file.size() < (18u << 20)) file += static_cast<char>(rng());
  const std::string boundary = "----held-upload";
  const std::string head_of_body = "--" + boundary +
                                   "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
                                   "Content-Type: image/jpeg\r\n\r\n";
  const std::string tail_of_body = "\r\n--" + boundary + "--\r\n";
  {
    ServerProcess gateway(store.server());
    gateway.start();
    HeldRequest upload(gateway.port());
    ASSERT_TRUE(upload.send("POST /v1/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=" +
                            boundary + "\r\nContent-Length: " +
                            std::to_string(head_of_body.size() + file.size() + tail_of_body.size()) + "\r\n\r\n" +
                            head_of_body));
    // Twelve of the 18 MiB, then nothing: the first part is in the store.
    ASSERT_TRUE(upload.send(std::string_view(file).substr(0, 12u << 20)));
    ASSERT_TRUE(eventually([&] { return !store.open_uploads().empty(); }, 60s)) << gateway.log_tail();
    gateway.kill9();
  }
  // Nobody aborted it: the store keeps the parts.
  const auto left = store.open_uploads();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].key.rfind(store.cfg.prefix + "/staging/", 0), 0u) << left[0].key;

  // A gateway on the store whose sweeper counts anything begun before now
  // as orphaned aborts it, and logs it.
  ServerProcess restarted(store.server({"--leftover-sweep-grace", "0", "--leftover-sweep-interval", "0.5"}));
  restarted.start();
  EXPECT_TRUE(eventually([&] { return store.open_uploads().empty(); }, 60s)) << restarted.log_tail();
  EXPECT_TRUE(eventually([&] { return restarted.log_tail(100000).find(left[0].upload_id) != std::string::npos; }, 10s))
      << restarted.log_tail();
  EXPECT_TRUE(store.client().list_keys(store.cfg.prefix + "/staging/").empty());
  // And the gateway serves: an upload after the sweep is stored.
  Multipart m;
  m.bytes = synthetic_jpeg(2, 300, 200);
  m.filename = "after.jpg";
  m.content_type = "image/jpeg";
  EXPECT_EQ(post_multipart(restarted.url("/v1/upload"), m).status, 201);
}

// ---- deletion and collection ------------------------------------------------------

// The img.pro API with a key: create and delete.
struct Api {
  const ServerProcess& s;
  std::string key;

  Response create(const std::string& bytes, const std::string& filename) const {
    const std::string boundary = "----s3-store-test";
    const std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
                             filename + "\"\r\nContent-Type: image/jpeg\r\n\r\n" + bytes + "\r\n--" + boundary + "--\r\n";
    return send("POST /v1/images", "Content-Type: multipart/form-data; boundary=" + boundary +
                                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n",
                body);
  }
  int remove(const std::string& id) const { return static_cast<int>(send("DELETE /v1/images/" + id, "", "").status); }

  Response send(const std::string& request_line, const std::string& headers, const std::string& body) const {
    auto raw = parse_raw(raw_exchange(s.port(),
                                      request_line + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                                     "Authorization: Bearer " + key + "\r\n" + headers + "\r\n" + body,
                                      120s));
    Response r;
    r.status = raw.status;
    r.headers = raw.headers;
    r.body = raw.body;
    return r;
  }
};

std::string new_key(const ServerProcess& s) {
  auto r = post_json(s.url("/v1/keys"), json{{"email", "s3@x.com"}});
  EXPECT_EQ(r.status, 201) << r.describe();
  return r.json().value("key", "");
}

// The blobs an image's manifest names: original and variants, once all are made.
std::set<std::string> blobs_of(Store& store, const std::string& id) {
  std::set<std::string> out;
  EXPECT_TRUE(eventually([&] {
    auto text = store.store->get_manifest(id + ".json");
    if (!text) return false;
    auto m = json::parse(*text, nullptr, false);
    if (!m.is_object() || m["variants"].size() != 6) return false;
    out = {m["blob"].get<std::string>()};
    for (const auto& v : m["variants"]) out.insert(v["blob"].get<std::string>());
    return true;
  }, 90s)) << id;
  return out;
}

TEST(S3Store, DeletedImagesBlobsAreCollectedFromTheBucketASharedOneWithTheLast) {
  Store store("collect");
  ServerProcess s(store.server({"--sweep-interval", "1", "--blob-grace", "0"}));
  s.start();
  Api api{s, new_key(s)};
  // Two images of the same bytes share every blob; a third has its own.
  const auto shared_bytes = synthetic_jpeg(7, 900, 600);
  auto a = api.create(shared_bytes, "a.jpg"), b = api.create(shared_bytes, "b.jpg");
  auto c = api.create(synthetic_jpeg(8, 900, 600), "c.jpg");
  ASSERT_EQ(a.status, 201) << a.describe();
  ASSERT_EQ(b.status, 201) << b.describe();
  ASSERT_EQ(c.status, 201) << c.describe();
  const std::string ida = a.json()["id"], idb = b.json()["id"], idc = c.json()["id"];
  ASSERT_NE(ida, idb);
  const auto shared = blobs_of(store, ida), own = blobs_of(store, idc);
  ASSERT_EQ(blobs_of(store, idb), shared);
  for (const auto& sha : own) ASSERT_FALSE(shared.count(sha));

  auto none_in_bucket = [&](const auto& shas) {
    for (const auto& sha : shas)
      if (store.store->contains(sha)) return false;
    return true;
  };
  // a and c go: c's blobs leave the bucket (so a sweep has run since), a's stay for b.
  EXPECT_EQ(api.remove(ida), 200);
  EXPECT_EQ(api.remove(idc), 200);
  EXPECT_TRUE(eventually([&] { return none_in_bucket(own); }, 60s)) << s.log_tail();
  for (const auto& sha : shared) EXPECT_TRUE(store.store->contains(sha)) << sha << " went while b still uses it";
  auto served = http_get(b.json()["url"].get<std::string>());
  EXPECT_EQ(served.status, 200) << served.describe();

  // b goes: now the shared blobs leave too.
  EXPECT_EQ(api.remove(idb), 200);
  EXPECT_TRUE(eventually([&] { return none_in_bucket(shared); }, 60s)) << s.log_tail();
  EXPECT_TRUE(store.client().list_keys(store.cfg.prefix + "/blobs/").empty());
}

// ---- replay -----------------------------------------------------------------------

TEST(S3Store, ReplayReadsManifestsAndStagedUploadsThroughTheStore) {
  Store store("replay");
  ServerProcess s(store.server());
  s.start();
  std::vector<std::string> ids;
  std::map<std::string, std::set<std::string>> blobs;
  for (int i = 0; i < 3; ++i) {
    Multipart m;
    m.bytes = synthetic_jpeg(20 + i, 1000, 700);
    m.filename = "r" + std::to_string(i) + ".jpg";
    m.content_type = "image/jpeg";
    auto r = post_multipart(s.url("/v1/upload"), m);
    ASSERT_EQ(r.status, 201) << r.describe();
    ids.push_back(r.json()["id"]);
    blobs[ids.back()] = blobs_of(store, ids.back());
  }
  ASSERT_EQ(s.stop(), 0) << s.log_tail();
  // Lose every variant of the first image in the store.
  auto manifest = json::parse(*store.store->get_manifest(ids[0] + ".json"));
  std::vector<std::string> lost;
  for (const auto& v : manifest["variants"]) lost.push_back(v["blob"]);
  for (const auto& sha : lost) store.store->remove(sha);
  const auto manifests_before = store.client().list_keys(store.cfg.prefix + "/manifests/");
  ASSERT_EQ(manifests_before.size(), 3u);

  std::vector<std::string> args{imgpipe_binary().string(), "replay", "--data-dir", s.data_dir().string(), "--topic",
                                "imgpipe.ingest", "--from-offset", "0", "--idle-timeout", "5"};
  for (auto& a : transport_args(s.topic_prefix())) args.push_back(a);
  for (auto& a : store.flags()) args.push_back(a);
  auto r = run(args, 180s, store.credentials);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("replay done: 3 jobs; 3 already stored (same id, announced again, missing variants made), "
                       "0 processed, 0 failed (see the DLQ), 0 malformed"),
            std::string::npos)
      << r.out;
  // The lost variants are back in the store, each the bytes its name says.
  for (const auto& sha : lost) {
    auto bytes = store.store->read(sha);
    ASSERT_TRUE(bytes.has_value()) << sha << " was not made again";
    EXPECT_EQ(storage::sha256_hex(*bytes), sha);
  }
  EXPECT_EQ(store.client().list_keys(store.cfg.prefix + "/manifests/"), manifests_before) << "replay made an image";
  for (const auto& id : ids) EXPECT_EQ(blobs_of(store, id), blobs[id]) << id;
  // The local folder got no manifest: everything went to the store.
  std::error_code ec;
  EXPECT_FALSE(fs::exists(s.data_dir() / "manifests" / (ids[0] + ".json"), ec));
}

}  // namespace
}  // namespace imgpipe::e2e
