#pragma once
// The HTML pages people use: the upload page (/), the key page (/keys), the
// plans (/plans), the verification link's answer and the shared layout. The
// pages load only this origin's scripts and styles (assets.h) under a strict
// Content-Security-Policy: no inline script or style, no framing. The
// viewer page (/{id}) is gateway/viewer_page.cpp, on the same layout.

#include <string>
#include <string_view>
#include <vector>

#include "gateway/accounts/plans.h"
#include "gateway/gateway_config.h"
#include "gateway/http/http_types.h"

namespace imgpipe::gateway::pages {

// A page answer: HTML with the security headers every page carries (CSP,
// frame-ancestors and X-Frame-Options, nosniff, Referrer-Policy). Images
// may come from the src origin (--src-url) as well as this one.
Response page_response(const GatewayConfig& config, int status, std::string html);

// The document around a page's <main>: head, stylesheet, navigation, the
// named scripts (deferred). `main_attrs` are attributes of <main> (data the
// scripts read, already escaped).
std::string layout(std::string_view title, std::string_view main_html, const std::vector<std::string_view>& scripts = {},
                   std::string_view main_attrs = {}, std::string_view head_extra = {});

// "20 MB", "5 GB", "1.5 KB": sizes as the plans state them.
std::string human_bytes(uint64_t bytes);

std::string upload_page(const GatewayConfig& config, const accounts::TierConfig& tiers);
std::string keys_page(const GatewayConfig& config, const accounts::TierConfig& tiers);
std::string plans_page(const accounts::TierConfig& tiers);
// An error as a page, for a browser that followed a link to a missing
// image or page: the error table's status and message, a way home.
Response error_page(const GatewayConfig& config, const schemas::Error& error);

// A short page that says what happened and what to do next (a link).
std::string message_page(std::string_view title, std::string_view text, std::string_view next_label,
                         std::string_view next_href);

}  // namespace imgpipe::gateway::pages
