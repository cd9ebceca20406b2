#pragma once
// What handlers work with: the gateway's services, by reference. The
// Gateway (gateway/gateway.h) owns them and hands this to the router;
// tests build a Gateway on a temp data dir and call handlers with it.

#include <functional>

#include "gateway/accounts/accounts_service.h"
#include "gateway/gateway_config.h"
#include "gateway/idempotency.h"
#include "gateway/image_catalog.h"
#include "gateway/ingest_client.h"
#include "gateway/src_service.h"
#include "storage/blob_store.h"
#include "storage/image_index.h"
#include "workers/task_pool.h"

namespace imgpipe::gateway::routes {

struct Services {
  const GatewayConfig& config;
  accounts::AccountsService& accounts;  // identity and limits
  storage::ImageIndex& index;
  storage::BlobStore& blobs;
  IngestClient& ingest;                 // uploads and imports: publish the job, wait for its outcome
  SrcService& src;                      // image files and on-demand variants
  ImageCatalog& images;                 // a key's own images: list, get, delete
  IdempotentCreates& idempotency;       // Idempotency-Key creates
  workers::TaskPool& calls;             // MCP messages: parsed and run off the I/O threads
  std::function<bool()> ready;          // the image index has caught up (/readyz)
  Handler* api = nullptr;               // the router itself: MCP tools call the API through it (gateway/mcp/)
};

}  // namespace imgpipe::gateway::routes
