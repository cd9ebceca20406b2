// img.pro's images API (shape C) end to end, through a small client that
// uses only what ../shared/reference/img.pro-api.md documents, as an outside
// integrator would: create (multipart and JSON), get, list with cursors and
// label filters, update, delete, batch delete, usage, abilities, nested errors.
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <set>

#include "schemas/messages.h"
#include "storage/db.h"
#include "storage/embedded_bus.h"
#include "storage/kafka/kafka_bus.h"
#include "storage/prefixed_bus.h"
#include "tests/e2e/harness.h"
#include "tests/workers/fetch/http_fixture.h"

namespace imgpipe::e2e {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

struct Reply {
  int status = 0;
  Headers headers;
  std::string body;
  json js() const { return json::parse(body, nullptr, false); }
  ordered_json ordered() const { return ordered_json::parse(body, nullptr, false); }
  std::string header(const std::string& h) const {
    auto it = headers.find(h);
    return it == headers.end() ? "" : it->second;
  }
};

// The integrator's client: base URL and key, nothing else.
class ImgPro {
 public:
  ImgPro(const ServerProcess& s, std::string key = {}) : port_(s.port()), key_(std::move(key)) {}

  Reply send(const std::string& method, const std::string& target, const std::string& body = {},
             const std::string& content_type = "application/json", std::vector<std::string> headers = {}) const {
    std::string req = method + " " + target + " HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1:" +
                      std::to_string(port_) + "\r\n";
    if (!key_.empty()) req += "Authorization: Bearer " + key_ + "\r\n";
    for (const auto& h : headers) req += h + "\r\n";
    if (!body.empty() || method == "POST" || method == "PATCH")
      req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    auto raw = parse_raw(raw_exchange(port_, req));
    return {raw.status, raw.headers, raw.body};
  }

  Reply create(const std::string& bytes, const std::string& filename,
               const std::vector<std::pair<std::string, std::string>>& fields = {},
               std::vector<std::string> headers = {}) const {
    const std::string boundary = "----imgpro-client-" + std::to_string(std::random_device{}());
    std::string body;
    for (const auto& [name, value] : fields)
      body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
            "\"\r\nContent-Type: image/jpeg\r\n\r\n" + bytes + "\r\n--" + boundary + "--\r\n";
    return send("POST", "/v1/images", body, "multipart/form-data; boundary=" + boundary, std::move(headers));
  }
  Reply create_json(const json& body) const { return send("POST", "/v1/images", body.dump()); }
  Reply get(const std::string& id) const { return send("GET", "/v1/images/" + id); }
  Reply list(const std::string& query = {}) const { return send("GET", "/v1/images" + query); }
  Reply update(const std::string& id, const json& body) const { return send("PATCH", "/v1/images/" + id, body.dump()); }
  Reply remove(const std::string& id) const { return send("DELETE", "/v1/images/" + id); }
  Reply remove_batch(const json& ids) const { return send("DELETE", "/v1/images/batch", json{{"ids", ids}}.dump()); }
  Reply usage() const { return send("GET", "/v1/usage"); }

 private:
  int port_;
  std::string key_;
};

std::string new_key(const ServerProcess& s, const std::string& email, json abilities = nullptr) {
  json body{{"email", email}};
  if (!abilities.is_null()) body["abilities"] = abilities;
  auto r = ImgPro(s).send("POST", "/v1/keys", body.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  return r.js().value("key", "");
}


// Shape C's nested error with its type; Retry-After mirrors action.retry_after.
::testing::AssertionResult nested_error(const Reply& r, int status, const std::string& type, const std::string& code) {
  auto j = r.js();
  if (r.status != status || !j.is_object() || !j["error"].is_object() || j["error"].value("code", "") != code ||
      j["error"].value("type", "") != type || !j["error"]["message"].is_string())
    return ::testing::AssertionFailure() << "want " << status << " " << type << "/" << code << ", got " << r.status
                                         << " " << r.body;
  if (j["error"].contains("action") && j["error"]["action"].contains("retry_after") &&
      r.header("Retry-After") != std::to_string(j["error"]["action"]["retry_after"].get<int>()))
    return ::testing::AssertionFailure() << "Retry-After " << r.header("Retry-After") << " vs " << r.body;
  return ::testing::AssertionSuccess();
}

bool iso8601(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == 20 && s[4] == '-' && s[10] == 'T' && s.back() == 'Z';
}

struct Server {
  explicit Server(std::vector<std::string> extra = {}) {
    ServerOptions o;
    o.extra_args = {"--sweep-interval", "1", "--blob-grace", "0"};
    o.extra_args.insert(o.extra_args.end(), extra.begin(), extra.end());
    s = std::make_unique<ServerProcess>(o);
    s->start();
  }
  ServerProcess& operator*() { return *s; }
  std::unique_ptr<ServerProcess> s;
};

// ---- the Image object --------------------------------------------------------------

TEST(ImagesApi, TheImageObjectHasEveryFieldInOrder) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  auto bytes = read_file(corpus("landscape.jpg"));
  auto r = api.create(bytes, "holiday.jpg",
                      {{"caption", "At the lake"}, {"labels", R"({"env":"prod","team":"web"})"},
                       {"metadata", R"({"source":"cms","post":"42"})"}});
  ASSERT_EQ(r.status, 201) << r.body;
  std::vector<std::string> keys;
  auto in_order = r.ordered();
  for (const auto& [k, v] : in_order.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "object", "url", "page_url", "sizes", "filename", "format", "width",
                                            "height", "bytes", "transformable", "status", "public", "published_at",
                                            "expires_at", "created_at", "caption", "metadata", "labels", "nsfw"}));
  auto img = r.js();
  EXPECT_EQ(img["object"], "image");
  EXPECT_EQ(img["status"], "ready");
  EXPECT_EQ(img["format"], "jpg");
  EXPECT_EQ(img["filename"], "holiday.jpg");
  EXPECT_EQ(img["caption"], "At the lake");
  EXPECT_EQ(img["labels"], (json{{"env", "prod"}, {"team", "web"}}));
  EXPECT_EQ(img["metadata"], (json{{"source", "cms"}, {"post", "42"}}));
  EXPECT_EQ(img["public"], true);
  EXPECT_EQ(img["nsfw"], false);
  EXPECT_EQ(img["transformable"], true);
  EXPECT_TRUE(iso8601(img["created_at"])) << img;
  EXPECT_TRUE(iso8601(img["published_at"])) << img;
  EXPECT_TRUE(iso8601(img["expires_at"])) << "an unverified key's upload expires: " << img;
  // url is the image itself; it decodes to the announced size and bytes.
  auto served = http_get(img["url"].get<std::string>());
  ASSERT_EQ(served.status, 200);
  auto d = decode(served.body);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.width, img["width"].get<int>());
  EXPECT_EQ(d.height, img["height"].get<int>());
  EXPECT_EQ(served.body.size(), img["bytes"].get<size_t>());
  // sizes: the short-edge rule, and each URL serves exactly that size.
  for (auto [name, edge] : {std::pair{"small", 320}, {"medium", 640}, {"large", 1080}}) {
    auto want = expected_variant({img["width"], img["height"]}, edge);
    const auto& size = img["sizes"][name];
    EXPECT_EQ(size["width"], want.width) << name;
    EXPECT_EQ(size["height"], want.height) << name;
    auto v = decode(http_get(size["url"].get<std::string>()).body);
    ASSERT_TRUE(v.ok) << name << " " << v.error;
    EXPECT_EQ(v.width, size["width"].get<int>()) << name;
    EXPECT_EQ(v.height, size["height"].get<int>()) << name;
  }
  // page_url is the viewer page.
  EXPECT_EQ(http_get(img["page_url"].get<std::string>()).status, 200);
  // The same object from GET.
  EXPECT_EQ(api.get(img["id"]).js(), img);
  // Where the long edge is not whole it is rounded down, in the object and
  // in the file: 1000x750 at 320 is 426x320 (the reference's 4000x3000 example).
  auto odd = api.create(synthetic_jpeg(7, 1000, 750), "odd.jpg").js();
  EXPECT_EQ(odd["sizes"]["small"]["width"], 426) << odd;
  auto small = decode(http_get(odd["sizes"]["small"]["url"].get<std::string>()).body);
  ASSERT_TRUE(small.ok) << small.error;
  EXPECT_EQ(small.width, 426);
  EXPECT_EQ(small.height, 320);
}

