// A small number for the calling thread: 0 for the first thread that asks, 1 for the next, and
// so on. Code that keeps per-thread shards of shared state picks its shard with it, so that
// threads running side by side (the network threads) each work in their own.
#pragma once

#include <atomic>

namespace patchbay {

inline unsigned thread_slot() {
    static std::atomic<unsigned> next{0};
    thread_local const unsigned mine = next.fetch_add(1, std::memory_order_relaxed);
    return mine;
}

}  // namespace patchbay
