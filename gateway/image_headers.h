#pragma once
// Headers that make user content inert wherever it is opened (Google's
// guidance on hosting user content; imgproxy sets the same).

#include "gateway/http/http_types.h"

namespace imgpipe::gateway {

// On every image answer (originals, variants, on-demand renders, 304s):
// - Content-Security-Policy "default-src 'none'; sandbox": a file that a
//   browser renders as a document anyway (an SVG or HTML polyglot, an old
//   browser ignoring the type) runs no script, loads nothing, and gets an
//   opaque origin, so it cannot read cookies or storage of the image host.
//   An <img> or CSS background of it is unaffected: CSP of an image response
//   applies only when it is opened as a document.
// - X-Content-Type-Options "nosniff": the browser keeps the declared
//   image/* type (set by the caller from the decoded format only).
void image_security_headers(Response& r);

}  // namespace imgpipe::gateway
