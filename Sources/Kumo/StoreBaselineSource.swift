import ArgumentParser
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
        func literal(_ text: String) -> String {
            var out = "\""
            for c in text.unicodeScalars {
                switch c {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                default: out.unicodeScalars.append(c)
                }
            }
            return out + "\""
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
