#pragma once
// POST /admin/backup {"to": "/absolute/dir"}: the running server's half of
// `imgpipe backup`. It takes the RocksDB checkpoint (only this process may
// open the index) into <to>/index and answers where the blobs are; the
// command copies those itself, with progress (storage/backup.h). Reached
// through the loopback admin API, behind the admin token. Blocking: call it
// off the I/O threads.

#include "gateway/http/http_types.h"

namespace imgpipe::storage {
class Db;
class BlobStore;
}  // namespace imgpipe::storage

namespace imgpipe::gateway {

// {"index": "<to>/index", "blob_root": "..."}; 422 for a relative or non-empty `to`.
Response admin_backup(const Request& request, storage::Db& db, const storage::BlobStore& blobs);

}  // namespace imgpipe::gateway
