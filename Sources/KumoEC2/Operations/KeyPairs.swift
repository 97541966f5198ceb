import Crypto
import GRDB
import KumoCore
import KumoProtocols
import KumoStore
import _CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Key pairs: made by Kumo (RSA or ED25519, the private key returned once) or imported from an
/// OpenSSH public key; instances named with one find its public key in the metadata service.
extension EC2 {
    static func keyPairNotFound(_ name: String) -> AWSError {
        AWSError(code: "InvalidKeyPair.NotFound", message: "The key pair '\(name)' does not exist")
    }

    /// OpenSSH's wire encoding: a length-prefixed string or byte run.
    static func sshString(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        let b = Array(bytes)
        return withUnsafeBytes(of: UInt32(b.count).bigEndian) { Array($0) } + b
    }

    /// An unsigned big number as an SSH `mpint` (a leading zero when the top bit is set).
    static func sshMPInt(_ data: Data) -> [UInt8] {
        var b = Array(data.drop { $0 == 0 })
        if let first = b.first, first & 0x80 != 0 { b.insert(0, at: 0) }
        return sshString(b)
    }

    /// A new key: (type, private key text, OpenSSH public key line, fingerprint as AWS shows it).
    static func makeKeyPair(type: String, name: String) throws -> (material: String, publicKey: String, fingerprint: String) {
        if type == "ed25519" {
            let key = Curve25519.Signing.PrivateKey()
            let pub = Array(key.publicKey.rawRepresentation)
            let blob = sshString(Array("ssh-ed25519".utf8)) + sshString(pub)
            let check = withUnsafeBytes(of: UInt32.random(in: 0...UInt32.max)) { Array($0) }
            var secret = check + check + sshString(Array("ssh-ed25519".utf8)) + sshString(pub)
            secret += sshString(Array(key.rawRepresentation) + pub) + sshString(Array(name.utf8))
            var pad: UInt8 = 1
            while secret.count % 8 != 0 { secret.append(pad); pad += 1 }
            let body = Array("openssh-key-v1\0".utf8) + sshString(Array("none".utf8)) + sshString(Array("none".utf8)) + sshString([UInt8]())
                + withUnsafeBytes(of: UInt32(1).bigEndian) { Array($0) } + sshString(blob) + sshString(secret)
            let base64 = Data(body).base64EncodedString()
            let lines = stride(from: 0, to: base64.count, by: 70).map { i in
                String(base64.dropFirst(i).prefix(70))
            }
            let material = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + lines.joined(separator: "\n") + "\n-----END OPENSSH PRIVATE KEY-----"
            let fingerprint = Data(SHA256.hash(data: blob)).base64EncodedString()
            return (material, "ssh-ed25519 " + Data(blob).base64EncodedString(), fingerprint)
        }
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let primitives = try key.publicKey.getKeyPrimitives()
        let blob = sshString(Array("ssh-rsa".utf8)) + sshMPInt(primitives.publicExponent) + sshMPInt(primitives.modulus)
        // AWS shows a key it made by the SHA-1 of its private key (PKCS#8 DER).
        let pkcs8 = try Data(_RSA.Signing.PrivateKey(pemRepresentation: key.pkcs8PEMRepresentation).derRepresentation)
        return (key.pemRepresentation, "ssh-rsa " + Data(blob).base64EncodedString(), Hashing.colonHex(Insecure.SHA1.hash(data: pkcs8)))
    }

