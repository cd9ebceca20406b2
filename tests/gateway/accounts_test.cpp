// Unit tests of the accounts logic against an injected clock: limits,
// quotas, month rollover, expiry bookkeeping, tokens, proxies, validation.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <jwt/jwt.hpp>

#include "gateway/accounts/accounts_service.h"
#include "gateway/accounts/client_ip.h"
#include "gateway/accounts/plans.h"
#include "gateway/accounts/rate_limiter.h"
#include "gateway/accounts/secrets.h"
#include "gateway/accounts/usage_ledger.h"
#include "gateway/accounts/verify_token.h"
#include "schemas/account_event.h"
#include "schemas/errors.h"

namespace imgpipe::gateway::accounts {
namespace {

using schemas::ErrorCode;
namespace fs = std::filesystem;

constexpr int64_t T0 = 1798761600;  // 2027-01-01T00:00:00Z

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const schemas::Error& e) {
    return e.id();
  }
  return ErrorCode::internal_error;
}

// ---- rate limiter -------------------------------------------------------------

TEST(RateLimiter, HourlyWindowResetsWithTheClock) {
  auto clock = std::make_shared<ManualClock>(T0 + 100);
  RateLimiter limiter(clock);
  for (int i = 0; i < 20; ++i) ASSERT_FALSE(limiter.take("ip", {{3600, 20}, {86400, 100}})) << i;
  auto wait = limiter.take("ip", {{3600, 20}, {86400, 100}});
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 3600 - 100);
  EXPECT_FALSE(limiter.take("other-ip", {{3600, 20}}));  // per key
  clock->advance(3500);
  EXPECT_FALSE(limiter.take("ip", {{3600, 20}, {86400, 100}}));
}

TEST(RateLimiter, DailyLimitHoldsAcrossHours) {
  auto clock = std::make_shared<ManualClock>(T0);
  RateLimiter limiter(clock);
  int taken = 0;
  for (int hour = 0; hour < 24; ++hour, clock->advance(3600))
    for (int i = 0; i < 20; ++i)
      if (!limiter.take("ip", {{3600, 20}, {86400, 100}})) ++taken;
  EXPECT_EQ(taken, 100);
  clock->set(T0 + 86400);
  EXPECT_FALSE(limiter.take("ip", {{3600, 20}, {86400, 100}}));
}

TEST(RateLimiter, RefundGivesTheUnitBack) {
  auto clock = std::make_shared<ManualClock>(T0);
  RateLimiter limiter(clock);
  ASSERT_FALSE(limiter.take("k", {{3600, 1}}));
  ASSERT_TRUE(limiter.take("k", {{3600, 1}}));
  limiter.refund("k", {{3600, 1}}, T0);
  EXPECT_FALSE(limiter.take("k", {{3600, 1}}));
}

TEST(RateLimiter, AllOrNothingAcrossWindows) {
  auto clock = std::make_shared<ManualClock>(T0);
  RateLimiter limiter(clock);
  ASSERT_FALSE(limiter.take("k", {{86400, 1}}));
  EXPECT_TRUE(limiter.take("k", {{3600, 5}, {86400, 1}}));
  limiter.refund("k", {{86400, 1}}, T0);
  EXPECT_FALSE(limiter.take("k", {{3600, 1}, {86400, 1}}));
  EXPECT_TRUE(limiter.take("k", {{3600, 1}}));  // the refused take left the hourly count at 1
}

// ---- client IP ------------------------------------------------------------------

