defmodule Chunker.Build.Download do
  @moduledoc false
  # One HTTP(S) GET with OTP's :httpc (no hex dependency can be had): certificate and host
  # checks on for https, HTTP(S)_PROXY honoured, transient failures retried.

  @profile :chunker_build
  @attempts 3

  @doc "The body of `url`, or `{:error, description}`."
  def get(url) when is_binary(url) do
    with :ok <- start(url) do
      attempt(String.to_charlist(url), tls_options(url) ++ proxy_auth(url), 1)
    end
  end

  defp attempt(url, http_options, n) do
    result =
      :httpc.request(
        :get,
        {url, [{~c"user-agent", ~c"chunker-build"}]},
        [timeout: 120_000, connect_timeout: 15_000] ++ http_options,
        [body_format: :binary],
        @profile
      )

    case result do
      {:ok, {{_, 200, _}, _headers, body}} ->
        {:ok, body}

      {:ok, {{_, status, reason}, _headers, _body}} when status >= 500 and n < @attempts ->
        retry(url, http_options, n, "HTTP #{status} #{reason}")

      {:ok, {{_, status, reason}, _headers, _body}} ->
        {:error, "HTTP #{status} #{reason}"}

      {:error, reason} when n < @attempts ->
        retry(url, http_options, n, describe(reason))

      {:error, reason} ->
        {:error, describe(reason)}
    end
  end

  defp retry(url, http_options, n, why) do
    Mix.shell().info("download failed (#{why}); trying again")
    Process.sleep(500 * n)
    attempt(url, http_options, n + 1)
  end

  defp start(url) do
    apps = if String.starts_with?(url, "https:"), do: [:inets, :ssl], else: [:inets]

    with :ok <- ensure_started(apps) do
      case :inets.start(:httpc, profile: @profile) do
        {:ok, _} -> set_proxies()
        {:error, {:already_started, _}} -> :ok
        {:error, reason} -> {:error, "cannot start :httpc: #{inspect(reason)}"}
      end
    end
  end

  defp ensure_started(apps) do
    Enum.reduce_while(apps, :ok, fn app, :ok ->
      case Application.ensure_all_started(app) do
        {:ok, _} -> {:cont, :ok}
        {:error, reason} -> {:halt, {:error, "cannot start #{app}: #{inspect(reason)}"}}
      end
    end)
  end

  # HTTP_PROXY / HTTPS_PROXY (user:password@ included) and NO_PROXY, as curl reads them;
  # this machine's own addresses never go through a proxy.
  defp set_proxies do
    no_proxy =
      (env(~w(NO_PROXY no_proxy)) || "")
      |> String.split(",", trim: true)
      |> Enum.map(&String.trim/1)
      |> Enum.map(fn
        "." <> domain -> "*." <> domain
        host -> host
      end)
      |> Kernel.++(["localhost", "127.0.0.1", "::1"])
      |> Enum.map(&String.to_charlist/1)

    proxies =
      for {option, scheme} <- [proxy: "http:", https_proxy: "https:"],
          {host, port, _auth} <- [proxy(scheme)],
          do: {option, {{String.to_charlist(host), port}, no_proxy}}

    :httpc.set_options(proxies, @profile)
  end

  defp proxy(scheme) do
    names =
      if scheme == "https:", do: ~w(HTTPS_PROXY https_proxy), else: ~w(HTTP_PROXY http_proxy)

    with value when is_binary(value) <- env(names),
         %URI{host: host, port: port, userinfo: userinfo} when is_binary(host) <- URI.parse(value) do
      auth =
        case userinfo && String.split(URI.decode(userinfo), ":", parts: 2) do
          [user, password] -> {String.to_charlist(user), String.to_charlist(password)}
          [user] -> {String.to_charlist(user), ~c""}
          nil -> nil
        end

      {host, port, auth}
    else
      _ -> nil
    end
  end

  defp proxy_auth(url) do
    scheme = if String.starts_with?(url, "https:"), do: "https:", else: "http:"

    case proxy(scheme) do
      {_, _, auth} when auth != nil -> [proxy_auth: auth]
      _ -> []
    end
  end

  defp env(names), do: Enum.find_value(names, &non_empty(System.get_env(&1)))

  defp non_empty(""), do: nil
  defp non_empty(value), do: value

  defp tls_options("https:" <> _) do
    [
      ssl:
        [
          verify: :verify_peer,
          depth: 4,
          customize_hostname_check: [
            match_fun: :public_key.pkix_verify_hostname_match_fun(:https)
          ]
        ] ++ ca_certificates()
    ]
  end

  defp tls_options(_), do: []

  # OTP 25 reads the operating system's certificates; CHUNKER_CACERTFILE (or hex's
  # HEX_CACERTS_PATH) names a bundle instead.
  defp ca_certificates do
    file = System.get_env("CHUNKER_CACERTFILE") || System.get_env("HEX_CACERTS_PATH")

    cond do
      file -> [cacertfile: String.to_charlist(file)]
      function_exported?(:public_key, :cacerts_get, 0) -> [cacerts: system_cacerts()]
      true -> Mix.raise("https downloads need OTP 25+ or CHUNKER_CACERTFILE (a CA bundle)")
    end
  end

  defp system_cacerts do
    :public_key.cacerts_get()
  rescue
    error ->
      Mix.raise("""
      cannot read this machine's CA certificates for the https download \
      (#{Exception.message(error)}): install them (Debian: ca-certificates), or name a CA \
      bundle with CHUNKER_CACERTFILE
      """)
  end

  defp describe({:failed_connect, details}) do
    case List.keyfind(details, :inet, 0) do
      {:inet, _, posix} when is_atom(posix) ->
        "cannot connect: #{:inet.format_error(posix)} (#{posix})"

      _ ->
        "cannot connect: #{inspect(details)}"
    end
  end

  defp describe(:timeout), do: "timed out"
  defp describe(reason), do: inspect(reason)
end
