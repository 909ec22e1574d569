%% pingpong PAIRS MSGS: PAIRS independent pairs of processes, each pair
%% exchanging MSGS one-way messages (MSGS/2 round trips).
%% Prints "msgs_per_s VALUE" for all pairs together.
-module(pingpong).
-export([main/0, main/1]).

main([PairsArg, MsgsArg]) ->
    Pairs = positive(PairsArg),
    Msgs = positive(MsgsArg),
    Main = self(),
    T0 = erlang:monotonic_time(microsecond),
    [start_pair(Main, Msgs) || _ <- lists:seq(1, Pairs)],
    [receive pair_done -> ok end || _ <- lists:seq(1, Pairs)],
    T1 = erlang:monotonic_time(microsecond),
    io:format("msgs_per_s ~B~n", [round(Pairs * Msgs * 1000000 / (T1 - T0))]),
    halt(0);
main(_) ->
    usage().

main() ->
    usage().

positive(S) ->
    case string:to_integer(S) of
        {N, ""} when N > 0 -> N;
        _ -> usage()
    end.

usage() ->
    io:format(standard_error, "usage: pingpong PAIRS MSGS (positive integers)~n", []),
    halt(2).

start_pair(Main, Msgs) ->
    Ping = spawn(fun() -> receive {peer, Pong} -> player(Main, Pong) end end),
    Pong = spawn(fun() -> player(Main, Ping) end),
    Ping ! {peer, Pong},
    Ping ! Msgs - 1.  % the first of the Msgs messages

%% Receives a countdown and sends it on, one lower. The player that
%% receives 0 has seen the pair's last message and stops its partner.
player(Main, Peer) ->
    receive
        0 -> Peer ! stop, Main ! pair_done;
        stop -> ok;
        N -> Peer ! N - 1, player(Main, Peer)
    end.
