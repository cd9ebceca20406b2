#include "gateway/viewer_page.h"

#include <fmt/format.h>

#include "gateway/api_responses.h"
#include "gateway/image_object.h"
#include "gateway/pages/pages.h"
#include "workers/image/sizes.h"

namespace imgpipe::gateway {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string viewer_page(const GatewayConfig& config, const schemas::ImageRecord& record) {
  auto dims = [&](const char* size) { return variant_size(record, size); };
  // Browsers show every format we serve but HEIC: the page uses JPEG for it.
  std::string format = record.format == "heic" ? "jpeg" : record.format;
  std::string base = src_url(config, record, format);
  std::string original = src_url(config, record);
  auto l = dims("l");
  std::string srcset;
  for (const char* size : {"s", "m", "l"})
    srcset += (srcset.empty() ? "" : ", ") + html_escape(base + "?size=" + size) + " " +
              std::to_string(dims(size).width) + "w";
  std::string name = record.name.empty() ? record.id : record.name;
  std::string title = html_escape(name);
  // Link previews (chat apps, social sites) show JPEG, PNG and WebP; AVIF and
  // HEIC images are shared as JPEG.
  const bool previewable = format == "jpeg" || format == "png" || format == "webp";
  std::string og_image = html_escape((previewable ? base : src_url(config, record, "jpeg")) + "?size=l");
  std::string page_url = viewer_url(config, record.id);
  auto head = fmt::format(R"(<meta property="og:type" content="website">
<meta property="og:site_name" content="imgpipe">
<meta property="og:title" content="{0}">
<meta property="og:url" content="{1}">
<meta property="og:image" content="{2}">
<meta property="og:image:width" content="{3}">
<meta property="og:image:height" content="{4}">
<meta property="og:image:alt" content="{0}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="{0}">
<meta name="twitter:image" content="{2}">
)",
                          title, html_escape(page_url), og_image, l.width, l.height);
  // ?download=1: the server names the file (Content-Disposition: attachment), which a
  // browser honours even where it ignores `download` (a separate image host, --src-url).
  std::string downloads = "<li><a href=\"" + html_escape(original + "?download=1") + "\" download>Original</a> (" +
                          std::to_string(record.width) + "×" + std::to_string(record.height) + ", " +
                          html_escape(record.format) + ")</li>";
  for (const char* size : {"s", "m", "l"}) {
    auto d = dims(size);
    downloads += fmt::format("<li><a href=\"{}\" download>Size {}</a> ({}×{})</li>", html_escape(base + "?size=" + size + "&download=1"),
                             size, d.width, d.height);
  }
  // One copy field: a label, the read-only text and a button (copy.js).
  auto field = [](const char* id, const char* label, const std::string& value) {
    return fmt::format(R"(<div class="copyrow"><label for="{0}">{1}</label><input id="{0}" readonly value="{2}">)"
                       R"(<button type="button" data-copy="{0}" aria-label="Copy {1}">Copy</button></div>)",
                       id, label, html_escape(value));
  };
  auto main = fmt::format(R"(<figure class="viewer"><img id="image" src="{0}" srcset="{1}" sizes="(max-width: 1080px) 100vw, 1080px" width="{2}" height="{3}" alt="{4}">
<figcaption><h1>{4}</h1></figcaption></figure>
<section class="panel" aria-labelledby="details-h">
<h2 id="details-h">Details</h2>
<dl class="facts"><dt>Dimensions</dt><dd>{5}×{6} pixels</dd><dt>Format</dt><dd>{7}</dd><dt>Size</dt><dd>{8}</dd></dl>
<h2>Download</h2>
<ul class="downloads">{9}</ul>
<h2>Share</h2>
{10}{11}{12}
</section>)",
                          html_escape(base + "?size=m"), srcset, l.width, l.height, title, record.width, record.height,
                          html_escape(record.format), pages::human_bytes(record.filesize), downloads,
                          field("page-url", "Page", page_url), field("image-url", "Image", original),
                          field("markdown", "Markdown", "![" + name + "](" + original + ")"));
  return pages::layout(name, main, {"copy.js"}, {}, head);
}

}  // namespace imgpipe::gateway
