#pragma once

namespace imgpipe::ops {

// imgpipe topics create|check (argv[0] == "topics").
int topics_command(int argc, char** argv);

}  // namespace imgpipe::ops
