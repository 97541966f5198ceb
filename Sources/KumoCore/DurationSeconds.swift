extension Duration {
    /// The duration in seconds, with its fraction (for metrics and log lines).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
