#include "allocation.h"

namespace memory {

tessera::Result<uint64_t> share_spare_pages(uint64_t spare, const Claim* claims, size_t count, uint64_t* grants) {
  if (count > kMaxClaims) return tessera::Error::InvalidArgument;
  // Order the claims by (cost, index) with an insertion sort: at most kMaxClaims entries.
  size_t order[kMaxClaims];
  for (size_t i = 0; i < count; ++i) {
    size_t j = i;
    while (j > 0 && claims[order[j - 1]].cost > claims[i].cost) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = i;
    grants[i] = 0;
  }
  uint64_t left = spare;
  uint64_t total_cost = 0;
  for (size_t k = 0; k < count && left > 0; ++k) {
    const Claim& c = claims[order[k]];
    const uint64_t x = c.request < left ? c.request : left;
    grants[order[k]] = x;
    left -= x;
    total_cost += x * c.cost;
  }
  if (left > 0) return tessera::Error::RangeError;  // the requests do not add up to `spare`
  return total_cost;
}

}  // namespace memory
