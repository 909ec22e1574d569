%% ring: 503 processes in a ring, each sending to the next, pass a token for
%% 10,000,000 hops. Prints "hops_per_s VALUE".
-module(ring).
-export([main/0]).

-define(MEMBERS, 503).
-define(HOPS, 10000000).

main() ->
    Main = self(),
    First = spawn(fun() -> receive {next, Next} -> member(Main, Next) end end),
    Last = lists:foldl(fun(_, Next) -> spawn(fun() -> member(Main, Next) end) end,
                       First, lists:seq(2, ?MEMBERS)),
    First ! {next, Last},
    T0 = erlang:monotonic_time(microsecond),
    First ! ?HOPS,
    receive finished -> ok end,
    T1 = erlang:monotonic_time(microsecond),
    io:format("hops_per_s ~B~n", [round(?HOPS * 1000000 / (T1 - T0))]),
    halt(0).

%% Forwards the token, the number of hops still to go, one lower.
%% The member that receives 0 ends the run.
member(Main, Next) ->
    receive
        0 -> Main ! finished;
        T -> Next ! T - 1, member(Main, Next)
    end.
