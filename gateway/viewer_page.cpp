#include "gateway/viewer_page.h"

#include <fmt/format.h>

#include "gateway/api_responses.h"
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
  using workers::image::Dimensions;
  using workers::image::variant_dimensions;
  Dimensions source{record.width, record.height};
  auto dims = [&](const char* size) { return variant_dimensions(source, *workers::image::short_edge_for(size)); };
  // Browsers show every format we serve but HEIC: the page uses JPEG for it.
  std::string format = record.format == "heic" ? "jpeg" : record.format;
  std::string base = src_url(config, record, format);
  auto l = dims("l");
  std::string srcset;
  for (const char* size : {"s", "m", "l"})
    srcset += (srcset.empty() ? "" : ", ") + html_escape(base + "?size=" + size) + " " +
              std::to_string(dims(size).width) + "w";
  std::string title = html_escape(record.name.empty() ? record.id : record.name);
  std::string og_image = html_escape(base + "?size=l");
  std::string page_url = html_escape(viewer_url(config, record.id));
  return fmt::format(R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{0}</title>
<meta property="og:type" content="website">
<meta property="og:title" content="{0}">
<meta property="og:url" content="{1}">
<meta property="og:image" content="{2}">
<meta property="og:image:width" content="{3}">
<meta property="og:image:height" content="{4}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="{0}">
<meta name="twitter:image" content="{2}">
<style>
body{{margin:0;background:#111;color:#eee;font:16px system-ui,sans-serif;display:flex;flex-direction:column;align-items:center;min-height:100vh}}
main{{flex:1;display:flex;align-items:center;justify-content:center;padding:16px;box-sizing:border-box;width:100%}}
img{{max-width:100%;max-height:85vh;width:auto;height:auto;object-fit:contain}}
footer{{padding:12px;font-size:14px}} a{{color:#9cf}}
</style>
</head>
<body>
<main><img id="image" src="{5}" srcset="{6}" sizes="(max-width: 1080px) 100vw, 1080px" width="{3}" height="{4}" alt="{0}"></main>
<footer>{0} · {7}×{8} · <a href="{9}">original</a></footer>
</body>
</html>
)",
                     title, page_url, og_image, l.width, l.height, html_escape(base + "?size=m"), srcset,
                     record.width, record.height, html_escape(src_url(config, record)));
}

std::string upload_page(const GatewayConfig& config) {
  return R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imgpipe</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head>
<body><h1>imgpipe</h1>
<p>Upload an image (JPEG, PNG, WebP, GIF, AVIF, HEIC; up to 20 MB) and get a page URL and an image URL.</p>
<form method="post" action="/v1/upload" enctype="multipart/form-data">
<input type="file" name="file" accept="image/*" required> <button>Upload</button></form>
<p>Or with curl: <code>curl -F "file=@photo.jpg" )" +
         html_escape(config.public_url) + R"(/v1/upload</code></p></body></html>
)";
}

}  // namespace imgpipe::gateway
