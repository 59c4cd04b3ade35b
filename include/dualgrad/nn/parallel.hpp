#pragma once
/// \file
/// `parallel_for`: how the CPU engine spreads work over `ExecContext::threads` workers.
///
/// Work runs on one persistent process-wide pool (threads are started once, on first use, and
/// joined at exit); the calling thread takes part, so `threads = 2` starts one helper. Tasks are
/// handed out one index at a time from a shared counter, so uneven tasks balance themselves.
/// A `parallel_for` called from inside another one (or while another thread of the program holds
/// the pool) runs inline on the calling thread: nesting never deadlocks.
///
/// Results never depend on the thread count as long as each task's arithmetic does not depend on
/// which thread runs it: the layers split their work into tasks by the problem size only.
///
///     dualgrad::nn::parallel_for(0, n, ctx, [&](std::int64_t i) { out[i] = f(in[i]); });

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "dualgrad/nn/layer.hpp"

namespace dualgrad::nn {
namespace detail {

/// True on pool threads, and on a calling thread while it runs its share of a parallel region.
inline thread_local bool in_parallel_region = false;

/// A fixed set of helper threads that run one job at a time alongside the calling thread.
class ThreadPool {
public:
    static ThreadPool& instance() {
        static ThreadPool pool;
        return pool;
    }

    ThreadPool() = default;
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool() {
        {
            std::lock_guard lk(m_);
            stop_ = true;
        }
        work_cv_.notify_all();
        for (auto& t : workers_) t.join();
    }

    /// Runs `job` on the calling thread and on `helpers` pool threads at once; returns when every
    /// copy has returned. `job` must not throw. When the pool is busy (another thread of the
    /// program is inside `run`), `job` runs on the calling thread only.
    void run(int helpers, const std::function<void()>& job) {
        std::unique_lock run_lock(run_mutex_, std::try_to_lock);
        if (helpers <= 0 || !run_lock.owns_lock()) {
            run_here(job);
            return;
        }
        {
            std::lock_guard lk(m_);
            while (static_cast<int>(workers_.size()) < helpers) {
                const int idx = static_cast<int>(workers_.size());
                const std::uint64_t seen = generation_;
                workers_.emplace_back([this, idx, seen] { loop(idx, seen); });
            }
            job_ = &job;
            active_ = helpers;
            pending_ = helpers;
            ++generation_;
        }
        work_cv_.notify_all();
        run_here(job);
        std::unique_lock lk(m_);
        done_cv_.wait(lk, [this] { return pending_ == 0; });
        job_ = nullptr;
    }

private:
    static void run_here(const std::function<void()>& job) {
        const bool was = in_parallel_region;
        in_parallel_region = true;
        job();
        in_parallel_region = was;
    }

    void loop(int idx, std::uint64_t seen) {
        in_parallel_region = true; // a pool thread never opens a nested region
        for (;;) {
            std::unique_lock lk(m_);
            work_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            if (idx >= active_) continue;
            const std::function<void()>* job = job_;
            lk.unlock();
            (*job)();
            lk.lock();
            if (--pending_ == 0) done_cv_.notify_one();
        }
    }

    std::mutex run_mutex_; // held by the one caller whose job the pool runs
    std::mutex m_;
    std::condition_variable work_cv_, done_cv_;
    std::vector<std::thread> workers_;
    const std::function<void()>* job_ = nullptr;
    std::uint64_t generation_ = 0;
    int active_ = 0;
    int pending_ = 0;
    bool stop_ = false;
};

/// Per-thread scratch memory: at least `count` elements of T that stay valid until the next call
/// with the same `slot` on the same thread. Avoids allocating in the layers' inner loops.
template <class T>
[[nodiscard]] T* scratch(int slot, std::size_t count) {
    thread_local std::vector<T> buffers[4];
    auto& b = buffers[slot];
    if (b.size() < count) b.resize(count);
    return b.data();
}

} // namespace detail

/// Calls `fn(i)` for every i in [begin, end) on up to `ctx.threads` threads (the caller included)
/// and returns when all calls have returned. The order of the calls is unspecified; the first
/// exception thrown by `fn` is rethrown here (the remaining indices are then skipped).
/// `threads = 1`, a single index, or a call from inside a parallel region runs inline, in order.
template <class Fn>
void parallel_for(std::int64_t begin, std::int64_t end, const ExecContext& ctx, Fn&& fn) {
    const std::int64_t count = end - begin;
    if (count <= 0) return;
    const auto threads = static_cast<int>(std::min<std::int64_t>(std::max(1, ctx.threads), count));
    if (threads == 1 || detail::in_parallel_region) {
        for (std::int64_t i = begin; i < end; ++i) fn(i);
        return;
    }
    std::atomic<std::int64_t> next{begin};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    const std::function<void()> job = [&] {
        for (;;) {
            if (failed.load(std::memory_order_relaxed)) return;
            const std::int64_t i = next.fetch_add(1, std::memory_order_relaxed);
            if (i >= end) return;
            try {
                fn(i);
            } catch (...) {
                std::lock_guard lk(error_mutex);
                if (!error) error = std::current_exception();
                failed.store(true, std::memory_order_relaxed);
            }
        }
    };
    detail::ThreadPool::instance().run(threads - 1, job);
    if (error) std::rethrow_exception(error);
}

/// Splits [begin, end) into consecutive chunks of `grain` indices (the last may be shorter) and
/// calls `fn(lo, hi)` for each chunk, in parallel as `parallel_for` does. The chunks depend on
/// `grain` only, never on the thread count.
template <class Fn>
void parallel_for_chunks(std::int64_t begin, std::int64_t end, std::int64_t grain, const ExecContext& ctx, Fn&& fn) {
    if (end <= begin) return;
    grain = std::max<std::int64_t>(1, grain);
    const std::int64_t chunks = (end - begin + grain - 1) / grain;
    parallel_for(0, chunks, ctx, [&](std::int64_t k) {
        const std::int64_t lo = begin + k * grain;
        fn(lo, std::min(end, lo + grain));
    });
}

} // namespace dualgrad::nn
