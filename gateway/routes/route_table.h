#pragma once
// The gateway's routes: every URL it answers is one row of route_table().

#include <vector>

#include "gateway/routes/route.h"

namespace imgpipe::gateway::routes {

std::vector<Route> route_table();

}  // namespace imgpipe::gateway::routes
