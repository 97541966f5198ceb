import KumoCore

/// Converts between XML elements and shape values, following the model's XML
/// traits (locationName, flattened, xmlAttribute, xmlNamespace).
///
/// Shared by the query, ec2 and rest-xml protocols.
struct XMLShapeCodec {
    let model: ServiceModel
    /// A flattened list's elements are named by the list's member (query, ec2: `<Message>` for
    /// SQS's `Messages`) or by the structure member (rest-xml, as Smithy's test vectors say).
    var flattenedListsUseMemberName = true
    var timestampFormat: TimestampFormat = .iso8601

    /// Members in these locations live outside the body; `uri` and `querystring` members of an
    /// output are serialized in the body, since responses have neither.
    static func isBody(_ ref: MemberRef) -> Bool {
        ref.location == nil || ref.location == "uri" || ref.location == "querystring"
    }

    func flattenedName(_ name: String, _ ref: MemberRef, _ target: Shape) -> String {
        flattenedListsUseMemberName
            ? target.member?.locationName ?? ref.locationName ?? name
            : ref.locationName ?? name
    }

    // MARK: decoding

    func decodeStructure(_ element: XMLElement, shape: Shape, path: String = "") throws(AWSError) -> ShapeValue {
        var out: [String: ShapeValue] = [:]
        for (name, ref) in shape.members {
            if !Self.isBody(ref) { continue }
            if ref.xmlAttribute {
                let attr = ref.locationName ?? name
                if let v = element.attributes.first(where: { $0.name == attr })?.value ?? element.attribute(attr) {
                    out[name] = try ScalarText.parse(v, shape: model.shape(ref), timestampFormat: format(ref), where: path + name)
                }
                continue
            }
            let target = model.shape(ref)
            if target.type == .list && (ref.flattened ?? target.flattened) {
                let items = element.children(flattenedName(name, ref, target))
                if !items.isEmpty {
                    out[name] = .list(try items.map { e throws(AWSError) in try decode(e, ref: target.member!, path: path + name) })
                }
                continue
            }
            if target.type == .map && (ref.flattened ?? target.flattened) {
                let key = ref.locationName ?? name
                let entries = element.children(key)
                if !entries.isEmpty { out[name] = try decodeMapEntries(entries, shape: target, path: path + name) }
                continue
            }
            if let child = element.child(ref.locationName ?? name) {
                out[name] = try decode(child, ref: ref, path: path + name)
            }
        }
        return .structure(out)
    }

    func format(_ ref: MemberRef) -> TimestampFormat {
        TimestampFormat(model: ref.timestampFormat ?? model.shape(ref).timestampFormat) ?? timestampFormat
    }

    func decode(_ element: XMLElement, ref: MemberRef, path: String) throws(AWSError) -> ShapeValue {
        let shape = model.shape(ref)
        switch shape.type {
        case .structure, .union:
            return try decodeStructure(element, shape: shape, path: path + ".")
        case .list:
            guard let member = shape.member else { return .list([]) }
            let itemName = member.locationName ?? "member"
            var items = element.children(itemName)
            if items.isEmpty { items = element.children }
            return .list(try items.map { e throws(AWSError) in try decode(e, ref: member, path: path) })
        case .map:
            return try decodeMapEntries(element.children("entry"), shape: shape, path: path)
        default:
            return try ScalarText.parse(element.text, shape: shape, timestampFormat: format(ref), where: path)
        }
    }

    func decodeMapEntries(_ entries: [XMLElement], shape: Shape, path: String) throws(AWSError) -> ShapeValue {
        guard let keyRef = shape.key, let valueRef = shape.value else { return .map([:]) }
        var out: [String: ShapeValue] = [:]
        for entry in entries {
            guard let k = entry.child(keyRef.locationName ?? "key") else { continue }
            if let v = entry.child(valueRef.locationName ?? "value") {
                out[k.text] = try decode(v, ref: valueRef, path: path)
            } else if shape.sparse {
                out[k.text] = .null
            }
        }
        return .map(out)
    }

    // MARK: encoding

    /// The children (and attributes) of a structure's element.
    func encodeStructure(_ value: ShapeValue, shape: Shape, into element: inout XMLElement) {
        guard let members = value.members else { return }
        for (name, ref) in shape.members {
            guard Self.isBody(ref), let v = members[name] else { continue }
            if ref.xmlText {
                element.text = ScalarText.format(v, timestampFormat: format(ref))
                continue
            }
            if ref.xmlAttribute {
                element.attributes.append((ref.locationName ?? name, ScalarText.format(v, timestampFormat: format(ref))))
                if let ns = ref.xmlNamespace, let prefix = ns.prefix {
                    let decl = "xmlns:" + prefix
                    if !element.attributes.contains(where: { $0.name == decl }) { element.attributes.append((decl, ns.uri)) }
                }
                continue
            }
            let target = model.shape(ref)
            if target.type == .list && (ref.flattened ?? target.flattened), let member = target.member {
                let key = flattenedName(name, ref, target)
                for item in v.list ?? [] { element.children.append(encode(item, ref: member, name: key)) }
                continue
            }
            if target.type == .map && (ref.flattened ?? target.flattened) {
                for entry in mapEntries(v, shape: target, entryName: ref.locationName ?? name) { element.children.append(entry) }
                continue
            }
            element.children.append(encode(v, ref: ref, name: ref.locationName ?? name))
        }
    }

    func encode(_ value: ShapeValue, ref: MemberRef, name: String) -> XMLElement {
        let shape = model.shape(ref)
        var element = XMLElement(name: name)
        if let ns = ref.xmlNamespace ?? shape.xmlNamespace {
            element.attributes.append((ns.prefix.map { "xmlns:" + $0 } ?? "xmlns", ns.uri))
        }
        switch shape.type {
        case .structure, .union:
            encodeStructure(value, shape: shape, into: &element)
        case .list:
            if let member = shape.member {
                let itemName = member.locationName ?? "member"
                for item in value.list ?? [] { element.children.append(encode(item, ref: member, name: itemName)) }
            }
        case .map:
            element.children = mapEntries(value, shape: shape, entryName: "entry")
        default:
            element.text = ScalarText.format(value, timestampFormat: format(ref))
        }
        return element
    }

    func mapEntries(_ value: ShapeValue, shape: Shape, entryName: String) -> [XMLElement] {
        guard let keyRef = shape.key, let valueRef = shape.value, let members = value.members else { return [] }
        return members.keys.sorted().map { k in
            var entry = XMLElement(name: entryName)
            entry.children.append(XMLElement(name: keyRef.locationName ?? "key", text: k))
            if let v = members[k], v != .null {
                entry.children.append(encode(v, ref: valueRef, name: valueRef.locationName ?? "value"))
            }
            return entry
        }
    }
}
