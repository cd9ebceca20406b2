#include "gateway/gateway.h"

#include "gateway/routes/route_table.h"

namespace imgpipe::gateway {

Gateway::Gateway(GatewayConfig config, storage::Bus& bus, storage::ImageIndex& index, storage::BlobStore& blobs,
                 accounts::AccountsService& accounts)
    : config_(std::move(config)),
      accounts_(accounts),
      events_(bus, index),
      ingest_(config_, bus, events_),
      src_(config_, index, blobs),
      images_(config_, bus, index, events_),
      idempotency_(accounts.config().token_secret, index),
      retention_(config_, bus, index, blobs, accounts.ledger(),
                 [this] { return accounts_.ready() && ready(); },
                 [this](const std::string& owner) { return accounts_.owner_is_permanent(owner); }),
      services_{config_, accounts, index, blobs, ingest_, src_, images_, idempotency_, calls_, [this] { return ready(); }},
      router_(routes::route_table(), services_) {
  services_.api = &router_;
  events_.set_observer([a = &accounts_](const schemas::ImageEvent& event) { a->observe(event); });
}

Gateway::~Gateway() { stop(); }

void Gateway::start() {
  accounts_.start();
  events_.start();
  retention_.start();
}

void Gateway::stop() {
  calls_.stop();  // the MCP messages taken are answered (or wait for their outcome like any create)
  retention_.stop();
  events_.stop();
  accounts_.stop();
}

}  // namespace imgpipe::gateway
