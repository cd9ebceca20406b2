#include "gateway/admin_backup.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "schemas/errors.h"
#include "schemas/log.h"
#include "storage/backup.h"
#include "storage/blob_store.h"
#include "schemas/untrusted_json.h"

namespace imgpipe::gateway {

using schemas::Error;
using schemas::ErrorCode;

Response admin_backup(const Request& request, storage::Db& db, const storage::BlobStore& blobs) {
  auto body = schemas::parse_untrusted_json(request.body);
  std::string to = body.is_object() ? body.value("to", "") : "";
  std::filesystem::path dir(to);
  if (to.empty() || !dir.is_absolute())
    throw Error(ErrorCode::invalid_field, "The field 'to' must be an absolute folder path.");
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !(std::filesystem::is_directory(dir, ec) && std::filesystem::is_empty(dir, ec)))
    throw Error(ErrorCode::invalid_field, "The folder 'to' must be absent or empty.");
  try {
    storage::backup::write_checkpoint(db, dir);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    log::error("backup_checkpoint_failed", {{"to", to}, {"error", e.what()}});
    throw Error(ErrorCode::service_unavailable, "The checkpoint could not be written.");
  }
  log::info("backup_checkpoint", {{"to", to}});
  return Response::json(200, nlohmann::json{{"index", (dir / "index").string()}, {"blob_root", std::filesystem::absolute(blobs.root()).string()}}.dump());
}

}  // namespace imgpipe::gateway
