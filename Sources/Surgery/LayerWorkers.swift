import Foundation
import Runtime

/// A shot's layers as its workers see them: each worker reads a layer of the model, works on its own
/// float64 copy and writes it back, all model access under one lock (the workers run concurrently).
final class LayerAccess: @unchecked Sendable {
    private let model: CausalLM
    private let lock = NSLock()

    init(_ model: CausalLM) { self.model = model }

    /// The layer `name` as a float64 working copy.
    func prunable(_ name: String) throws -> PrunableLayer {
        lock.lock()
        let lin = model.linear(name)
        lock.unlock()
        guard let lin else { throw SurgeryError.invalidTarget("no layer \(name)") }
        return PrunableLayer(name: name, linear: lin)
    }

    /// Writes a worked copy back into the model.
    func replace(_ layer: PrunableLayer) throws {
        lock.lock()
        defer { lock.unlock() }
        guard var lin = model.linear(layer.name) else { throw SurgeryError.invalidTarget("no layer \(layer.name)") }
        try layer.write(into: &lin)
        model.setLinear(layer.name, lin)
    }
}

/// Runs body(i) for every layer on the workers; each body returns a closure that stores its result,
/// run under a lock. The first error is rethrown. With `progress`, a line "WHAT: k of n layers, T s"
/// goes to it at most every `interval` seconds (a billion-parameter layer's work takes minutes; small
/// models say nothing).
func parallelLayers(_ n: Int, progress: ((String) -> Void)? = nil, what: String = "layers", interval: TimeInterval = 30,
                    _ body: (Int) throws -> () -> Void) throws {
    var failure: Error?
    var finished = 0
    let start = Date()
    var lastReport = start
    let lock = NSLock()
    Parallel.forEach(n) { i in
        do {
            let store = try body(i)
            lock.lock()
            store()
            finished += 1
            let now = Date()
            if let progress, now.timeIntervalSince(lastReport) >= interval, finished < n {
                lastReport = now
                progress(String(format: "%@: %d of %d layers, %.0f s", what, finished, n, now.timeIntervalSince(start)))
            }
            lock.unlock()
        } catch {
            lock.lock(); failure = failure ?? error; lock.unlock()
        }
    }
    if let failure { throw failure }
}