TEST(ImagesApi, AnonymousCreatesArePublicAndExpire) {
  Server s;
  ImgPro anon(*s);
  auto r = anon.create(read_file(corpus("under-1mp.jpg")), "a.jpg", {{"public", "false"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.js()["public"], true);
  EXPECT_TRUE(iso8601(r.js()["expires_at"]));
  EXPECT_EQ(r.js()["caption"], nullptr);
  EXPECT_EQ(r.js()["labels"], json::object());
  // Anonymous callers may only create.
  EXPECT_TRUE(nested_error(anon.list(), 401, "authentication_error", "unauthorized"));
  EXPECT_TRUE(nested_error(anon.usage(), 401, "authentication_error", "unauthorized"));
}

// ---- get, update, delete ----------------------------------------------------------

// The query is sent as clients send it: "?label[b]=2" with raw brackets.
TEST(ImagesApi, UpdateChangesFieldsAndPublicFalseHidesThePage) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  auto img = api.create(read_file(corpus("portrait.jpg")), "p.jpg", {{"labels", R"({"a":"1"})"}}).js();
  std::string id = img["id"];
  // Served twice (the second from memory) before the update, once after.
  const std::string url = img["url"];
  for (int i = 0; i < 2; ++i)
    EXPECT_NE(http_get(url).header("Content-Disposition").find("filename=\"p."), std::string::npos);
  auto r = api.update(id, {{"caption", "New"}, {"labels", {{"b", "2"}}}, {"metadata", {{"k", "v"}}},
                           {"public", false}, {"filename", "renamed.jpg"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.js()["caption"], "New");
  EXPECT_EQ(r.js()["labels"], (json{{"b", "2"}}));
  EXPECT_EQ(r.js()["metadata"], (json{{"k", "v"}}));
  EXPECT_EQ(r.js()["filename"], "renamed.jpg");
  EXPECT_EQ(r.js()["public"], false);
  // Read back: the same gateway shows its own write at once.
  EXPECT_EQ(api.get(id).js(), r.js());
  // The page is gone for everyone, the image URL still works.
  EXPECT_EQ(http_get((*s).url("/" + id)).status, 404);
  auto served = http_get(url);
  EXPECT_EQ(served.status, 200);
  EXPECT_NE(served.header("Content-Disposition").find("filename=\"renamed."), std::string::npos)
      << served.header("Content-Disposition");
  // Labels are re-indexed: the old one no longer lists it, the new one does.
  EXPECT_EQ(api.list("?label[a]=1").js()["data"].size(), 0u);
  EXPECT_EQ(api.list("?label[b]=2").js()["data"].size(), 1u);
  // Back to public: the page returns.
  ASSERT_EQ(api.update(id, {{"public", true}}).status, 200);
  EXPECT_EQ(http_get((*s).url("/" + id)).status, 200);
  // Validation names the field.
  auto bad = api.update(id, {{"labels", {{"k", 5}}}});
  EXPECT_TRUE(nested_error(bad, 422, "invalid_request_error", "validation_error"));
  EXPECT_TRUE(bad.js()["error"]["details"].contains("labels")) << bad.body;
  json many = json::object();
  for (int i = 0; i < 21; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_TRUE(api.update(id, {{"labels", many}}).js()["error"]["details"].contains("labels"));
  EXPECT_TRUE(api.update(id, {{"metadata", {{"k", std::string(1025, 'x')}}}}).js()["error"]["details"].contains("metadata"));
  EXPECT_TRUE(api.update(id, {{"public", "yes"}}).js()["error"]["details"].contains("public"));
  EXPECT_TRUE(nested_error(api.update("nosuchimage1", {{"caption", "x"}}), 404, "invalid_request_error", "not_found"));
  // Every field at its bounds, in two-byte characters (a 16 KB body limit
  // refused this as 413 file_too_large): accepted.
  std::string long_value;
  for (int c = 0; c < 1024; ++c) long_value += "\xC3\xA9";  // é, 1024 times
  json full_meta = json::object(), full_labels = json::object();
  for (int i = 0; i < 50; ++i) full_meta["key" + std::to_string(i)] = long_value;
  for (int i = 0; i < 20; ++i) full_labels["label" + std::to_string(i)] = std::string(256, 'l');
  auto full = api.update(id, {{"metadata", full_meta}, {"labels", full_labels}, {"caption", std::string(1000, 'c')}});
  ASSERT_EQ(full.status, 200) << full.body.substr(0, 300);
  EXPECT_EQ(api.get(id).js()["metadata"], full_meta);
}

TEST(ImagesApi, DeleteStopsEverythingAndFreesStorage) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  auto img = api.create(read_file(corpus("landscape.jpg")), "l.jpg").js();
  std::string id = img["id"];
  ASSERT_EQ(http_get(img["sizes"]["small"]["url"].get<std::string>()).status, 200);
  auto before = api.usage().js();
  EXPECT_EQ(before["object"], "usage");
  EXPECT_EQ(before["limits"]["images"]["used"], 1);
  EXPECT_EQ(before["totals"]["images_stored"], 1);
  EXPECT_GT(before["limits"]["storage"]["used_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(before["limits_enforced"], true);
  EXPECT_EQ(before["limits"]["uploads"]["used"], 1);
  EXPECT_TRUE(iso8601(before["limits"]["uploads"]["period_end"]));
  auto r = api.remove(id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.js(), (json{{"id", id}, {"object", "image"}, {"deleted", true}}));
  EXPECT_TRUE(nested_error(api.get(id), 404, "invalid_request_error", "not_found"));
  EXPECT_EQ(http_get(img["url"].get<std::string>()).status, 404);
  EXPECT_EQ(http_get(img["sizes"]["small"]["url"].get<std::string>()).status, 404);
  EXPECT_EQ(http_get(img["page_url"].get<std::string>()).status, 404);
  auto after = api.usage().js();
  EXPECT_EQ(after["limits"]["storage"]["used_bytes"], 0);
  EXPECT_EQ(after["totals"]["images_stored"], 0);
  // Deleting again: not found.
  EXPECT_TRUE(nested_error(api.remove(id), 404, "invalid_request_error", "not_found"));
}

TEST(ImagesApi, BatchDeleteIsIdempotentAndOwnerScoped) {
  Server s;
  ImgPro a(*s, new_key(*s, "a@x.com")), b(*s, new_key(*s, "b@x.com"));
  std::string mine1 = a.create(synthetic_jpeg(1), "1.jpg").js()["id"];
  std::string mine2 = a.create(synthetic_jpeg(2), "2.jpg").js()["id"];
  std::string theirs = b.create(synthetic_jpeg(3), "3.jpg").js()["id"];
  auto r = a.remove_batch({mine1, mine2, theirs, "unknownimage"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.js()["object"], "batch_result");
  EXPECT_EQ(r.js()["data"].size(), 4u);
  EXPECT_EQ(r.js()["errors"], json::array());
  EXPECT_TRUE(nested_error(a.get(mine1), 404, "invalid_request_error", "not_found"));
  EXPECT_TRUE(nested_error(a.get(mine2), 404, "invalid_request_error", "not_found"));
  EXPECT_EQ(b.get(theirs).status, 200) << "another owner's image is untouched";
  // Again: the same answer.
  EXPECT_EQ(a.remove_batch({mine1, mine2}).js()["data"].size(), 2u);
  json too_many = json::array();
  for (int i = 0; i < 101; ++i) too_many.push_back("id" + std::to_string(i));
  EXPECT_TRUE(nested_error(a.remove_batch(too_many), 422, "invalid_request_error", "validation_error"));
  EXPECT_TRUE(nested_error(a.send("DELETE", "/v1/images/batch", "{}"), 422, "invalid_request_error", "validation_error"));
}

// ---- listing -----------------------------------------------------------------------

std::vector<std::string> ids_of(const json& list) {
  std::vector<std::string> ids;
  for (const auto& i : list["data"]) ids.push_back(i["id"]);
  return ids;
}

TEST(ImagesApi, ListingPagesNewestFirstUnderConcurrentInsertsAndDeletes) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  std::vector<std::string> created;
  for (int i = 0; i < 7; ++i) {
    auto r = api.create(synthetic_jpeg(10 + i), "s.jpg");
    ASSERT_EQ(r.status, 201) << r.body;
    created.push_back(r.js()["id"]);
  }
  auto all = api.list("?limit=100").js();
  EXPECT_EQ(all["object"], "list");
  EXPECT_EQ(all["pagination"]["has_more"], false);
  EXPECT_EQ(all["pagination"]["next_cursor"], nullptr);
  ASSERT_EQ(all["data"].size(), 7u);
  // Newest first: created_at never increases down the list.
  for (size_t i = 1; i < all["data"].size(); ++i)
    EXPECT_GE(all["data"][i - 1]["created_at"].get<std::string>(), all["data"][i]["created_at"].get<std::string>());
  auto order = ids_of(all);
  // Page by 3, inserting and deleting between pages.
  auto p1 = api.list("?limit=3").js();
  ASSERT_EQ(ids_of(p1), std::vector<std::string>(order.begin(), order.begin() + 3));
  ASSERT_EQ(p1["pagination"]["has_more"], true);
  std::string inserted = api.create(synthetic_jpeg(40), "new.jpg").js()["id"];  // newer: before the cursor
  ASSERT_EQ(api.remove(order[4]).status, 200);                                 // on a later page
  auto p2 = api.list("?limit=3&cursor=" + p1["pagination"]["next_cursor"].get<std::string>()).js();
  EXPECT_EQ(ids_of(p2), (std::vector<std::string>{order[3], order[5], order[6]}));
  EXPECT_EQ(p2["pagination"]["has_more"], false);
  // The new image is in a fresh listing (ties within a second go by id).
  auto fresh = ids_of(api.list().js());
  EXPECT_NE(std::find(fresh.begin(), fresh.end(), inserted), fresh.end());
  // Bad parameters are named.
  for (auto q : {"?limit=0", "?limit=101", "?limit=x", "?cursor=zz"}) {
    auto r = api.list(q);
    EXPECT_TRUE(nested_error(r, 422, "invalid_request_error", "validation_error")) << q;
  }
}

TEST(ImagesApi, LabelFiltersAndIdsLookups) {
  Server s;
  ImgPro a(*s, new_key(*s, "a@x.com")), b(*s, new_key(*s, "b@x.com"));
  auto make = [&](int i, const std::string& labels) {
    auto r = a.create(synthetic_jpeg(100 + i), "x.jpg", {{"labels", labels}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.js().value("id", "");
  };
  auto both = make(1, R"({"env":"prod","team":"web"})");
  auto prod_only = make(2, R"({"env":"prod","team":"data"})");
  auto web_only = make(3, R"({"env":"dev","team":"web"})");
  make(4, "{}");
  std::string foreign = b.create(synthetic_jpeg(105), "y.jpg", {{"labels", R"({"env":"prod","team":"web"})"}}).js()["id"];
  EXPECT_EQ(ids_of(a.list("?label[env]=prod&label[team]=web").js()), std::vector<std::string>{both});
  EXPECT_EQ(ids_of(a.list("?label[env]=prod").js()), (std::vector<std::string>{prod_only, both}));
  EXPECT_EQ(ids_of(a.list("?label[team]=web").js()), (std::vector<std::string>{web_only, both}));
  EXPECT_EQ(a.list("?label[env]=none").js()["data"].size(), 0u);
  // Paging inside a label.
  auto p1 = a.list("?label[env]=prod&limit=1").js();
  EXPECT_EQ(ids_of(p1), std::vector<std::string>{prod_only});
  auto p2 = a.list("?label[env]=prod&limit=1&cursor=" + p1["pagination"]["next_cursor"].get<std::string>()).js();
  EXPECT_EQ(ids_of(p2), std::vector<std::string>{both});
  EXPECT_EQ(p2["pagination"]["has_more"], false);
  // ids: own ones in the order asked, foreign and unknown left out.
  EXPECT_EQ(ids_of(a.list("?ids=" + web_only + "," + foreign + ",unknownimage," + both).js()),
            (std::vector<std::string>{web_only, both}));
  std::string fifty_one;
  for (int i = 0; i < 51; ++i) fifty_one += (i ? "," : "") + std::string("id") + std::to_string(i);
  EXPECT_TRUE(nested_error(a.list("?ids=" + fifty_one), 422, "invalid_request_error", "validation_error"));
  // A filter that names no key, or one beside an ids lookup, is refused rather than ignored.
  EXPECT_TRUE(nested_error(a.list("?label[]=prod"), 422, "invalid_request_error", "validation_error"));
  EXPECT_TRUE(nested_error(a.list("?ids=" + both + "&label[env]=prod"), 422, "invalid_request_error",
                           "validation_error"));
}

// ---- abilities and errors --------------------------------------------------------------

TEST(ImagesApi, AbilitiesDecideBeforeTheBody) {
  Server s;
  ImgPro writer(*s, new_key(*s, "w@x.com"));
  ImgPro reader(*s, new_key(*s, "r@x.com", {"read"}));
  ImgPro write_only(*s, new_key(*s, "wo@x.com", {"write"}));
  // The probe clients use: {} to POST /v1/images.
  EXPECT_TRUE(nested_error(writer.create_json(json::object()), 422, "invalid_request_error", "validation_error"));
  EXPECT_TRUE(writer.create_json(json::object()).js()["error"]["details"].contains("url"));
  EXPECT_TRUE(nested_error(reader.create_json(json::object()), 403, "permission_error", "forbidden"));
  EXPECT_TRUE(nested_error(reader.create(synthetic_jpeg(1), "x.jpg"), 403, "permission_error", "forbidden"));
  EXPECT_EQ(reader.list().status, 200);
  EXPECT_EQ(reader.usage().status, 200);
  EXPECT_TRUE(nested_error(reader.remove_batch({"x"}), 403, "permission_error", "forbidden"));
  EXPECT_TRUE(nested_error(reader.update("abcdefabcdef", {{"caption", 5}}), 403, "permission_error", "forbidden"));
  EXPECT_TRUE(nested_error(reader.remove("abcdefabcdef"), 403, "permission_error", "forbidden"));
  EXPECT_TRUE(nested_error(write_only.list(), 403, "permission_error", "forbidden"));
  EXPECT_EQ(write_only.create(synthetic_jpeg(2), "x.jpg").status, 201);
  // Keys: abilities are validated.
  auto bad = ImgPro(*s).send("POST", "/v1/keys", json{{"email", "z@x.com"}, {"abilities", {"admin"}}}.dump());
  EXPECT_EQ(bad.status, 422) << bad.body;
}

// Errors raised while a streamed multipart body is read (415, 422 of the
// fields) are nested too: the transport asks the route's renderer.
TEST(ImagesApi, ErrorsAreNestedWithTheirTypes) {
  auto plans = fs::temp_directory_path() / ("imgpipe-plans-" + std::to_string(std::random_device{}()) + ".json");
  std::ofstream(plans) << json{{"anonymous", {{"uploads_per_hour", 1}}}}.dump();
  Server s({"--plans-file", plans.string()});
  ImgPro anon(*s), api(*s, new_key(*s, "dev@x.com"));
  ImgPro wrong(*s, "img_live_" + std::string(40, 'B'));
  EXPECT_TRUE(nested_error(wrong.list(), 401, "authentication_error", "unauthorized"));
  EXPECT_TRUE(nested_error(api.get("nosuchimage1"), 404, "invalid_request_error", "not_found"));
  EXPECT_TRUE(nested_error(api.send("PUT", "/v1/images"), 405, "invalid_request_error", "method_not_allowed"));
  EXPECT_TRUE(nested_error(api.create_json(json{{"url", "http://127.0.0.1/x.jpg"}}), 403, "invalid_request_error",
                           "import_forbidden"));
  EXPECT_TRUE(nested_error(api.send("POST", "/v1/images", "not json"), 400, "invalid_request_error", "validation_error"));
  EXPECT_TRUE(nested_error(api.create(read_file(corpus("notes.txt")), "n.txt"), 415, "invalid_request_error",
                           "unsupported_format"));
  EXPECT_TRUE(nested_error(api.create(read_file(corpus("truncated.jpg")), "t.jpg"), 422, "invalid_request_error",
                           "invalid_image"));
  auto ttl = api.create(synthetic_jpeg(1), "x.jpg", {{"ttl", "1m"}});
  EXPECT_TRUE(nested_error(ttl, 422, "invalid_request_error", "validation_error"));
  EXPECT_TRUE(ttl.js()["error"]["details"].contains("ttl")) << ttl.body;
  auto labels = api.create(synthetic_jpeg(1), "x.jpg", {{"labels", "not json"}});
  EXPECT_TRUE(labels.js()["error"]["details"].contains("labels")) << labels.body;
  // A ttl shortens the expiry.
  auto short_lived = api.create(synthetic_jpeg(2), "x.jpg", {{"ttl", "1h"}});
  ASSERT_EQ(short_lived.status, 201) << short_lived.body;
  EXPECT_LT(short_lived.js()["expires_at"].get<std::string>(), api.create(synthetic_jpeg(3), "x.jpg").js()["expires_at"].get<std::string>());
  // Rate limited: 429 with wait and Retry-After equal to retry_after.
  ASSERT_EQ(anon.create(synthetic_jpeg(4), "x.jpg").status, 201);
  auto limited = anon.create(synthetic_jpeg(5), "x.jpg");
  ASSERT_TRUE(nested_error(limited, 429, "rate_limit_error", "rate_limited"));
  EXPECT_EQ(limited.js()["error"]["action"]["type"], "wait");
  EXPECT_FALSE(limited.header("Retry-After").empty());
  fs::remove(plans);
}

// ---- idempotent creates ------------------------------------------------------------

TEST(ImagesApi, IdempotencyKeyReplaysTheFirstAnswerAndRefusesAnotherRequest) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com")), other(*s, new_key(*s, "other@x.com"));
  const auto bytes = synthetic_jpeg(60);
  const std::vector<std::string> key1 = {"Idempotency-Key: post-1"};
  auto first = api.create(bytes, "a.jpg", {{"caption", "x"}, {"labels", R"({"a":"1"})"}}, key1);
  ASSERT_EQ(first.status, 201) << first.body;
  // The same fields and bytes (another boundary): the first answer, no second image or upload.
  auto again = api.create(bytes, "a.jpg", {{"labels", R"({"a": "1"})"}, {"caption", "x"}}, key1);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.js(), first.js());
  EXPECT_EQ(api.list().js()["data"].size(), 1u);
  EXPECT_EQ(api.usage().js()["limits"]["uploads"]["used"], 1);
  // The same key with another request: another caption, other bytes, the URL form.
  EXPECT_TRUE(nested_error(api.create(bytes, "a.jpg", {{"caption", "y"}, {"labels", R"({"a":"1"})"}}, key1), 409,
                           "idempotency_error", "idempotency_key_conflict"));
  EXPECT_TRUE(nested_error(api.create(synthetic_jpeg(61), "a.jpg", {{"caption", "x"}, {"labels", R"({"a":"1"})"}}, key1),
                           409, "idempotency_error", "idempotency_key_conflict"));
  EXPECT_TRUE(nested_error(api.send("POST", "/v1/images", json{{"url", "https://example.com/a.jpg"}}.dump(),
                                    "application/json", key1),
                           409, "idempotency_error", "idempotency_key_conflict"));
  // Keys are per owner: another key's same Idempotency-Key is its own image.
  auto theirs = other.create(bytes, "a.jpg", {{"caption", "x"}, {"labels", R"({"a":"1"})"}}, key1);
  ASSERT_EQ(theirs.status, 201) << theirs.body;
  EXPECT_NE(theirs.js()["id"], first.js()["id"]);
  // A bad key is named.
  auto bad = api.create(bytes, "a.jpg", {}, {"Idempotency-Key: " + std::string(256, 'k')});
  EXPECT_TRUE(nested_error(bad, 422, "invalid_request_error", "validation_error"));
  EXPECT_TRUE(bad.js()["error"]["details"].contains("Idempotency-Key")) << bad.body;
  // Once deleted, the key cannot bring the image back.
  ASSERT_EQ(api.remove(first.js()["id"]).status, 200);
  EXPECT_TRUE(nested_error(api.create(bytes, "a.jpg", {{"caption", "x"}, {"labels", R"({"a":"1"})"}}, key1), 409,
                           "idempotency_error", "idempotency_key_conflict"));
}

// Shape B's creates take the key too; their errors stay flat.
TEST(ImagesApi, IdempotencyKeyOnShapeBUploadAndImport) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  const auto bytes = synthetic_jpeg(80);
  auto upload = [&](const std::string& b, const std::string& key) {
    const std::string boundary = "----b-" + std::to_string(std::random_device{}());
    std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.jpg\"\r\n" +
                       "Content-Type: image/jpeg\r\n\r\n" + b + "\r\n--" + boundary + "--\r\n";
    return api.send("POST", "/v1/upload", body, "multipart/form-data; boundary=" + boundary, {"Idempotency-Key: " + key});
  };
  auto first = upload(bytes, "b-1");
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = upload(bytes, "b-1");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.js()["id"], first.js()["id"]);
  auto other = upload(synthetic_jpeg(81), "b-1");
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(other.js()["error"], "idempotency_key_conflict") << "flat on shape B: " << other.body;
  // The same image through shape C: one image for the key.
  EXPECT_EQ(api.list().js()["data"].size(), 1u);
  // An import with the key of an upload is another request.
  auto import = api.send("POST", "/v1/import", json{{"url", "https://example.com/a.jpg"}}.dump(), "application/json",
                         {"Idempotency-Key: b-1"});
  EXPECT_EQ(import.status, 409) << import.body;
  EXPECT_EQ(import.js()["error"], "idempotency_key_conflict") << import.body;
}

// The first request still running: the retry is told to wait, and answered
// with the first image once it is done. The origin answers when the test says.
TEST(ImagesApi, IdempotencyKeyWhileTheFirstIsInFlight) {
  using workers::fetch::test::HttpFixture;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> fetches{0};
  const auto jpeg = synthetic_jpeg(90);
  HttpFixture origin([&](int fd, const std::string&, const HttpFixture&) {
    ++fetches;
    (void)released.wait_for(std::chrono::seconds(60));  // bounded: a failed test does not hang here
    workers::fetch::test::send_all(fd, workers::fetch::test::response(200, jpeg, "Content-Type: image/jpeg\r\n"));
  });
  Server s({"--import-allow-private"});
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  const std::vector<std::string> key = {"Idempotency-Key: slow-1"};
  const json body{{"url", origin.url("/slow.jpg")}, {"caption", "c"}};
  auto first = std::async(std::launch::async, [&] { return api.send("POST", "/v1/images", body.dump(), "application/json", key); });
  ASSERT_TRUE(eventually([&] { return fetches.load() == 1; }, 30s)) << "the origin was never asked";
  auto busy = api.send("POST", "/v1/images", body.dump(), "application/json", key);
  EXPECT_TRUE(nested_error(busy, 409, "idempotency_error", "idempotency_key_in_progress"));
  EXPECT_FALSE(busy.header("Retry-After").empty());
  auto changed = api.send("POST", "/v1/images", json{{"url", origin.url("/slow.jpg")}, {"caption", "d"}}.dump(),
                          "application/json", key);
  EXPECT_TRUE(nested_error(changed, 409, "idempotency_error", "idempotency_key_conflict"));
  release.set_value();
  auto r = first.get();
  ASSERT_EQ(r.status, 201) << r.body;
  auto replay = api.send("POST", "/v1/images", body.dump(), "application/json", key);
  ASSERT_EQ(replay.status, 201) << replay.body;
  EXPECT_EQ(replay.js()["id"], r.js()["id"]);
  EXPECT_EQ(fetches.load(), 1) << "a replay fetches nothing";
}


// A first request that failed on its own account (an image that does not
// decode, a URL whose server answered 404) binds its key for a day: the same
// request gets the same error again without a second job, another request
// is a conflict (the reference: "errors included").
TEST(ImagesApi, IdempotencyKeyReplaysTheFirstRequestsOwnFailure) {
  std::atomic<int> asked{0};
  workers::fetch::test::HttpFixture origin([&](int fd, const std::string&, const auto&) {
    ++asked;
    workers::fetch::test::send_all(fd, workers::fetch::test::response(404, "gone", "Content-Type: text/plain\r\n"));
  });
  Server s({"--import-allow-private"});
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  const auto broken = read_file(corpus("truncated.jpg"));
  const std::vector<std::string> key = {"Idempotency-Key: broken-1"};
  auto first = api.create(broken, "t.jpg", {{"caption", "c"}}, key);
  ASSERT_TRUE(nested_error(first, 422, "invalid_request_error", "invalid_image")) << first.body;
  auto again = api.create(broken, "t.jpg", {{"caption", "c"}}, key);
  ASSERT_TRUE(nested_error(again, 422, "invalid_request_error", "invalid_image")) << again.body;
  EXPECT_EQ(again.js()["error"], first.js()["error"]);
  // Another request with the key, even a good one, is not a new create.
  EXPECT_TRUE(nested_error(api.create(synthetic_jpeg(70), "t.jpg", {{"caption", "c"}}, key), 409, "idempotency_error",
                           "idempotency_key_conflict"));
  auto fresh = api.create(synthetic_jpeg(70), "t.jpg", {{"caption", "c"}}, {"Idempotency-Key: broken-2"});
  ASSERT_EQ(fresh.status, 201) << fresh.body;

  // An import the origin refused: the same 502 again, and the origin is not asked twice.
  const json body{{"url", origin.url("/gone.jpg")}};
  const std::vector<std::string> import_key = {"Idempotency-Key: gone-1"};
  auto refused = api.send("POST", "/v1/images", body.dump(), "application/json", import_key);
  ASSERT_TRUE(nested_error(refused, 502, "processing_error", "fetch_failed")) << refused.body;
  auto replayed = api.send("POST", "/v1/images", body.dump(), "application/json", import_key);
  ASSERT_TRUE(nested_error(replayed, 502, "processing_error", "fetch_failed")) << replayed.body;
  EXPECT_EQ(replayed.js()["error"], refused.js()["error"]);
  EXPECT_EQ(asked.load(), 1) << "a replayed failure fetches nothing";
  EXPECT_EQ(api.usage().js()["limits"]["uploads"]["used"], 1) << "only the good create counts";
}

// ---- processing and failed images (docs/api.md "status") -----------------------------

// An origin that answers each request when the test says so: the import job
// holds a worker mid-job, so the image is observably in flight.
struct HeldOrigin {
  HeldOrigin() : released(release.get_future().share()), jpeg(synthetic_jpeg(95)) {}
  ~HeldOrigin() { open(); }
  void open() {
    std::call_once(opened, [&] { release.set_value(); });
  }
  std::promise<void> release;
  std::shared_future<void> released;
  std::once_flag opened;
  std::atomic<int> asked{0};
  const std::string jpeg;
  workers::fetch::test::HttpFixture origin{[this](int fd, const std::string&, const auto&) {
    ++asked;
    (void)released.wait_for(std::chrono::seconds(60));  // bounded: a failed test does not hang here
    workers::fetch::test::send_all(fd, workers::fetch::test::response(200, jpeg, "Content-Type: image/jpeg\r\n"));
  }};
};

// What the reference says of an image in flight: status processing and
// null width, height and bytes (and nothing else the original decides).
::testing::AssertionResult in_flight(const json& img, const std::string& status) {
  for (const char* field : {"url", "page_url", "format", "width", "height", "bytes", "published_at"})
    if (!img.contains(field) || !img[field].is_null())
      return ::testing::AssertionFailure() << field << " is not null: " << img;
  if (img["status"] != status || img["sizes"] != json::object() || img["transformable"] != false ||
      !iso8601(img["created_at"]))
    return ::testing::AssertionFailure() << "want " << status << ": " << img;
  return ::testing::AssertionSuccess();
}

TEST(ImagesApi, AnImageInFlightIsListedAsProcessingThenReady) {
  HeldOrigin held;
  Server s({"--import-allow-private"});
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  const json body{{"url", held.origin.url("/held.jpg")}, {"caption", "soon"}, {"labels", {{"batch", "7"}}}};
  auto create = std::async(std::launch::async, [&] { return api.create_json(body); });
  // Another request of the same owner sees it while the worker holds it.
  json list;
  ASSERT_TRUE(eventually([&] { return (list = api.list().js())["data"].size() == 1; })) << list;
  auto img = list["data"][0];
  const std::string id = img["id"];
  EXPECT_TRUE(in_flight(img, "processing"));
  EXPECT_EQ(img["caption"], "soon");
  EXPECT_EQ(img["labels"], (json{{"batch", "7"}}));
  EXPECT_EQ(api.get(id).js(), img);
  EXPECT_EQ(ids_of(api.list("?label[batch]=7").js()), std::vector<std::string>{id});
  EXPECT_EQ(api.list("?label[batch]=8").js()["data"].size(), 0u);
  EXPECT_EQ(ids_of(api.list("?ids=" + id).js()), std::vector<std::string>{id});
  // No page yet, like an unknown id; no update either; it counts as an image, with no bytes.
  EXPECT_EQ(http_get((*s).url("/" + id)).status, 404);
  EXPECT_TRUE(nested_error(api.update(id, {{"caption", "x"}}), 409, "invalid_request_error", "image_not_ready"));
  auto usage = api.usage().js();
  EXPECT_EQ(usage["limits"]["images"]["used"], 1) << usage;
  EXPECT_EQ(usage["limits"]["storage"]["used_bytes"], 0) << usage;
  EXPECT_EQ(usage["limits"]["uploads"]["used"], 0) << "an upload counts once it is done: " << usage;

  held.open();
  auto created = create.get();
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.js()["id"], id);
  EXPECT_EQ(created.js()["status"], "ready");
  auto now = api.get(id).js();
  EXPECT_EQ(now, created.js());
  EXPECT_EQ(now["width"], 120);
  EXPECT_EQ(http_get(now["url"].get<std::string>()).status, 200);
  EXPECT_EQ(ids_of(api.list().js()), std::vector<std::string>{id});
  EXPECT_GT(api.usage().js()["limits"]["storage"]["used_bytes"].get<int64_t>(), 0);
}

TEST(ImagesApi, AProcessingImageCanBeDeleted) {
  HeldOrigin held;
  Server s({"--import-allow-private"});
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  auto one = std::async(std::launch::async, [&] { return api.create_json({{"url", held.origin.url("/1.jpg")}}); });
  json list;
  ASSERT_TRUE(eventually([&] { return (list = api.list().js())["data"].size() == 1; })) << list;
  const std::string id = list["data"][0]["id"];
  auto r = api.remove_batch({id});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.js()["data"].size(), 1u) << r.body;
  EXPECT_EQ(r.js()["data"][0]["id"], id);
  EXPECT_EQ(r.js()["errors"], json::array());
  EXPECT_TRUE(nested_error(api.get(id), 404, "invalid_request_error", "not_found"));
  EXPECT_EQ(api.usage().js()["limits"]["images"]["used"], 0);
  // The worker finishing it later does not bring it back.
  held.open();
  one.get();
  EXPECT_TRUE(nested_error(api.get(id), 404, "invalid_request_error", "not_found"));
  EXPECT_EQ(api.list().js()["data"].size(), 0u);
  EXPECT_EQ(api.usage().js()["limits"]["images"]["used"], 0);
}

// Deleted right after its 201, while the worker most likely still renders
// its variants: once the worker is done, nothing of the image is left on
// disk — not the original, not the variants stored after the deletion, not
// the worker's manifest of it (on Kafka nothing else ever removed that).
TEST(ImagesApi, NothingOfAnImageDeletedWhileItsVariantsRenderStaysOnDisk) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  auto created = api.create(read_file(corpus("landscape.jpg")), "l.jpg");
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_EQ(api.remove(created.js()["id"]).status, 200);
  ASSERT_TRUE(eventually([&] {
    const auto m = http_get((*s).url("/metrics")).body;
    return metric_sum(m, "imgpipe_worker_variant_backlog") == 0 && metric_sum(m, "imgpipe_worker_jobs_in_flight") == 0;
  }));
  auto left = [&] {
    std::string files;
    for (const char* dir : {"blobs", "manifests"})
      for (const auto& e : fs::recursive_directory_iterator((*s).data_dir() / dir))
        if (e.is_regular_file()) files += e.path().lexically_relative((*s).data_dir()).string() + " ";
    return files;
  };
  EXPECT_TRUE(eventually([&] { return left().empty(); }, 20s)) << left() << "\n" << (*s).log_tail();
}

