#include "gateway/api_responses.h"

#include <nlohmann/json.hpp>

#include "gateway/image_ids.h"

namespace imgpipe::gateway {

std::string viewer_url(const GatewayConfig& config, const std::string& id) { return config.public_url + "/" + id; }

std::string src_url(const GatewayConfig& config, const schemas::ImageRecord& record, const std::string& format) {
  return config.image_base() + "/" + src_prefix(record.id) + "/" + record.id + "." +
         (format.empty() ? record.format : format);
}

std::string upload_response(const GatewayConfig& config, const schemas::ImageRecord& record, bool anonymous) {
  nlohmann::json body = {
      {"id", record.id},           {"name", record.name},       {"url", viewer_url(config, record.id)},
      {"src", src_url(config, record)}, {"width", record.width}, {"height", record.height},
      {"filesize", record.filesize}};
  if (anonymous) {
    body["expires_at"] = record.expires_at;
    body["created_at"] = record.created_at;
    body["upgrade"] = {{"type", "register"},
                       {"url", config.upgrade_link()},
                       {"message", "Get an API key for permanent storage and 100 uploads/month"},
                       {"label", "Create API Key"}};
  } else {
    body["editable"] = true;
    body["tags"] = record.tags;
    body["namespace"] = record.ns;
    if (record.expires_at) body["expires_at"] = record.expires_at;
    body["created_at"] = record.created_at;
  }
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace imgpipe::gateway
