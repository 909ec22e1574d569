%% skynet: a 10-ary tree of processes with 1,000,000 leaves (1,111,111 in
%% all). A leaf sends its number to its parent; an inner node sends the sum
%% of its ten children. Prints "wall_ms VALUE".
-module(skynet).
-export([main/0]).

-define(LEAVES, 1000000).
-define(FANOUT, 10).

main() ->
    Main = self(),
    T0 = erlang:monotonic_time(microsecond),
    spawn(fun() -> node(Main, 0, ?LEAVES) end),
    Sum = receive S -> S end,
    T1 = erlang:monotonic_time(microsecond),
    case ?LEAVES * (?LEAVES - 1) div 2 of
        Sum -> io:format("wall_ms ~.1f~n", [(T1 - T0) / 1000]), halt(0);
        Want -> io:format(standard_error, "skynet: sum ~p, want ~p~n", [Sum, Want]), halt(1)
    end.

%% Sends Parent the sum of the leaf numbers Num .. Num+Size-1.
node(Parent, Num, 1) ->
    Parent ! Num;
node(Parent, Num, Size) ->
    Self = self(),
    Step = Size div ?FANOUT,
    [spawn(fun() -> node(Self, Num + I * Step, Step) end) || I <- lists:seq(0, ?FANOUT - 1)],
    Parent ! collect(?FANOUT, 0).

collect(0, Sum) -> Sum;
collect(N, Sum) -> receive V -> collect(N - 1, Sum + V) end.
