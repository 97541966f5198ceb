import KumoProtocols
import KumoDNS
#if canImport(Glibc)
import Glibc
#endif

/// One libFuzzer entry point for every parser; the target is chosen by the
/// KUMO_FUZZ_TARGET environment variable (xml, json, cbor, query, sigv4, dns).
/// A parser may reject its input with an error; it must never crash or hang.
let target = getenvString("KUMO_FUZZ_TARGET") ?? "xml"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch target {
    case "xml":
        _ = try? XMLElement.parse(bytes)
    case "json":
        _ = try? JSONValue.parse(bytes)
    case "cbor":
        _ = try? CBORValue.decode(bytes)
    case "query":
        _ = FormEncoding.decode(Substring(decoding: bytes, as: UTF8.self))
    case "sigv4":
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? SigV4.claim(headers: [("Authorization", text), ("X-Amz-Date", "20260101T000000Z")], query: [])
        _ = try? SigV4.claim(headers: [], query: FormEncoding.decode(Substring(text)).map { (name: $0.0, value: $0.1) })
    case "dns":
        _ = try? DNSMessage.parse(bytes)
    default:
        break
    }
    return 0
}

#if KUMO_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM names an executable's entry point `<Target>_main`; hand control to libFuzzer's driver from there.
@_cdecl("KumoFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
#else
/// Without libFuzzer (a plain `swift build`), the target only explains itself.
@main struct FuzzHelp {
    static func main() {
        print("KumoFuzz holds libFuzzer targets for Kumo's parsers; run Scripts/fuzz.sh [seconds] [xml json cbor query sigv4].")
    }
}
#endif

func getenvString(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    return String(cString: p)
}
