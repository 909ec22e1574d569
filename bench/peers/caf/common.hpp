// Shared by the CAF benchmark programs: scheduler set-up, clock, RSS.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

namespace peers {

constexpr std::size_t workers = 2;

using clock = std::chrono::steady_clock;

// The default (work-stealing) scheduler with one worker per core here.
inline caf::actor_system_config& configure(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", workers);
  return cfg;
}

// Fails loudly if the configuration above did not take: the figures would
// mean something else.
inline void check_workers(caf::actor_system& sys) {
  if (sys.scheduler().num_workers() != workers) {
    std::fprintf(stderr, "caf: %zu scheduler workers, want %zu\n",
                 sys.scheduler().num_workers(), workers);
    std::exit(1);
  }
}

inline double seconds_since(clock::time_point start) {
  return std::chrono::duration<double>(clock::now() - start).count();
}

// The resident set size: the second field of /proc/self/statm, in pages.
inline long rss_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  long size = 0, resident = 0;
  if (!(statm >> size >> resident)) {
    std::fprintf(stderr, "caf: cannot read /proc/self/statm\n");
    std::exit(1);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

inline void fail(const char* what, long long got, long long want) {
  std::fprintf(stderr, "caf: %s %lld, want %lld\n", what, got, want);
  std::exit(1);
}

} // namespace peers