    /// An imported OpenSSH public key line: (type, normalized line, fingerprint as AWS shows it).
    static func importedKey(_ text: String) -> (type: String, publicKey: String, fingerprint: String)? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        guard fields.count >= 2, let blob = Data(base64Encoded: String(fields[1])) else { return nil }
        let bytes = Array(blob)
        var at = 0
        func next() -> [UInt8]? {
            guard at + 4 <= bytes.count else { return nil }
            let n = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            guard at + 4 + n <= bytes.count else { return nil }
            defer { at += 4 + n }
            return Array(bytes[(at + 4)..<(at + 4 + n)])
        }
        guard let kind = next().map({ String(decoding: $0, as: UTF8.self) }), kind == fields[0] else { return nil }
        let line = "\(kind) \(fields[1])"
        switch kind {
        case "ssh-ed25519":
            guard let pub = next(), pub.count == 32 else { return nil }
            return ("ed25519", line, Data(SHA256.hash(data: bytes)).base64EncodedString())
        case "ssh-rsa":
            guard let e = next(), let n = next(), let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { return nil }
            // AWS shows an imported RSA key by the MD5 of its public key (DER).
            return ("rsa", line, Hashing.colonHex(Insecure.MD5.hash(data: key.derRepresentation)))
        default:
            return nil
        }
    }

    func keyPairs(_ db: Database, _ call: OperationCall) throws -> [ResourceRecord] {
        try ResourceRecord.filter(Column("accountId") == call.context.accountId && Column("region") == call.context.region && Column("type") == "key-pair")
            .order(Column("id")).fetchAll(db)
    }

    func storeKeyPair(_ call: OperationCall, type: String, publicKey: String, fingerprint: String) async throws -> ShapeValue {
        let name = call.input["KeyName"]?.string ?? ""
        guard !name.isEmpty, name.utf8.count <= 255 else {
            throw AWSError(code: "InvalidParameterValue", message: "Value (\(name)) for parameter keyName is invalid. Length exceeds maximum of 255.")
        }
        let id = ResourceID.ec2("key")
        let shape: ShapeValue = [
            "KeyPairId": .string(id), "KeyName": .string(name), "KeyType": .string(type), "KeyFingerprint": .string(fingerprint),
            "PublicKey": .string(publicKey + " " + name), "CreateTime": .timestamp(clock.now),
        ]
        try await store.write { db in
            if try self.keyPairs(db, call).contains(where: { ShapeValue(storageText: $0.body)["KeyName"]?.string == name }) {
                throw AWSError(code: "InvalidKeyPair.Duplicate", message: "The keypair '\(name)' already exists.")
            }
            try self.insert(db, call, id: id, type: "key-pair", vpcId: nil, shape, tagType: "key-pair")
        }
        return created(call, shape, tagType: "key-pair")
    }

    func createKeyPair(_ call: OperationCall) async throws -> ShapeValue {
        let type = call.input["KeyType"]?.string ?? "rsa"
        guard type == "rsa" || type == "ed25519" else {
            throw AWSError(code: "InvalidParameterValue", message: "Value (\(type)) for parameter keyType is invalid. Valid values: rsa, ed25519.")
        }
        guard (call.input["KeyFormat"]?.string ?? "pem") == "pem" else {
            throw AWSError(code: "InvalidParameterValue", message: "Kumo makes key pairs in pem format only; convert with puttygen for .ppk.")
        }
        let made = try Self.makeKeyPair(type: type, name: call.input["KeyName"]?.string ?? "")
        guard case .structure(var m) = try await storeKeyPair(call, type: type, publicKey: made.publicKey, fingerprint: made.fingerprint) else {
            return .empty
        }
        m["KeyMaterial"] = .string(made.material)
        return .structure(m)
    }

    func importKeyPair(_ call: OperationCall) async throws -> ShapeValue {
        let text: String =
            switch call.input["PublicKeyMaterial"] {
            case .blob(let b)?: String(decoding: b, as: UTF8.self)
            case .string(let s)?: s
            default: ""
            }
        // The CLI and SDKs send the file's bytes; some send them base64-encoded once more.
        guard let key = Self.importedKey(text) ?? Data(base64Encoded: text).flatMap({ Self.importedKey(String(decoding: $0, as: UTF8.self)) }) else {
            throw AWSError(code: "InvalidKey.Format", message: "Key is not in valid OpenSSH public key format")
        }
        return try await storeKeyPair(call, type: key.type, publicKey: key.publicKey, fingerprint: key.fingerprint)
    }

    func describeKeyPairs(_ call: OperationCall) async throws -> ShapeValue {
        var rows = try await resources(call, type: "key-pair").map(\.1)
        let names = (call.input["KeyNames"]?.list ?? []).compactMap(\.string)
        if !names.isEmpty {
            try Self.requireIds(names, found: Set(rows.compactMap { $0["KeyName"]?.string }), notFound: Self.keyPairNotFound)
            rows = rows.filter { names.contains($0["KeyName"]?.string ?? "") }
        }
        let ids = (call.input["KeyPairIds"]?.list ?? []).compactMap(\.string)
        if !ids.isEmpty {
            try Self.requireIds(ids, found: Set(rows.compactMap { $0["KeyPairId"]?.string }), notFound: Self.keyPairNotFound)
            rows = rows.filter { ids.contains($0["KeyPairId"]?.string ?? "") }
        }
        let withPublic = call.input["IncludePublicKey"]?.bool == true
        rows = rows.filter { Filters.matches($0, call.input["Filters"]?.list ?? []) }.map { r in
            guard !withPublic, case .structure(var m) = r else { return r }
            m["PublicKey"] = nil
            return .structure(m)
        }
        return ["KeyPairs": .list(rows)]
    }

    func deleteKeyPair(_ call: OperationCall) async throws -> ShapeValue {
        let name = call.input["KeyName"]?.string, id = call.input["KeyPairId"]?.string
        let removed = try await store.write { db -> String? in
            guard let r = try self.keyPairs(db, call).first(where: { r in
                let shape = ShapeValue(storageText: r.body)
                return (name != nil && shape["KeyName"]?.string == name) || (id != nil && r.id == id)
            }) else { return nil }
            try TagRecord.filter(Column("resourceId") == r.id).deleteAll(db)
            try r.delete(db)
            return r.id
        }
        var out: [String: ShapeValue] = ["Return": true]
        if let removed { out["KeyPairId"] = .string(removed) }
        return .structure(out)
    }

    /// The public key of a key pair by name (nil when none).
    static func publicKey(_ db: Database, account: String, region: String, name: String) throws -> String? {
        try ResourceRecord.filter(Column("accountId") == account && Column("region") == region && Column("type") == "key-pair").fetchAll(db)
            .map { ShapeValue(storageText: $0.body) }.first { $0["KeyName"]?.string == name }?["PublicKey"]?.string
    }
}
