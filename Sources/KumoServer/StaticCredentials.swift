public import KumoCore
import KumoProtocols
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Long-term credentials: the default `test`/`test` root of the default
/// account, plus any declared in a credentials file (`--credentials FILE`).
///
/// The file is JSON:
/// ```json
/// {"credentials": [
///   {"accessKeyId": "AKIAALICE", "secretAccessKey": "alice-secret", "accountId": "111111111111", "userName": "alice"}
/// ]}
/// ```
/// An entry without `userName` is the account's root user.
public struct StaticCredentials: CredentialProvider {
    let identities: [String: Identity]

    /// `services` are the keys Kumo's own services sign with (CloudFront's origin access control).
    public init(defaultAccount: String, file: String? = nil, services: [Identity] = []) throws {
        var identities: [String: Identity] = [
            "test": Identity(accessKeyId: "test", secretAccessKey: "test", accountId: defaultAccount, kind: .root, name: "root")
        ]
        for s in services { identities[s.accessKeyId] = s }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw AWSError(code: "CredentialsFile", message: "cannot read the credentials file \(file)")
            }
            let json = try JSONValue.parse(Array(data))
            for entry in json["credentials"]?.array ?? [] {
                guard let key = entry["accessKeyId"]?.string, let secret = entry["secretAccessKey"]?.string else {
                    throw AWSError(code: "CredentialsFile", message: "each entry of \(file) needs accessKeyId and secretAccessKey")
                }
                let account = entry["accountId"]?.string ?? defaultAccount
                guard account.count == 12, account.allSatisfy(\.isNumber) else {
                    throw AWSError(code: "CredentialsFile", message: "accountId of \(key) in \(file) must be 12 digits")
                }
                let user = entry["userName"]?.string
                identities[key] = Identity(
                    accessKeyId: key, secretAccessKey: secret, accountId: account, kind: user == nil ? .root : .user,
                    name: user ?? "root", userId: user == nil ? account : "AIDA" + String(Hashing.sha256Hex(Array(key.utf8)).uppercased().prefix(17)))
            }
        }
        self.identities = identities
    }

    public func identity(forAccessKey accessKeyId: String) async throws -> Identity? { identities[accessKeyId] }
}

/// Asks each provider in turn.
public struct CredentialChain: CredentialProvider {
    let providers: [any CredentialProvider]

    public init(_ providers: [any CredentialProvider]) { self.providers = providers }

    public func identity(forAccessKey accessKeyId: String) async throws -> Identity? {
        for p in providers {
            if let i = try await p.identity(forAccessKey: accessKeyId) { return i }
        }
        return nil
    }
}
