%% fanin: 2 producer processes each send 5,000,000 small messages to one
%% consumer process, which counts them. Prints "msgs_per_s VALUE".
-module(fanin).
-export([main/0]).

-define(PER_PRODUCER, 5000000).

main() ->
    Consumer = self(),
    T0 = erlang:monotonic_time(microsecond),
    spawn(fun() -> produce(Consumer, 0, ?PER_PRODUCER) end),
    spawn(fun() -> produce(Consumer, 1, ?PER_PRODUCER) end),
    {C0, C1} = consume(2 * ?PER_PRODUCER, 0, 0),
    T1 = erlang:monotonic_time(microsecond),
    case {C0, C1} of
        {?PER_PRODUCER, ?PER_PRODUCER} ->
            io:format("msgs_per_s ~B~n", [round(2 * ?PER_PRODUCER * 1000000 / (T1 - T0))]),
            halt(0);
        _ ->
            io:format(standard_error, "fanin: counted ~p, want ~p each~n", [{C0, C1}, ?PER_PRODUCER]),
            halt(1)
    end.

produce(_, _, 0) -> ok;
produce(Consumer, Id, N) -> Consumer ! Id, produce(Consumer, Id, N - 1).

%% Counts the messages of each producer.
consume(0, C0, C1) -> {C0, C1};
consume(N, C0, C1) ->
    receive
        0 -> consume(N - 1, C0 + 1, C1);
        1 -> consume(N - 1, C0, C1 + 1)
    end.
