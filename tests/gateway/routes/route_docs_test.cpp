// The generated documentation cannot drift from the route table: every
// (row, method) has exactly one entry in gateway/docs/route_docs.cpp and
// every entry a row; the OpenAPI document names every published operation,
// each of its error codes and only schemas that exist.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

#include "gateway/docs/openapi.h"
#include "gateway/docs/route_docs.h"
#include "gateway/routes/route_table.h"
#include "schemas/api_schemas.h"

namespace imgpipe::gateway::docs {
namespace {

using json = nlohmann::json;

constexpr routes::Method kMethods[] = {routes::GET, routes::POST, routes::PUT, routes::PATCH, routes::DELETE};

TEST(RouteDocs, EveryRowAndMethodHasOneEntryAndEveryEntryARow) {
  std::set<std::pair<int, std::string>> rows;
  for (const auto& row : routes::route_table())
    for (auto m : kMethods)
      if (row.methods & m) {
        rows.insert({m, std::string(row.path.text())});
        EXPECT_NE(find_route_doc(m, row.path.text()), nullptr)
            << routes::allow_header(m) << " " << row.path.text() << " has no entry in gateway/docs/route_docs.cpp";
      }
  std::set<std::pair<int, std::string>> entries;
  std::set<std::string> operation_ids;
  for (const auto& d : route_docs()) {
    EXPECT_TRUE(entries.insert({d.method, d.path}).second) << "two entries for " << d.path;
    EXPECT_TRUE(operation_ids.insert(d.operation_id).second) << "operationId twice: " << d.operation_id;
    EXPECT_TRUE(rows.count({d.method, d.path})) << "an entry without a row: " << d.path;
  }
}

TEST(RouteDocs, PublishedEntriesDescribeTheirAnswers) {
  for (const auto& d : route_docs()) {
    if (!d.published) continue;
    EXPECT_FALSE(std::string(d.summary).empty()) << d.path;
    EXPECT_FALSE(d.answers.empty()) << d.path;
    for (const auto& a : d.answers) {
      std::string schema = a.schema;
      if (!schema.empty() && schema != "binary") {
        EXPECT_TRUE(schemas::api_schemas().contains(schema)) << schema;
      }
    }
    for (const auto& b : d.bodies) EXPECT_TRUE(schemas::api_schemas().contains(b.schema)) << b.schema;
    // Path params of the pattern are all described.
    std::string path = d.path;
    for (size_t open = path.find('{'); open != std::string::npos; open = path.find('{', open + 1)) {
      auto name = path.substr(open + 1, path.find('}', open) - open - 1);
      bool found = false;
      for (const auto& p : d.params) found |= std::string(p.in) == "path" && name == p.name;
      EXPECT_TRUE(found) << d.path << " does not describe {" << name << "}";
    }
  }
}

TEST(OpenApi, ListsEveryPublishedOperationWithItsErrorCodes) {
  auto doc = openapi_document("https://img.example");
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["servers"][0]["url"], "https://img.example");
  const char* names[] = {"", "get", "post", "", "put", "", "", "", "patch", "", "", "", "", "", "", "", "delete"};
  for (const auto& d : route_docs()) {
    bool present = doc["paths"].contains(d.path) && doc["paths"][d.path].contains(names[d.method]);
    EXPECT_EQ(present, d.published) << d.path;
    if (!present) continue;
    const auto& op = doc["paths"][d.path][names[d.method]];
    EXPECT_EQ(op["operationId"], d.operation_id);
    for (auto code : d.errors) {
      const auto& info = schemas::error_info(code);
      const auto& r = op["responses"][std::to_string(info.http_status)];
      ASSERT_TRUE(r.contains("content")) << d.path << " " << info.code;
      EXPECT_NE(r["description"].get<std::string>().find(info.code), std::string::npos) << d.path << info.code;
      if (info.retryable) {
        EXPECT_TRUE(r["headers"].contains("Retry-After")) << d.path << " " << info.code;
      }
    }
  }
}

TEST(OpenApi, EveryRefResolvesAndCreatesLinkToTheImageOperations) {
  auto doc = openapi_document("");
  EXPECT_FALSE(doc.contains("servers"));
  std::function<void(const json&)> walk = [&](const json& j) {
    if (j.is_object()) {
      if (auto r = j.find("$ref"); r != j.end()) {
        std::string target = r->get<std::string>();
        ASSERT_EQ(target.rfind("#/components/schemas/", 0), 0u) << target;
        EXPECT_TRUE(doc["components"]["schemas"].contains(target.substr(21))) << target;
      }
      for (const auto& [k, v] : j.items()) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(doc);
  const auto& links = doc["paths"]["/v1/upload"]["post"]["responses"]["201"]["links"];
  EXPECT_TRUE(links.contains("get_image"));
  EXPECT_TRUE(links.contains("delete_image"));
  EXPECT_EQ(links["get_image"]["parameters"]["id"], "$response.body#/id");
}

}  // namespace
}  // namespace imgpipe::gateway::docs
