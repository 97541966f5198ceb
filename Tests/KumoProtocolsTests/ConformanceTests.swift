import Foundation
import Testing
@testable import KumoProtocols
import KumoCore

/// Runs AWS's protocol test vectors through Kumo's protocol layer.
///
/// Input cases run backwards: each case's serialized request is parsed with the
/// case's model and must give back the case's `params`. Output cases run as a
/// round trip: the case's `result` is serialized by Kumo, parsed back, and must
/// equal `result`; error cases must keep their code. Cases botocore itself skips
/// are skipped, and `KnownGaps` lists the rest that are skipped, with reasons.
@Suite struct ConformanceTests {
    static let files: [(String, WireProtocolName)] = [
        ("query", .query), ("ec2", .ec2), ("json", .json), ("json_1_0", .json), ("json_1_0-query-compatible", .json),
        ("rest-xml", .restXML), ("rest-json", .restJSON), ("smithy-rpc-v2-cbor", .rpcV2CBOR),
    ]

    @Test(arguments: files.map(\.0))
    func inputCases(file: String) throws {
        let name = Self.files.first { $0.0 == file }!.1
        let wire = WireProtocols.make(name)
        let ignored = try Conformance.ignored(file, "input")
        var passed = 0, skipped = 0
        var failures: [String] = []
        for c in try Conformance.load("input", file) {
            if ignored.suites.contains(c.suite) || ignored.cases.contains(c.id) || KnownGaps.input[c.id] != nil {
                skipped += 1
                continue
            }
            let s = c.json["serialized"]!
            let request = ProtocolRequest(
                method: s["method"]?.string ?? "POST", target: s["uri"]?.string ?? "/",
                headers: Conformance.headers(s["headers"]), body: Conformance.body(s["body"]?.string ?? "", protocol: name))
            do {
                let op = try wire.operationName(for: request, model: c.model)
                guard op == c.operation.name else {
                    failures.append("\(c.id): resolved operation \(op ?? "nil")")
                    continue
                }
                let parsed = try wire.parseInput(request, operation: c.operation, model: c.model)
                let expected = c.operation.input.map { Conformance.value(c.json["params"] ?? .object([]), ref: $0, model: c.model) } ?? .empty
                if Conformance.normalized(parsed) == Conformance.normalized(expected) {
                    passed += 1
                } else {
                    failures.append("\(c.id): parsed \(parsed) expected \(expected)")
                }
            } catch {
                failures.append("\(c.id): \(error)")
            }
        }
        print("conformance input \(file): \(passed) passed, \(failures.count) failed, \(skipped) skipped")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test(arguments: files.map(\.0))
    func outputCases(file: String) throws {
        let name = Self.files.first { $0.0 == file }!.1
        let wire = WireProtocols.make(name)
        let ignored = try Conformance.ignored(file, "output")
        var passed = 0, skipped = 0
        var failures: [String] = []
        for c in try Conformance.load("output", file) {
            if ignored.suites.contains(c.suite) || ignored.cases.contains(c.id) || KnownGaps.output[c.id] != nil {
                skipped += 1
                continue
            }
            do {
                if let code = c.json["errorCode"]?.string {
                    let status = c.json["response"]?["status_code"]?.int ?? 400
                    let error = AWSError(code: code, message: c.json["errorMessage"]?.string ?? "", status: status)
                    let response = wire.serializeError(error, operation: c.operation, model: c.model, requestId: "req-1")
                    let parsedCode = ErrorCodeReader.code(response, protocol: name, model: c.model)
                    if parsedCode == (c.model.shapes[code]?.errorCode ?? code) && response.status == status {
                        passed += 1
                    } else {
                        failures.append("\(c.id): error code \(parsedCode ?? "nil") status \(response.status)")
                    }
                    continue
                }
                let expected = c.operation.output.map { Conformance.value(c.json["result"] ?? .object([]), ref: $0, model: c.model) } ?? .empty
                let response = wire.serializeOutput(expected, operation: c.operation, model: c.model, requestId: "req-1")
                let parsed = try wire.parseOutput(response, operation: c.operation, model: c.model)
                if Conformance.normalized(parsed) == Conformance.normalized(expected) {
                    passed += 1
                } else {
                    failures.append("\(c.id): round trip gave \(parsed) expected \(expected)\n\(String(decoding: response.body, as: UTF8.self))")
                }
            } catch {
                failures.append("\(c.id): \(error)")
            }
        }
        print("conformance output \(file): \(passed) passed, \(failures.count) failed, \(skipped) skipped")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}

/// Reads an error's code back from a response the way each SDK does.
enum ErrorCodeReader {
    static func code(_ response: ProtocolResponse, protocol name: WireProtocolName, model: ServiceModel) -> String? {
        switch name {
        case .query:
            return (try? XMLElement.parse(response.body))?.child("Error")?.child("Code")?.text
        case .ec2:
            return (try? XMLElement.parse(response.body))?.child("Errors")?.child("Error")?.child("Code")?.text
        case .restXML:
            let root = try? XMLElement.parse(response.body)
            return (root?.name == "Error" ? root : root?.child("Error"))?.child("Code")?.text
        case .json, .restJSON:
            if model.metadata.awsQueryCompatible, let q = response.header("x-amzn-query-error") {
                return String(q.split(separator: ";").first ?? "")
            }
            if let h = response.header("x-amzn-ErrorType") { return String(h.split(separator: ":").first ?? "") }
            return (try? JSONValue.parse(response.body))?["__type"]?.string.map { String($0.split(separator: "#").last ?? "") }
        case .rpcV2CBOR:
            if case .text(let t)? = (try? CBORValue.decode(response.body))?["__type"] { return String(t.split(separator: "#").last ?? "") }
            return nil
        }
    }
}