TEST(ClientIp, PeerUnlessATrustedProxyForwards) {
  TrustedProxies none;
  EXPECT_EQ(none.client_ip("203.0.113.9", "1.2.3.4"), "203.0.113.9");
  TrustedProxies proxies({*parse_cidr("10.0.0.0/8"), *parse_cidr("fd00::/8")});
  // A spoofed header from an untrusted peer changes nothing.
  EXPECT_EQ(proxies.client_ip("203.0.113.9", "1.2.3.4"), "203.0.113.9");
  // Rightmost untrusted hop: the client cannot prepend its way in.
  EXPECT_EQ(proxies.client_ip("10.0.0.2", "6.6.6.6, 198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(proxies.client_ip("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.1.1.1"), "198.51.100.7");
  EXPECT_EQ(proxies.client_ip("fd00::1", "2001:db8::5"), "2001:db8::5");
  EXPECT_EQ(proxies.client_ip("::ffff:10.0.0.2", "198.51.100.8"), "198.51.100.8");
  EXPECT_EQ(proxies.client_ip("10.0.0.2", "not-an-ip"), "10.0.0.2");
  EXPECT_EQ(proxies.client_ip("10.0.0.2", ""), "10.0.0.2");
  EXPECT_FALSE(parse_cidr("10.0.0.0/33"));
  EXPECT_FALSE(parse_cidr("example.com"));
  // Per-address limits count an IPv6 client by its /64.
  EXPECT_EQ(rate_limit_subject("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(rate_limit_subject("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
  EXPECT_NE(rate_limit_subject("2001:db8:1:3::1"), rate_limit_subject("2001:db8:1:2::1"));
  EXPECT_EQ(rate_limit_subject("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(rate_limit_subject("::ffff:203.0.113.7"), "::ffff:203.0.113.7") << "mapped IPv4 is not a /64";
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
}

// ---- validation -------------------------------------------------------------------

TEST(Validation, Tags) {
  EXPECT_EQ(parse_tags("Hero, homepage"), (std::vector<std::string>{"hero", "homepage"}));
  EXPECT_EQ(parse_tags(""), std::vector<std::string>{});
  EXPECT_EQ(parse_tags("a,,a, "), std::vector<std::string>{"a"});
  EXPECT_EQ(parse_tags("1,2,3,4,5,6,7,8,9,10").size(), 10u);
  EXPECT_EQ(code_of([] { parse_tags("1,2,3,4,5,6,7,8,9,10,11"); }), ErrorCode::invalid_field);
  EXPECT_EQ(code_of([] { parse_tags(std::string(51, 'x')); }), ErrorCode::invalid_field);
  EXPECT_EQ(parse_tags(std::string(50, 'X')).front(), std::string(50, 'x'));
  // Issue 16: the text rule (schemas/text_rules.h) refuses what could spoof or break a display.
  for (std::string bad : {std::string("a\0b", 3), std::string("a\x1b[0m"), std::string("a\xc2\x85"),
                          std::string("a\xe2\x80\xae"), std::string("a\xc0\xaf"), std::string("a\xff")})
    EXPECT_EQ(code_of([&] { parse_tags("ok," + bad); }), ErrorCode::invalid_field) << bad;
  EXPECT_EQ(parse_tags("Caf\xc3\xa9"), std::vector<std::string>{"caf\xc3\xa9"});
}

TEST(Validation, EmailFollowsTheTextRule) {
  for (std::string bad : {std::string("a\xe2\x80\xae@x.com"), std::string("a\xc0\xaf@x.com"),
                          std::string("a\xc2\x85@x.com"), std::string("a\xff@x.com")})
    EXPECT_EQ(code_of([&] { normalise_email(bad); }), ErrorCode::invalid_field) << bad;
}

TEST(Validation, Namespace) {
  EXPECT_EQ(check_namespace("my-project"), "my-project");
  EXPECT_EQ(check_namespace("a1"), "a1");
  for (std::string bad : std::vector<std::string>{"a", "My-Project", "a_b", "a/b", "../x", std::string(65, 'a')})
    EXPECT_EQ(code_of([&] { check_namespace(bad); }), ErrorCode::invalid_field) << bad;
}

TEST(Validation, Email) {
  EXPECT_EQ(normalise_email("You@Company.com"), "you@company.com");
  for (std::string bad : std::vector<std::string>{"", "no-at", "a@b", "@b.com", "a@@b.com", "a b@c.com", "a@b..com", "a@.b.com",
                          "a@b.com\r\nBcc: x@y.com", "a@exa_mple.com"})
    EXPECT_EQ(code_of([&] { normalise_email(bad); }), ErrorCode::invalid_field) << bad;
}

// ---- keys -------------------------------------------------------------------------

TEST(Keys, ShapeAndHash) {
  auto k = new_api_key();
  EXPECT_EQ(k.rfind("img_live_", 0), 0u);
  EXPECT_GE(k.size() - 9, 32u);
  EXPECT_TRUE(plausible_api_key(k));
  EXPECT_NE(new_api_key(), k);
  EXPECT_FALSE(plausible_api_key("img_live_short"));
  EXPECT_FALSE(plausible_api_key("img_test_" + std::string(40, 'a')));
  EXPECT_FALSE(plausible_api_key("img_live_" + std::string(39, 'a') + "!"));
  EXPECT_EQ(key_hash(k).size(), 64u);
  EXPECT_EQ(new_key_id().rfind("key_", 0), 0u);
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

TEST(AccountEvent, RoundTripsWithoutTheKey) {
  schemas::AccountEvent e{"verified", T0, {}};
  e.account = {"key_abc123def456", std::string(64, 'a'), "a@b.com", "n", "free", true, false, T0, T0, 2};
  auto text = schemas::encode(e);
  auto back = schemas::decode_account_event(text);
  EXPECT_EQ(back.account.key_id, e.account.key_id);
  EXPECT_TRUE(back.account.verified);
  EXPECT_EQ(back.account.version, 2);
  EXPECT_EQ(code_of([] { schemas::decode_account_event(R"({"type":"bogus","at":1,"account":{}})"); }),
            ErrorCode::bad_request);
}

// Found by tests/fuzz/messages_fuzz: a field of the wrong type ("v": [..],
// "name": 5) escaped the codec as nlohmann's type_error, which ends the
// process reading the accounts topic, instead of a malformed-message Error.
TEST(AccountEvent, FieldsOfTheWrongTypeAreMalformedMessages) {
  const std::string account = R"({"key_id":"key_abc123def456","key_hash":")" + std::string(64, 'a') +
                              R"(","email":"a@b.com","plan":"free","verified":true,"revoked":false,"created_at":1)";
  for (const std::string extra : {R"(,"name":5)", R"(,"verified_at":"x")", R"(,"version":[1])"})
    EXPECT_EQ(code_of([&] { schemas::decode_account(account + extra + "}"); }), ErrorCode::bad_request) << extra;
  EXPECT_EQ(code_of([] { schemas::decode_account_event(R"({"v": ["cats"]})"); }), ErrorCode::bad_request);
  EXPECT_EQ(code_of([] { schemas::decode_account_event(R"({"v": 1e30, "type": "created"})"); }),
            ErrorCode::bad_request);
}

TEST(AccountEvent, EncodedEventsValidateAgainstTheSchema) {
  // python3-jsonschema through tests/schemas/validate.py, as for the other topics.
  const fs::path source = fs::path(__FILE__).parent_path().parent_path().parent_path();
  const fs::path dir = fs::temp_directory_path() / ("account-contract-" + random_hex(6));
  fs::create_directories(dir);
  std::string cmd = "python3 " + (source / "tests/schemas/validate.py").string() + " " + (source / "schemas").string();
  for (std::string type : {"created", "verified", "revoked", "plan_changed"}) {
    schemas::AccountEvent e{type, T0, {"key_" + random_base62(12), key_hash(new_api_key()), "a@b.com", "", "free",
                                       type == "verified", type == "revoked", T0, 0, 1}};
    auto file = dir / ("account_event." + type + ".json");
    std::ofstream(file) << schemas::encode(e);
    cmd += " '" + file.string() + "'";
  }
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  auto bad = dir / "account_event.bad.json";
  std::ofstream(bad) << R"({"type":"created","v":1,"at":1,"account":{"key_id":"key_x","key_hash":"img_live_leak"}})";
  EXPECT_NE(std::system(("python3 " + (source / "tests/schemas/validate.py").string() + " " +
                         (source / "schemas").string() + " '" + bad.string() + "' 2>/dev/null").c_str()),
            0);
  fs::remove_all(dir);
}

// ---- verification tokens --------------------------------------------------------------

const std::string kSecret(40, 's');

TEST(VerifyToken, ValidUntilExpiry) {
  auto token = issue_verify_token(kSecret, {"key_x", "a@b.com", T0 + 3600}, T0);
  auto claims = check_verify_token(kSecret, token, T0 + 10);
  EXPECT_EQ(claims.key_id, "key_x");
  EXPECT_EQ(claims.email, "a@b.com");
  try {
    check_verify_token(kSecret, token, T0 + 3600);
    FAIL();
  } catch (const TokenError& e) {
    EXPECT_EQ(e.problem, TokenProblem::expired);
  }
}

TokenProblem problem_of(const std::string& token, const std::string& secret = kSecret) {
  try {
    check_verify_token(secret, token, T0);
  } catch (const TokenError& e) {
    return e.problem;
  }
  ADD_FAILURE() << "accepted";
  return TokenProblem::malformed;
}

TEST(VerifyToken, RefusesTamperedForeignAndNone) {
  auto token = issue_verify_token(kSecret, {"key_x", "a@b.com", T0 + 3600}, T0);
  EXPECT_EQ(problem_of(token, std::string(40, 't')), TokenProblem::bad_signature);
  // Another payload under the same signature.
  auto d1 = token.find('.'), d2 = token.rfind('.');
  auto other = issue_verify_token(kSecret, {"key_y", "a@b.com", T0 + 3600}, T0);
  auto spliced = token.substr(0, d1) + other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                 token.substr(d2);
  EXPECT_EQ(problem_of(spliced), TokenProblem::bad_signature);
  // alg: none, with and without a signature.
  std::string none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";  // {"alg":"none","typ":"JWT"}
  auto payload = token.substr(d1 + 1, d2 - d1 - 1);
  EXPECT_EQ(problem_of(none_header + "." + payload + "."), TokenProblem::bad_algorithm);
  EXPECT_EQ(problem_of(none_header + "." + payload + "." + token.substr(d2 + 1)), TokenProblem::bad_algorithm);
  EXPECT_EQ(problem_of("garbage"), TokenProblem::malformed);
  EXPECT_EQ(problem_of("a.b.c.d"), TokenProblem::malformed);
}

TEST(VerifyToken, RequiresAudienceAndExp) {
  using namespace jwt::params;
  jwt::jwt_object no_aud{algorithm("HS256"), secret(kSecret), payload({{"sub", "key_x"}, {"email", "a@b.com"}})};
  no_aud.add_claim("exp", T0 + 3600);
  EXPECT_EQ(problem_of(no_aud.signature()), TokenProblem::wrong_audience);
  jwt::jwt_object other_aud{algorithm("HS256"), secret(kSecret), payload({{"sub", "key_x"}, {"email", "a@b.com"}})};
  other_aud.add_claim("aud", "something-else").add_claim("exp", T0 + 3600);
  EXPECT_EQ(problem_of(other_aud.signature()), TokenProblem::wrong_audience);
  jwt::jwt_object no_exp{algorithm("HS256"), secret(kSecret), payload({{"sub", "key_x"}, {"email", "a@b.com"}})};
  no_exp.add_claim("aud", kVerifyAudience);
  EXPECT_EQ(problem_of(no_exp.signature()), TokenProblem::malformed);
}

// ---- plans ------------------------------------------------------------------------

TEST(Plans, DefaultsFollowTheReference) {
  auto t = default_tiers();
  EXPECT_EQ(t.anonymous.uploads_per_hour, 20);
  EXPECT_EQ(t.anonymous.uploads_per_day, 100);
  EXPECT_EQ(t.anonymous.max_file_bytes, 20ull << 20);
  EXPECT_EQ(t.plan("free").uploads_per_month, 100);
  EXPECT_EQ(t.plan("free").storage_bytes, 5ull << 30);
  EXPECT_EQ(t.plan("free").max_file_bytes, 70ull << 20);
  EXPECT_EQ(t.plan("pro").uploads_per_month, 1000);
  EXPECT_EQ(t.plan("enterprise").uploads_per_month, 100000);
  EXPECT_EQ(t.plan("enterprise").storage_bytes, 5ull << 40);
  EXPECT_EQ(t.plan("no-such-plan").name, "free");
}

TEST(Plans, FileOverridesAndReportsProblems) {
  auto dir = fs::temp_directory_path() / ("plans-" + random_hex(6));
  fs::create_directories(dir);
  std::ofstream(dir / "ok.json") << R"({"anonymous":{"uploads_per_hour":2},"plans":{"free":{"uploads_per_month":3},
    "tiny":{"uploads_per_month":1,"storage_mb":1}}})";
  auto t = load_tiers(dir / "ok.json");
  EXPECT_EQ(t.anonymous.uploads_per_hour, 2);
  EXPECT_EQ(t.anonymous.uploads_per_day, 100);
  EXPECT_EQ(t.plan("free").uploads_per_month, 3);
  EXPECT_EQ(t.plan("tiny").storage_bytes, 1ull << 20);
  std::ofstream(dir / "bad.json") << R"({"anonymous":{"uploads_per_hour":-1},"default_plan":"nope"})";
  try {
    load_tiers(dir / "bad.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("uploads_per_hour"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("default_plan"), std::string::npos);
  }
  fs::remove_all(dir);
}

// ---- usage ledger ---------------------------------------------------------------------

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ledger-" + random_hex(6));
    db_ = storage::Db::open(dir_ / "index");
    index_ = std::make_unique<storage::ImageIndex>(*db_);
    blobs_ = std::make_unique<storage::BlobStore>(dir_);
    clock_ = std::make_shared<ManualClock>(T0 + 86400 * 10);
    ledger_ = std::make_unique<UsageLedger>(*db_, *index_, clock_);
  }
  void TearDown() override {
    ledger_.reset();
    index_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  // What the image follower does: the ledger sees the event, then the index applies it.
  void event(const std::string& type, const std::string& id, const std::string& owner = {}, uint64_t bytes = 0,
             const std::string& blob = {}, int64_t created_at = 0) {
    schemas::ImageEvent e;
    e.type = type;
    e.image_id = id;
    if (type != "deleted") {
      schemas::ImageRecord r;
      r.id = id;
      r.owner = owner;
      r.filesize = bytes;
      r.blob = blob;
      r.format = "jpeg";
      r.created_at = created_at ? created_at : clock_->now();
      r.expires_at = r.created_at + 30 * 86400;
      e.image = r;
    }
    ledger_->observe(e);
    index_->apply(e);
  }

  fs::path dir_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::ImageIndex> index_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<UsageLedger> ledger_;
};

TEST_F(LedgerTest, CountsOnceAndDropsStorageOnDelete) {
  event("ready", "img1", "key:a", 1000, std::string(64, '1'));
  event("variants", "img1", "key:a", 1000, std::string(64, '1'));  // the same image: not counted again
  event("ready", "img1", "key:a", 1000, std::string(64, '1'));     // a replay: not counted again
  event("ready", "img2", "key:a", 500, std::string(64, '2'));
  auto u = ledger_->usage("key:a");
  EXPECT_EQ(u.uploads, 2);
  EXPECT_EQ(u.bytes, 1500u);
  EXPECT_EQ(ledger_->images_of("key:a").size(), 2u);
  event("deleted", "img1");
  event("deleted", "img1");  // replayed
  u = ledger_->usage("key:a");
  EXPECT_EQ(u.uploads, 2);  // uploads this month stay used
  EXPECT_EQ(u.bytes, 500u);
  EXPECT_EQ(ledger_->images_of("key:a").size(), 1u);
}

// A worker announces variants after ready; an image deleted in between gets
// its variants event late. It must not count the image again nor keep its
// blob referenced (storage and the blob would never be given back).
TEST_F(LedgerTest, ALateVariantsEventOfADeletedImageCountsNothing) {
  const std::string blob = blobs_->put("deleted before its variants were announced");
  event("ready", "img3", "key:a", 42, blob);
  event("deleted", "img3");
  event("variants", "img3", "key:a", 42, blob);
  event("ready", "img3", "key:a", 42, blob);  // a replay of the topic, too
  EXPECT_EQ(ledger_->usage("key:a").bytes, 0u);
  EXPECT_EQ(ledger_->usage("key:a").uploads, 1);
  EXPECT_TRUE(ledger_->images_of("key:a").empty());
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 0), 1u);
  EXPECT_FALSE(blobs_->contains(blob));
}

