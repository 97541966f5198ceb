#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A value of some shape: what a protocol parser produces from a request and
/// what an operation returns for the serializer.
///
/// Structures and maps are keyed by member name (not wire name): operations
/// never see wire names.
public indirect enum ShapeValue: Sendable, Equatable {
    case structure([String: ShapeValue])
    case list([ShapeValue])
    case map([String: ShapeValue])
    case string(String)
    case integer(Int64)
    case double(Double)
    case boolean(Bool)
    case timestamp(Date)
    case blob([UInt8])
    /// A null in a sparse list or map, or a free-form document's null.
    case null
    /// A free-form document (`document` shapes) or a `jsonvalue` header.
    case document(JSONValue)
    /// A streaming blob (an S3 object body): read from the request or written to the response as it flows.
    case stream(ByteStream)
    /// An event stream output member: events written to the response as they happen.
    case events(EventSource)

    public static func == (lhs: ShapeValue, rhs: ShapeValue) -> Bool {
        switch (lhs, rhs) {
        case (.structure(let a), .structure(let b)), (.map(let a), .map(let b)): a == b
        case (.list(let a), .list(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.double(let a), .double(let b)): a == b || (a.isNaN && b.isNaN)
        case (.integer(let a), .double(let b)), (.double(let b), .integer(let a)): Double(a) == b
        case (.boolean(let a), .boolean(let b)): a == b
        case (.timestamp(let a), .timestamp(let b)): abs(a.timeIntervalSince1970 - b.timeIntervalSince1970) < 0.0005
        case (.blob(let a), .blob(let b)): a == b
        case (.null, .null): true
        case (.document(let a), .document(let b)): a == b
        default: false
        }
    }

    public static let empty = ShapeValue.structure([:])

    /// A structure member.
    public subscript(member: String) -> ShapeValue? {
        switch self {
        case .structure(let m), .map(let m): m[member]
        default: nil
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var int: Int? {
        switch self {
        case .integer(let i): Int(i)
        case .string(let s): Int(s)
        default: nil
        }
    }
    public var double: Double? {
        switch self {
        case .double(let d): d
        case .integer(let i): Double(i)
        default: nil
        }
    }
    public var bool: Bool? { if case .boolean(let b) = self { b } else { nil } }
    public var list: [ShapeValue]? { if case .list(let l) = self { l } else { nil } }
    public var members: [String: ShapeValue]? {
        switch self {
        case .structure(let m), .map(let m): m
        default: nil
        }
    }
    public var date: Date? { if case .timestamp(let d) = self { d } else { nil } }
    public var bytes: [UInt8]? { if case .blob(let b) = self { b } else { nil } }
    public var stream: ByteStream? { if case .stream(let s) = self { s } else { nil } }
}

extension ShapeValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    public init(dictionaryLiteral elements: (String, ShapeValue)...) {
        self = .structure(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(arrayLiteral elements: ShapeValue...) { self = .list(elements) }
}
