#pragma once
// The pages' scripts and styles (gateway/pages/assets/), embedded into the
// binary at build time (embed_assets.cmake) and served from
// /assets/{version}/{file}: the version is the file's ETag, so a page always
// links the bytes it was built with and browsers may cache them for good.

#include <string>
#include <string_view>
#include <vector>

namespace imgpipe::gateway::pages {

struct EmbeddedFile {
  std::string_view name;   // "upload.js"
  std::string_view bytes;
};
// Generated: every file of gateway/pages/assets/.
const std::vector<EmbeddedFile>& embedded_files();

struct Asset {
  std::string_view name;
  std::string_view bytes;
  std::string content_type;
  std::string version;  // a hash of the bytes: the ETag and the path's {version}
};
// The asset named `name`, or nullptr.
const Asset* find_asset(std::string_view name);
// "/assets/<version>/<name>" for a page to link; throws std::logic_error for an unknown name.
std::string asset_path(std::string_view name);

}  // namespace imgpipe::gateway::pages
