// fanin: 2 producer actors each send 5,000,000 small messages to one
// consumer actor, which counts them. Prints "msgs_per_s VALUE".
#include "common.hpp"

namespace {

constexpr int64_t producers = 2;
constexpr int64_t per_producer = 5000000;

struct consumer_state {
  int64_t count[producers] = {0, 0};
  int64_t left = producers * per_producer;
};

// Counts the messages of each producer (a message is the producer's id) and
// reports both counts to main once all have arrived.
caf::behavior consumer(caf::stateful_actor<consumer_state>* self,
                       caf::actor main) {
  return {[=](int64_t id) {
    ++self->state.count[id];
    if (--self->state.left == 0) {
      self->send(main, self->state.count[0], self->state.count[1]);
      self->quit();
    }
  }};
}

// Sends all its messages at start-up, then is done.
caf::behavior producer(caf::event_based_actor* self, caf::actor target,
                       int64_t id) {
  for (int64_t i = 0; i < per_producer; ++i)
    self->send(target, id);
  self->quit();
  return {};
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  caf::actor_system sys{peers::configure(cfg)};
  peers::check_workers(sys);
  caf::scoped_actor self{sys};
  auto start = peers::clock::now();
  auto sink = sys.spawn(consumer, caf::actor_cast<caf::actor>(self));
  for (int64_t p = 0; p < producers; ++p)
    sys.spawn(producer, sink, p);
  int64_t got[producers] = {-1, -1};
  self->receive([&](int64_t c0, int64_t c1) {
    got[0] = c0;
    got[1] = c1;
  });
  double elapsed = peers::seconds_since(start);
  for (int64_t p = 0; p < producers; ++p)
    if (got[p] != per_producer)
      peers::fail("fanin: messages from one producer", got[p], per_producer);
  std::printf("msgs_per_s %.0f\n", producers * per_producer / elapsed);
}
