#pragma once
// Image names: what callers send or what their import URL implies, kept
// short and valid UTF-8 so every JSON document that carries them is writable.

#include <string>
#include <string_view>

namespace imgpipe::gateway {

bool valid_utf8(std::string_view s);
// Cleaned by the text rule (schemas/text_rules.h): valid UTF-8 without
// control or bidi characters, at most 255 bytes, cut at a character boundary.
void clamp_name(std::string& name);
// The default name of an import: the last segment of the URL's path,
// percent-decoded when that gives printable UTF-8 ("" if the path has none).
std::string name_from_url(const std::string& url);

}  // namespace imgpipe::gateway
