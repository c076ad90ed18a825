defmodule Chunker.FileServer do
  @moduledoc false
  # A static HTTP/1.1 file server on 127.0.0.1 for the install tests: GET /NAME answers the
  # file NAME of its directory (200) or 404. Linked to the process that starts it, so it stops
  # with the test. Counts the requests it answered, by path.

  @doc "Starts serving `dir`; returns `{base_url, server}`."
  def start_link!(dir) do
    {:ok, socket} =
      :gen_tcp.listen(0, [
        :binary,
        ip: {127, 0, 0, 1},
        packet: :http_bin,
        active: false,
        reuseaddr: true
      ])

    {:ok, port} = :inet.port(socket)
    {:ok, counter} = Agent.start_link(fn -> %{} end)
    # The listening socket stays the caller's: it closes when the caller exits.
    spawn_link(fn -> accept(socket, dir, counter) end)
    {"http://127.0.0.1:#{port}", counter}
  end

  @doc "How many requests for `path` were answered."
  def requests(counter, path), do: Agent.get(counter, &Map.get(&1, path, 0))

  @doc "A URL on 127.0.0.1 where nothing listens (a port just released)."
  def unreachable_url do
    {:ok, socket} = :gen_tcp.listen(0, ip: {127, 0, 0, 1})
    {:ok, port} = :inet.port(socket)
    :ok = :gen_tcp.close(socket)
    "http://127.0.0.1:#{port}"
  end

  defp accept(socket, dir, counter) do
    case :gen_tcp.accept(socket) do
      {:ok, client} ->
        serve(client, dir, counter)
        accept(socket, dir, counter)

      # The caller exited and its socket closed with it.
      {:error, _} ->
        :ok
    end
  end

  defp serve(client, dir, counter) do
    with {:ok, {:http_request, :GET, {:abs_path, path}, _}} <- :gen_tcp.recv(client, 0, 10_000),
         :ok <- skip_headers(client) do
      Agent.update(counter, &Map.update(&1, path, 1, fn n -> n + 1 end))
      file = Path.join(dir, Path.basename(URI.decode(path)))

      case File.read(file) do
        {:ok, body} -> respond(client, "200 OK", body)
        {:error, _} -> respond(client, "404 Not Found", "not found\n")
      end
    end

    :gen_tcp.close(client)
  end

  defp skip_headers(client) do
    case :gen_tcp.recv(client, 0, 10_000) do
      {:ok, :http_eoh} -> :ok
      {:ok, {:http_header, _, _, _, _}} -> skip_headers(client)
      other -> other
    end
  end

  defp respond(client, status, body) do
    :gen_tcp.send(client, [
      "HTTP/1.1 #{status}\r\ncontent-length: #{byte_size(body)}\r\n",
      "content-type: application/octet-stream\r\nconnection: close\r\n\r\n",
      body
    ])
  end
end
