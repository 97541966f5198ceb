import Dispatch
import Synchronization

/// Work started on another thread now and awaited later. Start-up opens the store this way (a first
/// start creates every table) while it reads the models' index and binds the DNS sockets.
final class InBackground<Value: Sendable>: Sendable {
    private let state = Mutex<(result: Result<Value, any Error>?, waiter: CheckedContinuation<Value, any Error>?)>((nil, nil))

    init(_ work: @escaping @Sendable () throws -> Value) {
        DispatchQueue.global().async { [self] in
            let result = Result { try work() }
            let waiter = state.withLock { s -> CheckedContinuation<Value, any Error>? in
                s.result = result
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(with: result)
        }
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                let result = state.withLock { s -> Result<Value, any Error>? in
                    if s.result == nil { s.waiter = c }
                    return s.result
                }
                if let result { c.resume(with: result) }
            }
        }
    }
}
