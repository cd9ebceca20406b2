#include "gateway/image_headers.h"

namespace imgpipe::gateway {

void image_security_headers(Response& r) {
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; sandbox");
}

}  // namespace imgpipe::gateway
