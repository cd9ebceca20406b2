#pragma once

namespace imgpipe::ops {

// `imgpipe keys ls|set-plan|revoke`: talks to a running gateway's loopback
// admin API with the token in <data-dir>/admin.token.
int keys_command(int argc, char** argv);
// `imgpipe mail ls|show`: reads the outbox in <data-dir>/outbox.
int mail_command(int argc, char** argv);

}  // namespace imgpipe::ops