// A job that fails for good leaves its image listed as failed (with the
// fields the create sent), deletable, never updatable.
TEST(ImagesApi, AJobThatFailsForGoodIsListedAsFailed) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  auto r = api.create(read_file(corpus("truncated.jpg")), "t.jpg", {{"labels", R"({"case":"broken"})"}});
  ASSERT_TRUE(nested_error(r, 422, "invalid_request_error", "invalid_image"));
  json list;
  ASSERT_TRUE(eventually([&] { return (list = api.list("?label[case]=broken").js())["data"].size() == 1; })) << list;
  auto img = list["data"][0];
  EXPECT_TRUE(in_flight(img, "failed"));
  EXPECT_EQ(img["filename"], "t.jpg");
  const std::string id = img["id"];
  EXPECT_EQ(api.get(id).js(), img);
  EXPECT_EQ(http_get((*s).url("/" + id)).status, 404);
  EXPECT_TRUE(nested_error(api.update(id, {{"caption", "x"}}), 409, "invalid_request_error", "image_not_ready"));
  auto usage = api.usage().js();
  EXPECT_EQ(usage["limits"]["images"]["used"], 1) << usage;
  EXPECT_EQ(usage["limits"]["storage"]["used_bytes"], 0) << usage;
  ASSERT_EQ(api.remove(id).status, 200);
  EXPECT_EQ(api.list().js()["data"].size(), 0u);
  EXPECT_EQ(api.usage().js()["limits"]["images"]["used"], 0);
}

