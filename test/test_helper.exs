Chunker.Oracle.build!()
Chunker.TestData.otp_tar()

# :telemetry is loaded after chunker has started (as in an application that starts it later),
# unless CHUNKER_TEST_TELEMETRY=absent: then the tests that need it are left out and the rest
# run without it, as for a user who does not have it.
exclude = [:stress, :latency, :install]

exclude =
  if Chunker.VendoredTelemetry.wanted?() do
    Chunker.VendoredTelemetry.start!()
    exclude
  else
    [:telemetry | exclude]
  end

ExUnit.start(exclude: exclude)
