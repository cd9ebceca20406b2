// Image files: the original and its variants, from the blob store or
// rendered on demand (gateway/src_service.h does the work).
#include "gateway/routes/handlers.h"

namespace imgpipe::gateway::routes {

void serve_src(Services& s, const Call& call) { s.src.handle(call.request, call.respond); }

}  // namespace imgpipe::gateway::routes
