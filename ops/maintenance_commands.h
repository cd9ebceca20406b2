#pragma once
// The operator's offline commands (docs/operations.md says when to use each).

namespace imgpipe::ops {

// imgpipe reindex: rebuild a gateway's index from the images topic.
int reindex_command(int argc, char** argv);
// imgpipe replay: re-run past ingest jobs through the pipeline.
int replay_command(int argc, char** argv);
// imgpipe backup: a consistent snapshot of a running server (index checkpoint + blobs).
int backup_command(int argc, char** argv);
// imgpipe restore: a backup into a new data dir.
int restore_command(int argc, char** argv);
// imgpipe blobs migrate: a folder blob store into an S3 store, verified and resumable.
int blobs_command(int argc, char** argv);

}  // namespace imgpipe::ops
