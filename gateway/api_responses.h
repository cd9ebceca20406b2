#pragma once
// The img.pro response bodies.

#include <string>

#include "gateway/gateway_config.h"
#include "schemas/messages.h"

namespace imgpipe::gateway {

std::string viewer_url(const GatewayConfig& config, const std::string& id);
std::string src_url(const GatewayConfig& config, const schemas::ImageRecord& record, const std::string& format = {});

// The 201 body of /v1/upload and /v1/import. Anonymous callers get the
// `upgrade` hint; key holders get editable, tags and namespace instead.
std::string upload_response(const GatewayConfig& config, const schemas::ImageRecord& record, bool anonymous);

}  // namespace imgpipe::gateway
