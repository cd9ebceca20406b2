#include "gateway/docs/reference.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "gateway/docs/route_docs.h"
#include "gateway/mcp/mcp_server.h"
#include "gateway/mcp/mcp_tools.h"
#include "gateway/viewer_page.h"
#include "schemas/api_schemas.h"
#include "schemas/errors.h"

namespace imgpipe::gateway::docs {
namespace {

using B = Block;

std::string method_name(routes::Method m) {
  switch (m) {
    case routes::GET: return "GET";
    case routes::POST: return "POST";
    case routes::PUT: return "PUT";
    case routes::PATCH: return "PATCH";
    case routes::DELETE: return "DELETE";
  }
  return "";
}

std::string mb(uint64_t bytes) { return std::to_string(bytes >> 20) + " MB"; }

std::string access_text(Access a) {
  switch (a) {
    case Access::anyone: return "anonymous or with a key";
    case Access::key_read: return "a key (read)";
    case Access::key_write: return "a key (write)";
  }
  return "";
}

// "curl ..." for one route, from its entry.
std::string curl_example(const RouteDoc& d, std::string_view base) {
  std::string path = d.path;
  auto fill = [&](const std::string& name, const std::string& value) {
    if (auto at = path.find("{" + name + "}"); at != std::string::npos) path.replace(at, name.size() + 2, value);
  };
  fill("prefix", "ab");
  fill("id", "IMAGE_ID");
  fill("ext", "webp");
  std::string cmd = "curl";
  if (d.method != routes::GET) cmd += " -X " + method_name(d.method);
  if (d.access != Access::anyone) cmd += " -H \"Authorization: Bearer $IMGPIPE_KEY\"";
  for (const auto& b : d.bodies) {
    std::string_view type = b.content_type;
    if (type == "multipart/form-data") cmd += " -F file=@photo.jpg";
    else if (std::string_view(b.schema) == "KeyRequest") cmd += " -H 'Content-Type: application/json' -d '{\"email\":\"you@example.com\"}'";
    else cmd += " -H 'Content-Type: application/json' -d '{\"url\":\"https://example.com/photo.jpg\"}'";
    break;
  }
  return cmd + " " + std::string(base) + path;
}

std::string fields_of(const std::string& schema_name) {
  const auto& all = schemas::api_schemas();
  if (!all.contains(schema_name)) return "";
  const auto& s = all[schema_name];
  std::string out;
  if (!s.contains("properties")) return out;
  auto required = s.value("required", nlohmann::json::array());
  for (const auto& [name, p] : s["properties"].items()) {
    bool req = std::find(required.begin(), required.end(), name) != required.end();
    std::string type = p.contains("type") ? p["type"].dump() : p.contains("$ref") ? p["$ref"].get<std::string>().substr(21)
                                                                                  : p.contains("const") ? p["const"].dump() : "any";
    out += "  " + name + (req ? "" : " (optional)") + ": " + type;
    if (p.contains("description")) out += " - " + p["description"].get<std::string>();
    out += "\n";
  }
  return out;
}

Page quick_start(std::string_view base) {
  std::string b(base);
  return {"", "Quick start", "Upload an image and get its URLs in one request; no account needed.",
          {{B::para, "imgpipe is a self-hosted image host that speaks the img.pro API. Upload anonymously, or create "
                     "a key for permanent storage and your own image list.", ""},
           {B::code, "curl -F file=@photo.jpg " + b + "/v1/upload", ""},
           {B::para, "The answer carries `url` (the viewer page) and `src` (the file). Change `src`'s extension for "
                     "another format, add ?size=s|m|l for a smaller size or ?size=social for a 1200x630 "
                     "link-preview card.", ""},
           {B::para, "Machine-readable: " + b + "/openapi.json (OpenAPI 3.1), " + b + "/llms.txt and " + b +
                         "/llms-full.txt.", ""}}};
}

Page api_reference(std::string_view base) {
  Page p{"api", "API reference", "Every endpoint: what it takes, what it answers, its errors.", {}};
  for (const auto& d : route_docs()) {
    if (!d.published) continue;
    std::string head = method_name(d.method) + " " + d.path;
    p.blocks.push_back({B::heading, head + ": " + d.summary, d.operation_id});
    if (*d.description) p.blocks.push_back({B::para, d.description, ""});
    p.blocks.push_back({B::para, "Who: " + access_text(d.access) + ".", ""});
    p.blocks.push_back({B::code, curl_example(d, base), ""});
    for (const auto& param : d.params)
      p.blocks.push_back({B::item, std::string(param.in) + " parameter " + param.name +
                                       (param.required ? "" : " (optional)") + ": " + param.description, ""});
    for (const auto& b : d.bodies)
      p.blocks.push_back({B::code, "Body (" + std::string(b.content_type) + "), " + b.schema + ":\n" + fields_of(b.schema), ""});
    for (const auto& a : d.answers) {
      std::string text = std::to_string(a.status) + ": " + a.description;
      std::string_view schema = a.schema;
      if (!schema.empty() && schema != "binary") text += " (" + std::string(schema) + ")\n" + fields_of(a.schema);
      p.blocks.push_back({B::code, text, ""});
    }
    std::string codes;
    for (auto c : d.errors) codes += (codes.empty() ? "" : ", ") + std::string(schemas::error_info(c).code);
    if (!codes.empty()) p.blocks.push_back({B::para, "Errors: " + codes + " (see the error reference).", ""});
  }
  return p;
}

Page error_page() {
  Page p{"errors", "Error reference",
         "Every error has a stable code, an HTTP status and an action. Shape B bodies: {\"error\": code, "
         "\"message\", \"action\": {\"type\", \"label\", \"seconds\"?, \"url\"?}}; shape C bodies nest it: "
         "{\"error\": {\"type\", \"code\", \"message\", \"action\"?}}, whose action is wait (retryable), "
         "upgrade (a key holder) or signup (a caller without a key: register and upgrade both become signup), "
         "with a url. Retryable errors carry Retry-After.",
         {}};
  for (const auto& e : schemas::error_table()) {
    std::string code(e.code);
    std::string anchor = code + "-" + std::to_string(e.http_status);
    p.blocks.push_back({B::heading, code + " (HTTP " + std::to_string(e.http_status) + ")", anchor});
    p.blocks.push_back({B::para, std::string(e.message), ""});
    p.blocks.push_back({B::item, "action: " + std::string(schemas::action_name(e.action)) + ": " +
                                     std::string(e.action_label), ""});
    p.blocks.push_back({B::item, "shape C type: " + std::string(e.type), ""});
    p.blocks.push_back({B::item, std::string("retry: ") + (e.retryable ? "yes, after Retry-After seconds" : "no"), ""});
  }
  return p;
}

Page keys_page(std::string_view base, const accounts::TierConfig& tiers) {
  std::string b(base);
  Page p{"keys", "Authentication and keys",
         "Anonymous callers may create; a key lists, reads and deletes its own images.",
         {{B::code, "curl -H 'Content-Type: application/json' -d '{\"email\":\"you@example.com\"}' " + b + "/v1/keys", ""},
          {B::para, "The answer's `key` is shown once. Send it as `Authorization: Bearer KEY`. Open the link mailed "
                    "to you to verify the address: until then uploads expire after " +
                        std::to_string(tiers.unverified_retention_days) + " days.", ""},
          {B::heading, "Tiers (this server's configuration)", "tiers"},
          {B::item, "anonymous: " + std::to_string(tiers.anonymous.uploads_per_hour) + " uploads/hour and " +
                        std::to_string(tiers.anonymous.uploads_per_day) + "/day per IP, files up to " +
                        mb(tiers.anonymous.max_file_bytes) + ", kept " +
                        std::to_string(tiers.anonymous.retention_days) + " days", ""}}};
  for (const auto& [name, plan] : tiers.plans)
    p.blocks.push_back({B::item, name + (name == tiers.default_plan ? " (new keys)" : "") + ": " +
                                     std::to_string(plan.uploads_per_month) + " uploads/month, " +
                                     mb(plan.storage_bytes) + " storage, files up to " + mb(plan.max_file_bytes), ""});
  return p;
}

Page formats_page(std::string_view base) {
  return {"formats", "Sizes and formats", "Every image is served in several formats and sizes from its src URL.",
          {{B::para, "Uploads may be JPEG, PNG, WebP, GIF, AVIF or HEIC. The src URL's extension picks the served "
                     "format: jpg, jpeg, png, webp, avif, or the original's (HEIC is served as jpg).", ""},
           {B::item, "?size=s: short edge 320 px", ""},
           {B::item, "?size=m: short edge 640 px", ""},
           {B::item, "?size=l: short edge 1080 px (never upscaled; the aspect ratio is kept)", ""},
           {B::item, "?size=social: a 1200x630 link-preview card, the picture contained and centred on white", ""},
           {B::item, "?format=webp (jpg, png, avif, gif): overrides the extension", ""},
           {B::item, "?w=800&h=600&fit=crop: a box and how the image fits it: scale-down (the default, never "
                     "enlarged), crop (fills and cuts, never enlarged), cover (fills and cuts, may enlarge), pad "
                     "(within, may enlarge, padded with white); w or h alone keeps the aspect ratio", ""},
           {B::item, "?brightness=, ?contrast=, ?gamma=, ?saturation=: multipliers 0-10 (1 changes nothing; "
                     "saturation=0 is grey); ?blur=: a radius 0-250 px; ?sharp=: a strength 0-10", ""},
           {B::para, "Parameters may come in any order; an invalid w, h, fit, format or adjustment is ignored (a "
                     "size other than s, m, l or social is 400). Sizes and formats are stored once made; a "
                     "rendition with w/h or adjustments is kept in memory only.", ""},
           {B::code, "curl -o small.webp '" + std::string(base) + "/ab/IMAGE_ID.webp?size=s'", ""},
           {B::code, "curl -o thumb.jpg '" + std::string(base) + "/ab/IMAGE_ID.jpg?w=200&h=200&fit=crop'", ""},
           {B::para, "Answers carry a strong ETag and Cache-Control: immutable; If-None-Match answers 304.", ""}}};
}

Page agents_page(std::string_view base) {
  std::string b(base);
  Page p{"agents", "Agents", "How an agent discovers and uses this server: the documents, and MCP at /mcp.",
         {{B::item, b + "/llms.txt: an overview with links", ""},
          {B::item, b + "/llms-full.txt: this whole reference in plain text", ""},
          {B::item, b + "/openapi.json: OpenAPI 3.1 of every public route, with the error codes of each", ""},
          {B::heading, "MCP (Model Context Protocol)", "mcp"},
          {B::para, "Connect an MCP client to " + b + "/mcp (Streamable HTTP, JSON-RPC 2.0, answers as plain "
                    "JSON, stateless: no session id, GET is 405). Protocol revisions: " + std::string(mcp::kModernVersion) +
                    " (server/discover, the version in every request's _meta) and " + mcp::kHandshakeVersions[0] +
                    " or " + mcp::kHandshakeVersions[1] + " (the initialize handshake).", ""},
          {B::para, "Authentication: send 'Authorization: Bearer KEY' on every request; without a key only the "
                    "create tools and image_url work (anonymous images expire). Limits are the API's: the tier's "
                    "file limit applies to base64 bytes once decoded, and the rate limits and quotas are the same. "
                    "A tool that fails answers isError with structuredContent.error: the error table's code, "
                    "HTTP status, message and action, and a link to its entry in the error reference.", ""},
          {B::code, "{\"mcpServers\": {\"imgpipe\": {\"type\": \"http\", \"url\": \"" + b +
                        "/mcp\", \"headers\": {\"Authorization\": \"Bearer $IMGPIPE_KEY\"}}}}", ""}}};
  for (const auto& tool : mcp::tool_list()) {
    std::string args;
    for (const auto& [name, schema] : tool["inputSchema"]["properties"].items()) args += (args.empty() ? "" : ", ") + name;
    p.blocks.push_back({B::item, "tool " + tool["name"].get<std::string>() + "(" + args + "): " +
                                     tool["description"].get<std::string>(), ""});
  }
  return p;
}

std::string page_path(const Page& p) { return p.slug.empty() ? "/docs" : "/docs/" + p.slug; }

std::string text_of(const Page& p) {
  std::string out = "## " + p.title + "\n\n" + p.summary + "\n\n";
  for (const auto& b : p.blocks) {
    switch (b.kind) {
      case B::para: out += b.text + "\n\n"; break;
      case B::code: out += "    " + [&] {
        std::string s;
        for (char c : b.text) s += c == '\n' ? std::string("\n    ") : std::string(1, c);
        return s;
      }() + "\n\n"; break;
      case B::item: out += "- " + b.text + "\n"; break;
      case B::heading: out += "\n### " + b.text + "\n\n"; break;
    }
  }
  return out + "\n";
}

}  // namespace

std::vector<Page> reference_pages(std::string_view base, const accounts::TierConfig& tiers) {
  return {quick_start(base), api_reference(base), error_page(), keys_page(base, tiers), formats_page(base),
          agents_page(base)};
}

std::string llms_txt(std::string_view base, const accounts::TierConfig& tiers) {
  std::string b(base);
  std::string out = "# imgpipe\n\n> A self-hosted image host that speaks the img.pro API: upload or import an "
                    "image, get a viewer page and a file URL in any size and format. Anonymous uploads expire; "
                    "keys keep images and list them.\n\n"
                    "Start with " + b + "/llms-full.txt (everything in one file) or " + b +
                    "/openapi.json (OpenAPI 3.1). Agents can also connect over MCP (Model Context Protocol, "
                    "Streamable HTTP) at " + b + "/mcp: see " + b + "/docs/agents#mcp.\n\n## Docs\n\n";
  for (const auto& p : reference_pages(base, tiers))
    out += "- [" + p.title + "](" + b + page_path(p) + "): " + p.summary + "\n";
  out += "\n## API\n\n";
  for (const auto& d : route_docs())
    if (d.published)
      out += "- [" + method_name(d.method) + " " + d.path + "](" + b + "/docs/api#" + d.operation_id + "): " +
             d.summary + "\n";
  out += "\n## Optional\n\n- [OpenAPI 3.1](" + b + "/openapi.json): machine-readable\n- [Full reference](" + b +
         "/llms-full.txt): plain text\n";
  return out;
}

std::string llms_full_txt(std::string_view base, const accounts::TierConfig& tiers) {
  std::string out = "# imgpipe: the complete reference\n\n";
  for (const auto& p : reference_pages(base, tiers)) out += text_of(p);
  return out;
}

Page error_reference_page() { return error_page(); }

std::string markdown_of(const Page& p) {
  std::string out = "# " + p.title + "\n\n" + p.summary + "\n";
  bool in_list = false;
  for (const auto& b : p.blocks) {
    if (b.kind != B::item) in_list = false;
    switch (b.kind) {
      case B::para: out += "\n" + b.text + "\n"; break;
      case B::code: out += "\n```\n" + b.text + "\n```\n"; break;
      case B::item:
        if (!in_list) out += "\n", in_list = true;
        out += "- " + b.text + "\n";
        break;
      case B::heading:
        // The HTML page's anchor, so a link to /docs/errors#code-status works here too.
        out += "\n<a id=\"" + b.anchor + "\"></a>\n\n## " + b.text + "\n";
        break;
    }
  }
  return out;
}

std::string error_reference_markdown() {
  return "<!-- Generated by `imgpipe errors` from schemas/errors.cpp: the page served at /docs/errors, in "
         "Markdown. tests/gateway/routes/reference_test.cpp keeps this file in step. -->\n" +
         markdown_of(error_reference_page());
}

namespace {

bool url_at(std::string_view text, size_t i) {
  return text.substr(i).starts_with("http://") || text.substr(i).starts_with("https://");
}

// A block's text as HTML: `code` spans and http(s) URLs (links) marked up,
// everything else escaped.
std::string inline_html(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '`') {
      if (auto end = text.find('`', i + 1); end != std::string_view::npos) {
        out += "<code>" + html_escape(text.substr(i + 1, end - i - 1)) + "</code>";
        i = end + 1;
        continue;
      }
    }
    if (url_at(text, i)) {
      size_t end = i;
      while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) && text[end] != ')' &&
             text[end] != ',' && text[end] != '`' && text[end] != '\'' && text[end] != '"')
        ++end;
      while (end > i && (text[end - 1] == '.' || text[end - 1] == ':')) --end;  // the sentence's, not the URL's
      auto url = html_escape(text.substr(i, end - i));
      out += "<a href=\"" + url + "\">" + url + "</a>";
      i = end;
      continue;
    }
    out += html_escape(text.substr(i, 1));
    ++i;
  }
  return out;
}

}  // namespace

