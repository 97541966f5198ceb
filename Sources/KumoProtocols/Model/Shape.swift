/// A reference from a structure member, list member, map key/value, or an
/// operation's input/output to a named shape, with the serialization traits
/// botocore puts on the reference.
public struct MemberRef: Sendable {
    public var shape: String
    /// `header`, `headers` (prefix map), `querystring`, `uri`, `statusCode`, or nil for the body.
    public var location: String?
    public var locationName: String?
    public var queryName: String?
    public var flattened: Bool?
    public var xmlAttribute: Bool
    public var xmlNamespace: XMLNamespace?
    public var timestampFormat: String?
    public var streaming: Bool
    public var jsonValue: Bool
    public var hostLabel: Bool
    public var idempotencyToken: Bool
    /// Output references of query services: the `<OpResult>` element name.
    public var resultWrapper: String?
    /// The member is the text of its structure's element (Smithy's `@xmlText`; added to S3's
    /// GetBucketLocation output by Scripts/refresh-models.py because botocore drops it).
    public var xmlText: Bool

    public struct XMLNamespace: Sendable, Equatable {
        public var prefix: String?
        public var uri: String
    }

    init(_ json: JSONValue) {
        shape = json["shape"]?.string ?? ""
        location = json["location"]?.string
        locationName = json["locationName"]?.string
        queryName = json["queryName"]?.string
        flattened = json["flattened"]?.bool
        xmlAttribute = json["xmlAttribute"]?.bool ?? false
        xmlNamespace = XMLNamespace(json["xmlNamespace"])
        timestampFormat = json["timestampFormat"]?.string
        streaming = json["streaming"]?.bool ?? false
        jsonValue = json["jsonvalue"]?.bool ?? false
        hostLabel = json["hostLabel"]?.bool ?? false
        idempotencyToken = json["idempotencyToken"]?.bool ?? false
        resultWrapper = json["resultWrapper"]?.string
        xmlText = json["xmlText"]?.bool ?? false
    }

    public init(shape: String) {
        self.init(.object([("shape", .string(shape))]))
    }
}

extension MemberRef.XMLNamespace {
    init?(_ json: JSONValue?) {
        guard let json else { return nil }
        if let uri = json.string { self.init(prefix: nil, uri: uri); return }
        guard let uri = json["uri"]?.string else { return nil }
        self.init(prefix: json["prefix"]?.string, uri: uri)
    }
}

/// The kinds of shape in AWS's models.
public enum ShapeType: String, Sendable {
    case structure, list, map, string, integer, long, short, byte, float, double, bigdecimal, biginteger
    case boolean, timestamp, blob, document, union
}

/// A named shape of a service model. A class: the protocol layer looks shapes up many times per
/// request, and a copy of this many fields costs a retain and a release of each.
public final class Shape: Sendable {
    public let name: String
    public let type: ShapeType
    /// Structure members in model order.
    public let members: [(name: String, ref: MemberRef)]
    public let required: Set<String>
    /// List element.
    public let member: MemberRef?
    public let key: MemberRef?
    public let value: MemberRef?
    public let enumValues: [String]?
    public let min: Double?
    public let max: Double?
    public let pattern: String?
    public let flattened: Bool
    public let locationName: String?
    public let xmlNamespace: MemberRef.XMLNamespace?
    public let timestampFormat: String?
    /// The member that is the HTTP payload (rest protocols).
    public let payload: String?
    public let isException: Bool
    public let isFault: Bool
    /// `error` trait: the code and status an exception shape is sent with.
    public let errorCode: String?
    public let errorStatus: Int?
    public let senderFault: Bool?
    public let streaming: Bool
    public let sparse: Bool
    public let isEventStream: Bool

    init(name: String, json: JSONValue) {
        self.name = name
        var type = ShapeType(rawValue: json["type"]?.string ?? "structure") ?? .structure
        if json["union"]?.bool == true { type = .union }
        if json["document"]?.bool == true { type = .document }
        self.type = type
        members = (json["members"]?.object ?? []).map { ($0.0, MemberRef($0.1)) }
        required = Set((json["required"]?.array ?? []).compactMap(\.string))
        member = json["member"].map(MemberRef.init)
        key = json["key"].map(MemberRef.init)
        value = json["value"].map(MemberRef.init)
        enumValues = json["enum"]?.array?.compactMap(\.string)
        min = json["min"]?.double
        max = json["max"]?.double
        pattern = json["pattern"]?.string
        flattened = json["flattened"]?.bool ?? false
        locationName = json["locationName"]?.string
        xmlNamespace = MemberRef.XMLNamespace(json["xmlNamespace"])
        timestampFormat = json["timestampFormat"]?.string
        payload = json["payload"]?.string
        isException = json["exception"]?.bool ?? false
        isFault = json["fault"]?.bool ?? false
        errorCode = json["error"]?["code"]?.string
        errorStatus = json["error"]?["httpStatusCode"]?.int
        senderFault = json["error"]?["senderFault"]?.bool
        streaming = json["streaming"]?.bool ?? false
        sparse = json["sparse"]?.bool ?? false
        isEventStream = json["eventstream"]?.bool ?? false
    }

    public func member(named name: String) -> MemberRef? { members.first { $0.name == name }?.ref }
}
