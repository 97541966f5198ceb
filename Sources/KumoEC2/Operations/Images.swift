import GRDB
import KumoCore
import KumoProtocols
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Images: in Kumo an AMI is a description of what an instance runs. `ami-kumo-linux` runs the
/// user data as a shell script (as cloud-init would); an image registered with a `kumo:command`
/// tag (or a description `kumo:command=...`) runs that command as well, in its `kumo:directory`
/// when given.
extension EC2 {
    static let builtInImage = "ami-kumo-linux"

    static func imageNotFound(_ id: String) -> AWSError {
        AWSError(code: "InvalidAMIID.NotFound", message: "The image id '[\(id)]' does not exist")
    }

    static func builtInImageShape(region: String) -> ShapeValue {
        [
            "ImageId": .string(builtInImage), "Name": "kumo-linux", "State": "available", "OwnerId": "137112412989",
            "ImageOwnerAlias": "amazon", "Public": true, "Architecture": "x86_64", "ImageType": "machine",
            "Description": "Kumo's built-in image: an instance runs its user data as a shell script, as cloud-init does.",
            "RootDeviceType": "ebs", "RootDeviceName": "/dev/xvda", "VirtualizationType": "hvm", "Hypervisor": "xen",
            "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances", "CreationDate": "2026-01-01T00:00:00.000Z",
            "EnaSupport": true, "BlockDeviceMappings": [], "Tags": [],
        ]
    }

    /// What a registered image runs: its command and directory (from tags, else the description).
    static func imageLaunch(_ shape: ShapeValue, tags: [String: String]) -> (command: String?, directory: String?) {
        var command = tags["kumo:command"]
        var directory = tags["kumo:directory"]
        for part in (shape["Description"]?.string ?? "").split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
            guard kv.count == 2 else { continue }
            if kv[0] == "kumo:command", command == nil { command = kv[1] }
            if kv[0] == "kumo:directory", directory == nil { directory = kv[1] }
        }
        return (command, directory)
    }

    func registerImage(_ call: OperationCall) async throws -> ShapeValue {
        let input = call.input
        let name = input["Name"]?.string ?? ""
        guard (3...128).contains(name.count), name.allSatisfy({ $0.isLetter || $0.isNumber || "()[] ./-'@_".contains($0) }) else {
            throw AWSError(code: "InvalidAMIName.Malformed", message: "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/', '_', ' ', '[', ']', ''' and '@'")
        }
        let id = ResourceID.ec2("ami")
        let shape: ShapeValue = [
            "ImageId": .string(id), "Name": .string(name), "Description": .string(input["Description"]?.string ?? ""), "State": "available",
            "OwnerId": .string(call.context.accountId), "Public": false, "Architecture": .string(input["Architecture"]?.string ?? "x86_64"),
            "ImageType": "machine", "RootDeviceType": "ebs", "RootDeviceName": .string(input["RootDeviceName"]?.string ?? "/dev/xvda"),
            "VirtualizationType": "hvm", "Hypervisor": "xen", "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances",
            "CreationDate": .string(Timestamp.iso8601(clock.now)), "EnaSupport": true, "BlockDeviceMappings": input["BlockDeviceMappings"] ?? [],
        ]
        try await store.write { db in
            let same = try ResourceRecord.filter(Column("accountId") == call.context.accountId && Column("region") == call.context.region && Column("type") == "image")
                .fetchAll(db).contains { ShapeValue(storageText: $0.body)["Name"]?.string == name }
            if same { throw AWSError(code: "InvalidAMIName.Duplicate", message: "AMI name \(name) is already in use by AMI \(id)") }
            try self.insert(db, call, id: id, type: "image", vpcId: nil, shape, tagType: "image")
        }
        return ["ImageId": .string(id)]
    }

    func deregisterImage(_ call: OperationCall) async throws -> ShapeValue {
        let id = call.input["ImageId"]?.string ?? ""
        try await store.write { db in
            let image = try self.resource(db, id, type: "image", call, notFound: Self.imageNotFound)
            try TagRecord.filter(Column("resourceId") == id).deleteAll(db)
            try image.delete(db)
        }
        return ["Return": true]
    }

    func describeImages(_ call: OperationCall) async throws -> ShapeValue {
        let account = call.context.accountId
        var rows = [Self.builtInImageShape(region: call.context.region)] + (try await resources(call, type: "image").map(\.1))
        let ids = (call.input["ImageIds"]?.list ?? []).compactMap(\.string)
        if !ids.isEmpty {
            try Self.requireIds(ids, found: Set(rows.compactMap { $0["ImageId"]?.string }), notFound: Self.imageNotFound)
            rows = rows.filter { ids.contains($0["ImageId"]?.string ?? "") }
        }
        let owners = (call.input["Owners"]?.list ?? []).compactMap(\.string)
        if !owners.isEmpty {
            rows = rows.filter { image in
                let owner = image["OwnerId"]?.string ?? ""
                return owners.contains { o in
                    o == owner || (o == "self" && owner == account) || (o == "amazon" && image["ImageOwnerAlias"]?.string == "amazon")
                }
            }
        }
        rows = rows.filter { Filters.matches($0, call.input["Filters"]?.list ?? []) }
        return ["Images": .list(rows)]
    }

    /// At RunInstances: the image must be Kumo's own or one registered here; what it runs.
    func imageLaunch(_ db: Database, imageId: String, region: String) throws -> (command: String?, directory: String?) {
        if imageId == Self.builtInImage { return (nil, nil) }
        guard let image = try ResourceRecord.fetchOne(db, key: imageId), image.type == "image", image.region == region else {
            // Any other AMI id behaves as Kumo's own image, so configurations written for AWS run unchanged.
            return (nil, nil)
        }
        let tags = Dictionary(try TagRecord.filter(Column("resourceId") == imageId).fetchAll(db).map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        return Self.imageLaunch(ShapeValue(storageText: image.body), tags: tags)
    }
}
