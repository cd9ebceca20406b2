// POST /mcp through the router, without a socket: the JSON-RPC layer, both
// protocol revisions, the tool list and the tool errors that need no
// worker. tests/contract/mcp_client_test.py drives a live server with the
// official SDK client (uploads, imports, keys).
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include <nlohmann/json.hpp>

#include "gateway/mcp/mcp_tools.h"
#include "gateway/routes/handlers.h"
#include "tests/gateway/routes/gateway_fixture.h"

namespace imgpipe::gateway::routes::testing {
namespace {

using json = nlohmann::json;

class Mcp : public GatewayFixture {
 protected:
  Response post(const json& message, Headers extra = {}) { return post_text(message.dump(), std::move(extra)); }
  Response post_text(std::string body, Headers extra = {}) {
    auto r = request("POST", "/mcp", std::move(body));
    r.headers = {{"Content-Type", "application/json"}};
    for (auto& h : extra) r.headers.push_back(std::move(h));
    return route(std::move(r));
  }
  static json rpc(const std::string& method, json params = json::object(), json id = 1) {
    return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
  }
  static json modern_params(json params = json::object()) {
    params["_meta"] = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                       {"io.modelcontextprotocol/clientCapabilities", json::object()}};
    return params;
  }
  static Headers modern_headers(const std::string& method, const std::string& version = "2026-07-28") {
    return {{"MCP-Protocol-Version", version}, {"Mcp-Method", method}};
  }
  // The tool's CallToolResult.
  json call_tool(const std::string& name, json arguments) {
    auto r = post(rpc("tools/call", {{"name", name}, {"arguments", std::move(arguments)}}));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["result"];
  }
};

// MCP messages run on a small pool with a bounded queue (gateway.h): when
// every thread is busy and the queue full, a message is refused at once with
// 503 and Retry-After instead of waiting unbounded, and served again after.
TEST_F(Mcp, AFullPoolRefusesWith503AndRetryAfterThenServesAgain) {
  auto& pool = gateway_->services().calls;
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  size_t held = 0, submitted = 0, finished = 0;
  auto hold = [&] {
    std::unique_lock lock(m);
    ++held;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    ++finished;
    cv.notify_all();
  };
  auto fill = [&] {
    while (pool.try_submit(hold)) ++submitted;
  };
  // Every thread held, then the queue filled behind them (again once the
  // threads took theirs from it).
  fill();
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return held == pool.threads(); }));
  }
  fill();
  auto busy = post(rpc("tools/list"));
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_EQ(header(busy, "Retry-After"), "1");
  EXPECT_NE(busy.body.find("unavailable"), std::string::npos) << busy.body;
  {
    std::unique_lock lock(m);
    release = true;
    cv.notify_all();
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return finished == submitted; }));
  }
  auto served = post(rpc("tools/list"));
  EXPECT_EQ(served.status, 200) << served.body;
}

TEST_F(Mcp, InitializeNegotiatesTheClientsRevisionOrTheNewest) {
  for (auto [asked, got] : {std::pair{"2025-11-25", "2025-11-25"}, {"2025-06-18", "2025-06-18"},
                            {"2024-11-05", "2025-11-25"}, {"2099-01-01", "2025-11-25"}}) {
    auto r = post(rpc("initialize", {{"protocolVersion", asked}, {"capabilities", json::object()},
                                     {"clientInfo", {{"name", "t"}, {"version", "1"}}}}));
    ASSERT_EQ(r.status, 200) << r.body;
    auto result = json::parse(r.body)["result"];
    EXPECT_EQ(result["protocolVersion"], got) << asked;
    EXPECT_TRUE(result["capabilities"].contains("tools"));
    EXPECT_EQ(result["serverInfo"]["name"], "imgpipe");
    EXPECT_EQ(header(r, "Mcp-Session-Id"), "") << "stateless";
  }
}