// The worker keeps a manifest of each image (its resume point); a deleted
// image's goes after the grace period, as its blobs do (on Kafka nothing
// else removes it: the leftover sweeper judges manifests only when embedded).
TEST_F(LedgerTest, TheManifestOfADeletedImageGoesAfterTheGracePeriod) {
  const auto manifest = storage::BlobStore::manifest_of("m1");
  blobs_->put_manifest(manifest, "{}");
  event("ready", "m1", "key:a", 7, blobs_->put("an image with a manifest"));
  event("deleted", "m1");
  ledger_->collect_orphans(*blobs_, 600);
  EXPECT_TRUE(blobs_->get_manifest(manifest));  // within the grace period
  clock_->advance(600);
  ledger_->collect_orphans(*blobs_, 600);
  EXPECT_FALSE(blobs_->get_manifest(manifest));
}

// A worker still rendering when the image was deleted stores its variants
// and manifest afterwards and announces them: they are collected too, unless
// another image has the same original (and so the same variants).
TEST_F(LedgerTest, VariantsStoredAfterTheDeletionAreCollected) {
  auto late_variants = [&](const std::string& id, const std::string& original, const std::string& variant) {
    schemas::ImageRecord r;
    r.id = id;
    r.owner = "anon:1.2.3.4";
    r.filesize = 10;
    r.blob = original;
    r.format = "jpeg";
    r.created_at = clock_->now();
    r.variants.push_back({"s", "jpeg", 320, 200, 5, variant});
    blobs_->put_manifest(storage::BlobStore::manifest_of(id), schemas::encode_record(r));
    ledger_->observe(schemas::ImageEvent{"variants", id, "", r, std::nullopt});
    index_->apply(schemas::ImageEvent{"variants", id, "", r, std::nullopt});
  };
  const std::string original = blobs_->put("deleted while its variants rendered");
  event("ready", "v1", "anon:1.2.3.4", 10, original);
  event("deleted", "v1");
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 0), 1u);  // the original, the one file known then
  const std::string variant = blobs_->put("its s variant, stored after the deletion");
  late_variants("v1", original, variant);
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 0), 1u);
  EXPECT_FALSE(blobs_->contains(variant));
  EXPECT_FALSE(blobs_->get_manifest(storage::BlobStore::manifest_of("v1")));
  EXPECT_FALSE(index_->get("v1"));

  // The same original kept by another image: its variants are that image's too.
  const std::string shared = blobs_->put("an original two images have");
  event("ready", "w1", "anon:1.2.3.4", 10, shared);
  event("ready", "w2", "key:a", 10, shared);
  event("deleted", "w1");
  const std::string shared_variant = blobs_->put("the s variant of both");
  late_variants("w1", shared, shared_variant);
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 0), 0u);
  EXPECT_TRUE(blobs_->contains(shared_variant));
  EXPECT_TRUE(blobs_->contains(shared));
  EXPECT_FALSE(blobs_->get_manifest(storage::BlobStore::manifest_of("w1")));
}

