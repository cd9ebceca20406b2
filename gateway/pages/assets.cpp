#include "gateway/pages/assets.h"

#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace imgpipe::gateway::pages {
namespace {

std::string content_type_of(std::string_view name) {
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// FNV-1a: a cache key, not a defence; the bytes are ours.
std::string version_of(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

const std::vector<Asset>& assets() {
  static const std::vector<Asset> all = [] {
    std::vector<Asset> out;
    for (const auto& f : embedded_files()) out.push_back({f.name, f.bytes, content_type_of(f.name), version_of(f.bytes)});
    return out;
  }();
  return all;
}

}  // namespace

const Asset* find_asset(std::string_view name) {
  for (const auto& a : assets())
    if (a.name == name) return &a;
  return nullptr;
}

std::string asset_path(std::string_view name) {
  const auto* a = find_asset(name);
  if (!a) throw std::logic_error("no embedded asset " + std::string(name));
  return "/assets/" + a->version + "/" + std::string(name);
}

}  // namespace imgpipe::gateway::pages
