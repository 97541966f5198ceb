import ArgumentParser
import KumoProtocols
import KumoStore

/// `kumo store-baseline`: prints SchemaBaseline.swift for the current migrations (hidden; for
/// developers who add a migration — an e2e test says when the committed file is out of date).
struct StoreBaselineSource: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-baseline",
        abstract: "Print Sources/Kumo/SchemaBaseline.swift for the current store migrations.",
        shouldDisplay: false)

    func run() throws {
        let baseline = try StoreBaseline.of(KumoStoreSchema.migrations)
        // A JSON string is a Swift string literal for this text: quotes, backslashes, line breaks
        // and tabs escape the same way (the schema holds no other control characters).
        func literal(_ text: String) -> String {
            var out = ""
            JSONValue.string(text).write(to: &out)
            return out
        }
        print("""
            // Written by `swift run kumo store-baseline > Sources/Kumo/SchemaBaseline.swift`; do not edit.
            import KumoStore

            extension KumoStoreSchema {
                /// The schema the store migrations build, for new data dirs (see `StoreBaseline`).
                static let baseline = StoreBaseline(
                    names: [
            \(baseline.names.map { "            " + literal($0) + "," }.joined(separator: "\n"))
                    ],
                    statements: [
            \(baseline.statements.map { "            " + literal($0) + "," }.joined(separator: "\n"))
                    ])
            }
            """)
    }
}
