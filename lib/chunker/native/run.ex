defmodule Chunker.Native.Run do
  @moduledoc false
  # The Elixir half of the NIFs' scheduling contract (native/chunker_nif/src/pace.rs): a NIF
  # runs until a deadline on its own clock and replies
  #
  #   {:done, output}                 finished
  #   {:cont, output, continuation}   call again with the continuation (dirty twin after a
  #                                   normal call; {:cont, nil, nil} from a normal call that
  #                                   could not do the work at all)
  #   {:error, {reason, message, details}}
  #
  # Nothing here decides how long anything may take: it only loops.

  alias Chunker.Error

  @typedoc "A NIF's reply."
  @type reply :: {:done, term()} | {:cont, term(), term()} | {:error, tuple()}

  @doc """
  Follows `reply` to the end, calling `dirty` with each continuation: `{:ok, outputs}` in
  order (one per call), or the error.
  """
  @spec outputs(reply(), (term() -> reply())) :: {:ok, [term()]} | {:error, Error.t()}
  def outputs(reply, dirty), do: outputs(reply, dirty, [])

  defp outputs({:done, output}, _dirty, acc), do: {:ok, Enum.reverse([output | acc])}

  defp outputs({:cont, output, cont}, dirty, acc),
    do: outputs(dirty.(cont), dirty, [output | acc])

  defp outputs({:error, native}, _dirty, _acc), do: {:error, Error.from_native(native)}

  @doc """
  The result of a NIF that does its work whole: `reply` from its normal twin, or if that
  could not do the work (`{:cont, nil, nil}`), the dirty twin's. `{:ok, value}` or the error.
  """
  @spec value(reply(), (() -> reply())) :: {:ok, term()} | {:error, Error.t()}
  def value({:cont, nil, nil}, dirty), do: done(dirty.())
  def value(reply, _dirty), do: done(reply)

  @doc "A final reply, `{:done, value}` or an error, as `{:ok, value}` or `{:error, error}`."
  @spec done({:done, term()} | {:error, tuple()}) :: {:ok, term()} | {:error, Error.t()}
  def done({:done, value}), do: {:ok, value}
  def done({:error, native}), do: {:error, Error.from_native(native)}

  @doc "`{:ok, value}` as the value, `:ok` as itself; an error raised."
  @spec ok!({:ok, value} | :ok | {:error, Error.t()}) :: value | :ok when value: term()
  def ok!({:ok, value}), do: value
  def ok!(:ok), do: :ok
  def ok!({:error, %Error{} = error}), do: raise(error)

  @doc "A NIF's `{:ok, value}` or native error as `{:ok, value}` or `{:error, %Chunker.Error{}}`."
  @spec result({:ok, term()} | :ok | {:error, tuple()}) ::
          {:ok, term()} | :ok | {:error, Error.t()}
  def result({:error, native}), do: {:error, Error.from_native(native)}
  def result(ok), do: ok
end