// Publishes `event` on a stopped server's images topic, as an operator's
// tool would: into its embedded bus, or to Kafka under its topic prefix.
void publish_while_stopped(ServerProcess& s, const schemas::ImageEvent& event) {
  std::unique_ptr<storage::Db> db;
  std::unique_ptr<storage::Bus> bus;
  if (kafka_mode()) {
    bus = storage::make_prefixed_bus(storage::kafka::make_kafka_bus({std::getenv("IMGPIPE_TEST_KAFKA"), {}, "e2e"}),
                                     s.topic_prefix());
  } else {
    db = storage::Db::open(s.data_dir() / "index");
    bus = storage::make_embedded_bus(*db);
  }
  bus->publish_sync(storage::topics::images, schemas::event_key(event), schemas::encode(event), 30s);
}

// A gateway that dies, or loses the bus, between an image's `accepted` event
// and its job leaves the image processing with no job to finish it. The
// retention sweeper gives it up as failed once it has been processing for
// --processing-timeout (default an hour); a younger one is left alone.
TEST(ImagesApi, AnImageLeftProcessingWithoutAJobIsGivenUpAsFailed) {
  Server s;
  auto created = ImgPro(*s).send("POST", "/v1/keys", json{{"email", "dev@x.com"}}.dump()).js();
  ImgPro api(*s, created["key"]);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  auto accepted = [&](const std::string& id, int64_t created_at) {
    schemas::ImageRecord r;
    r.id = id;
    r.name = id + ".jpg";
    r.owner = "key:" + created["key_id"].get<std::string>();
    r.created_at = created_at;
    r.status = schemas::kProcessing;
    return schemas::ImageEvent{"accepted", id, "", r, std::nullopt};
  };
  ASSERT_EQ((*s).stop(), 0);
  publish_while_stopped(*s, accepted("abandoned01", now - 2 * 3600));  // its gateway died two hours ago
  publish_while_stopped(*s, accepted("inflight001", now));
  (*s).start();
  json abandoned;
  ASSERT_TRUE(eventually([&] { return (abandoned = api.get("abandoned01").js()).value("status", "") == "failed"; }))
      << abandoned;
  EXPECT_TRUE(in_flight(abandoned, "failed"));
  EXPECT_TRUE(in_flight(api.get("inflight001").js(), "processing")) << "given up in the same sweep, had it been old";
  EXPECT_NE((*s).log_tail().find("processing_given_up"), std::string::npos);
  ASSERT_EQ(api.remove("abandoned01").status, 200);  // a failed image is the owner's to delete
}

