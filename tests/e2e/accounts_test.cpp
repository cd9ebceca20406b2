// Accounts end to end: keys, verification mail, authenticated uploads,
// tiers and quotas, rate limits, client IPs, retention, the operator CLI.
// Time moves through --clock-file (a test-only flag), never by sleeping.
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <random>
#include <regex>

#include "tests/e2e/harness.h"

namespace imgpipe::e2e {
namespace {

using json = nlohmann::json;

// A request with the exact headers we want (Authorization, Host, X-Forwarded-For).
struct Reply {
  int status = 0;
  Headers headers;
  std::string body;
  json js() const { return json::parse(body, nullptr, false); }
  std::string header(const std::string& h) const {
    auto it = headers.find(h);
    return it == headers.end() ? "" : it->second;
  }
};

Reply request(const ServerProcess& s, const std::string& method, const std::string& target,
              const std::vector<std::string>& headers = {}, const std::string& body = {},
              const std::string& content_type = "application/json") {
  std::string req = method + " " + target + " HTTP/1.1\r\nConnection: close\r\n";
  bool has_host = false;
  for (const auto& h : headers) {
    req += h + "\r\n";
    if (h.rfind("Host:", 0) == 0) has_host = true;
  }
  if (!has_host) req += "Host: 127.0.0.1:" + std::to_string(s.port()) + "\r\n";
  if (method == "POST") req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  auto raw = parse_raw(raw_exchange(s.port(), req));
  return {raw.status, raw.headers, raw.body};
}

Reply create_key(const ServerProcess& s, const std::string& email, std::vector<std::string> headers = {}) {
  return request(s, "POST", "/v1/keys", headers, json{{"email", email}}.dump());
}

Reply upload_as(const ServerProcess& s, const std::string& key, const std::string& file,
                std::vector<std::pair<std::string, std::string>> fields = {}, std::vector<std::string> headers = {}) {
  const std::string boundary = "----imgpipe-e2e-boundary";
  std::string body;
  for (const auto& [name, value] : fields)
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
  body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + file +
          "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + read_file(corpus(file)) + "\r\n--" + boundary +
          "--\r\n";
  if (!key.empty()) headers.push_back("Authorization: Bearer " + key);
  return request(s, "POST", "/v1/upload", headers, body, "multipart/form-data; boundary=" + boundary);
}

std::string path_and_query(const std::string& url) {
  auto scheme = url.find("://");
  return url.substr(url.find('/', scheme + 3));
}

// The test clock: seconds added to the server's now.
class TestClock {
 public:
  TestClock() {
    path_ = fs::temp_directory_path() / ("imgpipe-clock-" + std::to_string(std::random_device{}()));
    set(0);
  }
  ~TestClock() { fs::remove(path_); }
  // Written aside and renamed into place: the server reads the file at any
  // moment, and a file truncated for rewriting would read as offset 0.
  void set(int64_t offset) {
    auto next = path_;
    next += ".next";
    std::ofstream(next) << offset << "\n";
    fs::rename(next, path_);
  }
  void advance_days(int64_t d) { set(offset_ += d * 86400); }
  void advance_seconds(int64_t s) { set(offset_ += s); }
  // To `seconds` past the next midnight UTC. Rate limits count in fixed UTC
  // hours and days (gateway/accounts/rate_limiter.cpp): a test of them that
  // starts here never crosses a window by accident, at whatever time it runs
  // (one that began at 23:01 and moved an hour ahead was in a new day).
  void to_next_day(int64_t seconds) {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count() + offset_;
    advance_seconds(86400 - now % 86400 + seconds);
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
  int64_t offset_ = 0;
};

struct Server {
  explicit Server(std::vector<std::string> extra = {}, std::map<std::string, std::string> env = {}) {
    ServerOptions o;
    o.extra_args = {"--clock-file", clock.path(), "--sweep-interval", "1", "--blob-grace", "0"};
    o.extra_args.insert(o.extra_args.end(), extra.begin(), extra.end());
    o.env = std::move(env);
    s = std::make_unique<ServerProcess>(o);
    s->start();
  }
  ServerProcess& operator*() { return *s; }
  ServerProcess* operator->() { return s.get(); }
  TestClock clock;
  std::unique_ptr<ServerProcess> s;
};

fs::path write_plans(const json& plans) {
  auto p = fs::temp_directory_path() / ("imgpipe-plans-" + std::to_string(std::random_device{}()) + ".json");
  std::ofstream(p) << plans.dump();
  return p;
}

std::vector<fs::path> outbox(const ServerProcess& s) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(s.data_dir() / "outbox", ec))
    if (e.path().extension() == ".eml") files.push_back(e.path());  // not the <id>.state beside each
  std::sort(files.begin(), files.end());
  return files;
}

// The verification link of the newest message to `email`.
std::string verify_link(const ServerProcess& s, const std::string& email) {
  std::string link;
  for (const auto& f : outbox(s)) {
    auto m = read_file(f);
    if (m.find("To: <" + email + ">") == std::string::npos) continue;
    std::smatch match;
    if (std::regex_search(m, match, std::regex(R"(https?://\S+/v1/keys/verify\?token=[A-Za-z0-9_.\-]+)")))
      link = match.str();
  }
  return link;
}

std::string cli(const ServerProcess& s, std::vector<std::string> args, int* exit_code = nullptr) {
  args.insert(args.begin(), imgpipe_binary().string());
  args.insert(args.end(), {"--data-dir", s.data_dir().string()});
  auto r = run(args, 30s);
  if (exit_code) *exit_code = r.exit_code;
  return r.out;
}

::testing::AssertionResult is_err(const Reply& r, int status, const std::string& code) {
  auto j = r.js();
  if (r.status != status || !j.is_object() || j.value("error", "") != code)
    return ::testing::AssertionFailure() << "want " << status << " " << code << ", got " << r.status << " " << r.body;
  return ::testing::AssertionSuccess();
}

// ---- keys -------------------------------------------------------------------

TEST(Accounts, CreateKeyAnswersLikeTheReference) {
  Server s;
  auto r = create_key(*s, "You@Company.com");
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = r.js();
  auto key = j.value("key", "");
  EXPECT_TRUE(std::regex_match(key, std::regex("img_live_[0-9A-Za-z]{32,}"))) << key;
  EXPECT_TRUE(std::regex_match(j.value("key_id", ""), std::regex("key_[0-9A-Za-z]+")));
  EXPECT_EQ(j["status"], "active");
  EXPECT_EQ(j["verified"], false);
  EXPECT_EQ(j["limits"], (json{{"uploads", 100}, {"storage_mb", 5120}, {"retention_days", 30}}));
  EXPECT_EQ(j["message"], "Key active. Check your email to verify and unlock permanent storage.");
  // Shown once: never in logs, the outbox or the index files.
  EXPECT_EQ(s->log_tail(1 << 20).find(key), std::string::npos);
  ASSERT_EQ(outbox(*s).size(), 1u);
  EXPECT_EQ(read_file(outbox(*s)[0]).find(key), std::string::npos);
  struct stat st{};
  ASSERT_EQ(::stat(outbox(*s)[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);  // the message holds a live link
  for (const auto& e : fs::recursive_directory_iterator(s->data_dir() / "index"))
    if (e.is_regular_file()) {
      EXPECT_EQ(read_file(e.path()).find(key), std::string::npos) << e.path();
    }
  // A second key for another, never seen, email answers the same way.
  auto again = create_key(*s, "new@company.com");
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.js()["limits"], j["limits"]);
  EXPECT_EQ(again.js()["message"], j["message"]);
}

TEST(Accounts, KeyCreationValidatesAndLimits) {
  Server s;
  s.clock.to_next_day(300);
  EXPECT_TRUE(is_err(create_key(*s, "not-an-email"), 422, "validation_error"));
  EXPECT_TRUE(is_err(request(*s, "POST", "/v1/keys", {}, R"({"name":"x"})"), 422, "validation_error"));
  EXPECT_TRUE(is_err(request(*s, "POST", "/v1/keys", {}, "nope"), 400, "validation_error"));
  // At most 3 unverified keys per email.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(create_key(*s, "a@x.com").status, 201);
  EXPECT_TRUE(is_err(create_key(*s, "A@X.com"), 403, "key_limit_reached"));
  // Verifying frees the slots; then 5 per email per hour.
  auto link = verify_link(*s, "a@x.com");
  ASSERT_FALSE(link.empty());
  ASSERT_EQ(request(*s, "GET", path_and_query(link)).status, 200);
  ASSERT_TRUE(eventually([&] { return create_key(*s, "a@x.com").status == 201; }, 10s));
  // 4 taken (3 + 1), plus the refused one counted by the hourly limiter: one left at most.
  Reply last;
  for (int i = 0; i < 3 && last.status != 429; ++i) last = create_key(*s, "a@x.com");
  ASSERT_TRUE(is_err(last, 429, "rate_limited"));
  EXPECT_FALSE(last.header("Retry-After").empty());
  EXPECT_EQ(last.js()["action"]["type"], "wait");
  s.clock.advance_seconds(3600);
  EXPECT_EQ(create_key(*s, "a@x.com").status, 201);
}

TEST(Accounts, KeyCreationIsLimitedPerIpAndIgnoresSpoofedForwarding) {
  Server s;
  s.clock.to_next_day(300);
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(create_key(*s, "u" + std::to_string(i) + "@x.com", {"X-Forwarded-For: 10.9.9." + std::to_string(i)}).status, 201) << i;
  auto r = create_key(*s, "u99@x.com", {"X-Forwarded-For: 10.9.8.7"});
  EXPECT_TRUE(is_err(r, 429, "rate_limited"));
  EXPECT_GT(std::stoi(r.header("Retry-After")), 0);
}

// ---- client IP and the anonymous tier -----------------------------------------------

TEST(Accounts, AnonymousHourlyLimitPerClientIp) {
  auto plans = write_plans({{"anonymous", {{"uploads_per_hour", 2}, {"uploads_per_day", 3}}}});
  Server s({"--plans-file", plans.string(), "--trusted-proxy", "127.0.0.1/32"});
  s.clock.to_next_day(300);
  // Behind the trusted proxy (loopback), X-Forwarded-For names the client.
  for (int i = 0; i < 2; ++i) ASSERT_EQ(upload_as(*s, "", "under-1mp.jpg", {}, {"X-Forwarded-For: 198.51.100.1"}).status, 201);
  auto r = upload_as(*s, "", "under-1mp.jpg", {}, {"X-Forwarded-For: 198.51.100.1"});
  ASSERT_TRUE(is_err(r, 429, "rate_limited")) << r.body;
  EXPECT_FALSE(r.header("Retry-After").empty());
  EXPECT_EQ(r.js()["action"]["type"], "wait");
  EXPECT_GT(r.js()["action"]["seconds"].get<int>(), 0);
  // Rightmost untrusted hop: prepending addresses does not help.
  EXPECT_TRUE(is_err(upload_as(*s, "", "under-1mp.jpg", {}, {"X-Forwarded-For: 1.1.1.1, 198.51.100.1"}), 429, "rate_limited"));
  // Another client behind the proxy has its own allowance.
  EXPECT_EQ(upload_as(*s, "", "under-1mp.jpg", {}, {"X-Forwarded-For: 198.51.100.2"}).status, 201);
  // The next hour: one more for .1, then its daily limit (3).
  s.clock.advance_seconds(3600);
  EXPECT_EQ(upload_as(*s, "", "under-1mp.jpg", {}, {"X-Forwarded-For: 198.51.100.1"}).status, 201);
  EXPECT_TRUE(is_err(upload_as(*s, "", "under-1mp.jpg", {}, {"X-Forwarded-For: 198.51.100.1"}), 429, "rate_limited"));
  fs::remove(plans);
}

TEST(Accounts, SpoofedForwardedForFromAnUntrustedPeerChangesNothing) {
  auto plans = write_plans({{"anonymous", {{"uploads_per_hour", 1}}}});
  Server s({"--plans-file", plans.string()});
  s.clock.to_next_day(300);
  ASSERT_EQ(upload_as(*s, "", "under-1mp.jpg", {}, {"X-Forwarded-For: 203.0.113.1"}).status, 201);
  EXPECT_TRUE(is_err(upload_as(*s, "", "under-1mp.jpg", {}, {"X-Forwarded-For: 203.0.113.2"}), 429, "rate_limited"));
  fs::remove(plans);
}

// ---- authenticated uploads ----------------------------------------------------------

TEST(Accounts, AuthenticatedUploadCarriesTagsAndNamespace) {
  Server s;
  auto key = create_key(*s, "dev@x.com").js().value("key", "");
  auto r = upload_as(*s, key, "under-1mp.jpg", {{"tags", "Hero, homepage"}, {"namespace", "my-project"}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = r.js();
  EXPECT_EQ(j["editable"], true);
  EXPECT_EQ(j["tags"], (json{"hero", "homepage"}));
  EXPECT_EQ(j["namespace"], "my-project");
  EXPECT_FALSE(j.contains("upgrade"));
  EXPECT_TRUE(j.contains("expires_at"));  // unverified: 30 days
  EXPECT_EQ(request(*s, "GET", path_and_query(j["src"])).status, 200);
  // Anonymous uploads keep the upgrade hint.
  EXPECT_TRUE(upload_as(*s, "", "under-1mp.jpg").js().contains("upgrade"));
}

TEST(Accounts, BadKeysAndBadFieldsAreRefused) {
  Server s;
  auto key = create_key(*s, "dev@x.com").js().value("key", "");
  EXPECT_TRUE(is_err(upload_as(*s, "img_live_" + std::string(40, 'A'), "under-1mp.jpg"), 401, "unauthorized"));
  EXPECT_TRUE(is_err(upload_as(*s, "nonsense", "under-1mp.jpg"), 401, "unauthorized"));
  EXPECT_TRUE(is_err(request(*s, "POST", "/v1/upload", {"Authorization: Basic Zm9vOmJhcg=="}, "x", "multipart/form-data; boundary=x"), 401, "unauthorized"));
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg", {{"namespace", "Not Valid"}}), 422, "validation_error"));
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg", {{"namespace", "a"}}), 422, "validation_error"));
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg", {{"tags", "1,2,3,4,5,6,7,8,9,10,11"}}), 422, "validation_error"));
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg", {{"tags", std::string(51, 't')}}), 422, "validation_error"));
  // Imports check the key and the fields the same way, before fetching anything.
  EXPECT_TRUE(is_err(request(*s, "POST", "/v1/import", {"Authorization: Bearer img_live_" + std::string(40, 'B')},
                             R"({"url":"http://example.com/a.jpg"})"), 401, "unauthorized"));
  EXPECT_TRUE(is_err(request(*s, "POST", "/v1/import", {"Authorization: Bearer " + key},
                             R"({"url":"http://example.com/a.jpg","namespace":"BAD NS"})"), 422, "validation_error"));
  EXPECT_TRUE(is_err(request(*s, "POST", "/v1/import", {"Authorization: Bearer " + key},
                             R"({"url":"http://example.com/a.jpg","tags":[1]})"), 422, "validation_error"));
  // Rejected uploads used no quota and left no staged file behind (the
  // fields are checked after the body arrived: the file was staged by then).
  auto ls = json::parse(cli(*s, {"keys", "ls", "--json"}), nullptr, false);
  ASSERT_TRUE(ls.is_object()) << ls;
  EXPECT_EQ(ls["keys"][0]["usage"]["uploads_used"], 0);
  EXPECT_TRUE(fs::is_empty(s->data_dir() / "staging")) << fs::begin(fs::directory_iterator(s->data_dir() / "staging"))->path();
}

TEST(Accounts, AKeyReachesOnlyItsOwnImages) {
  Server s;
  auto a = create_key(*s, "a@own.com").js().value("key", "");
  auto b = create_key(*s, "b@own.com").js().value("key", "");
  auto mine = upload_as(*s, a, "under-1mp.jpg", {{"namespace", "shared-name"}, {"tags", "x"}}).js();
  auto theirs = upload_as(*s, b, "portrait.jpg", {{"namespace", "shared-name"}, {"tags", "x"}}).js();
  auto anon = upload_as(*s, "", "landscape.jpg").js();
  auto auth = [](const std::string& k) { return std::vector<std::string>{"Authorization: Bearer " + k}; };
  // Listing: own images only, whatever the namespace or tag asked for.
  auto list = request(*s, "GET", "/v1/images?namespace=shared-name&tag=x", auth(a)).js();
  ASSERT_EQ(list["data"].size(), 1u) << list;
  EXPECT_EQ(list["data"][0]["id"], mine["id"]);
  EXPECT_EQ(request(*s, "GET", "/v1/images", auth(b)).js()["data"].size(), 1u);
  // The images API answers in img.pro's shape C (nested errors; tests/e2e/images_api_test.cpp).
  EXPECT_EQ(request(*s, "GET", "/v1/images").js()["error"]["code"], "unauthorized");
  // Another key's image, or an anonymous one, looks like no image at all.
  for (auto [method, id] : {std::pair{"GET", theirs["id"]}, {"DELETE", theirs["id"]}, {"DELETE", anon["id"]}}) {
    auto r = request(*s, method, "/v1/images/" + id.get<std::string>(), auth(a));
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.js()["error"]["code"], "not_found");
  }
  EXPECT_EQ(request(*s, "GET", path_and_query(theirs["url"])).status, 200);
  // Its own: readable and deletable.
  EXPECT_EQ(request(*s, "GET", "/v1/images/" + mine["id"].get<std::string>(), auth(a)).js()["id"], mine["id"]);
  EXPECT_EQ(request(*s, "DELETE", "/v1/images/" + mine["id"].get<std::string>(), auth(a)).status, 200);
  EXPECT_TRUE(eventually([&] { return request(*s, "GET", path_and_query(mine["url"])).status == 404; }, 10s));
  EXPECT_EQ(request(*s, "GET", "/v1/images", auth(a)).js()["data"].size(), 0u);
}

// ---- verification --------------------------------------------------------------------

TEST(Accounts, VerificationMakesUploadsPermanent) {
  Server s;
  auto key = create_key(*s, "owner@x.com", {"Host: evil.example"}).js().value("key", "");
  auto before = upload_as(*s, key, "under-1mp.jpg").js();
  ASSERT_TRUE(before.contains("expires_at"));
  auto anon = upload_as(*s, "", "landscape.jpg").js();
  auto link = verify_link(*s, "owner@x.com");
  // The configured public URL, never the request's Host.
  ASSERT_EQ(link.rfind(s->base_url() + "/v1/keys/verify?token=", 0), 0u) << link;
  auto page = request(*s, "GET", path_and_query(link));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("verified"), std::string::npos);
  auto again = request(*s, "GET", path_and_query(link));
  EXPECT_EQ(again.status, 400);
  EXPECT_NE(again.body.find("already used"), std::string::npos);
  // Future uploads: permanent.
  auto after = upload_as(*s, key, "portrait.jpg").js();
  EXPECT_FALSE(after.contains("expires_at")) << after;
  // Past the 30 days: the key's images stay, the anonymous one is gone.
  s.clock.advance_days(31);
  EXPECT_EQ(request(*s, "GET", path_and_query(before["url"])).status, 200);
  EXPECT_EQ(request(*s, "GET", path_and_query(before["src"])).status, 200);
  EXPECT_EQ(request(*s, "GET", path_and_query(after["url"])).status, 200);
  EXPECT_EQ(request(*s, "GET", path_and_query(anon["url"])).status, 404);
}

TEST(Accounts, BadLinksGetAClearPage) {
  Server s;
  create_key(*s, "t@x.com");
  auto link = path_and_query(verify_link(*s, "t@x.com"));
  ASSERT_FALSE(link.empty());
  auto tampered = link;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  auto r = request(*s, "GET", tampered);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("altered"), std::string::npos);
  // alg: none with the original payload.
  auto token = link.substr(link.find("token=") + 6);
  auto d1 = token.find('.'), d2 = token.rfind('.');
  auto none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + token.substr(d1 + 1, d2 - d1 - 1) + ".";
  r = request(*s, "GET", "/v1/keys/verify?token=" + none);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("not signed"), std::string::npos);
  EXPECT_EQ(request(*s, "GET", "/v1/keys/verify").status, 400);
  // Expired after 7 days.
  s.clock.advance_days(8);
  r = request(*s, "GET", link);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("expired"), std::string::npos);
}

// ---- quotas ---------------------------------------------------------------------------

TEST(Accounts, MonthlyQuotaAndPlans) {
  auto plans = write_plans({{"plans", {{"free", {{"uploads_per_month", 2}}}}}});
  Server s({"--plans-file", plans.string()});
  auto created = create_key(*s, "q@x.com").js();
  auto key = created.value("key", ""), key_id = created.value("key_id", "");
  for (int i = 0; i < 2; ++i) ASSERT_EQ(upload_as(*s, key, "under-1mp.jpg").status, 201);
  auto r = upload_as(*s, key, "under-1mp.jpg");
  ASSERT_TRUE(is_err(r, 403, "quota_exceeded"));
  auto j = r.js();
  EXPECT_EQ(j["action"]["type"], "verify");  // unverified on the free plan
  EXPECT_EQ(j["usage"]["plan"], "free");
  EXPECT_EQ(j["usage"]["uploads_used"], 2);
  EXPECT_EQ(j["usage"]["uploads_limit"], 2);
  EXPECT_GT(j["usage"]["storage_used_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(j["usage"]["storage_limit_bytes"], 5ll << 30);
  // An operator moves the key to a bigger plan.
  int rc = -1;
  auto out = cli(*s, {"keys", "set-plan", key_id, "pro"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  auto on_pro = upload_as(*s, key, "under-1mp.jpg");
  EXPECT_EQ(on_pro.status, 201) << on_pro.body << "\nset-plan said: " << out;
  EXPECT_NE(cli(*s, {"keys", "ls"}).find("3/1000"), std::string::npos);
  cli(*s, {"keys", "set-plan", key_id, "nope"}, &rc);
  EXPECT_NE(rc, 0);
  cli(*s, {"keys", "set-plan", key_id, "free"}, &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg"), 403, "quota_exceeded"));
  // A new month, a new allowance.
  s.clock.advance_days(32);
  EXPECT_EQ(upload_as(*s, key, "under-1mp.jpg").status, 201);
  fs::remove(plans);
}

// A client whose last allowed create timed out retries it with the same
// Idempotency-Key: the retry is that create's answer again, not a refusal
// (img.pro: the key "replays the first answer"). Anything new stays refused.
TEST(Accounts, ARetryAtTheLimitIsReplayedNotRefused) {
  auto plans = write_plans({{"plans", {{"free", {{"uploads_per_month", 1}}}}}, {"anonymous", {{"uploads_per_hour", 1}}}});
  Server s({"--plans-file", plans.string()});
  s.clock.to_next_day(300);
  auto key = create_key(*s, "retry@x.com").js().value("key", "");
  const std::vector<std::string> k1 = {"Idempotency-Key: last-one"};
  auto first = upload_as(*s, key, "under-1mp.jpg", {}, k1);
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = upload_as(*s, key, "under-1mp.jpg", {}, k1);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.js()["id"], first.js()["id"]);
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg"), 403, "quota_exceeded"));
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg", {}, {"Idempotency-Key: another"}), 403, "quota_exceeded"));
  // A new create on shape C is refused with one of shape C's action types.
  auto refused = request(*s, "POST", "/v1/images", {"Authorization: Bearer " + key},
                         R"({"url":"https://example.com/a.jpg"})");
  ASSERT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(refused.js()["error"]["code"], "quota_exceeded");
  EXPECT_EQ(refused.js()["error"]["action"]["type"], "upgrade") << refused.body;
  EXPECT_FALSE(refused.js()["error"]["action"].contains("label")) << refused.body;
  // Anonymous: the rate limit lets the retry through the same way.
  const std::vector<std::string> anon = {"Idempotency-Key: anon-1"};
  auto a1 = upload_as(*s, "", "under-1mp.jpg", {}, anon);
  ASSERT_EQ(a1.status, 201) << a1.body;
  auto a2 = upload_as(*s, "", "under-1mp.jpg", {}, anon);
  ASSERT_EQ(a2.status, 201) << a2.body;
  EXPECT_EQ(a2.js()["id"], a1.js()["id"]);
  EXPECT_TRUE(is_err(upload_as(*s, "", "under-1mp.jpg"), 429, "rate_limited"));
  fs::remove(plans);
}

TEST(Accounts, ConcurrentUploadsNeverExceedTheQuota) {
  auto plans = write_plans({{"plans", {{"free", {{"uploads_per_month", 3}}}}}});
  Server s({"--plans-file", plans.string()});
  auto key = create_key(*s, "race@x.com").js().value("key", "");
  std::vector<std::thread> threads;
  std::atomic<int> created{0}, refused{0}, other{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto r = upload_as(*s, key, "under-1mp.jpg");
      if (r.status == 201) ++created;
      else if (is_err(r, 403, "quota_exceeded")) ++refused;
      else ++other;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 3);
  EXPECT_EQ(refused.load(), 5);
  EXPECT_EQ(other.load(), 0);
  // Failed uploads give their unit back.
  auto plans2 = write_plans({{"plans", {{"free", {{"uploads_per_month", 1}}}}}});
  Server t({"--plans-file", plans2.string()});
  auto key2 = create_key(*t, "race2@x.com").js().value("key", "");
  // Each next request at once: the unit must be back before the answer (it
  // was given back just after it, and the next one could meet a 403).
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(is_err(upload_as(*t, key2, "truncated.jpg"), 422, "invalid_image")) << "attempt " << i;
  // Refused by the gateway while the body arrives (not an image): the same.
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(is_err(upload_as(*t, key2, "notes.txt"), 415, "unsupported_format")) << "attempt " << i;
  EXPECT_EQ(upload_as(*t, key2, "under-1mp.jpg").status, 201);
  fs::remove(plans);
  fs::remove(plans2);
}

// One upload after another, each sent when the last was answered: every
// unit of the month can be used; the finished upload's reservation is
// never counted beside the upload itself.
TEST(Accounts, BackToBackUploadsUseTheWholeQuota) {
  constexpr int kQuota = 8;
  auto plans = write_plans({{"plans", {{"free", {{"uploads_per_month", kQuota}}}}}});
  Server s({"--plans-file", plans.string()});
  auto key = create_key(*s, "b2b@x.com").js().value("key", "");
  for (int i = 0; i < kQuota; ++i) {
    auto r = upload_as(*s, key, "under-1mp.jpg");
    ASSERT_EQ(r.status, 201) << "upload " << i + 1 << " of " << kQuota << ": " << r.body;
  }
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg"), 403, "quota_exceeded"));
  fs::remove(plans);
}

TEST(Accounts, StorageQuotaSaysUpgradeWhenVerified) {
  auto plans = write_plans({{"plans", {{"free", {{"storage_mb", 1}}}}}});
  Server s({"--plans-file", plans.string(), "--upgrade-url", "https://pricing.example/upgrade"});
  auto key = create_key(*s, "big@x.com").js().value("key", "");
  ASSERT_EQ(request(*s, "GET", path_and_query(verify_link(*s, "big@x.com"))).status, 200);
  int ok = 0;
  Reply r;
  for (int i = 0; i < 30; ++i) {
    r = upload_as(*s, key, "under-1mp.jpg");  // ~65 KB each: about 15 fit in 1 MB
    if (r.status == 201) ++ok;
    else break;
  }
  ASSERT_TRUE(is_err(r, 403, "quota_exceeded")) << ok;
  EXPECT_GE(ok, 10);
  EXPECT_LE(r.js()["usage"]["storage_used_bytes"].get<int64_t>(), 1 << 20);
  EXPECT_EQ(r.js()["action"]["type"], "upgrade");
  EXPECT_EQ(r.js()["action"]["url"], "https://pricing.example/upgrade");  // --upgrade-url
  EXPECT_EQ(upload_as(*s, "", "under-1mp.jpg").js()["upgrade"]["url"], "https://pricing.example/upgrade");
  fs::remove(plans);
}

// ---- retention --------------------------------------------------------------------------

TEST(Accounts, ExpiredImagesStopBeingServedAndTheirBlobsGo) {
  Server s;
  auto created = create_key(*s, "exp@x.com").js();
  auto key = created.value("key", "");
  // Images whose work is done: no worker is still rendering variants when the clock jumps.
  auto settled = [&] {
    return eventually([&] {
      const auto m = http_get(s->url("/metrics")).body;
      return metric_sum(m, "imgpipe_worker_variant_backlog") == 0 && metric_sum(m, "imgpipe_worker_jobs_in_flight") == 0;
    });
  };
  auto old_anon = upload_as(*s, "", "landscape.jpg").js();
  auto keyed = upload_as(*s, key, "portrait.jpg").js();
  ASSERT_TRUE(settled());
  auto src = request(*s, "GET", path_and_query(old_anon["src"]));
  ASSERT_EQ(src.status, 200);
  auto blob = src.header("ETag");
  blob = blob.substr(1, blob.size() - 2);
  auto blob_path = s->data_dir() / "blobs" / blob.substr(0, 2) / blob;
  ASSERT_TRUE(fs::exists(blob_path)) << blob_path;
  // 20 days later the same bytes are uploaded again: that image keeps the blob.
  s.clock.advance_days(20);
  auto newer = upload_as(*s, "", "landscape.jpg").js();
  ASSERT_TRUE(settled());
  s.clock.advance_days(11);
  EXPECT_TRUE(is_err(request(*s, "GET", path_and_query(old_anon["url"])), 404, "not_found"));
  EXPECT_EQ(request(*s, "GET", path_and_query(old_anon["src"])).status, 404);
  EXPECT_EQ(request(*s, "GET", path_and_query(with_size(old_anon["src"], "s"))).status, 404);
  EXPECT_EQ(request(*s, "GET", path_and_query(keyed["url"])).status, 404);  // unverified key: 30 days too
  // The sweeper deletes the records; the shared blob stays for the newer image.
  ASSERT_TRUE(eventually([&] { return cli(*s, {"keys", "ls", "--json"}).find("\"storage_used_bytes\": 0") != std::string::npos; }, 20s));
  EXPECT_TRUE(fs::exists(blob_path));
  EXPECT_EQ(request(*s, "GET", path_and_query(newer["src"])).status, 200);
  // When the newer one expires too, the blob goes.
  s.clock.advance_days(30);
  EXPECT_TRUE(eventually([&] { return !fs::exists(blob_path); }, 20s)) << s->log_tail();
}

// ---- operator CLI and secrets --------------------------------------------------------------

TEST(Accounts, OperatorCanListAndRevokeKeysAndReadMail) {
  Server s;
  auto created = create_key(*s, "ops@x.com").js();
  auto key = created.value("key", ""), key_id = created.value("key_id", "");
  auto ls = cli(*s, {"keys", "ls"});
  EXPECT_NE(ls.find(key_id), std::string::npos) << ls;
  EXPECT_NE(ls.find("ops@x.com"), std::string::npos);
  EXPECT_EQ(ls.find(key), std::string::npos);
  auto mail = cli(*s, {"mail", "ls"});
  EXPECT_NE(mail.find("ops@x.com"), std::string::npos) << mail;
  auto id = mail.substr(0, mail.find(' '));
  EXPECT_NE(cli(*s, {"mail", "show", id}).find("/v1/keys/verify?token="), std::string::npos);
  int rc = -1;
  cli(*s, {"keys", "revoke", key_id}, &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg"), 401, "unauthorized"));
  // The admin API wants the admin token, not an API key.
  EXPECT_EQ(request(*s, "GET", "/admin/keys").status, 401);
  EXPECT_EQ(request(*s, "GET", "/admin/keys", {"Authorization: Bearer " + key}).status, 401);
  EXPECT_NE(cli(*s, {"keys", "--help"}).find("admin.token"), std::string::npos);
}

TEST(Accounts, TokenSecretIsKeptAndAShortOneRefused) {
  Server s;
  create_key(*s, "keep@x.com");
  auto link = path_and_query(verify_link(*s, "keep@x.com"));
  auto secret_file = s->data_dir() / "token.secret";
  ASSERT_TRUE(fs::exists(secret_file));
  EXPECT_EQ(fs::status(secret_file).permissions() & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
  auto secret = read_file(secret_file);
  ASSERT_EQ(s->stop(), 0);
  s->start();
  EXPECT_EQ(read_file(secret_file), secret);
  EXPECT_EQ(request(*s, "GET", link).status, 200);  // a link from before the restart still works
  s->stop();
  for (const std::string bad : {"", "short"}) {
    auto r = run({imgpipe_binary().string(), "serve", "--data-dir", (s->data_dir() / "other").string(), "--listen",
                  "127.0.0.1:" + std::to_string(free_port())},
                 20s, {{"IMGPIPE_TOKEN_SECRET", bad}});
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find("token-secret"), std::string::npos) << r.out;
  }
}


// Issue 16: tags, namespace and email are refused (422 validation_error)
// when they hold hostile text, through every route that takes them.
TEST(Accounts, HostileTagsNamespaceAndEmailAre422) {
  Server s;
  auto key = create_key(*s, "dev@x.com").js().value("key", "");
  ASSERT_FALSE(key.empty());
  for (const auto& h : hostile_texts()) {
    SCOPED_TRACE(h.label);
    EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg", {{"tags", "ok, " + h.text}}), 422, "validation_error"));
    EXPECT_TRUE(is_err(upload_as(*s, key, "under-1mp.jpg", {{"namespace", "ns" + h.text}}), 422, "validation_error"));
    if (h.label != "overlong" && h.label != "invalid") {  // JSON strings cannot carry those bytes
      EXPECT_TRUE(is_err(request(*s, "POST", "/v1/import", {"Authorization: Bearer " + key},
                                 json{{"url", "http://example.com/a.jpg"}, {"tags", json{"ok", h.text}}}.dump()),
                         422, "validation_error"));
      EXPECT_TRUE(is_err(request(*s, "POST", "/v1/import", {"Authorization: Bearer " + key},
                                 json{{"url", "http://example.com/a.jpg"}, {"namespace", h.text}}.dump()),
                         422, "validation_error"));
      EXPECT_TRUE(is_err(create_key(*s, "a" + h.text + "@x.com"), 422, "validation_error"));
    }
  }
  // Raw bytes that are not UTF-8, in a JSON body: refused too.
  EXPECT_EQ(request(*s, "POST", "/v1/keys", {}, "{\"email\":\"a\xc0\xaf@x.com\"}").status / 100, 4);
  // Only the valid upload was counted.
  EXPECT_EQ(upload_as(*s, key, "under-1mp.jpg", {{"tags", "fine"}}).status, 201);
}

}  // namespace
}  // namespace imgpipe::e2e
