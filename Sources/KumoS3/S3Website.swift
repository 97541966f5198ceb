public import KumoProtocols
import KumoCore
import GRDB
import KumoStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// S3 static website hosting: `http://<bucket>.s3-website.localhost:<port>/`
/// serves the bucket's objects anonymously, with index and error documents,
/// redirects and routing rules, and S3's HTML error pages.
public struct S3Website: Sendable {
    let s3: S3

    public var route: HostRoute {
        let site = self
        return HostRoute(label: "s3-website", claim: Self.bucket(host:suffix:), handle: { await site.handle($0) })
    }

    /// `<bucket>.s3-website.<suffix>`, `<bucket>.s3-website-<region>.<suffix>`, `<bucket>.s3-website.<region>.<suffix>`.
    static func bucket(host: String, suffix: String) -> String? {
        // Host names are ASCII: compared and split on UTF-8 bytes.
        guard host.utf8.count > suffix.utf8.count, host.utf8HasSuffix(suffix),
            host.utf8.dropLast(suffix.utf8.count).last == UInt8(ascii: ".")
        else { return nil }
        let labels = host.dropLast(suffix.utf8.count + 1).asciiSplit(UInt8(ascii: "."), omittingEmpty: false)
        guard let i = labels.lastIndex(where: { $0 == "s3-website" || $0.utf8HasPrefix("s3-website-") }), i > 0 else { return nil }
        let after = labels.count - i - 1
        guard after == 0 || (after == 1 && labels[i] == "s3-website") else { return nil }
        return labels[..<i].joined(separator: ".")
    }

    static func validate(_ config: ShapeValue) throws {
        if let redirect = config["RedirectAllRequestsTo"] {
            guard redirect["HostName"]?.string?.isEmpty == false else { throw AWSError.malformedXML() }
            if config["IndexDocument"] != nil || config["ErrorDocument"] != nil || config["RoutingRules"] != nil {
                throw AWSError(code: "InvalidArgument", message: "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.")
            }
            return
        }
        guard let suffix = config["IndexDocument"]?["Suffix"]?.string else {
            throw AWSError(code: "InvalidArgument", message: "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty")
        }
        guard !suffix.isEmpty, !suffix.contains("/") else {
            throw AWSError(code: "InvalidArgument", message: "The IndexDocument Suffix is not well formed")
        }
        for rule in config["RoutingRules"]?.list ?? [] where rule["Redirect"] == nil {
            throw AWSError(code: "InvalidArgument", message: "Invalid Request: Redirect element must be provided for each RoutingRule")
        }
    }

    struct Failure: Error {
        var status: Int
        var code: String
        var message: String
        var key: String?
    }

    func handle(_ request: HostRoute.Request) async -> ProtocolResponse {
        let requestId = RequestID.make()
        do {
            return try await serve(request)
        } catch let f as Failure {
            return Self.htmlError(f, requestId: requestId, head: request.method == "HEAD")
        } catch {
            return Self.htmlError(Failure(status: 500, code: "InternalError", message: "We encountered an internal error. Please try again."), requestId: requestId, head: false)
        }
    }

