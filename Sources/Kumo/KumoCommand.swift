import ArgumentParser

@main
enum Main {
    static func main() async {
        EventLoopExecutor.install()
        await KumoCommand.main()
    }
}

struct KumoCommand: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "kumo",
        abstract: "The classic AWS web architecture, running for real on your machine.",
        discussion: """
            Kumo serves the real AWS APIs on one port, so the aws CLI, boto3, every SDK and \
            Terraform work unchanged when pointed at it:

              kumo up
              aws --endpoint-url http://localhost:4566 sts get-caller-identity

            Credentials: access key `test`, secret `test` (account 000000000000), or run with --no-auth.
            State lives in ./.kumo (change it with --data-dir) and survives restarts.
            """,
        version: version,
        subcommands: [Up.self, Status.self, Reset.self, CA.self, Version.self, StoreBaselineSource.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Kumo's version.")

    func run() {
        print("kumo \(KumoCommand.version)")
    }
}
