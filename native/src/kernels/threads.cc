// The engine's one persistent thread pool: parallel_for with static, deterministic chunking (parallel_for_dynamic:
// indices handed to whichever thread is free, for bodies whose results do not depend on who runs them), nested calls
// run serially, exceptions from any chunk are rethrown on the caller. GEMMs are split into row / column slabs over this
// pool (parallel_gemm_blocks) and each slab runs single-threaded in OpenBLAS or oneDNN, so the process has one set
// of worker threads: no OpenBLAS or OpenMP threads spinning against ours on a 2-core machine.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#include "kernels/kernels.h"
#include "kernels/threads_internal.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PEFT_CPU_RELAX() _mm_pause()
#else
#define PEFT_CPU_RELAX() ((void)0)
#endif
#ifdef PEFT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace peft::kern {

namespace {

thread_local bool tl_in_parallel = false; // set on pool workers and on a caller while it dispatches

// Profiling counters (nanoseconds): workers' time inside chunks, the caller's wait for workers after its own chunk.
std::atomic<long long> g_busy_ns{0}, g_wait_ns{0}, g_regions{0};
inline long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Pool {
 public:
  explicit Pool(int n) : n_(n < 1 ? 1 : n) {
    for (int w = 1; w < n_; w++) workers_.emplace_back([this, w] { worker_loop(w); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_start_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return n_; }

  // dynamic: short runs of indices handed to whichever thread is free (parallel_for_dynamic) instead of one
  // contiguous chunk per thread.
  void run(int n, const std::function<void(int, int)>& fn, bool dynamic = false) {
    std::lock_guard<std::mutex> dispatch(dispatch_); // one parallel_for at a time across caller threads
    const int chunks = n < n_ ? n : n_;
    error_ = nullptr;
    {
      std::lock_guard<std::mutex> g(m_); // the job and its generation change together
      job_ = &fn;
      job_n_ = n;
      job_chunks_ = chunks;
      job_dynamic_ = dynamic;
      next_.store(0, std::memory_order_relaxed);
      pending_.store(chunks - 1);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_start_.notify_all();
    tl_in_parallel = true;
    if (dynamic)
      run_dynamic(&fn, n);
    else
      run_chunk(&fn, n, chunks, 0);
    tl_in_parallel = false;
    g_regions.fetch_add(1, std::memory_order_relaxed);
    const long long w0 = now_ns();
    // Wait for the other chunks: spin briefly (they are usually about as long as ours), then sleep.
    for (int i = 0; i < 4000 && pending_.load(std::memory_order_acquire) != 0; i++) PEFT_CPU_RELAX();
    if (pending_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> g(m_);
      cv_done_.wait(g, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    g_wait_ns.fetch_add(now_ns() - w0, std::memory_order_relaxed);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_chunk(const std::function<void(int, int)>* fn, int n, int chunks, int c) {
    const int b = (int)((long long)n * c / chunks), e = (int)((long long)n * (c + 1) / chunks);
    try {
      if (e > b) (*fn)(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> g(err_m_);
      if (!error_) error_ = std::current_exception();
    }
  }

  // Takes runs of indices from next_ until none is left (what fn computes for an index independent of who runs it):
  // about eight runs per thread, so a thread's share can move to the other at that grain while the shared counter is
  // touched a few dozen times per region, not once per index (a decode chunk can take under a microsecond).
  void run_dynamic(const std::function<void(int, int)>* fn, int n) {
    const int grain = std::max(1, n / (8 * n_));
    try {
      for (int i = next_.fetch_add(grain, std::memory_order_relaxed); i < n;
           i = next_.fetch_add(grain, std::memory_order_relaxed))
        (*fn)(i, std::min(n, i + grain));
    } catch (...) {
      next_.store(n, std::memory_order_relaxed); // the others stop taking indices
      std::lock_guard<std::mutex> g(err_m_);
      if (!error_) error_ = std::current_exception();
    }
  }

  void worker_loop(int w) {
    tl_in_parallel = true;
    uint64_t seen = 0;
    for (;;) {
      // Spin a little before sleeping: consecutive parallel_for calls come microseconds apart.
      for (int i = 0; i < 4000 && gen_.load(std::memory_order_acquire) == seen; i++) PEFT_CPU_RELAX();
      if (gen_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> g(m_);
        cv_start_.wait(g, [&] { return gen_.load(std::memory_order_acquire) != seen; });
      }
      const std::function<void(int, int)>* fn;
      int n, chunks;
      bool dynamic;
      {
        std::lock_guard<std::mutex> g(m_);
        if (stop_) return;
        seen = gen_.load(std::memory_order_acquire);
        fn = job_;
        n = job_n_;
        chunks = job_chunks_;
        dynamic = job_dynamic_;
      }
      if (w < chunks) {
        const long long b0 = now_ns();
        if (dynamic)
          run_dynamic(fn, n);
        else
          run_chunk(fn, n, chunks, w);
        g_busy_ns.fetch_add(now_ns() - b0, std::memory_order_relaxed);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> g(m_);
          cv_done_.notify_one();
        }
      }
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex dispatch_, m_, err_m_;
  std::condition_variable cv_start_, cv_done_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> next_{0}; // the next index of a dynamic job
  const std::function<void(int, int)>* job_ = nullptr;
  int job_n_ = 0, job_chunks_ = 1;
  bool job_dynamic_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
};

std::mutex g_pool_m;
// The current pool. parallel_for holds a reference for the whole call, so set_threads from another thread swaps in a
// new pool without pulling the old one out from under a running job (the last holder joins its workers).
std::shared_ptr<Pool>* g_pool = new std::shared_ptr<Pool>(); // leaked on purpose: no thread joins at process exit

int default_threads() {
  unsigned h = std::thread::hardware_concurrency();
  return h ? (int)h : 1;
}

std::shared_ptr<Pool> pool() {
  std::lock_guard<std::mutex> g(g_pool_m);
  if (!*g_pool) {
    *g_pool = std::make_shared<Pool>(default_threads());
#ifdef PEFT_HAVE_OPENBLAS
    openblas_set_num_threads(1); // OpenBLAS runs single-threaded inside our pool's slabs (one pool, no spinning rivals)
#endif
  }
  return *g_pool;
}

} // namespace

bool in_parallel_region() { return tl_in_parallel; }

void pool_counters_read(double* busy, double* wait, long* regions) {
  *busy = g_busy_ns.load() * 1e-9;
  *wait = g_wait_ns.load() * 1e-9;
  *regions = (long)g_regions.load();
}

void pool_counters_reset() {
  g_busy_ns.store(0);
  g_wait_ns.store(0);
  g_regions.store(0);
}

void set_threads(int n) {
  if (n <= 0) n = default_threads();
  if (n > 1024) n = 1024;
  std::shared_ptr<Pool> old;
  {
    std::lock_guard<std::mutex> g(g_pool_m);
    if (*g_pool && (*g_pool)->size() == n) return;
    old = std::move(*g_pool);
    *g_pool = std::make_shared<Pool>(n);
#ifdef PEFT_HAVE_OPENBLAS
    openblas_set_num_threads(1);
#endif
  }
  // `old` is released here (or by the last parallel_for still using it), which joins its workers.
}

int threads() { return pool()->size(); }

void parallel_gemm_blocks(int M, int N, int K, const std::function<void(int, int, int, int)>& fn) {
  const int nt = tl_in_parallel ? 1 : threads();
  if (nt == 1 || (double)M * N * K < 262144.0) {
    fn(0, M, 0, N);
    return;
  }
  // Slabs of whole 16-row (or 16-column) groups: rows when there are enough, columns otherwise.
  const bool by_rows = M >= 16 * nt || M >= N;
  const int len = by_rows ? M : N, groups = (len + 15) / 16, parts = std::min(nt, groups);
  parallel_for(parts, [&](int b, int e) {
    for (int p = b; p < e; p++) {
      const int g0 = (int)((long long)groups * p / parts), g1 = (int)((long long)groups * (p + 1) / parts);
      const int lo = g0 * 16, hi = std::min(len, g1 * 16);
      if (hi <= lo) continue;
      if (by_rows)
        fn(lo, hi, 0, N);
      else
        fn(0, M, lo, hi);
    }
  });
}

namespace {

void dispatch(int n, const std::function<void(int, int)>& fn, bool dynamic) {
  if (n <= 0) return;
  if (tl_in_parallel) {
    fn(0, n);
    return;
  }
  std::shared_ptr<Pool> p = pool();
  if (p->size() == 1 || n == 1) {
    tl_in_parallel = true;
    try {
      fn(0, n);
    } catch (...) {
      tl_in_parallel = false;
      throw;
    }
    tl_in_parallel = false;
    return;
  }
  p->run(n, fn, dynamic);
}

} // namespace

void parallel_for(int n, const std::function<void(int, int)>& fn) { dispatch(n, fn, false); }

void parallel_for_dynamic(int n, const std::function<void(int, int)>& fn) { dispatch(n, fn, true); }

} // namespace peft::kern