// docs/api.md "status": a processing or failed image is one of the owner's
// images, with no upload or bytes counted until its original is stored.
TEST_F(LedgerTest, ProcessingAndFailedImagesCountAsImagesNotBytes) {
  auto job_event = [&](const std::string& type, const std::string& id, const char* status) {
    schemas::IngestJob job;
    job.image_id = id;
    job.owner = "key:a";
    job.created_at = clock_->now();
    schemas::ImageEvent e{type, id, "", schemas::record_of(job, status), std::nullopt};
    if (type == "failed") e.error = schemas::ErrorDetail{"invalid_image", "", "probe"};
    ledger_->observe(e);
    index_->apply(e);
  };
  job_event("accepted", "p1", schemas::kProcessing);
  job_event("failed", "f1", schemas::kFailed);
  EXPECT_EQ(ledger_->images_of("key:a").size(), 2u);
  EXPECT_EQ(ledger_->usage("key:a").uploads, 0);
  EXPECT_EQ(ledger_->usage("key:a").bytes, 0u);
  event("ready", "p1", "key:a", 700, std::string(64, '7'));  // done: now an upload with bytes
  EXPECT_EQ(ledger_->images_of("key:a").size(), 2u);
  EXPECT_EQ(ledger_->usage("key:a").uploads, 1);
  EXPECT_EQ(ledger_->usage("key:a").bytes, 700u);
  job_event("accepted", "p1", schemas::kProcessing);  // a retry after ready changes nothing
  EXPECT_EQ(ledger_->usage("key:a").bytes, 700u);
  event("deleted", "f1");
  EXPECT_EQ(ledger_->images_of("key:a"), std::vector<std::string>{"p1"});
  job_event("accepted", "p2", schemas::kProcessing);
  event("deleted", "p2");
  EXPECT_EQ(ledger_->images_of("key:a"), std::vector<std::string>{"p1"});
}

