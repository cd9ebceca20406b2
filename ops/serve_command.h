#pragma once

namespace imgpipe::ops {

// `imgpipe serve|gateway|worker`: runs until SIGTERM/SIGINT, then drains.
// SIGUSR1 pauses the workers (jobs wait on the bus), SIGUSR2 resumes them.
int serve_command(const char* command, int argc, char** argv);

}  // namespace imgpipe::ops
