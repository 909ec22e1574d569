// pingpong PAIRS MSGS: PAIRS independent pairs of event-based actors, each
// pair exchanging MSGS one-way messages (MSGS/2 round trips).
// Prints "msgs_per_s VALUE" for all pairs together.
#include "common.hpp"

namespace {

using done_atom = caf::atom_constant<caf::atom("done")>;

// Receives a countdown and sends it on, one lower, to whoever sent it. The
// player that receives 0 has seen the pair's last message: it stops its
// partner and itself.
caf::behavior player(caf::event_based_actor* self, caf::actor main) {
  return {[=](int64_t n) {
    auto peer = caf::actor_cast<caf::actor>(self->current_sender());
    if (n > 0) {
      self->send(peer, n - 1);
      return;
    }
    self->send_exit(peer, caf::exit_reason::user_shutdown);
    self->send(main, done_atom::value);
    self->quit();
  }};
}

int64_t positive(const char* arg) {
  char* end = nullptr;
  long long v = std::strtoll(arg, &end, 10);
  if (*arg == '\0' || *end != '\0' || v <= 0) {
    std::fprintf(stderr, "usage: pingpong PAIRS MSGS (positive integers)\n");
    std::exit(2);
  }
  return v;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: pingpong PAIRS MSGS\n");
    return 2;
  }
  int64_t pairs = positive(argv[1]);
  int64_t msgs = positive(argv[2]);
  caf::actor_system_config cfg;
  caf::actor_system sys{peers::configure(cfg)};
  peers::check_workers(sys);
  caf::scoped_actor self{sys};
  auto main_actor = caf::actor_cast<caf::actor>(self);
  auto start = peers::clock::now();
  for (int64_t p = 0; p < pairs; ++p) {
    auto ping = sys.spawn(player, main_actor);
    auto pong = sys.spawn(player, main_actor);
    caf::send_as(pong, ping, msgs - 1); // the first of the msgs messages
  }
  int64_t done = 0;
  self->receive_for(done, pairs)([](done_atom) {});
  double elapsed = peers::seconds_since(start);
  std::printf("msgs_per_s %.0f\n", static_cast<double>(pairs * msgs) / elapsed);
}