TEST_F(LedgerTest, MonthlyQuotaRollsOverWithTheClock) {
  clock_->set(T0 + 86400 * 30);  // 2027-01-31
  EXPECT_EQ(month_of(clock_->now()), "202701");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ledger_->reserve("key:a", 3, 1ull << 30, 10));
    event("ready", "m" + std::to_string(i), "key:a", 10, std::string(64, 'a' + i));
    ledger_->release("key:a", 10);
  }
  EXPECT_FALSE(ledger_->reserve("key:a", 3, 1ull << 30, 10));
  clock_->advance(86400);  // 2027-02-01
  EXPECT_EQ(month_of(clock_->now()), "202702");
  EXPECT_TRUE(ledger_->reserve("key:a", 3, 1ull << 30, 10));
}

TEST_F(LedgerTest, StorageQuotaCountsReservations) {
  event("ready", "s1", "key:a", 900, std::string(64, 'c'));
  EXPECT_TRUE(ledger_->reserve("key:a", 100, 1000, 50));
  EXPECT_FALSE(ledger_->reserve("key:a", 100, 1000, 60));  // 900 + 50 + 60 > 1000
  ledger_->release("key:a", 50);
  EXPECT_TRUE(ledger_->reserve("key:a", 100, 1000, 60));
}

TEST_F(LedgerTest, ConcurrentReservationsNeverExceedTheLastUnit) {
  event("ready", "q1", "key:a", 1, std::string(64, 'd'));
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        if (ledger_->reserve("key:a", 5, 1ull << 30, 1)) ++granted;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 4);  // 5 a month, 1 used
}

