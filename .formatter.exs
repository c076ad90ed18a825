[
  inputs: [
    "{mix,.formatter}.exs",
    "mix/**/*.exs",
    "{config,lib,bench}/**/*.{ex,exs}",
    "test/*.exs",
    "test/{chunker,support}/**/*.{ex,exs}"
  ]
]
