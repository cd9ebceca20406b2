#pragma once
// The viewer page at /{id}: Open Graph and Twitter card tags for sharing, the
// image with a srcset of the s/m/l variants, its dimensions, format and
// size, download links and copy fields (gateway/pages/ layout). Every user
// string is escaped.

#include <string>
#include <string_view>

#include "gateway/gateway_config.h"
#include "schemas/messages.h"

namespace imgpipe::gateway {

std::string html_escape(std::string_view text);
std::string viewer_page(const GatewayConfig& config, const schemas::ImageRecord& record);

}  // namespace imgpipe::gateway
