// The memory server's allocation model for contended memory (issue 14, item 5): when programs ask
// for more than is free, `spare` pages are shared out as x_i minimising sum(c_i * x_i) subject to
// sum(x_i) = spare and 0 <= x_i <= request_i, where c_i is a per-program cost weight a policy may
// set (a lower cost means a program is cheaper to give memory to) and request_i what it asked for
// above its guaranteed quota.
//
// This is a linear program whose constraint matrix is one equality row plus box constraints, so the
// greedy solution is exact: fill the requests in increasing order of cost, each up to its request,
// until the spare pages are used up. Ties go to the lower index (deterministic). Pure logic, used by
// the memory server and host-tested against brute force (tests/host/memory/).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>

namespace memory {

struct Claim {
  uint64_t request = 0;  // pages asked for above the guaranteed quota (R_i)
  uint64_t cost = 0;     // the policy's weight c_i: lower is served first
};

// Writes x_i to `grants[i]` for each of the `count` claims and returns the total cost. When the
// requests together are less than `spare`, the equality cannot hold: every request is granted in
// full and RangeError is returned (grants are still written: that is the best there is).
// InvalidArgument when count > kMaxClaims. Pages and costs are small numbers: their products and
// the total cost must fit in 64 bits.
constexpr size_t kMaxClaims = 64;
tessera::Result<uint64_t> share_spare_pages(uint64_t spare, const Claim* claims, size_t count, uint64_t* grants);

}  // namespace memory
