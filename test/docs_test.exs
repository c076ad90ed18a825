defmodule Chunker.DocsTest do
  # Every code block of README.md and guides/*.md, run as a reader would run it (see
  # Chunker.DocBlocks for how each language runs and which placeholders name fixtures), so that
  # an example can never rot.
  use ExUnit.Case, async: false

  alias Chunker.DocBlocks

  @moduletag :docs
  @root Path.expand("..", __DIR__)
  # CHUNKER_DOCS_FILES=guides/a.md,README.md runs only those files' blocks (while writing one).
  @files (case System.get_env("CHUNKER_DOCS_FILES", "") do
            "" ->
              ["README.md" | Path.wildcard(Path.join(@root, "guides/*.md")) |> Enum.sort()]
              |> Enum.map(&Path.relative_to(Path.expand(&1, @root), @root))

            only ->
              String.split(only, ",", trim: true)
          end)

  for file <- @files, do: @external_resource(Path.join(@root, file))

  setup_all do
    tmp = Path.join(System.tmp_dir!(), "chunker-docs-#{System.unique_integer([:positive])}")
    File.mkdir_p!(tmp)
    on_exit(fn -> File.rm_rf!(tmp) end)

    file = Path.join(tmp, "file")
    text = :binary.copy("The quick brown fox jumps over the lazy dog. ", 47_000)
    File.write!(file, [text, Chunker.TestData.random_bytes(4_194_304 - byte_size(text), 14)])

    dir = Path.join(tmp, "hello")
    File.mkdir_p!(Path.join(dir, "bin"))
    File.mkdir_p!(Path.join(dir, "share/doc"))
    File.cp!(file, Path.join(dir, "share/data"))
    File.write!(Path.join(dir, "share/doc/README"), "hello, world\n")
    File.write!(Path.join(dir, "bin/hello"), "#!/bin/sh\necho hello\n")
    File.chmod!(Path.join(dir, "bin/hello"), 0o755)
    File.ln_s!("hello", Path.join(dir, "bin/hi"))

    {:ok, docs: %{tmp: tmp, file: file, dir: dir, store_path: store_path(dir)}}
  end

  # A real store path, as the Nix recipes start from one: `nix-store --add` copies the tree in.
  defp store_path(dir) do
    case System.find_executable("nix-store") &&
           System.cmd("nix-store", ["--add", dir], stderr_to_stdout: true) do
      {out, 0} -> String.trim(out)
      _ -> nil
    end
  end

  test "every block has a language this test runs (or text)" do
    for file <- @files, block <- DocBlocks.blocks(Path.join(@root, file)) do
      assert block.lang in DocBlocks.languages(),
             "#{file}:#{block.line}: a code block needs one of #{inspect(DocBlocks.languages())}, " <>
               "got #{inspect(block.lang)}"
    end
  end

  for file <- @files,
      block <- DocBlocks.blocks(Path.join(@root, file)),
      block = %{block | file: file},
      block.lang in ~w(elixir erlang sh rust) do
    @tag lang: block.lang, timeout: 600_000
    test "#{file}:#{block.line} (#{block.lang})", context do
      run(unquote(Macro.escape(block)), fixtures(context))
    end
  end

  defp fixtures(%{docs: context}) do
    output = Path.join(context.tmp, "output-#{System.unique_integer([:positive])}")

    %{
      file: context.file,
      dir: context.dir,
      output: output,
      store_path:
        context.store_path || "/nix/store/(nix-store --add failed: is nix-bin installed?)",
      build_dir: Mix.Project.build_path()
    }
  end

  defp run(%{lang: "elixir"} = block, fixtures) do
    code = DocBlocks.substitute(block.code, fixtures)

    ExUnit.CaptureIO.capture_io(fn ->
      Code.eval_string(code, [], file: Path.join(@root, block.file), line: block.line)
    end)
  end

  defp run(%{lang: "erlang"} = block, fixtures) do
    code = DocBlocks.substitute(block.code, fixtures)
    ebins = Path.wildcard(Path.join(fixtures.build_dir, "lib/*/ebin"))

    args =
      ["-noshell", "-pa", to_string(:code.lib_dir(:elixir, :ebin)) | ebins] ++
        ["-eval", code, "-s", "init", "stop"]

    {out, status} =
      System.cmd("erl", args,
        cd: Path.dirname(fixtures.output),
        stderr_to_stdout: true,
        env: [{"ERL_CRASH_DUMP_SECONDS", "0"}]
      )

    assert status == 0, "#{block.file}:#{block.line}: erl exited with #{status}:\n#{out}"
  end

  defp run(%{lang: "sh"} = block, fixtures) do
    code =
      block.code
      |> DocBlocks.substitute(fixtures)
      # The command CI itself runs (.ci/run is `bash script/test`): this test is part of it.
      |> String.replace(~r/^bash script\/test\b.*$/m, ": script/test is the run this test is in")

    {out, status} =
      System.cmd("bash", ["-euo", "pipefail", "-c", code],
        cd: @root,
        stderr_to_stdout: true,
        env: [{"MIX_ENV", "test"}]
      )

    assert status == 0, "#{block.file}:#{block.line}: exited with #{status}:\n#{out}"
  end

  # Rust blocks run as doctests of chunker_core (`cargo test --doc`, part of `cargo test`):
  # here, only that the file they are in is one lib.rs includes for that.
  defp run(%{lang: "rust"} = block, _fixtures) do
    lib = File.read!(Path.join(@root, "native/chunker_core/src/lib.rs"))

    assert lib =~ ~s{include_str!("../../../#{block.file}")},
           "#{block.file}:#{block.line}: a rust block in a file chunker_core's lib.rs does not include as a doctest"
  end
end
