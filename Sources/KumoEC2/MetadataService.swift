import GRDB
import KumoCore
import KumoProtocols
import KumoStore
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The instance metadata service, at `<edge>/_kumo/imds/<instance-id>` — the URL instances get
/// in `AWS_EC2_METADATA_SERVICE_ENDPOINT`, which the AWS SDKs and CLI read. IMDSv1 and the
/// IMDSv2 token flow (`PUT /latest/api/token`).
final class MetadataService: Sendable {
    static let prefix = "/_kumo/imds/"
    let store: Store
    let clock: KumoClock
    private let tokens = Mutex<[String: (instance: String, expires: Date)]>([:])

    /// Where an instance profile's role credentials come from (STS).
    let credentials: (any RoleCredentialIssuer)?
    /// Credentials handed out per instance, renewed when less than 15 minutes are left.
    private let issued = Mutex<[String: RoleCredentials]>([:])

    init(store: Store, clock: KumoClock, credentials: (any RoleCredentialIssuer)?) {
        self.store = store
        self.clock = clock
        self.credentials = credentials
    }

    /// The `iam/` part of the metadata: the profile, its role, and the role's temporary credentials.
    func iam(_ path: String, instance: InstanceRecord) async -> ProtocolResponse? {
        let base = "/latest/meta-data/iam"
        guard path == base || path.hasPrefix(base + "/") else { return nil }
        guard let profile = EC2.attributes(instance)["iam.profile"], let role = EC2.profileRole(profile) else { return text(404, "Not Found") }
        let updated = Timestamp.iso8601(clock.now)
        switch String(path.dropFirst(base.count)) {
        case "", "/": return text(200, "info\nsecurity-credentials/")
        case "/info":
            let doc = JSONValue.object([
                ("Code", .string("Success")), ("LastUpdated", .string(updated)), ("InstanceProfileArn", .string(profile)),
                ("InstanceProfileId", .string(EC2.profileId(profile))),
            ])
            return text(200, doc.serialized(), type: "application/json")
        case "/security-credentials", "/security-credentials/": return text(200, role.name)
        case "/security-credentials/" + role.name:
            let now = clock.now
            var c = issued.withLock { $0[instance.id] }
            if c == nil || c!.expiration.timeIntervalSince(now) < 900 * clock.timeScale {
                c = try? await credentials?.roleCredentials(roleArn: role.arn, sessionName: instance.id, seconds: 21_600)
                if let c { issued.withLock { $0[instance.id] = c } }
            }
            guard let c else { return text(404, "Not Found") }
            let doc = JSONValue.object([
                ("Code", .string("Success")), ("LastUpdated", .string(updated)), ("Type", .string("AWS-HMAC")),
                ("AccessKeyId", .string(c.accessKeyId)), ("SecretAccessKey", .string(c.secretAccessKey)), ("Token", .string(c.sessionToken)),
                ("Expiration", .string(Timestamp.iso8601(c.expiration))),
            ])
            return text(200, doc.serialized(), type: "application/json")
        default: return text(404, "Not Found")
        }
    }

    var route: PathRoute { PathRoute(prefix: Self.prefix) { [self] request in await handle(request) } }

