#pragma once
// Image ids and the path prefix of their src URLs.

#include <string>
#include <string_view>

namespace imgpipe::gateway {

// 12 random base62 characters (~71 bits) from the OS's CSPRNG.
std::string new_image_id();
// True for ids this service could have issued (a cheap check before any lookup).
bool plausible_image_id(std::string_view id);
// Two base62 characters derived from the id: /{prefix}/{id}.{ext}. Spreads
// src URLs over path prefixes (CDN and filesystem friendly); a URL with the
// wrong prefix is a 404.
std::string src_prefix(std::string_view id);

}  // namespace imgpipe::gateway
