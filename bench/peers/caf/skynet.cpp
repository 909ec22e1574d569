// skynet: a 10-ary tree of event-based actors with 1,000,000 leaves
// (1,111,111 in all). A leaf sends its number to its parent; an inner node
// sends the sum of its ten children. Prints "wall_ms VALUE".
#include "common.hpp"

namespace {

constexpr int64_t leaves = 1000000;
constexpr int64_t fanout = 10;

struct node_state {
  int64_t sum = 0;
  int64_t pending = fanout;
};

// Sends parent the sum of the leaf numbers num .. num+size-1.
caf::behavior node(caf::stateful_actor<node_state>* self, caf::actor parent,
                   int64_t num, int64_t size) {
  if (size == 1) {
    self->send(parent, num);
    self->quit();
    return {};
  }
  int64_t step = size / fanout;
  for (int64_t i = 0; i < fanout; ++i)
    self->spawn(node, caf::actor_cast<caf::actor>(self), num + i * step, step);
  return {[=](int64_t value) {
    self->state.sum += value;
    if (--self->state.pending == 0) {
      self->send(parent, self->state.sum);
      self->quit();
    }
  }};
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  caf::actor_system sys{peers::configure(cfg)};
  peers::check_workers(sys);
  caf::scoped_actor self{sys};
  auto start = peers::clock::now();
  self->spawn(node, caf::actor_cast<caf::actor>(self), int64_t{0}, leaves);
  int64_t sum = -1;
  self->receive([&](int64_t value) { sum = value; });
  double elapsed = peers::seconds_since(start);
  if (sum != leaves * (leaves - 1) / 2)
    peers::fail("skynet: sum", sum, leaves * (leaves - 1) / 2);
  std::printf("wall_ms %.1f\n", elapsed * 1000);
}
