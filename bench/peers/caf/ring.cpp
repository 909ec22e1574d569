// ring: 503 event-based actors in a ring, each sending to the next, pass a
// token for 10,000,000 hops. Prints "hops_per_s VALUE".
#include "common.hpp"

#include <vector>

namespace {

constexpr int64_t members = 503;
constexpr int64_t hops = 10000000;

using finished_atom = caf::atom_constant<caf::atom("finished")>;

struct member_state {
  caf::actor next;
};

// First learns its successor, then forwards the token (the number of hops
// still to go) one lower. The member that receives 0 ends the run.
caf::behavior member(caf::stateful_actor<member_state>* self, caf::actor main) {
  return {
    [=](caf::actor next) { self->state.next = std::move(next); },
    [=](int64_t token) {
      if (token > 0)
        self->send(self->state.next, token - 1);
      else
        self->send(main, finished_atom::value);
    },
  };
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  caf::actor_system sys{peers::configure(cfg)};
  peers::check_workers(sys);
  caf::scoped_actor self{sys};
  std::vector<caf::actor> ring;
  for (int64_t i = 0; i < members; ++i)
    ring.push_back(sys.spawn(member, caf::actor_cast<caf::actor>(self)));
  for (int64_t i = 0; i < members; ++i)
    self->send(ring[i], ring[(i + 1) % members]);
  auto start = peers::clock::now();
  self->send(ring[0], hops);
  self->receive([](finished_atom) {});
  double elapsed = peers::seconds_since(start);
  // The members hold each other in a cycle: stop them explicitly.
  for (auto& m : ring)
    self->send_exit(m, caf::exit_reason::user_shutdown);
  std::printf("hops_per_s %.0f\n", hops / elapsed);
}
