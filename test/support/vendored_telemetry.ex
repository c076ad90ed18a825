defmodule Chunker.VendoredTelemetry do
  @moduledoc false
  # The real :telemetry library (test/vendor/telemetry, unmodified 1.4.1) in the test VM:
  # compiled with the VM's own compiler into _build (no hex, no rebar3), loaded and started
  # after chunker has started. `CHUNKER_TEST_TELEMETRY=absent` leaves it out entirely, to run
  # the suite as a user without :telemetry would.

  @source Path.expand("../vendor/telemetry", __DIR__)

  @doc "Whether this run loads :telemetry (the default) or runs without it."
  def wanted?, do: System.get_env("CHUNKER_TEST_TELEMETRY") != "absent"

  @doc "Compiles (once per source change), loads and starts :telemetry; returns :ok."
  def start! do
    ebin = Path.join(Mix.Project.build_path(), "vendored/telemetry/ebin")
    File.mkdir_p!(ebin)
    sources = Path.wildcard(Path.join(@source, "src/*.erl"))

    for source <- sources, stale?(source, ebin) do
      options = [
        :report_errors,
        :report_warnings,
        i: ~c"#{Path.dirname(source)}",
        outdir: ~c"#{ebin}"
      ]

      {:ok, _module} = :compile.file(~c"#{source}", options)
    end

    write_app_file(ebin, sources)
    true = :code.add_patha(~c"#{ebin}")
    {:ok, _} = Application.ensure_all_started(:telemetry)
    :ok
  end

  defp stale?(source, ebin) do
    beam = Path.join(ebin, Path.basename(source, ".erl") <> ".beam")
    not File.exists?(beam) or File.stat!(beam).mtime < File.stat!(source).mtime
  end

  # The .app file rebar3 would write: app.src with its module list filled in.
  defp write_app_file(ebin, sources) do
    {:ok, [{:application, :telemetry, props}]} =
      :file.consult(~c"#{Path.join(@source, "src/telemetry.app.src")}")

    modules = Enum.map(sources, &String.to_atom(Path.basename(&1, ".erl")))
    app = {:application, :telemetry, Keyword.put(props, :modules, modules)}
    File.write!(Path.join(ebin, "telemetry.app"), :io_lib.format(~c"~p.~n", [app]))
  end
end
