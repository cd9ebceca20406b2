#pragma once
// The one function that turns any failure into an HTTP response.

#include <exception>
#include <string>

#include "gateway/http/http_types.h"
#include "schemas/errors.h"

namespace imgpipe::gateway {

Response error_response(const schemas::Error& error, const std::string& upgrade_url = {});
// Unknown exceptions become 500 internal_error; they are logged, never shown.
Response error_response(const std::exception& unknown, const std::string& request_id);

}  // namespace imgpipe::gateway
