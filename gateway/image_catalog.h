#pragma once
// A key's own images, as the image routes see them: listed, read and
// deleted by owner. The owner always comes from the caller's key; another
// owner's image is "not there" exactly like one that never was.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/accounts/usage_ledger.h"
#include "gateway/gateway_config.h"
#include "schemas/errors.h"
#include "schemas/messages.h"
#include "storage/bus.h"
#include "storage/image_index.h"

namespace imgpipe::gateway {

struct ImageFilter {
  std::string ns;   // namespace; empty: any
  std::string tag;  // lowercased; empty: any
  size_t limit = 100;
};

class ImageCatalog {
 public:
  ImageCatalog(const GatewayConfig& config, storage::Bus& bus, storage::ImageIndex& index,
               accounts::UsageLedger& ledger);

  // The owner's live images, newest first.
  std::vector<schemas::ImageRecord> list(const std::string& owner, const ImageFilter& filter);
  // The image when it is live and the owner's.
  std::optional<schemas::ImageRecord> get(const std::string& owner, std::string_view id);
  // Publishes its `deleted` event; `done` gets the bus's error, if any.
  void remove(const std::string& id, std::function<void(std::optional<schemas::Error>)> done);

 private:
  const GatewayConfig& config_;
  storage::Bus& bus_;
  storage::ImageIndex& index_;
  accounts::UsageLedger& ledger_;
};

}  // namespace imgpipe::gateway
