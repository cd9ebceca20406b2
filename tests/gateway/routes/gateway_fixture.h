#pragma once
// A whole gateway on a temp data dir (real RocksDB, the embedded bus, a
// blob store), not started unless a test says so, and a way to run one
// request through its router or one handler directly, without a socket.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>

#include "gateway/gateway.h"
#include "storage/embedded_bus.h"
#include "tests/storage/temp_dir.h"

namespace imgpipe::gateway::routes::testing {

class GatewayFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = storage::Db::open(dir_.path() / "index");
    bus_ = storage::make_embedded_bus(*db_);
    index_ = std::make_unique<storage::ImageIndex>(*db_);
    blobs_ = std::make_unique<storage::BlobStore>(dir_.path());
    config_.public_url = "http://gw.test";
    accounts::AccountsConfig ac;
    ac.token_secret = std::string(40, 's');
    ac.admin_token = "admin-token-for-tests";
    ac.mail.outbox = dir_.path() / "outbox";
    ac.tiers.anonymous.max_file_bytes = 1 << 20;  // 1 MB: the tier table is the only source of this limit
    customise(ac);
    accounts_ = std::make_unique<accounts::AccountsService>(ac, config_, *bus_, *db_, *index_);
    gateway_ = std::make_unique<Gateway>(config_, *bus_, *index_, *blobs_, *accounts_);
  }
  void TearDown() override {
    gateway_.reset();
    accounts_.reset();
    index_.reset();
    bus_.reset();
    db_.reset();
  }
  virtual void customise(accounts::AccountsConfig&) {}

  static Request request(std::string method, std::string path, std::string body = {}) {
    Request r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.target = r.path;
    r.body = std::move(body);
    r.peer_ip = "203.0.113.7";
    r.request_id = "test";
    return r;
  }

  // Waits for the one answer (handlers may answer from another thread).
  static Response wait(std::future<Response>& answer) {
    if (answer.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "no answer";
      return {};
    }
    return answer.get();
  }

  // Through the router: dispatch, 404/405, HEAD and error rendering included.
  Response route(Request r) {
    auto promise = std::make_shared<std::promise<Response>>();
    auto answer = promise->get_future();
    gateway_->router().handle(std::move(r), [promise](Response resp) { promise->set_value(std::move(resp)); });
    return wait(answer);
  }

  // One handler, called directly; a thrown schemas::Error is returned as its code.
  struct Outcome {
    std::optional<Response> response;
    std::optional<schemas::ErrorCode> thrown;
  };
  Outcome call(HandlerFn handler, const Request& r, const PathParams& params = {}) {
    auto promise = std::make_shared<std::promise<Response>>();
    auto answer = promise->get_future();
    Request request = r;  // a handler may move its body out
    Call c{request, params, [promise](Response resp) { promise->set_value(std::move(resp)); }, {ApiFamily::shape_b, {}}};
    try {
      handler(gateway_->services(), c);
    } catch (const schemas::Error& e) {
      return {std::nullopt, e.id()};
    }
    return {wait(answer), std::nullopt};
  }

  static std::string header(const Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return {};
  }

  storage::testing::TempDir dir_;
  GatewayConfig config_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<storage::Bus> bus_;
  std::unique_ptr<storage::ImageIndex> index_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<accounts::AccountsService> accounts_;
  std::unique_ptr<Gateway> gateway_;
};

}  // namespace imgpipe::gateway::routes::testing