TEST_F(Mcp, DiscoverAtTheModernRevision) {
  auto r = post(rpc("server/discover", modern_params()), modern_headers("server/discover"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto result = json::parse(r.body)["result"];
  EXPECT_EQ(result["supportedVersions"][0], "2026-07-28");
  EXPECT_EQ(result["resultType"], "complete");
  EXPECT_TRUE(result.contains("ttlMs") && result.contains("cacheScope"));

  r = post(rpc("tools/list", modern_params()), modern_headers("tools/list"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["result"]["resultType"], "complete");
}

TEST_F(Mcp, ModernRequestsMustAgreeWithTheirHeadersAndVersion) {
  auto r = post(rpc("tools/list", modern_params()), modern_headers("tools/list", "2025-11-25"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], -32020);
  r = post(rpc("tools/list", modern_params()), modern_headers("ping"));
  EXPECT_EQ(json::parse(r.body)["error"]["code"], -32020);
  auto params = modern_params();
  params["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01";
  r = post(rpc("tools/list", params), modern_headers("tools/list", "2099-01-01"));
  EXPECT_EQ(r.status, 400);
  auto error = json::parse(r.body)["error"];
  EXPECT_EQ(error["code"], -32022);
  EXPECT_EQ(error["data"]["supported"], json::array({"2026-07-28"}));
  EXPECT_EQ(error["data"]["requested"], "2099-01-01");
}

TEST_F(Mcp, EveryToolHasStandAloneSchemas) {
  auto r = post(rpc("tools/list"));
  auto tools = json::parse(r.body)["result"]["tools"];
  ASSERT_EQ(tools.size(), mcp::tool_list().size());
  for (const auto& t : tools) {
    EXPECT_EQ(t["inputSchema"]["type"], "object") << t["name"];
    EXPECT_EQ(t["outputSchema"]["type"], "object") << t["name"];
    EXPECT_EQ(t["outputSchema"].dump().find("$ref"), std::string::npos) << t["name"];
    EXPECT_FALSE(t["description"].get<std::string>().empty());
  }
}

TEST_F(Mcp, MalformedJsonRpcIsAJsonRpcErrorNeverA500) {
  auto code = [](const Response& r) { return json::parse(r.body)["error"]["code"].get<int>(); };
  auto r = post_text("{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code(r), -32700);
  r = post_text(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_EQ(code(r), -32600);
  r = post_text(R"({"jsonrpc":"2.0","id":true,"method":"ping"})");
  EXPECT_EQ(code(r), -32600);
  r = post_text(R"({"jsonrpc":"2.0","id":1,"method":7})");
  EXPECT_EQ(code(r), -32600);
  r = post_text(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]})");
  EXPECT_EQ(code(r), -32602);
  r = post(rpc("no/such/method"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(code(r), -32601);
  r = post(rpc("tools/call", {{"name", "no_such_tool"}}));
  EXPECT_EQ(code(r), -32602);
  r = post(rpc("tools/call", {{"name", "get_image"}, {"arguments", "id"}}));
  EXPECT_EQ(code(r), -32602);
  r = post_text(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_EQ(r.status, 202);
  EXPECT_TRUE(r.body.empty());
  r = post(rpc("ping"), {{"MCP-Protocol-Version", "1999-01-01"}});
  EXPECT_EQ(r.status, 400);
}

// Copying a value nested 150 000 deep (its params, its id) overflowed the
// stack and killed the server: such a body is refused as unparsable.
TEST_F(Mcp, DeeplyNestedBodiesAreAParseErrorNotACrash) {
  auto nested = [](size_t depth) {
    return R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":)" + std::string(depth, '[') +
           std::string(depth, ']') + "}}";
  };
  auto r = post_text(nested(150000));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], -32700) << r.body;
  r = post_text(nested(60));  // within the limit: an ordinary ping
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(Mcp, CrossSiteCallersAreRefused) {
  auto r = post(rpc("ping"), {{"Origin", "http://evil.example"}});
  EXPECT_EQ(r.status, 403);
  r = post(rpc("ping"), {{"Origin", "http://gw.test"}});
  EXPECT_EQ(r.status, 200);
  auto plain = request("POST", "/mcp", rpc("ping").dump());
  plain.headers = {{"Content-Type", "text/plain"}};
  EXPECT_EQ(route(std::move(plain)).status, 415);
  EXPECT_EQ(route(request("GET", "/mcp")).status, 405);
}

TEST_F(Mcp, ToolErrorsCarryTheErrorTablesCodeAndAction) {
  auto result = call_tool("get_image", {{"id", "AAAAAAAAAAAA"}});
  EXPECT_TRUE(result["isError"]);
  auto error = result["structuredContent"]["error"];
  EXPECT_EQ(error["code"], "unauthorized");
  EXPECT_EQ(error["status"], 401);
  EXPECT_EQ(error["action"]["type"], "signup");  // shape C renders the register action as signup
  EXPECT_EQ(error["docs"], "http://gw.test/docs/errors#unauthorized-401");
  EXPECT_NE(result["content"][0]["text"].get<std::string>().find("Action: signup"), std::string::npos);

  result = call_tool("image_url", {{"id", "AAAAAAAAAAAA"}, {"size", "s"}});
  EXPECT_EQ(result["structuredContent"]["error"]["code"], "not_found");
}

TEST_F(Mcp, WrongArgumentsAreValidationErrors) {
  for (const auto& [tool, args] : std::vector<std::pair<std::string, json>>{
           {"get_image", {{"id", 5}}},
           {"get_image", json::object()},
           {"get_image", {{"id", "x"}, {"extra", 1}}},
           {"list_images", {{"limit", "ten"}}},
           {"list_images", {{"limit", 0}}},
           {"image_url", {{"id", "x"}, {"size", "xl"}}},
           {"create_image_from_url", {{"url", "https://example.com/a.png"}, {"tags", {1, 2}}}},
           {"create_image_from_url", {{"url", "https://example.com/a.png"}, {"public", "yes"}}},
           {"delete_images", {{"ids", json::array()}}},
           {"delete_images", {{"ids", {1}}}},
           {"update_image", {{"id", "x"}, {"caption", 5}}},
           {"create_image_from_base64", {{"data", "not base64!!"}}},
           {"create_image_from_base64", {{"data", "QQ=A"}}},
       }) {
    auto result = call_tool(tool, args);
    EXPECT_TRUE(result["isError"]) << tool << " " << args.dump();
    EXPECT_EQ(result["structuredContent"]["error"]["code"], "validation_error") << tool << " " << args.dump();
  }
}

TEST_F(Mcp, TheBodyLimitIsTheTiersFileLimitInBase64) {
  auto head = request("POST", "/mcp");
  head.headers = {{"Content-Type", "application/json"}};
  uint64_t limit = mcp::max_call_bytes(1 << 20);  // the fixture's anonymous tier: 1 MB
  head.content_length = limit;
  auto plan = plan_mcp(gateway_->services(), head, {});
  ASSERT_TRUE(std::holds_alternative<BufferBody>(plan));
  EXPECT_EQ(std::get<BufferBody>(plan).limit, limit);
  head.content_length = limit + 1;
  plan = plan_mcp(gateway_->services(), head, {});
  ASSERT_TRUE(std::holds_alternative<RejectBody>(plan));
  const auto& r = std::get<RejectBody>(plan).response;
  EXPECT_EQ(r.status, 413);
  auto error = json::parse(r.body)["error"];
  EXPECT_EQ(error["data"]["code"], "file_too_large");
}

}  // namespace
}  // namespace imgpipe::gateway::routes::testing
