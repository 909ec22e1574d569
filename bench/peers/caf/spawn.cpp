// spawn: start 1,000,000 idle event-based actors that each wait for one
// message, then send one message to each and wait for all of them to answer.
// Prints "spawn_per_s VALUE" (spawning loop only) and "bytes_per_actor VALUE"
// (growth of the resident set, /proc/self/statm, across the spawning loop / 1M).
#include "common.hpp"

#include <vector>

namespace {

constexpr int64_t actors = 1000000;

// Waits for one number, passes it on to main and ends.
caf::behavior idle(caf::event_based_actor* self, caf::actor main) {
  return {[=](int64_t value) {
    self->send(main, value);
    self->quit();
  }};
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  caf::actor_system sys{peers::configure(cfg)};
  peers::check_workers(sys);
  caf::scoped_actor self{sys};
  auto main_actor = caf::actor_cast<caf::actor>(self);
  std::vector<caf::actor> handles;
  handles.reserve(actors); // the caller's bookkeeping, reserved before the baseline
  long before = peers::rss_bytes();
  auto start = peers::clock::now();
  for (int64_t i = 0; i < actors; ++i)
    handles.push_back(sys.spawn(idle, main_actor));
  double elapsed = peers::seconds_since(start);
  long grown = peers::rss_bytes() - before;
  for (int64_t i = 0; i < actors; ++i)
    self->send(handles[i], i);
  int64_t sum = 0;
  int64_t received = 0;
  self->receive_for(received, actors)([&](int64_t value) { sum += value; });
  handles.clear();
  if (sum != actors * (actors - 1) / 2)
    peers::fail("spawn: sum", sum, actors * (actors - 1) / 2);
  std::printf("spawn_per_s %.0f\n", actors / elapsed);
  std::printf("bytes_per_actor %ld\n", grown / actors);
}
