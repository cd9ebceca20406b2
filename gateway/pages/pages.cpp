#include "gateway/pages/pages.h"

#include <fmt/format.h>

#include "gateway/http/error_response.h"
#include "gateway/pages/assets.h"
#include "gateway/viewer_page.h"

namespace imgpipe::gateway::pages {
namespace {

// "https://img.example.com" of "https://img.example.com/base": CSP sources are origins.
std::string origin_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  return url.substr(0, url.find('/', scheme + 3));
}

std::string max_file_of_keys(const accounts::TierConfig& tiers) {
  uint64_t most = 0;
  for (const auto& [name, plan] : tiers.plans) most = std::max(most, plan.max_file_bytes);
  return std::to_string(most ? most : tiers.plan(tiers.default_plan).max_file_bytes);
}

}  // namespace

Response page_response(const GatewayConfig& config, int status, std::string html) {
  auto r = Response::html(status, std::move(html));
  std::string images = "'self' blob:";
  if (auto src = origin_of(config.image_base()); !src.empty() && src != origin_of(config.public_url)) images += " " + src;
  r.set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + images +
                                       "; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                                       "frame-ancestors 'none'");
  r.set("X-Frame-Options", "DENY");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("Referrer-Policy", "no-referrer");  // page URLs may carry a verification token
  r.set("Cache-Control", "no-store");
  return r;
}

std::string human_bytes(uint64_t bytes) {
  static constexpr const char* units[] = {"bytes", "KB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) value /= 1024, ++unit;
  if (unit == 0) return std::to_string(bytes) + " bytes";
  return (value == static_cast<double>(static_cast<uint64_t>(value)) ? fmt::format("{:.0f}", value)
                                                                      : fmt::format("{:.1f}", value)) +
         " " + units[unit];
}

std::string layout(std::string_view title, std::string_view main_html, const std::vector<std::string_view>& scripts,
                   std::string_view main_attrs, std::string_view head_extra) {
  std::string script_tags;
  for (auto name : scripts) script_tags += "<script src=\"" + asset_path(name) + "\" defer></script>\n";
  return fmt::format(R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{0}</title>
<link rel="stylesheet" href="{1}">
<link rel="icon" href="{6}" type="image/svg+xml">
{2}{3}</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><nav aria-label="Site"><a class="brand" href="/">imgpipe</a> <a href="/">Upload</a> <a href="/keys">Get a key</a> <a href="/plans">Plans</a></nav></header>
<main id="main"{4}>
{5}
</main>
</body>
</html>
)",
                     html_escape(title), asset_path("site.css"), head_extra, script_tags,
                     main_attrs.empty() ? "" : " " + std::string(main_attrs), main_html, asset_path("icon.svg"));
}

std::string upload_page(const GatewayConfig& config, const accounts::TierConfig& tiers) {
  const auto& anon = tiers.anonymous;
  auto attrs = fmt::format(R"(data-max-anonymous="{}" data-max-key="{}")", anon.max_file_bytes, max_file_of_keys(tiers));
  auto main = fmt::format(R"(<h1>Upload images</h1>
<p>Drop images anywhere on this page, paste one from the clipboard, pick files or import from a URL. JPEG, PNG, WebP, GIF, AVIF or HEIC;
without a key up to <strong>{0}</strong> each, kept {1} days. <a href="/keys">Get a free API key</a> to keep them.</p>
<section class="panel drop" id="drop" aria-labelledby="pick-h">
<h2 id="pick-h" class="visually-hidden">Add images</h2>
<p class="drop-hint" aria-hidden="true">Drop images here, or paste with Ctrl+V</p>
<button type="button" id="pick" class="primary">Choose images…</button>
<input id="files" type="file" accept="image/*" multiple hidden>
<p class="limit" id="limit-note"></p>
<form id="import-form" class="row">
<label for="import-url">Import from a URL</label>
<input id="import-url" name="url" type="url" placeholder="https://example.com/photo.jpg" required>
<button type="submit">Import</button>
</form>
</section>
<div id="live" class="visually-hidden" aria-live="polite" aria-atomic="true"></div>
<section aria-labelledby="uploads-h">
<h2 id="uploads-h">Uploads</h2>
<p id="uploads-empty">Nothing uploaded yet in this tab.</p>
<ol id="uploads" class="items"></ol>
</section>
<section aria-labelledby="recent-h">
<h2 id="recent-h">Recent uploads</h2>
<p>Remembered in this browser only.</p>
<ol id="recent" class="thumbs"></ol>
<button type="button" id="clear-recent" hidden>Clear recent uploads</button>
</section>
<section aria-labelledby="key-h" class="panel">
<h2 id="key-h">API key (optional)</h2>
<p>With a key, uploads are yours: kept permanently once your email is verified, listed and deletable here. The key stays in this browser's storage.</p>
<form id="key-form" class="row">
<label for="api-key">API key</label>
<input id="api-key" type="password" autocomplete="off" spellcheck="false" placeholder="img_live_…">
<button type="submit">Save key</button>
<button type="button" id="forget-key">Forget key</button>
</form>
<p id="key-state" role="status"></p>
<div id="mine" hidden>
<h3>Your images</h3>
<button type="button" id="load-images">Show my images</button>
<p id="mine-state" role="status" tabindex="-1"></p>
<ol id="image-list" class="items"></ol>
</div>
</section>
<noscript><form method="post" action="/v1/upload" enctype="multipart/form-data"><label for="nojs-file">Image</label>
<input id="nojs-file" type="file" name="file" accept="image/*" required> <button>Upload</button></form></noscript>
<p class="small">With curl: <code>curl -F "file=@photo.jpg" {2}/v1/upload</code></p>)",
                          human_bytes(anon.max_file_bytes), anon.retention_days, html_escape(config.public_url));
  return layout("imgpipe: upload images", main, {"copy.js", "upload.js"}, attrs);
}

