// libcurl callbacks the worker's transfers share: the checks' probes (worker/check_probes.cpp)
// and the deliveries (worker/notifier.cpp).
#pragma once

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <string>

namespace expense_ops::worker {

// CURLOPT_WRITEFUNCTION with a std::string* as CURLOPT_WRITEDATA: the answer's first `Limit`
// bytes are kept, the rest read and dropped, so that a large answer neither fails the transfer
// nor fills memory.
template <std::size_t Limit>
std::size_t keep_up_to(char* data, std::size_t size, std::size_t count, void* target) {
  auto& kept = *static_cast<std::string*>(target);
  const std::size_t bytes = size * count;
  if (kept.size() < Limit) {
    kept.append(data, std::min(bytes, Limit - kept.size()));
  }
  return bytes;
}

// CURLOPT_XFERINFOFUNCTION with a const std::atomic<bool>* (or nullptr) as CURLOPT_XFERINFODATA:
// the transfer ends, as aborted, once the flag is set.
inline int abort_when_set(void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* set = static_cast<const std::atomic<bool>*>(flag);
  return set != nullptr && set->load() ? 1 : 0;
}

}  // namespace expense_ops::worker
