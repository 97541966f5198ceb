/// How the edge behaves; filled from `kumo up`'s flags and `KUMO_*` variables.
public struct EdgeConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var region: String
    public var accountId: String
    /// `--no-auth`: signatures are not checked; a 12-digit access key id selects that account.
    public var verifySignatures: Bool
    /// Host names Kumo answers to end in this (`s3.localhost`, `<bucket>.s3.localhost`).
    public var hostSuffix: String
    /// The largest request body read into memory for a non-streaming operation.
    public var maxBodySize: Int
    /// Allowed difference between a request's signing time and Kumo's clock.
    public var maxClockSkewSeconds: Double

    public init(
        host: String = "127.0.0.1", port: Int = 4566, region: String = "us-east-1", accountId: String = "000000000000",
        verifySignatures: Bool = true, hostSuffix: String = "localhost", maxBodySize: Int = 64 << 20,
        maxClockSkewSeconds: Double = 900
    ) {
        self.host = host
        self.port = port
        self.region = region
        self.accountId = accountId
        self.verifySignatures = verifySignatures
        self.hostSuffix = hostSuffix
        self.maxBodySize = maxBodySize
        self.maxClockSkewSeconds = maxClockSkewSeconds
    }
}