TEST_F(LedgerTest, SharedBlobsStayUntilTheLastImageGoes) {
  std::string blob = blobs_->put("the same bytes");
  event("ready", "b1", "anon:1.2.3.4", 14, blob);
  event("ready", "b2", "key:a", 14, blob);
  event("deleted", "b1");
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 0), 0u);
  EXPECT_TRUE(blobs_->contains(blob));
  event("deleted", "b2");
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 600), 0u);  // within the grace period
  EXPECT_TRUE(blobs_->contains(blob));
  clock_->advance(600);
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 600), 1u);
  EXPECT_FALSE(blobs_->contains(blob));
}

// A reference left behind by a deleted image must not keep the blob for
// good; one the index has not applied yet (the ledger sees each event
// first) must keep it.
TEST_F(LedgerTest, AReferenceOfADeletedImageDoesNotKeepTheBlob) {
  std::string blob = blobs_->put("referenced by a ghost");
  event("ready", "g1", "anon:1.2.3.4", 21, blob);
  event("ready", "g2", "anon:1.2.3.4", 21, blob);
  event("deleted", "g1");
  db_->put(storage::cf::listings, "r:" + blob + '\0' + "g1", "", false);  // however it came back
  event("deleted", "g2");
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 0), 1u);  // g1's reference is stale: dropped
  EXPECT_FALSE(blobs_->contains(blob));

  blob = blobs_->put("seen by the ledger, not yet by the index");
  event("ready", "g3", "anon:1.2.3.4", 21, blob);
  event("deleted", "g3");
  schemas::ImageRecord record;
  record.id = "g4";
  record.owner = "key:b";
  record.filesize = 21;
  record.blob = blob;
  record.format = "jpeg";
  record.created_at = clock_->now();
  ledger_->observe(schemas::ImageEvent{"ready", "g4", "", record, std::nullopt});  // the index applies it next
  // A collector that listed the blob as orphaned just before g4 came.
  db_->put(storage::cf::listings, "x:" + blob, R"({"at": 0, "blobs": []})", false);
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 0), 0u);
  EXPECT_TRUE(blobs_->contains(blob));
}

TEST_F(LedgerTest, ReuploadDuringGraceKeepsTheBlob) {
  std::string blob = blobs_->put("bytes again");
  event("ready", "r1", "key:a", 11, blob);
  event("deleted", "r1");
  event("ready", "r2", "key:b", 11, blob);  // the same bytes uploaded again
  clock_->advance(3600);
  EXPECT_EQ(ledger_->collect_orphans(*blobs_, 600), 0u);
  EXPECT_TRUE(blobs_->contains(blob));
}

TEST_F(LedgerTest, ExpiredImagesAreFoundByTheIndex) {
  event("ready", "e1", "anon:1.2.3.4", 5, std::string(64, 'e'));
  EXPECT_TRUE(index_->expired(clock_->now(), 10).empty());
  EXPECT_EQ(index_->expired(clock_->now() + 30 * 86400, 10), std::vector<std::string>{"e1"});
}

}  // namespace
}  // namespace imgpipe::gateway::accounts
