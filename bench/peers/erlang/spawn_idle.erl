%% spawn: start 1,000,000 idle processes that each wait for one message,
%% then send one message to each and wait for all of them to answer.
%% Prints "spawn_per_s VALUE" (spawning loop only) and "bytes_per_actor VALUE"
%% (growth of the resident set, /proc/self/statm, across the spawning loop / 1M).
-module(spawn_idle).
-export([main/0]).

-define(ACTORS, 1000000).

main() ->
    Main = self(),
    PageSize = page_size(),
    Before = rss_bytes(PageSize),
    T0 = erlang:monotonic_time(microsecond),
    Pids = spawn_all(Main, ?ACTORS, []),
    T1 = erlang:monotonic_time(microsecond),
    Grown = rss_bytes(PageSize) - Before,
    send_all(Pids, 0),
    Sum = collect(?ACTORS, 0),
    case ?ACTORS * (?ACTORS - 1) div 2 of
        Sum ->
            io:format("spawn_per_s ~B~n", [round(?ACTORS * 1000000 / (T1 - T0))]),
            io:format("bytes_per_actor ~B~n", [Grown div ?ACTORS]),
            halt(0);
        Want ->
            io:format(standard_error, "spawn: sum ~p, want ~p~n", [Sum, Want]),
            halt(1)
    end.

spawn_all(_, 0, Pids) -> Pids;
spawn_all(Main, N, Pids) ->
    Pid = spawn(fun() -> receive V -> Main ! V end end),
    spawn_all(Main, N - 1, [Pid | Pids]).

send_all([], _) -> ok;
send_all([Pid | Pids], I) -> Pid ! I, send_all(Pids, I + 1).

collect(0, Sum) -> Sum;
collect(N, Sum) -> receive V -> collect(N - 1, Sum + V) end.

%% The resident set size: the second field of /proc/self/statm, in pages.
%% File operations run in the emulator's own OS process, so "self" is it.
rss_bytes(PageSize) ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = binary:split(Statm, [<<" ">>, <<"\n">>], [global]),
    binary_to_integer(Resident) * PageSize.

%% Erlang has no call for it; asked once, before the baseline.
page_size() ->
    list_to_integer(string:trim(os:cmd("getconf PAGESIZE"))).
