import ArgumentParser
import KumoACM
import KumoAutoScaling
import KumoCloudFront
import KumoCloudWatch
import KumoCore
import KumoEC2
import KumoELB
import KumoLogs
import KumoRoute53
import KumoS3
import KumoSQS
import KumoSTS
import KumoStore

/// Every service's tables, migrated in this order; a new data dir is made from `baseline`
/// (SchemaBaseline.swift, written by `kumo store-baseline`) when it is current.
enum KumoStoreSchema {
    static var migrations: [StoreMigration] {
        STSProvider.migrations + ACMProvider.migrations + S3Provider.migrations + SQSProvider.migrations + Route53Provider.migrations
            + CloudFrontProvider.migrations + EC2Provider.migrations + ELBProvider.migrations + CloudWatchProvider.migrations
            + AutoScalingProvider.migrations + LogsProvider.migrations
    }
}

struct CA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Kumo's local certificate authority, which issues the certificates of ACM and HTTPS listeners.",
        subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the local CA's root certificate (PEM), to make clients trust Kumo's HTTPS.",
            discussion: """
                Kumo makes its certificate authority on first use and keeps it in the data dir, so the root \
                stays the same across restarts. Trust it for one command, or for the whole machine:

                  kumo ca export > kumo-ca.pem
                  curl --cacert kumo-ca.pem https://api.example.com:8443/
                  sudo cp kumo-ca.pem /usr/local/share/ca-certificates/kumo.crt && sudo update-ca-certificates
                """)

        @Option(help: "Kumo's data dir, as given to kumo up (env KUMO_DATA_DIR).")
        var dataDir: String = Environment.string("KUMO_DATA_DIR") ?? "./.kumo"

        func run() async throws {
            let store = try Store(directory: dataDir, migrations: KumoStoreSchema.migrations, baseline: KumoStoreSchema.baseline)
            let pem = try await ACMProvider(store: store, clock: KumoClock(timeScale: 1)).rootCertificatePEM()
            try store.close()
            print(pem.hasSuffix("\n") ? String(pem.dropLast()) : pem)
        }
    }
}