std::string keys_page(const GatewayConfig& config, const accounts::TierConfig& tiers) {
  const auto& plan = tiers.plan(tiers.default_plan);
  auto attrs = fmt::format(R"(data-public-url="{}")", html_escape(config.public_url));
  auto main = fmt::format(R"(<h1>Get an API key</h1>
<p>Free: {0} uploads a month, {1} of storage, files up to {2}. Uploads are kept {3} days until you verify your email, then permanently.
See <a href="/plans">all plans</a>.</p>
<form id="key-create" class="panel row">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required>
<button type="submit" class="primary">Create key</button>
</form>
<p id="key-error" class="error" role="alert"></p>
<section id="key-result" hidden aria-labelledby="key-result-h">
<h2 id="key-result-h" tabindex="-1">Your new key</h2>
<p><strong>It is shown only this once:</strong> copy it now and keep it somewhere safe.</p>
<div class="copyrow"><label for="new-key">API key</label><input id="new-key" readonly><button type="button" data-copy="new-key" aria-label="Copy API key">Copy</button></div>
<h3>What next</h3>
<ol>
<li>Check your email (<span id="key-email"></span>) and open the verification link: until then uploads expire after {3} days.</li>
<li>Send the key as <code>Authorization: Bearer …</code>, or paste it into the <a href="/">upload page</a>.</li>
</ol>
<p id="key-limits"></p>
<h3>Upload from the command line</h3>
<div class="copyrow"><label for="curl-line">curl</label><input id="curl-line" readonly><button type="button" data-copy="curl-line" aria-label="Copy curl">Copy</button></div>
<h3>ShareX</h3>
<p>Custom uploader for ShareX: download it and open it (or import it in Destinations → Custom uploader settings).</p>
<p><a id="sxcu-link" class="button" href="#" download="imgpipe.sxcu">Download imgpipe.sxcu</a></p>
<div class="copyrow"><label for="sxcu-text">Uploader JSON</label><textarea id="sxcu-text" readonly rows="8"></textarea><button type="button" data-copy="sxcu-text" aria-label="Copy Uploader JSON">Copy</button></div>
</section>)",
                          plan.uploads_per_month, human_bytes(plan.storage_bytes), human_bytes(plan.max_file_bytes),
                          tiers.unverified_retention_days);
  return layout("imgpipe: get an API key", main, {"copy.js", "keys.js"}, attrs);
}

std::string plans_page(const accounts::TierConfig& tiers) {
  const auto& anon = tiers.anonymous;
  std::string rows = fmt::format(
      "<tr><th scope=\"row\">Anonymous (no key)</th><td>{} an hour, {} a day per address</td><td>—</td><td>{} "
      "days</td><td>{}</td></tr>\n",
      anon.uploads_per_hour, anon.uploads_per_day, anon.retention_days, human_bytes(anon.max_file_bytes));
  for (const auto& [name, plan] : tiers.plans)
    rows += fmt::format(
        "<tr><th scope=\"row\">{}{}</th><td>{} a month</td><td>{}</td><td>permanent once your email is verified "
        "({} days before)</td><td>{}</td></tr>\n",
        html_escape(name), name == tiers.default_plan ? " (new keys)" : "", plan.uploads_per_month,
        human_bytes(plan.storage_bytes), tiers.unverified_retention_days, human_bytes(plan.max_file_bytes));
  auto main = "<h1>Plans</h1>\n<p>The limits this server enforces. <a href=\"/keys\">Get a free key</a>.</p>\n"
              "<div class=\"scroll\"><table>\n<caption class=\"visually-hidden\">Plans and their limits</caption>\n"
              "<thead><tr><th scope=\"col\">Plan</th><th scope=\"col\">Uploads</th><th scope=\"col\">Storage</th>"
              "<th scope=\"col\">Retention</th><th scope=\"col\">Max file</th></tr></thead>\n<tbody>\n" +
              rows + "</tbody></table></div>";
  return layout("imgpipe: plans", main);
}

Response error_page(const GatewayConfig& config, const schemas::Error& error) {
  const int status = error.info().http_status;
  auto title = status == 404 ? "Not found" : status < 500 ? "This request cannot be answered" : "Something went wrong";
  auto r = page_response(config, status, message_page(title, error.what(), "Go to the upload page", "/"));
  set_error_headers(r, error);
  return r;
}

std::string message_page(std::string_view title, std::string_view text, std::string_view next_label,
                         std::string_view next_href) {
  auto main = "<h1>" + html_escape(title) + "</h1>\n<p>" + html_escape(text) + "</p>\n<p><a class=\"button\" href=\"" +
              html_escape(next_href) + "\">" + html_escape(next_label) + "</a></p>";
  return layout(title, main);
}

}  // namespace imgpipe::gateway::pages
