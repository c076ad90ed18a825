defmodule Chunker.NixCLI do
  @moduledoc false
  # Nix's own tools (Debian's nix-bin), the oracle for every Nix format.

  @nix ["--extra-experimental-features", "nix-command"]

  @doc """
  `nix <args>` with the nix-command feature; `{stdout, status}`. With
  `cache_home`, Nix keeps its caches (e.g. of narinfo files) there instead of in ~/.cache.
  """
  def nix(args, cache_home \\ nil) do
    env = if cache_home, do: [{"XDG_CACHE_HOME", cache_home}], else: []
    # Through sh only to silence Nix's progress messages on stderr.
    System.cmd("sh", ["-c", ~s(exec "$0" "$@" 2>/dev/null), "nix" | @nix ++ args], env: env)
  end

  @doc "Runs `command` in `sh`, stdin from `input` if given; `{stdout, status}`."
  def sh(command, input \\ nil) do
    command = if input, do: "#{command} < #{quote_path(input)}", else: command
    System.cmd("sh", ["-c", command <> " 2>/dev/null"])
  end

  @doc "`nix-store --dump path`."
  def dump!(path) do
    {nar, 0} = System.cmd("nix-store", ["--dump", path])
    nar
  end

  @doc "`nix-store --restore dest` of the NAR in the file `nar_file`: the exit status."
  def restore(nar_file, dest) do
    {_, status} = sh("nix-store --restore #{quote_path(dest)}", nar_file)
    status
  end

  def quote_path(path), do: "'" <> String.replace(path, "'", "'\\''") <> "'"

  @doc """
  A tree that exercises everything a NAR records, under `root` (which must not exist):
  executables, symlinks (relative, absolute, dangling, to a directory), empty directories and
  files, names whose byte order differs from other orders (case, punctuation, UTF-8), a
  file larger than a dump piece and sizes on either side of the 8-byte padding.
  """
  def build_tree!(root) do
    File.mkdir_p!(Path.join(root, "bin"))
    File.mkdir_p!(Path.join(root, "share/empty"))
    File.mkdir_p!(Path.join(root, "a/b/c/d"))
    File.write!(Path.join(root, "bin/tool"), "#!/bin/sh\necho tool\n")
    File.chmod!(Path.join(root, "bin/tool"), 0o755)
    File.write!(Path.join(root, "bin/only-owner-x"), "x")
    File.chmod!(Path.join(root, "bin/only-owner-x"), 0o700)
    File.write!(Path.join(root, "bin/group-x-only"), "not executable for Nix")
    File.chmod!(Path.join(root, "bin/group-x-only"), 0o650)
    File.ln_s!("tool", Path.join(root, "bin/relative-link"))
    File.ln_s!("/nix/store/does-not-exist", Path.join(root, "bin/dangling"))
    File.ln_s!("../share", Path.join(root, "dir-link"))
    File.write!(Path.join(root, "share/empty-file"), "")

    for len <- [1, 7, 8, 9, 15, 16, 17] do
      File.write!(Path.join(root, "share/len-#{len}"), String.duplicate("x", len))
    end

    for name <- ["B", "a", "a.b", "a-b", "ab", "Z", "é", "z", "~", "ü-ü", "日本"] do
      File.write!(Path.join(root, "share/#{name}"), name)
    end

    File.write!(Path.join(root, "a/b/c/d/deep"), "deep")
    big = :rand.bytes(3 * 1_048_576 + 5)
    File.write!(Path.join(root, "share/big"), big)
    root
  end
end
