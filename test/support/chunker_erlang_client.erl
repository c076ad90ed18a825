%% Calls chunker the way an Erlang user would, for the interop test.
-module(chunker_erlang_client).
-export([chunk/2, stream_lengths/1, blake3/1]).

chunk(Bin, AvgSize) ->
    'Elixir.Chunker':chunk(Bin, [{avg_size, AvgSize}]).

stream_lengths(Pieces) ->
    Stream = 'Elixir.Chunker':stream(Pieces, []),
    [maps:get(length, Chunk) || Chunk <- 'Elixir.Enum':to_list(Stream)].

blake3(Bin) ->
    'Elixir.Chunker.Hash':blake3(Bin).
