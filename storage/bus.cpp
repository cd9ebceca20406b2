#include "storage/bus.h"

#include <future>

namespace imgpipe::storage {

void Bus::publish_sync(const std::string& topic, std::string key, std::string value,
                       std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<std::optional<schemas::Error>>>();
  auto result = promise->get_future();
  publish(topic, std::move(key), std::move(value),
          [promise](std::optional<schemas::Error> err) { promise->set_value(std::move(err)); });
  if (result.wait_for(timeout) != std::future_status::ready)
    throw schemas::Error(schemas::ErrorCode::service_unavailable, "The message bus did not acknowledge in time.");
  if (auto err = result.get()) throw *err;
}

}  // namespace imgpipe::storage
