import EqGraph
import Foundation

/// Runs `body(i)` for i in 0..<count on up to `threads` threads, handing out
/// items in order as threads free up (per-layer work of very different sizes
/// balances itself). With one thread, or one item, it runs inline.
func concurrentForEach(_ count: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let workers = min(max(1, threads), count)
    guard workers > 1 else {
        for i in 0..<count { body(i) }
        return
    }
    let next = NextItem()
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while let i = next.take(below: count) { body(i) }
    }
}

/// The shared counter of `concurrentForEach`.
private final class NextItem: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func take(below count: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < count else { return nil }
        value += 1
        return value - 1
    }
}

/// One slot per item, read and written only by the thread that runs the item.
/// The storage is a raw buffer, not an array property: concurrent writes to
/// distinct elements of a class's array property trip Swift's exclusivity
/// check (an access to the property is an access to the whole array).
final class ConcurrentSlots<T>: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<T>

    init(_ values: [T]) {
        storage = .allocate(capacity: values.count)
        _ = storage.initialize(from: values)
    }

    deinit {
        storage.deinitialize()
        storage.deallocate()
    }

    /// Item k's slot.
    var pointers: UnsafeMutablePointer<T> { storage.baseAddress! }
}

/// Applies `edit(k, &op)` to the op of node `indices[k]` for every k, on up to
/// `threads` threads. Each op is moved out of the graph while it is edited,
/// so its weight is uniquely referenced and edited in place.
func editLayersConcurrently(_ graph: inout Graph, _ indices: [Int], threads: Int,
                            _ edit: @escaping @Sendable (Int, inout Op) -> Void) {
    let ops = ConcurrentSlots(indices.map { _ in Op.reshape(to: []) })
    for (k, index) in indices.enumerated() {
        swap(&ops.pointers[k], &graph.nodes[index].op)
    }
    concurrentForEach(indices.count, threads: threads) { k in edit(k, &ops.pointers[k]) }
    for (k, index) in indices.enumerated() {
        swap(&ops.pointers[k], &graph.nodes[index].op)
    }
}