std::optional<DocsHtml> docs_html(std::string_view slug, std::string_view base, const accounts::TierConfig& tiers) {
  auto pages = reference_pages(base, tiers);
  const Page* page = nullptr;
  for (const auto& p : pages)
    if (p.slug == slug) page = &p;
  if (!page) return std::nullopt;
  std::string nav;
  for (const auto& p : pages) nav += "<a href=\"" + page_path(p) + "\">" + html_escape(p.title) + "</a> ";
  nav += "<a href=\"/llms-full.txt\">llms-full.txt</a> <a href=\"/openapi.json\">openapi.json</a>";
  std::string body;
  bool in_list = false;
  for (const auto& b : page->blocks) {
    if (b.kind != B::item && in_list) body += "</ul>\n", in_list = false;
    switch (b.kind) {
      case B::para: body += "<p>" + inline_html(b.text) + "</p>\n"; break;
      case B::code: body += "<pre>" + html_escape(b.text) + "</pre>\n"; break;
      case B::item:
        if (!in_list) body += "<ul>\n", in_list = true;
        body += "<li>" + inline_html(b.text) + "</li>\n";
        break;
      case B::heading:
        body += "<h2 id=\"" + html_escape(b.anchor) + "\"><a href=\"#" + html_escape(b.anchor) + "\">" +
                html_escape(b.text) + "</a></h2>\n";
        break;
    }
  }
  if (in_list) body += "</ul>\n";
  return DocsHtml{page->title + " - imgpipe", "<nav class=\"docs-nav\" aria-label=\"Documentation\">" + nav +
                                                  "</nav>\n<h1>" + html_escape(page->title) + "</h1>\n<p>" +
                                                  inline_html(page->summary) + "</p>\n" + body};
}

}  // namespace imgpipe::gateway::docs
