import ArgumentParser
import KumoProtocols

struct AdminOptions: ParsableArguments {
    @Option(help: "Host of the running kumo (env KUMO_HOST).")
    var host: String = Environment.string("KUMO_HOST") ?? "127.0.0.1"

    @Option(help: "Edge port of the running kumo (env KUMO_PORT).")
    var port: Int = Environment.int("KUMO_PORT") ?? 4566
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether kumo is running, its listeners and its services.",
        discussion: "Reads /_kumo/health of a running kumo. Exits 1 when none answers.")

    @OptionGroup var options: AdminOptions

    @Flag(help: "Print the raw JSON.")
    var json = false

    func run() throws {
        let (status, body) = try AdminClient.request(method: "GET", host: options.host, port: options.port, path: "/_kumo/health")
        guard status == 200 else { throw ValidationError("kumo answered HTTP \(status): \(body)") }
        if json { print(body, terminator: ""); return }
        let health = try JSONValue.parse(body)
        print("kumo \(health["version"]?.string ?? "?") is running (up \(health["uptimeSeconds"]?.double.map { String(Int($0)) } ?? "?") s)")
        for l in health["listeners"]?.array ?? [] {
            print("  \(l["name"]?.string ?? "?"): \(l["address"]?.string ?? "?")")
        }
        let services = health["services"]?.object ?? []
        let running = services.filter { $0.1.string == "running" }.map(\.0)
        print("  services running: \(running.joined(separator: ", "))")
        print("  known but not implemented yet: \(services.count - running.count)")
    }
}

struct Reset: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete all resources in a running kumo (or those of one service).",
        discussion: "Example: kumo reset --service sts")

    @OptionGroup var options: AdminOptions

    @Option(help: "Only reset this service (its model name, e.g. s3, sqs, sts).")
    var service: String?

    func run() throws {
        let path = "/_kumo/reset" + (service.map { "?service=" + FormEncoding.escape($0) } ?? "")
        let (status, body) = try AdminClient.request(method: "POST", host: options.host, port: options.port, path: path)
        guard status == 200 else { throw ValidationError("reset failed (HTTP \(status)): \(body)") }
        print(body, terminator: "")
    }
}
