/// Where each member of a rest operation's input comes from, worked out once per operation
/// instead of on every request: the member list of the input shape walked, every target shape
/// looked up and the header names lower-cased when the plan is made, so a request only looks its
/// own headers up in a table.
final class RestInputPlan: Sendable {
    struct Binding: Sendable {
        let member: String
        /// The name on the wire: the URI label, query parameter or header.
        let wireName: String
        let ref: MemberRef
        let target: Shape
    }

    let shape: Shape
    let uri: [Binding]
    let query: [Binding]
    /// Query parameter names bound to members (the rest go to a map member, if any).
    let boundQueryNames: Set<String>
    /// Header bindings by lower-cased header name.
    let headers: [String: Binding]
    /// Members that take every header with a prefix (S3's `x-amz-meta-`): lower-cased prefix, member.
    let prefixHeaders: [(prefix: String, member: String)]
    /// Whether any member is carried in the body without a payload member.
    let hasBodyMembers: Bool

    init(shape: Shape, model: ServiceModel) {
        self.shape = shape
        var uri: [Binding] = [], query: [Binding] = [], headers: [String: Binding] = [:], prefixes: [(String, String)] = []
        for (name, ref) in shape.members {
            let binding = Binding(member: name, wireName: ref.locationName ?? name, ref: ref, target: model.shape(ref))
            switch ref.location {
            case "uri": uri.append(binding)
            case "querystring": query.append(binding)
            case "header": headers[binding.wireName.asciiLowercased] = binding
            case "headers": prefixes.append(((ref.locationName ?? "").asciiLowercased, name))
            default: break
            }
        }
        self.uri = uri
        self.query = query
        boundQueryNames = Set(query.map(\.wireName))
        self.headers = headers
        prefixHeaders = prefixes
        hasBodyMembers = shape.members.contains { $0.ref.location == nil }
    }
}