    func serve(_ request: HostRoute.Request) async throws -> ProtocolResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw Failure(status: 405, code: "MethodNotAllowed", message: "The specified method is not allowed against this resource.")
        }
        let name = request.name
        let found = try? await s3.bucketAndAccess(name)
        guard let (bucket, access) = found else {
            throw Failure(status: 404, code: "NoSuchBucket", message: "The specified bucket does not exist")
        }
        guard let config = try await s3.bucketConfig(name, .website) else {
            throw Failure(status: 404, code: "NoSuchWebsiteConfiguration", message: "The specified bucket does not have a website configuration")
        }
        var path = FormEncoding.unescape(Substring(request.path), plus: false)
        if path.hasPrefix("/") { path.removeFirst() }
        if let all = config["RedirectAllRequestsTo"] {
            let scheme = all["Protocol"]?.string ?? "http"
            return Self.redirect(status: 301, location: "\(scheme)://\(all["HostName"]?.string ?? "")/\(path)")
        }
        let rules = config["RoutingRules"]?.list ?? []
        if let redirect = Self.matchingRule(rules, key: path, errorCode: nil) {
            return Self.apply(redirect, key: path, host: request.header("Host"))
        }
        let index = config["IndexDocument"]?["Suffix"]?.string ?? "index.html"
        let key = path.isEmpty || path.hasSuffix("/") ? path + index : path
        do {
            return try await object(bucket: bucket, access: access, key: key, request: request, status: 200)
        } catch let f as Failure {
            // A "directory" without its trailing slash: redirect to it when it has an index document.
            if f.status == 404, !path.isEmpty, !path.hasSuffix("/"),
                (try? await object(bucket: bucket, access: access, key: path + "/" + index, request: request, status: 200)) != nil
            {
                return Self.redirect(status: 302, location: "/" + path + "/")
            }
            if let redirect = Self.matchingRule(rules, key: path, errorCode: f.status) {
                return Self.apply(redirect, key: path, host: request.header("Host"))
            }
            if let errorKey = config["ErrorDocument"]?["Key"]?.string, f.status == 404 || f.status == 403,
                let page = try? await object(bucket: bucket, access: access, key: errorKey, request: request, status: f.status)
            {
                return page
            }
            throw f
        }
    }

    /// An object served anonymously, as a website visitor fetches it.
    func object(bucket: BucketRecord, access: BucketAccess, key: String, request: HostRoute.Request, status: Int) async throws -> ProtocolResponse {
        let row = try await s3.store.read { db in try S3.fetchObject(db, bucket: bucket.name, key: key, versionId: nil) }
        let anonymous = PolicyPrincipal(accountId: nil, arn: nil, service: nil)
        do {
            try s3.authorize(
                principal: anonymous, sourceIp: request.remoteAddress, secure: request.secure, query: [], bucket, access, action: "s3:GetObject", key: key,
                objectACL: row?.acl)
        } catch {
            throw Failure(status: 403, code: "AccessDenied", message: "Access Denied")
        }
        guard let row, !row.isDeleteMarker, let blobName = row.blob else {
            throw Failure(status: 404, code: "NoSuchKey", message: "The specified key does not exist.", key: key)
        }
        if let location = row.headers["WebsiteRedirectLocation"] { return Self.redirect(status: 301, location: location) }
        var headers: [(name: String, value: String)] = [
            ("ETag", row.etag), ("Last-Modified", Timestamp.httpDate(row.lastModified)), ("Content-Length", String(row.size)),
            ("Content-Type", row.headers["ContentType"] ?? "binary/octet-stream"),
        ]
        for (member, header) in [("CacheControl", "Cache-Control"), ("ContentEncoding", "Content-Encoding"), ("ContentLanguage", "Content-Language"), ("ContentDisposition", "Content-Disposition"), ("Expires", "Expires")] {
            if let v = row.headers[member] { headers.append((header, v)) }
        }
        for (k, v) in row.metadata.sorted(by: { $0.key < $1.key }) { headers.append(("x-amz-meta-" + k, v)) }
        if status == 200 {
            if let inm = request.header("If-None-Match"), S3.etagMatches(inm, row.etag) {
                return ProtocolResponse(status: 304, headers: headers.filter { $0.name != "Content-Length" })
            }
        }
        var range: (start: Int64, length: Int64) = (0, row.size)
        var code = status
        if status == 200, let header = request.header("Range") {
            do {
                if let r = try S3.parseRange(header, size: row.size) {
                    range = r
                    code = 206
                    headers.removeAll { $0.name == "Content-Length" }
                    headers += [("Content-Length", String(r.length)), ("Content-Range", "bytes \(r.start)-\(r.start + r.length - 1)/\(row.size)")]
                }
            } catch {
                throw Failure(status: 416, code: "InvalidRange", message: "The requested range is not satisfiable")
            }
        }
        headers.append(("Accept-Ranges", "bytes"))
        guard request.method == "GET", let (blob, first) = try await s3.blobs.open(blobName, preload: range.start, length: range.length) else {
            return ProtocolResponse(status: code, headers: headers)
        }
        return ProtocolResponse(
            status: code, headers: headers, bodyStream: s3.blobs.stream(blob, offset: range.start, length: range.length, first: first))
    }

    static func matchingRule(_ rules: [ShapeValue], key: String, errorCode: Int?) -> ShapeValue? {
        for rule in rules {
            let condition = rule["Condition"]
            if let prefix = condition?["KeyPrefixEquals"]?.string, !key.hasPrefix(prefix) { continue }
            let wantedCode = condition?["HttpErrorCodeReturnedEquals"]?.string.flatMap { Int($0) }
            if let wantedCode {
                guard wantedCode == errorCode else { continue }
            } else if errorCode != nil {
                continue
            }
            if condition == nil && errorCode != nil { continue }
            return rule
        }
        return nil
    }

    static func apply(_ rule: ShapeValue, key: String, host: String?) -> ProtocolResponse {
        let redirect = rule["Redirect"] ?? .empty
        var newKey = key
        if let replace = redirect["ReplaceKeyWith"]?.string {
            newKey = replace
        } else if let replace = redirect["ReplaceKeyPrefixWith"]?.string {
            // The condition's prefix is replaced; without one, the replacement is prepended.
            let prefix = rule["Condition"]?["KeyPrefixEquals"]?.string ?? ""
            newKey = replace + key.dropFirst(prefix.count)
        }
        let code = redirect["HttpRedirectCode"]?.string.flatMap { Int($0) } ?? 301
        if let hostName = redirect["HostName"]?.string {
            let scheme = redirect["Protocol"]?.string ?? "http"
            return Self.redirect(status: code, location: "\(scheme)://\(hostName)/\(newKey)")
        }
        let scheme = redirect["Protocol"]?.string ?? "http"
        return Self.redirect(status: code, location: host.map { "\(scheme)://\($0)/\(newKey)" } ?? "/" + newKey)
    }

    static func redirect(status: Int, location: String) -> ProtocolResponse {
        ProtocolResponse(status: status, headers: [("Location", location), ("Content-Length", "0")])
    }

    static func htmlError(_ f: Failure, requestId: String, head: Bool) -> ProtocolResponse {
        let title = "\(f.status) \(statusText(f.status))"
        var items = ["Code: \(f.code)", "Message: \(f.message)"]
        if let key = f.key { items.append("Key: \(escape(key))") }
        items += ["RequestId: \(requestId)", "HostId: \(RequestID.extended())"]
        let html = """
            <html>
            <head><title>\(title)</title></head>
            <body>
            <h1>\(title)</h1>
            <ul>
            \(items.map { "<li>\($0)</li>" }.joined(separator: "\n"))
            </ul>
            <hr/>
            </body>
            </html>

            """
        let body = Array(html.utf8)
        return ProtocolResponse(
            status: f.status, headers: [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", String(body.count)), ("x-amz-request-id", requestId)],
            body: head ? [] : body)
    }

    static func statusText(_ status: Int) -> String {
        switch status {
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 416: "Requested Range Not Satisfiable"
        default: "Internal Server Error"
        }
    }

    static func escape(_ s: String) -> String {
        s.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
    }
}
