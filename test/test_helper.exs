Chunker.Oracle.build!()
Chunker.TestData.otp_tar()
ExUnit.start(exclude: [:stress, :latency])