// ---- URL creates: fetch_failed ----------------------------------------------------------

// Real origins on loopback (--import-allow-private): errors are 502, a
// silent one 504 after the short --import-timeout; shape B keeps its codes.
TEST(ImagesApi, UrlCreatesAnswerFetchFailed) {
  using workers::fetch::test::HttpFixture;
  HttpFixture origin([](int fd, const std::string& request, const HttpFixture&) {
    int status = request.rfind("GET /500", 0) == 0 ? 500 : 404;
    workers::fetch::test::send_all(fd, workers::fetch::test::response(status, "no", "Content-Type: text/plain\r\n"));
  });
  HeldOrigin silent;  // answers only at the end of the test: the worker's fetch times out first
  const int closed_port = free_port();  // nothing listens there: connection refused
  Server s({"--import-allow-private", "--import-timeout", "1"});
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  for (const auto& url : {origin.url("/404.jpg"), origin.url("/500.jpg"),
                          "http://127.0.0.1:" + std::to_string(closed_port) + "/x.jpg"}) {
    auto r = api.create_json({{"url", url}, {"labels", {{"case", "502"}}}});
    EXPECT_TRUE(nested_error(r, 502, "processing_error", "fetch_failed")) << url;
  }
  auto slow = api.create_json({{"url", silent.origin.url("/slow.jpg")}, {"labels", {{"case", "504"}}}});
  EXPECT_TRUE(nested_error(slow, 504, "processing_error", "fetch_failed"));
  EXPECT_EQ(slow.js()["error"]["action"]["type"], "wait") << slow.body;
  EXPECT_FALSE(slow.header("Retry-After").empty());
  // Shape B's /v1/import: the import codes, flat, as before.
  auto b404 = api.send("POST", "/v1/import", json{{"url", origin.url("/404.jpg")}}.dump());
  EXPECT_EQ(b404.status, 502) << b404.body;
  EXPECT_EQ(b404.js()["error"], "import_failed") << b404.body;
  auto b_slow = api.send("POST", "/v1/import", json{{"url", silent.origin.url("/slow2.jpg")}}.dump());
  EXPECT_EQ(b_slow.status, 504) << b_slow.body;
  EXPECT_EQ(b_slow.js()["error"], "import_timeout") << b_slow.body;
  // Each failed create is listed as failed.
  EXPECT_EQ(api.list("?label[case]=502").js()["data"].size(), 3u);
  auto failed = api.list("?label[case]=504").js()["data"];
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0]["status"], "failed");
}

// A URL the fetcher would refuse (another scheme, not a URL, a user name)
// is refused when it is sent, and makes no image: none is listed, failed or
// otherwise, and no quota is used.
TEST(ImagesApi, AnUnusableUrlIsRefusedAndMakesNoImage) {
  Server s;
  ImgPro api(*s, new_key(*s, "dev@x.com"));
  for (const std::string url : {"ftp://example.com/a.jpg", "notaurl", "http://user:pw@example.com/a.jpg"}) {
    auto c = api.create_json({{"url", url}});
    EXPECT_EQ(c.status, 400) << url << ": " << c.body;
    EXPECT_EQ(c.js()["error"]["code"], "validation_error") << c.body;
    auto b = api.send("POST", "/v1/import", json{{"url", url}}.dump());
    EXPECT_EQ(b.status, 400) << url << ": " << b.body;
    EXPECT_EQ(b.js()["error"], "validation_error") << b.body;
  }
  EXPECT_EQ(api.list().js()["data"].size(), 0u) << api.list().body;
  EXPECT_EQ(api.usage().js()["limits"]["images"]["used"], 0) << api.usage().body;
}

}  // namespace
}  // namespace imgpipe::e2e
