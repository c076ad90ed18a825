defmodule Chunker.Peers do
  @moduledoc false
  # Peer nodes for the cluster tests, with OTP's :peer: everything listens on 127.0.0.1 only,
  # and each peer is linked to the test process that started it, so it stops with it.

  @doc "Makes this VM a distributed node (starting epmd on 127.0.0.1 if needed)."
  def distribute! do
    unless Node.alive?() do
      {_, _} = System.cmd("epmd", ["-daemon", "-address", "127.0.0.1"])
      :ok = :application.set_env(:kernel, :inet_dist_use_interface, {127, 0, 0, 1})
      name = :"chunker_test_#{System.unique_integer([:positive])}@127.0.0.1"
      {:ok, _} = wait_for_epmd(fn -> Node.start(name, :longnames) end, 50)
    end

    :ok
  end

  defp wait_for_epmd(start, 0), do: start.()

  defp wait_for_epmd(start, tries) do
    case start.() do
      {:ok, _} = ok ->
        ok

      {:error, _} ->
        Process.sleep(100)
        wait_for_epmd(start, tries - 1)
    end
  end

  @doc """
  Starts a peer with this VM's code paths (`:without` drops those containing a string) and
  the environment variables of `:env` (a list of `{name, value}` strings), and returns
  `{pid, node}`.
  """
  def start!(opts \\ []) do
    distribute!()
    drop = Keyword.get(opts, :without, [])

    paths =
      for path <- :code.get_path(),
          path = to_string(path),
          not Enum.any?(drop, &String.contains?(path, &1)),
          do: path

    # Peers connect to this node only, not to each other (-connect_all false), so that one
    # halted peer is no partition for global to resolve among the others.
    args =
      [~c"-kernel", ~c"inet_dist_use_interface", ~c"{127,0,0,1}", ~c"-connect_all", ~c"false"] ++
        [~c"-kernel", ~c"prevent_overlapping_partitions", ~c"false"] ++
        Enum.flat_map(paths, &[~c"-pa", String.to_charlist(&1)])

    name = :"peer#{System.unique_integer([:positive])}"

    {:ok, pid, node} =
      :peer.start_link(%{
        name: name,
        host: ~c"127.0.0.1",
        longnames: true,
        args: args,
        env: for({name, value} <- Keyword.get(opts, :env, []), do: {~c"#{name}", ~c"#{value}"}),
        # A loaded CI machine can take longer than the 15 s default to boot a VM.
        wait_boot: 60_000
      })

    {pid, node}
  end
end