    func handle(_ request: HostRoute.Request) async -> ProtocolResponse {
        let rest = request.path.dropFirst(Self.prefix.count)
        let id = String(rest.prefix { $0 != "/" })
        let path = String(rest.dropFirst(id.count))
        guard let instance = try? await store.read({ db in try InstanceRecord.fetchOne(db, key: id) }), instance.state == "running" else {
            return text(404, "Not Found")
        }
        if path == "/latest/api/token" {
            guard request.method == "PUT" else { return text(405, "Method Not Allowed") }
            guard let ttl = request.header("X-aws-ec2-metadata-token-ttl-seconds").flatMap(Int.init), (1...21600).contains(ttl) else {
                return text(400, "Bad Request")
            }
            let token = ResourceID.token(length: 56)
            tokens.withLock { $0[token] = (id, clock.now.addingTimeInterval(Double(ttl))) }
            var response = text(200, token)
            response.headers.append(("X-aws-ec2-metadata-token-ttl-seconds", String(ttl)))
            return response
        }
        if let token = request.header("X-aws-ec2-metadata-token") {
            let valid = tokens.withLock { $0[token].map { $0.instance == id && $0.expires > clock.now } ?? false }
            guard valid else { return text(401, "Unauthorized") }
        }
        guard request.method == "GET" || request.method == "HEAD" else { return text(405, "Method Not Allowed") }
        let hostname = "ip-" + instance.privateIp.replacing(".", with: "-") + ".ec2.internal"
        let groups = (try? JSONValue.parse(instance.securityGroups))?.array?.compactMap(\.string) ?? []
        let values: [String: String] = [
            "ami-id": instance.imageId, "ami-launch-index": String(instance.launchIndex), "hostname": hostname, "instance-id": instance.id,
            "instance-type": instance.instanceType, "local-hostname": hostname, "local-ipv4": instance.privateIp,
            "mac": "0e:00:00:00:00:01", "placement/availability-zone": instance.availabilityZone, "placement/region": instance.region,
            "reservation-id": instance.reservationId, "security-groups": groups.joined(separator: "\n"),
        ]
        // The key pair the instance was launched with (its public half), as AWS serves it.
        let publicKey = try? await store.read { db -> String? in
            guard let name = instance.keyName else { return nil }
            return try EC2.publicKey(db, account: instance.accountId, region: instance.region, name: name)
        }
        if let answer = await iam(path, instance: instance) { return answer }
        switch path {
        case "/latest/meta-data/public-keys", "/latest/meta-data/public-keys/":
            guard let name = instance.keyName, publicKey != nil else { return text(404, "Not Found") }
            return text(200, "0=\(name)")
        case "/latest/meta-data/public-keys/0", "/latest/meta-data/public-keys/0/":
            return publicKey != nil ? text(200, "openssh-key") : text(404, "Not Found")
        case "/latest/meta-data/public-keys/0/openssh-key":
            guard let key = publicKey ?? nil else { return text(404, "Not Found") }
            return text(200, key + "\n")
        case "/latest/user-data": return instance.userData.isEmpty ? text(404, "Not Found") : text(200, instance.userData)
        case "/latest/meta-data", "/latest/meta-data/":
            let listed = values.keys.filter { !$0.contains("/") }.sorted() + ["placement/"] + ((publicKey ?? nil) != nil ? ["public-keys/"] : [])
                + (EC2.attributes(instance)["iam.profile"] != nil ? ["iam/"] : [])
            return text(200, listed.sorted().joined(separator: "\n"))
        case "/latest/meta-data/placement", "/latest/meta-data/placement/":
            return text(200, "availability-zone\nregion")
        case "/latest/dynamic/instance-identity/document":
            let doc = JSONValue.object([
                ("accountId", .string(instance.accountId)), ("architecture", .string("x86_64")), ("availabilityZone", .string(instance.availabilityZone)),
                ("imageId", .string(instance.imageId)), ("instanceId", .string(instance.id)), ("instanceType", .string(instance.instanceType)),
                ("pendingTime", .string(Timestamp.iso8601(instance.launchTime))), ("privateIp", .string(instance.privateIp)),
                ("region", .string(instance.region)), ("version", .string("2017-09-30")),
            ])
            return text(200, doc.serialized(), type: "application/json")
        default:
            let key = path.hasPrefix("/latest/meta-data/") ? String(path.dropFirst("/latest/meta-data/".count)) : ""
            guard let value = values[key] else { return text(404, "Not Found") }
            return text(200, value)
        }
    }

    func text(_ status: Int, _ body: String, type: String = "text/plain") -> ProtocolResponse {
        ProtocolResponse(status: status, headers: [("Content-Type", type), ("Server", "EC2ws")], body: Array(body.utf8))
    }
}
