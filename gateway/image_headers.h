#pragma once
// The headers of image answers: caching, and what makes user content inert
// wherever it is opened (Google's guidance on hosting user content; imgproxy
// sets the same), and the file name.

#include <string>
#include <string_view>

#include "gateway/http/http_types.h"

namespace imgpipe::gateway {

// On every image answer (originals, variants, on-demand renders, 304s),
// as Response::fixed_headers (static text: no allocation per request):
// - Cache-Control "public, max-age=31536000, immutable": an image URL always
//   answers the same bytes (one variant policy on every path; the ETag is
//   their hash).
// - Content-Security-Policy "default-src 'none'; sandbox": a file that a
//   browser renders as a document anyway (an SVG or HTML polyglot, an old
//   browser ignoring the type) runs no script, loads nothing, and gets an
//   opaque origin, so it cannot read cookies or storage of the image host.
//   An <img> or CSS background of it is unaffected: CSP of an image response
//   applies only when it is opened as a document.
// - X-Content-Type-Options "nosniff": the browser keeps the declared
//   image/* type (set by the caller from the decoded format only).
void image_answer_headers(Response& r);

// The one rule for Content-Disposition (RFC 6266 with RFC 8187 filename*):
//   attachment|inline; filename="ascii"; filename*=UTF-8''percent-encoded
// for the stored name of an image served as `ext`. The name is user text:
// it is cleaned (schemas/text_rules.h), loses path separators, quotes and
// the characters Windows refuses in file names, leading dots and its own
// image extension, and is cut to 100 bytes; `fallback` (the image id) is
// used when nothing is left. The ASCII `filename` replaces every other
// byte with '_' for clients that do not read filename*.
std::string content_disposition(bool attachment, std::string_view name, std::string_view fallback,
                                std::string_view ext);

}  // namespace imgpipe::gateway
